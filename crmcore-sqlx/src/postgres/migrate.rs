//! Applies the embedded PostgreSQL migrations, recording them in `crmcore_migrations` of the
//! connection's schema.

use std::collections::BTreeMap;

use crmcore::Result;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::common::error::store_err;
use crate::common::migrate::{TABLE, hex, pending};
use crate::common::types::DbTime;

/// The migrations under `migrations/postgres`, embedded at build time.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Applies every pending migration, each in its own transaction, under an advisory lock keyed
/// by the schema so that concurrent processes apply each migration once.
pub(super) async fn run(pool: &PgPool) -> Result<()> {
    loop {
        let mut tx = pool.begin().await.map_err(store_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.crmcore_migrations'))")
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS crmcore_migrations (version bigint PRIMARY KEY, description text NOT NULL, \
             checksum text NOT NULL, applied_at timestamptz NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        let applied: BTreeMap<i64, String> =
            sqlx::query_as::<_, (i64, String)>(&format!("SELECT version, checksum FROM {TABLE}"))
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err)?
                .into_iter()
                .collect();
        let Some(next) = pending(&MIGRATOR, &applied)?.into_iter().next() else {
            tx.commit().await.map_err(store_err)?;
            return Ok(());
        };
        sqlx::raw_sql(&next.sql).execute(&mut *tx).await.map_err(store_err)?;
        sqlx::query(&format!(
            "INSERT INTO {TABLE} (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)"
        ))
        .bind(next.version)
        .bind(next.description.as_ref())
        .bind(hex(&next.checksum))
        .bind(DbTime(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        tracing::info!(version = next.version, description = %next.description, "applied migration");
    }
}
