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
