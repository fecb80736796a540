//! Applies the embedded SQLite migrations, recording them in `crmcore_migrations`.

use std::collections::BTreeMap;

use crmcore::Result;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;

use crate::common::error::store_err;
use crate::common::migrate::{TABLE, hex, pending};
use crate::common::types::DbTime;

/// The migrations under `migrations/sqlite`, embedded at build time.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Applies every pending migration, each in its own `BEGIN IMMEDIATE` transaction (which also
/// keeps two processes opening the same file from applying one migration twice).
pub(super) async fn run(pool: &SqlitePool) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS crmcore_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(store_err)?;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_err)?;
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
