//! Integration tests: the crmcore contract suite against both stores, plus a few smoke tests.
//!
//! PostgreSQL tests run when `CRM_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a fresh schema.

use std::sync::Arc;

use crmcore::ports::Store;

mod blob;
mod document;
mod integration;
mod smoke;
mod webhook;

/// A fresh SQLite store.
async fn sqlite_store() -> Option<Arc<dyn Store>> {
    Some(Arc::new(crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite store opens")) as Arc<dyn Store>)
}

/// A PostgreSQL store in a fresh schema, or `None` when no database is configured.
async fn postgres_store() -> Option<Arc<dyn Store>> {
    let url = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    sweep_stale_schemas(&url).await;
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store connects");
    Some(Arc::new(store) as Arc<dyn Store>)
}

crmcore::contract_suite!(sqlite, crate::sqlite_store());
crmcore::contract_suite!(postgres, crate::postgres_store());

/// Once per test process, drops test schemas left by runs more than an hour ago (their names
/// carry a UUID v7, hence their creation time). Best effort: errors are ignored.
async fn sweep_stale_schemas(url: &str) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(pool) = sqlx::PgPool::connect(url).await else { return };
    let Ok(names) =
        sqlx::query_as::<_, (String,)>("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'crm\\_test\\_%'")
            .fetch_all(&pool)
            .await
    else {
        return;
    };
    let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for (name,) in names {
        let Some(created) = name
            .strip_prefix("crm_test_")
            .and_then(|hex| uuid::Uuid::parse_str(hex).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
            })
        else {
            continue;
        };
        if created < cutoff {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(&pool).await;
        }
    }
    pool.close().await;
}
