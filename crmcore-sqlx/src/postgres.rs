//! [`PgStore`]: crmcore on PostgreSQL, for running many API and worker processes against one
//! database.
//!
//! Transactions run at READ COMMITTED; optimistic versions are checked inside each `UPDATE`, the
//! job queue claims with `FOR UPDATE SKIP LOCKED`, and outbox appends take a transaction-scoped
//! advisory lock so `seq` follows commit order. [`PgStore::connect_with_schema`] puts every
//! table in a schema of its own (host apps sharing a database; isolated tests).
//!
//! The repositories live in `postgres/records.rs`, `common/credentials.rs` (shared SQL),
//! `postgres/outbox.rs` and `postgres/queue.rs`; migrations in `postgres/migrate.rs`.

mod activity;
mod approval;
mod blob;
mod bulk;
mod campaign;
mod document;
mod integration;
mod live;
mod migrate;
mod outbox;
mod queue;
mod records;
mod webhook;

pub use live::PgLiveUpdates;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use crmcore::event::DomainEvent;
use crmcore::ports::{
    ContactRepository, CredentialRepository, DealRepository, JobQueue, MemberRepository, Outbox, Store,
    TenantRepository,
};
use crmcore::{CrmError, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::common::error::store_err;
use crate::common::types::{DbId, DbTime};

/// The advisory lock key serialising outbox appends (so `seq` order is commit order).
const OUTBOX_LOCK: i64 = 0x6372_6d5f_6f75_7462; // "crm_outb"

/// The crmcore store on PostgreSQL. Cheap to clone: clones share one connection pool.
///
/// It is also a [`BlobStore`](crmcore::ports::BlobStore) keeping blobs in the database (the
/// embedded default for document content): pass it to `Crm::builder().blobs(…)`.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_options(parse_url(url)?).await
    }

    /// Like [`PgStore::connect`], with every table in `schema` (created if missing): each
    /// connection's `search_path` is set to it. `schema` must be 1 to 63 of `a-z`, `0-9`, `_`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        let valid = (1..=63).contains(&schema.len())
            && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(CrmError::invalid("schema", "invalid", "schema names are 1 to 63 of a-z, 0-9, `_`"));
        }
        let options = parse_url(url)?;
        let mut conn = PgConnection::connect_with(&options).await.map_err(store_err)?;
        let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&mut conn).await;
        // Two processes creating the same schema at once may race; the loser finds it there.
        if let Err(e) = created {
            let exists: Option<(i64,)> = sqlx::query_as("SELECT 1::int8 FROM pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await
                .map_err(store_err)?;
            if exists.is_none() {
                return Err(store_err(e));
            }
        }
        conn.close().await.map_err(store_err)?;
        Self::with_options(options.options([("search_path", schema)])).await
    }

    async fn with_options(options: PgConnectOptions) -> Result<Self> {
        // JIT compilation pays off for long analytical queries, not for these: a search whose
        // estimated cost crosses `jit_above_cost` spent more time compiling than running.
        let options = options.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(store_err)?;
        migrate::run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for host applications that want to share it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(store_err)
    }
}

fn parse_url(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| CrmError::invalid("database_url", "invalid", format!("invalid PostgreSQL URL: {e}")))
}

/// The embedded PostgreSQL migrations (applied by [`PgStore::connect`] and [`crate::migrate`]).
pub fn migrator() -> &'static sqlx::migrate::Migrator {
    &migrate::MIGRATOR
}

/// Applies pending migrations to the database at `url` and returns.
pub(crate) async fn migrate_url(url: &str) -> Result<()> {
    let store = PgStore::connect(url).await?;
    store.pool.close().await;
    Ok(())
}

crate::common::error::missing_or_stale_fn!(Postgres);
crate::common::audit::append_audit_fn!(Postgres, crate::common::segment::Dialect::Postgres);

/// Appends events to the outbox inside the caller's transaction.
async fn append_events(tx: &mut Transaction<'static, Postgres>, events: &[DomainEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Held until commit: a later transaction cannot take a higher `seq` and commit first.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(OUTBOX_LOCK).execute(&mut **tx).await.map_err(store_err)?;
    // Multi-row INSERTs: rows take their `seq` in list order, so the outbox keeps event order.
    for chunk in events.chunks(1_000) {
        let mut q: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(
            "INSERT INTO outbox (event_id, tenant_id, event_type, occurred_at, actor, subject_kind, subject_id, data) ",
        );
        q.push_values(chunk, |mut row, event| {
            row.push_bind(DbId(event.id.0))
                .push_bind(DbId(event.tenant_id.0))
                .push_bind(event.event_type.as_str())
                .push_bind(DbTime(event.occurred_at))
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
impl Store for PgStore {
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

crate::common::credentials::credential_repository!(PgStore);
