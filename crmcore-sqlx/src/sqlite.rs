//! [`SqliteStore`]: the embedded default.
//!
//! One database file in WAL mode (readers never block the writer), `foreign_keys=ON`, a 5 s busy
//! timeout and `synchronous=NORMAL`. SQLite admits one writer at a time, so every write
//! transaction starts with `BEGIN IMMEDIATE`: it takes the write lock up front, and a concurrent
//! writer waits on the busy timeout instead of failing when a read lock cannot be upgraded.
//!
//! The repositories live in `sqlite/records.rs` (tenants, members, contacts, deals),
//! `common/credentials.rs` (shared SQL), `sqlite/outbox.rs` and `sqlite/queue.rs`; migrations in
//! `sqlite/migrate.rs`.

mod activity;
mod approval;
mod blob;
mod bulk;
mod campaign;
mod document;
mod integration;
mod migrate;
mod outbox;
mod queue;
mod records;
mod webhook;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crmcore::event::DomainEvent;
use crmcore::ports::{
    ContactRepository, CredentialRepository, DealRepository, JobQueue, MemberRepository, Outbox, Store,
    TenantRepository,
};
use crmcore::{CrmError, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::common::error::store_err;
use crate::common::types::DbId;

/// The crmcore store on SQLite. Cheap to clone: clones share one connection pool.
///
/// It is also a [`BlobStore`](crmcore::ports::BlobStore) keeping blobs in the database (the
/// embedded default for document content): pass it to `Crm::builder().blobs(…)`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Removes the temporary database of [`SqliteStore::open_in_memory`] when the last clone drops.
    _temp: Option<Arc<TempDatabase>>,
}

/// A database file deleted on drop.
#[derive(Debug)]
struct TempDatabase(PathBuf);

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How a [`SqliteStore`] pools its connections and how much memory they may hold.
///
/// SQLite gives every connection its own page cache, so the pool's memory is the per-connection
/// cache times the connections open: the budget here is for the whole pool and is split across
/// it. Reads beyond the cache come from the operating system's file cache, which the process
/// does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteSettings {
    /// Most connections in the pool (an in-memory database always has exactly one).
    pub max_connections: u32,
    /// Page cache of the whole pool, in bytes; each connection gets an equal share, at least
    /// 256 KiB.
    pub page_cache_bytes: u64,
    /// Bytes of the database file each connection memory-maps (`PRAGMA mmap_size`); 0 turns it
    /// off. Mapped pages are shared between connections but count towards the process's
    /// resident memory once read, so it is off unless asked for.
    pub mmap_bytes: u64,
}

/// Page cache per pooled connection in the default settings: twice SQLite's default.
const DEFAULT_CACHE_PER_CONNECTION: u64 = 4 << 20;

impl Default for SqliteSettings {
    /// Two connections per core, at least 4 and at most 8, each with 4 MiB of page cache; no
    /// memory-mapping.
    ///
    /// SQLite writes one transaction at a time and runs as many reads as there are cores, so
    /// connections beyond that only wait; each one still fills its own cache, and each runs on
    /// a thread whose allocations the system allocator keeps apart. On 2 cores, 4 connections
    /// instead of 8 cut the growth of a 300,000-recipient campaign send from 46–49 MiB to
    /// 33–35 MiB at the same speed.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let connections = u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX).clamp(4, 8);
        Self {
            max_connections: connections,
            page_cache_bytes: u64::from(connections) * DEFAULT_CACHE_PER_CONNECTION,
            mmap_bytes: 0,
        }
    }
}

impl SqliteSettings {
    /// One connection's page cache in KiB, as the negative `cache_size` SQLite expects.
    fn cache_size_pragma(&self, connections: u32) -> String {
        let share = self.page_cache_bytes / u64::from(connections.max(1));
        format!("-{}", (share / 1024).max(256))
    }
}

impl SqliteStore {
    /// Opens (and migrates) the database at `url`, e.g. `sqlite://crm.db?mode=rwc` or
    /// `sqlite::memory:`, with [`SqliteSettings::default`]. An in-memory URL gets a single
    /// connection that never closes, since every connection to `:memory:` would otherwise see
    /// its own empty database.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, SqliteSettings::default()).await
    }

    /// [`open`](Self::open) with explicit pool and cache settings.
    pub async fn open_with(url: &str, settings: SqliteSettings) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| CrmError::invalid("database_url", "invalid", format!("invalid SQLite URL: {e}")))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::with_options(options, in_memory, None, settings).await
    }

    /// A fresh, empty database for tests: a uniquely named file in the temporary directory,
    /// deleted when the store (and every clone) is dropped. A real file rather than `:memory:`
    /// so that concurrent connections behave exactly as in production (WAL, busy timeout).
    pub async fn open_in_memory() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("crmcore-test-{}.db", uuid::Uuid::now_v7()));
        let guard = Arc::new(TempDatabase(path.clone()));
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        Self::with_options(options, false, Some(guard), SqliteSettings::default()).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        in_memory: bool,
        temp: Option<Arc<TempDatabase>>,
        settings: SqliteSettings,
    ) -> Result<Self> {
        let connections = if in_memory { 1 } else { settings.max_connections.max(1) };
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Normal)
            // The pool's cache budget split across its connections. It was 64 MiB per connection
            // once, so that a batch never spilled dirty pages mid-transaction; eight of those
            // filled by a long campaign send held half a gigabyte, while a batch dirties a few
            // hundred pages.
            .pragma("cache_size", settings.cache_size_pragma(connections))
            .pragma("mmap_size", settings.mmap_bytes.to_string());
        let pool = if in_memory {
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(connections).acquire_timeout(Duration::from_secs(10))
        };
        let pool = pool.connect_with(options).await.map_err(store_err)?;
        migrate::run(&pool).await?;
        if connections > 1 && shares_one_page_cache(&pool).await? {
            tracing::warn!(
                "SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT: the pool's connections share one page \
                 cache and large reads run up to twice as slow; build with \
                 LIBSQLITE3_FLAGS=-USQLITE_ENABLE_MEMORY_MANAGEMENT (see README)"
            );
        }
        Ok(Self { pool, _temp: temp })
    }

    /// The connection pool, for host applications that want to share it.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction holding SQLite's write lock from the first statement.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_err)
    }
}

/// Whether the linked SQLite puts every connection in one page-cache group
/// (`SQLITE_ENABLE_MEMORY_MANAGEMENT`, on in libsqlite3-sys's bundled build).
async fn shares_one_page_cache(pool: &SqlitePool) -> Result<bool> {
    let options: Vec<(String,)> = sqlx::query_as("PRAGMA compile_options").fetch_all(pool).await.map_err(store_err)?;
    Ok(options.iter().any(|(option,)| option == "ENABLE_MEMORY_MANAGEMENT"))
}

/// The embedded SQLite migrations (applied by [`SqliteStore::open`] and [`crate::migrate`]).
pub fn migrator() -> &'static sqlx::migrate::Migrator {
    &migrate::MIGRATOR
}

/// Applies pending migrations to the database at `url` and returns.
pub(crate) async fn migrate_url(url: &str) -> Result<()> {
    let store = SqliteStore::open(url).await?;
    store.pool.close().await;
    Ok(())
}

crate::common::error::missing_or_stale_fn!(Sqlite);
crate::common::audit::append_audit_fn!(Sqlite, crate::common::segment::Dialect::Sqlite);

/// Appends events to the outbox inside the caller's transaction.
async fn append_events(tx: &mut Transaction<'static, Sqlite>, events: &[DomainEvent]) -> Result<()> {
    // Multi-row INSERTs: rows take their `seq` in list order, so the outbox keeps event order.
    for chunk in events.chunks(1_000) {
        let mut q: sqlx::QueryBuilder<Sqlite> = sqlx::QueryBuilder::new(
            "INSERT INTO outbox (event_id, tenant_id, event_type, occurred_at, actor, subject_kind, subject_id, data) ",
        );
        q.push_values(chunk, |mut row, event| {
            row.push_bind(DbId(event.id.0))
                .push_bind(DbId(event.tenant_id.0))
                .push_bind(event.event_type.as_str())
                .push_bind(crate::common::types::DbTime(event.occurred_at))
                .push_bind(Json(&event.actor))
                .push_bind(event.subject.kind.as_str())
                .push_bind(DbId(event.subject.id))
                .push_bind(Json(&event.data));
        });
        q.build().execute(&mut **tx).await.map_err(store_err)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn tenants(&self) -> &dyn TenantRepository {
        self
    }
    fn members(&self) -> &dyn MemberRepository {
        self
    }
    fn contacts(&self) -> &dyn ContactRepository {
        self
    }
    fn deals(&self) -> &dyn DealRepository {
        self
    }
    fn campaigns(&self) -> &dyn crmcore::ports::CampaignRepository {
        self
    }
    fn credentials(&self) -> &dyn CredentialRepository {
        self
    }
    fn activities(&self) -> &dyn crmcore::ports::ActivityRepository {
        self
    }
    fn comments(&self) -> &dyn crmcore::ports::CommentRepository {
        self
    }
    fn follows(&self) -> &dyn crmcore::ports::FollowRepository {
        self
    }
    fn notifications(&self) -> &dyn crmcore::ports::NotificationRepository {
        self
    }
    fn webhooks(&self) -> &dyn crmcore::ports::WebhookRepository {
        self
    }
    fn documents(&self) -> &dyn crmcore::ports::DocumentRepository {
        self
    }
    fn approvals(&self) -> &dyn crmcore::ports::ApprovalRepository {
        self
    }
    fn integrations(&self) -> &dyn crmcore::ports::IntegrationRepository {
        self
    }
    fn outbox(&self) -> &dyn Outbox {
        self
    }
    fn jobs(&self) -> &dyn JobQueue {
        self
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}

crate::common::credentials::credential_repository!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pool_has_two_connections_per_core_within_bounds_and_4_mib_of_cache_each() {
        let settings = SqliteSettings::default();
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) as u32;
        assert_eq!(settings.max_connections, (cores * 2).clamp(4, 8));
        assert_eq!(settings.page_cache_bytes, u64::from(settings.max_connections) * (4 << 20));
        assert_eq!(settings.cache_size_pragma(settings.max_connections), "-4096");
        assert_eq!(settings.mmap_bytes, 0);
    }
}
