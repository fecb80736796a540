//! Picks the store from the database URL's scheme: `memory:` (volatile, for demos and tests),
//! `sqlite:` (the embedded default) or `postgres:` (scale), the SQL ones from `crmcore-sqlx`.

use std::sync::Arc;

use crmcore::ports::Store;
use crmcore::{CrmError, Result};
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
    Err(unsupported(database_url))
}

/// Applies the store's migrations without serving.
pub async fn migrate(database_url: &str) -> Result<()> {
    if is_memory(database_url) {
        return Ok(());
    }
    Err(unsupported(database_url))
}

fn unsupported(database_url: &str) -> CrmError {
    let scheme = database_url.split(':').next().unwrap_or_default();
    CrmError::invalid("database_url", "unsupported", format!("no store for scheme `{scheme}`"))
}
