//! Picks the store from the database URL's scheme: `memory:` (volatile, for demos and tests),
//! `sqlite:` (the embedded default) or `postgres:` (scale), the SQL ones from `crmcore-sqlx`.
//!
//! On PostgreSQL the live updates (what `GET /api/v1/stream` pushes) go through
//! `LISTEN/NOTIFY`, so API and worker processes on one database hear each other's commits;
//! the other stores keep the in-process default.

use std::sync::Arc;

use crmcore::ports::{BlobStore, LiveUpdates, Store};
use crmcore::{Crm, CrmBuilder, Result};
use crmcore_memory::{MemoryBlobStore, MemoryStore};
use crmcore_sqlx::{PgLiveUpdates, PgStore, SqliteStore};

/// Whether the URL names the volatile in-memory store.
pub fn is_memory(database_url: &str) -> bool {
    database_url.starts_with("memory:")
}

/// Whether the URL names a PostgreSQL database.
pub fn is_postgres(database_url: &str) -> bool {
    database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")
}

/// What a database URL opens: the store and, when the backend can share them between
/// processes, the live-update fan-out.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Cross-process live updates (PostgreSQL); `None` keeps the in-process default.
    pub live: Option<Arc<dyn LiveUpdates>>,
    /// Where document content goes: the database itself for SQLite and PostgreSQL (the
    /// embedded default), memory for `memory:`.
    pub blobs: Arc<dyn BlobStore>,
}

impl Opened {
    /// A [`Crm`] builder over this store and live updates, for further configuration.
    pub fn crm_builder(self) -> CrmBuilder {
        let builder = Crm::builder().shared_store(self.store).blobs(self.blobs);
        match self.live {
            Some(live) => builder.live_updates(live),
            None => builder,
        }
    }
}

/// Opens (and migrates) the store at `database_url`, with `LISTEN/NOTIFY` live updates on
/// PostgreSQL.
pub async fn open(database_url: &str) -> Result<Opened> {
    if is_postgres(database_url) {
        let store = PgStore::connect(database_url).await?;
        return Opened::postgres(store).await;
    }
    if is_memory(database_url) {
        return Ok(Opened { store: Arc::new(MemoryStore::new()), live: None, blobs: Arc::new(MemoryBlobStore::new()) });
    }
    if !database_url.starts_with("sqlite:") {
        // Not a scheme this server knows: the SQL crate says so precisely.
        crmcore_sqlx::open(database_url).await?;
        return Err(crmcore::CrmError::invalid("database_url", "unsupported", "use sqlite:, postgres: or memory:"));
    }
    let store = SqliteStore::open(database_url).await?;
    Ok(Opened { store: Arc::new(store.clone()), live: None, blobs: Arc::new(store) })
}

impl Opened {
    /// A PostgreSQL store with live updates shared through `LISTEN/NOTIFY` on its pool.
    pub async fn postgres(store: PgStore) -> Result<Self> {
        let live = PgLiveUpdates::connect(store.pool()).await?;
        Ok(Self { store: Arc::new(store.clone()), live: Some(Arc::new(live)), blobs: Arc::new(store) })
    }
}

/// Opens (and migrates) the store at `database_url` (without cross-process live updates: see
/// [`open`]).
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
