//! Picks the store from the database URL's scheme: `memory:` (volatile, for demos and tests),
//! `sqlite:` (the embedded default) or `postgres:` (scale), the SQL ones from `crmcore-sqlx`.

use std::sync::Arc;

use crmcore::Result;
use crmcore::ports::Store;
use crmcore_memory::MemoryStore;

/// Whether the URL names the volatile in-memory store.
pub fn is_memory(database_url: &str) -> bool {
    database_url.starts_with("memory:")
}

/// Opens (and migrates) the store at `database_url`.
pub async fn open_store(database_url: &str) -> Result<Arc<dyn Store>> {
    if is_memory(database_url) {
        return Ok(Arc::new(MemoryStore::new()));
    }
    crmcore_sqlx::open(database_url).await
}

/// Applies the store's migrations without serving (nothing to do for `memory:`).
pub async fn migrate(database_url: &str) -> Result<()> {
    if is_memory(database_url) {
        return Ok(());
    }
    crmcore_sqlx::migrate(database_url).await
}
