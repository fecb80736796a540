//! Backend-specific checks the contract suite does not cover.

#[tokio::test]
async fn open_picks_the_backend_and_migrations_are_recorded_in_our_table() {
    let dir = std::env::temp_dir().join(format!("crmcore-smoke-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("crm.db").display());
    crmcore_sqlx::migrate(&url).await.unwrap();
    let store = crmcore_sqlx::open(&url).await.unwrap();
    store.ping().await.unwrap();
    let sqlite = crmcore_sqlx::SqliteStore::open(&url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(sqlite.pool())
        .await
        .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    assert!(names.contains(&"crmcore_migrations"), "{names:?}");
    assert!(!names.contains(&"_sqlx_migrations"), "{names:?}");
    let (applied,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM crmcore_migrations").fetch_one(sqlite.pool()).await.unwrap();
    assert_eq!(applied as usize, crmcore_sqlx::migrators::sqlite().iter().count());
    assert!(crmcore_sqlx::open("mysql://nope").await.is_err());
    drop((store, sqlite));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn in_memory_url_shares_one_database() {
    let store = crmcore_sqlx::open("sqlite::memory:").await.unwrap();
    store.ping().await.unwrap();
    assert!(store.tenants().find_by_slug("nobody").await.unwrap().is_none());
}

/// Many concurrent writers on one SQLite file: `BEGIN IMMEDIATE` + the busy timeout make them
/// queue up instead of failing with `SQLITE_BUSY`, and every event lands in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_wait_instead_of_failing() {
    let store: std::sync::Arc<dyn crmcore::ports::Store> =
        std::sync::Arc::new(crmcore_sqlx::SqliteStore::open_in_memory().await.unwrap());
    let fixture = crmcore::testing::Fixture::new(store.clone(), "Busy").await;
    let writers = (0..40).map(|i| {
        let f = fixture.clone();
        tokio::spawn(async move { f.crm.contacts().create(&f.actor, contact(i)).await })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap().expect("no writer fails");
    }
    let pending = store.outbox().pending(1000).await.unwrap();
    assert_eq!(pending.len(), 2 + 40);
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
}

fn contact(i: usize) -> crmcore::contact::NewContact {
    crmcore::contact::NewContact { email: Some(format!("c{i}@busy.test")), ..Default::default() }
}

/// PostgreSQL keeps its migrations in `crmcore_migrations` of the store's own schema.
#[tokio::test]
async fn postgres_schema_holds_our_migration_table() {
    let Some(url) = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: CRM_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.unwrap();
    let again = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    assert!(names.contains(&"crmcore_migrations") && names.contains(&"jobs"), "{names:?}");
    assert!(!names.contains(&"_sqlx_migrations"));
    let (applied,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM crmcore_migrations").fetch_one(again.pool()).await.unwrap();
    assert_eq!(applied as usize, crmcore_sqlx::migrators::postgres().iter().count());
    assert!(crmcore_sqlx::PgStore::connect_with_schema(&url, "Bad-Schema\"").await.is_err());
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(store.pool()).await.unwrap();
}

/// A database that cannot be reached is `Unavailable`, not `Internal`.
#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let err = crmcore_sqlx::PgStore::connect("postgres://nobody@127.0.0.1:1/none").await.unwrap_err();
    assert!(matches!(err, crmcore::CrmError::Unavailable { port: crmcore::error::Port::Store, .. }), "{err:?}");
}

/// A row that no longer decodes into its domain type is an `Internal` error, never a panic.
#[tokio::test]
async fn corrupt_rows_are_internal_errors() {
    let store = crmcore_sqlx::SqliteStore::open_in_memory().await.unwrap();
    let tenant = uuid::Uuid::now_v7();
    let contact = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, 'T', 't', '2026-01-01T00:00:00.000000Z')",
    )
    .bind(tenant.to_string())
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contacts (tenant_id, id, email, tags, custom_fields, created_at, updated_at, version) \
         VALUES ($1, $2, 'not an email', '[]', '{}', '2026-01-01T00:00:00.000000Z', 'yesterday', 1)",
    )
    .bind(tenant.to_string())
    .bind(contact.to_string())
    .execute(store.pool())
    .await
    .unwrap();
    let err = crmcore::ports::Store::contacts(&store).get(tenant.into(), contact.into()).await.unwrap_err();
    assert!(matches!(err, crmcore::CrmError::Internal(_)), "{err:?}");
}

/// This workspace links SQLite with a page cache per connection (`.cargo/config.toml` turns
/// off libsqlite3-sys's SQLITE_ENABLE_MEMORY_MANAGEMENT, under which pooled connections shared
/// one cache and large reads ran at half speed).
#[tokio::test]
async fn sqlite_is_built_with_a_page_cache_per_connection() {
    let store = crmcore_sqlx::SqliteStore::open_in_memory().await.unwrap();
    let options: Vec<(String,)> = sqlx::query_as("PRAGMA compile_options").fetch_all(store.pool()).await.unwrap();
    let options: Vec<&str> = options.iter().map(|o| o.0.as_str()).collect();
    assert!(options.contains(&"ENABLE_FTS5"), "{options:?}");
    assert!(!options.contains(&"ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
}
