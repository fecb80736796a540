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

/// The undispatched events, oldest first, always through the partial index of undispatched
/// events. Left to the planner, statistics gathered while the outbox was small and every event
/// undispatched (an `ANALYZE` soon after start) make it walk the whole table in `seq` order
/// instead, skipping every dispatched event on every call: 126 ms a call at a million events.
pub(crate) fn pending_sql() -> String {
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_undispatched WHERE dispatched_at IS NULL \
         ORDER BY seq LIMIT $1"
    )
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query_as::<_, OutboxRow>(&pending_sql())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose statistics were gathered on a small outbox with every event
    /// undispatched (an `ANALYZE` soon after start), the case that misleads the planner.
    async fn analyzed_early() -> (SqliteStore, sqlx::pool::PoolConnection<sqlx::Sqlite>) {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        for i in 0..2 {
            sqlx::query(
                "INSERT INTO outbox (event_id, tenant_id, event_type, occurred_at, actor, subject_kind, subject_id, \
                 data) VALUES ($1, 't', 'contact.created', '2026-01-01T00:00:00.000000Z', '{}', 'contact', 's', '{}')",
            )
            .bind(format!("e{i}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        sqlx::query("ANALYZE").execute(&mut *conn).await.unwrap();
        (store, conn)
    }

    fn plan(rows: Vec<(i64, i64, i64, String)>) -> String {
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    #[tokio::test]
    async fn pending_events_are_read_through_their_index_whatever_the_statistics() {
        let (_store, mut conn) = analyzed_early().await;
        let sql = format!("EXPLAIN QUERY PLAN {}", pending_sql());
        let rows = sqlx::query_as(&sql).bind(500_i64).fetch_all(&mut *conn).await.unwrap();
        assert_eq!(plan(rows), "SCAN outbox USING INDEX outbox_undispatched");
    }

    #[tokio::test]
    async fn events_are_marked_dispatched_through_the_event_id_index_whatever_the_statistics() {
        let (_store, mut conn) = analyzed_early().await;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("EXPLAIN QUERY PLAN ");
        q.push(super::super::bulk::MARK_DISPATCHED).push_bind("2026-01-01T00:00:00.000000Z");
        q.push(" WHERE dispatched_at IS NULL AND event_id");
        super::super::bulk::push_in(&mut q, (0..500).map(|_| uuid::Uuid::now_v7()).collect());
        let rows = q.build_query_as().fetch_all(&mut *conn).await.unwrap();
        let plan = plan(rows);
        assert!(plan.starts_with("SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (event_id=?)"), "{plan}");
    }
}
