//! The durable job queue on SQLite.
//!
//! Claims run in one `BEGIN IMMEDIATE` transaction, so two claimers never see the same job as
//! claimable: the second waits for the first to commit. Each claimed job gets its own lease id.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use crmcore::id::{JobId, LeaseId};
use crmcore::ports::{ClaimedJob, Enqueued, JobQueue, JobRecord, NewJob, QueueStats};
use crmcore::{CrmError, Result};
use sqlx::types::Json;

use super::SqliteStore;
use crate::common::error::store_err;
use crate::common::rows::{JOB_COLUMNS, JobRow};
use crate::common::types::{DbId, DbTime, opt_id};

/// The ids of claimable jobs (`$1` = now, `$2` = how many), oldest `run_at` first: pending and
/// due, or running with an expired lease. Each kind is read through its own partial index,
/// named, since statistics gathered while the queue was small (an `ANALYZE` soon after start)
/// have the planner scan every job ever run for an `OR` of the two, on every claim.
const CLAIMABLE: &str = "SELECT id FROM (\
    SELECT * FROM (SELECT id, run_at FROM jobs INDEXED BY jobs_pending \
      WHERE state = 'pending' AND run_at <= $1 ORDER BY run_at, id LIMIT $2) \
    UNION ALL \
    SELECT * FROM (SELECT id, run_at FROM jobs INDEXED BY jobs_running \
      WHERE state = 'running' AND lease_expires_at <= $1 ORDER BY run_at, id LIMIT $2)) \
    ORDER BY run_at, id LIMIT $2";

impl SqliteStore {
    /// Runs `update` (binding `$1` = id, `$2` = lease) against a job held by `lease`, telling
    /// apart unknown jobs (`NotFound`) from leases that are no longer current (`Conflict`).
    async fn with_lease<'q>(
        &self,
        id: JobId,
        lease: LeaseId,
        update: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<()> {
        let done = update.execute(&self.pool).await.map_err(store_err)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM jobs WHERE id = $1")
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        Err(match found {
            Some(_) => CrmError::conflict(Some("lease"), format!("job {id} is no longer held by lease {lease}")),
            None => CrmError::not_found("job", id),
        })
    }
}

/// The condition every lease-holding update adds: `$1` = job id, `$2` = lease id.
const HELD: &str = "WHERE id = $1 AND lease_id = $2 AND state = 'running'";

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued> {
        let id = JobId::new();
        let mut tx = self.begin().await?;
        // The partial unique index on live dedupe keys turns a duplicate into "no row inserted".
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, kind, payload, tenant_id, state, attempts, max_attempts, run_at, dedupe_key, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(DbId(id.0))
        .bind(&job.kind)
        .bind(Json(&job.payload))
        .bind(opt_id(job.tenant_id.map(|t| t.0)))
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(DbTime(job.run_at))
        .bind(&job.dedupe_key)
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(store_err)?;
            return Ok(Enqueued { id, created: true });
        }
        let live: Option<(DbId,)> = sqlx::query_as(
            "SELECT id FROM jobs WHERE dedupe_key = $1 AND dedupe_key IS NOT NULL AND state IN ('pending', 'running')",
        )
        .bind(&job.dedupe_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        match live {
            Some((existing,)) => Ok(Enqueued { id: existing.0.into(), created: false }),
            None => Err(CrmError::Internal(format!("job {id} was neither inserted nor deduplicated"))),
        }
    }

    async fn claim(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<ClaimedJob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now + lease;
        let mut tx = self.begin().await?;
        let due: Vec<(DbId,)> = sqlx::query_as(CLAIMABLE)
            .bind(DbTime(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_err)?;
        let mut claimed = Vec::with_capacity(due.len());
        for (id,) in due {
            let row = sqlx::query_as::<_, JobRow>(&format!(
                "UPDATE jobs SET state = 'running', lease_id = $2, lease_expires_at = $3, attempts = attempts + 1, \
                 updated_at = $4 WHERE id = $1 RETURNING {JOB_COLUMNS}"
            ))
            .bind(id)
            .bind(DbId(LeaseId::new().0))
            .bind(DbTime(until))
            .bind(DbTime(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err)?;
            claimed.push(row.into_claimed()?);
        }
        tx.commit().await.map_err(store_err)?;
        Ok(claimed)
    }

    async fn complete(&self, id: JobId, lease: LeaseId, now: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "UPDATE jobs SET state = 'completed', lease_id = NULL, lease_expires_at = NULL, updated_at = $3 {HELD}"
        );
        self.with_lease(id, lease, sqlx::query(&sql).bind(DbId(id.0)).bind(DbId(lease.0)).bind(DbTime(now))).await
    }

    async fn retry(
        &self,
        id: JobId,
        lease: LeaseId,
        run_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE jobs SET state = 'pending', lease_id = NULL, lease_expires_at = NULL, run_at = $3, \
             last_error = $4, updated_at = $5 {HELD}"
        );
        let q =
            sqlx::query(&sql).bind(DbId(id.0)).bind(DbId(lease.0)).bind(DbTime(run_at)).bind(error).bind(DbTime(now));
        self.with_lease(id, lease, q).await
    }

    async fn dead_letter(&self, id: JobId, lease: LeaseId, error: &str, now: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "UPDATE jobs SET state = 'dead', lease_id = NULL, lease_expires_at = NULL, last_error = $3, \
             updated_at = $4 {HELD}"
        );
        let q = sqlx::query(&sql).bind(DbId(id.0)).bind(DbId(lease.0)).bind(error).bind(DbTime(now));
        self.with_lease(id, lease, q).await
    }

    async fn extend_lease(&self, id: JobId, lease: LeaseId, until: DateTime<Utc>) -> Result<()> {
        let sql = format!("UPDATE jobs SET lease_expires_at = $3 {HELD}");
        self.with_lease(id, lease, sqlx::query(&sql).bind(DbId(id.0)).bind(DbId(lease.0)).bind(DbTime(until))).await
    }

    async fn get(&self, id: JobId) -> Result<JobRecord> {
        sqlx::query_as::<_, JobRow>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(JobRow::into_record)
            .transpose()?
            .ok_or_else(|| CrmError::not_found("job", id))
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats> {
        let (due, scheduled, running, dead, oldest): (i64, i64, i64, i64, Option<DbTime>) = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN state = 'pending' AND run_at <= $1 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'pending' AND run_at > $1 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0), \
               MIN(CASE WHEN state = 'pending' AND run_at <= $1 THEN run_at END) \
             FROM jobs WHERE state <> 'completed'",
        )
        .bind(DbTime(now))
        .fetch_one(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(crate::common::rows::queue_stats(now, [due, scheduled, running, dead], oldest.map(|t| t.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims read both partial indexes even when the statistics were gathered on a small
    /// queue, the case that misleads the planner into scanning every job.
    #[tokio::test]
    async fn claims_read_their_indexes_whatever_the_statistics() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        for i in 0..2 {
            sqlx::query(
                "INSERT INTO jobs (id, kind, payload, tenant_id, state, attempts, max_attempts, run_at, dedupe_key, \
                 created_at, updated_at) VALUES ($1, 'k', '{}', NULL, 'pending', 0, 5, $2, NULL, $2, $2)",
            )
            .bind(format!("j{i}"))
            .bind("2026-01-01T00:00:00.000000Z")
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        sqlx::query("ANALYZE").execute(&mut *conn).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {CLAIMABLE}"))
            .bind("2026-01-02T00:00:00.000000Z")
            .bind(5_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
        let searches = |index: &str| plan.iter().any(|p| p.starts_with("SEARCH jobs USING") && p.contains(index));
        assert!(searches("INDEX jobs_pending (run_at<?)"), "{plan:?}");
        assert!(searches("INDEX jobs_running (lease_expires_at<?)"), "{plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN jobs")), "{plan:?}");
    }
}
