//! SQLite and PostgreSQL adapters for crmcore: every repository, the event outbox and the
//! durable job queue, with embedded migrations.
//!
//! # Layout
//! - [`SqliteStore`] (feature `sqlite`, the embedded default) in `sqlite.rs` + `sqlite/…`: one
//!   file in WAL mode, `BEGIN IMMEDIATE` write transactions.
//! - [`PgStore`] (feature `postgres`) in `postgres.rs` + `postgres/…`: a `FOR UPDATE SKIP LOCKED`
//!   queue, optional schema isolation; [`PgLiveUpdates`] (`postgres/live.rs`) shares live
//!   updates between processes through `LISTEN/NOTIFY`.
//! - `common.rs` + `common/…`: what both share and what issues no SQL — column types, row
//!   structs and their conversion into domain values, the one `sqlx::Error` → `CrmError`
//!   mapping, `LIKE` pattern escaping, migration bookkeeping.
//! - `migrations/{sqlite,postgres}/NNNN_name.sql`: embedded at build time and applied on open,
//!   recorded in crmcore's own `crmcore_migrations` table (never the host app's
//!   `_sqlx_migrations`).
//!
//! Every state-changing repository call is one transaction that writes the state and appends
//! the events it was given to the outbox; a failing call leaves neither behind.
//!
//! Both stores are also a [`BlobStore`](crmcore::ports::BlobStore) keeping content-addressed
//! blobs in the database, the embedded default for document content.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> crmcore::Result<()> {
//! let store = crmcore_sqlx::open("sqlite://crm.db?mode=rwc").await?;
//! let crm = crmcore::Crm::builder().shared_store(store).build()?;
//! # let _ = crm;
//! # Ok(())
//! # }
//! ```

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod common;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use crmcore::ports::Store;
use crmcore::{CrmError, Result};

#[cfg(feature = "postgres")]
pub use postgres::{PgLiveUpdates, PgStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSettings, SqliteStore};

/// The embedded migrations of each backend, for inspection (they are applied on open).
pub mod migrators {
    #[cfg(feature = "postgres")]
    pub use crate::postgres::migrator as postgres;
    #[cfg(feature = "sqlite")]
    pub use crate::sqlite::migrator as sqlite;
}

/// The backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(CrmError::invalid(
            "database_url",
            "unsupported",
            "database URL must start with `sqlite:`, `postgres://` or `postgresql://`",
        ))
    }
}

#[allow(dead_code)]
fn disabled(feature: &str) -> CrmError {
    CrmError::invalid("database_url", "unsupported", format!("crmcore-sqlx was built without the `{feature}` feature"))
}

/// Opens (and migrates) the store a URL names: `sqlite:…` for [`SqliteStore`],
/// `postgres://…` or `postgresql://…` for [`PgStore`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    match backend_of(url)? {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(Arc::new(SqliteStore::open(url).await?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(Arc::new(PgStore::connect(url).await?)),
        #[allow(unreachable_patterns)]
        Backend::Sqlite => Err(disabled("sqlite")),
        #[allow(unreachable_patterns)]
        Backend::Postgres => Err(disabled("postgres")),
    }
}

/// Applies pending migrations to the database a URL names, and nothing else.
pub async fn migrate(url: &str) -> Result<()> {
    match backend_of(url)? {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => sqlite::migrate_url(url).await,
        #[cfg(feature = "postgres")]
        Backend::Postgres => postgres::migrate_url(url).await,
        #[allow(unreachable_patterns)]
        Backend::Sqlite => Err(disabled("sqlite")),
        #[allow(unreachable_patterns)]
        Backend::Postgres => Err(disabled("postgres")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_backend_from_the_scheme() {
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite://crm.db?mode=rwc").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(backend_of("postgresql://u@h/db").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://u@h/db").is_err());
    }
}
