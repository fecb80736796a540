//! Integration tests: the crmcore contract suite against both stores, plus a few smoke tests.
//!
//! PostgreSQL tests run when `CRM_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a fresh schema.

use std::sync::Arc;

use crmcore::ports::Store;

mod smoke;

/// A fresh SQLite store.
async fn sqlite_store() -> Option<Arc<dyn Store>> {
    Some(Arc::new(crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite store opens")) as Arc<dyn Store>)
}

/// A PostgreSQL store in a fresh schema, or `None` when no database is configured.
async fn postgres_store() -> Option<Arc<dyn Store>> {
    let url = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store connects");
    Some(Arc::new(store) as Arc<dyn Store>)
}

crmcore::contract_suite!(sqlite, crate::sqlite_store());
crmcore::contract_suite!(postgres, crate::postgres_store());
