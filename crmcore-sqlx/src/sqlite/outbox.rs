//! The event outbox on SQLite. Events are appended by the repositories (`super::append_events`),
//! in the transaction of the change they describe; `seq` is assigned under SQLite's single write
//! lock, so it follows commit order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::Result;
use crmcore::event::OutboxEntry;
use crmcore::id::{EventId, TenantId};
use crmcore::ports::Outbox;

use super::SqliteStore;
use crate::common::error::store_err;
use crate::common::rows::{OUTBOX_COLUMNS, OutboxRow};
use crate::common::types::{DbId, DbTime};

#[async_trait]
impl Outbox for SqliteStore {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dispatched_at IS NULL ORDER BY seq LIMIT $1");
        let rows = sqlx::query_as::<_, OutboxRow>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(OutboxRow::into_domain).collect()
    }

    async fn mark_dispatched(&self, ids: &[EventId], at: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for id in ids {
            sqlx::query("UPDATE outbox SET dispatched_at = $2 WHERE event_id = $1 AND dispatched_at IS NULL")
                .bind(DbId(id.0))
                .bind(DbTime(at))
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        tx.commit().await.map_err(store_err)
    }

    async fn list(&self, tenant: TenantId, after: Option<i64>, limit: u32) -> Result<Vec<OutboxEntry>> {
        let sql =
            format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
        let rows = sqlx::query_as::<_, OutboxRow>(&sql)
            .bind(DbId(tenant.0))
            .bind(after.unwrap_or(0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(OutboxRow::into_domain).collect()
    }
}
