use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::id::{JobId, LeaseId, TenantId};

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name, e.g. `outbox.dispatch`.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// The tenant it works for, if any.
    pub tenant_id: Option<TenantId>,
    /// Not claimable before this time.
    pub run_at: DateTime<Utc>,
    /// While a job with this key is pending or running, enqueueing another is a no-op.
    pub dedupe_key: Option<String>,
    /// Attempts before the job is dead-lettered.
    pub max_attempts: u32,
}

/// The result of [`JobQueue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The new job, or the live job holding the same dedupe key.
    pub id: JobId,
    /// False when deduplicated onto an existing job.
    pub created: bool,
}

/// Lifecycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at` (first run or a retry).
    Pending,
    /// Claimed under a lease.
    Running,
    /// Finished.
    Completed,
    /// Out of attempts or failed permanently; kept for inspection.
    Dead,
}

impl JobState {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Dead => "dead",
        }
    }
}

impl std::str::FromStr for JobState {
    type Err = crate::CrmError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(JobState::Pending),
            "running" => Ok(JobState::Running),
            "completed" => Ok(JobState::Completed),
            "dead" => Ok(JobState::Dead),
            _ => Err(crate::CrmError::Internal(format!("unknown job state `{s}`"))),
        }
    }
}

/// A job handed to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// Its id.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Its tenant.
    pub tenant_id: Option<TenantId>,
    /// This claim's number, starting at 1.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Proof of this claim; completing or retrying needs it.
    pub lease: LeaseId,
    /// When the lease runs out and another worker may claim the job.
    pub lease_expires_at: DateTime<Utc>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Its tenant.
    pub tenant_id: Option<TenantId>,
    /// Lifecycle state.
    pub state: JobState,
    /// Claims so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Next eligible time.
    pub run_at: DateTime<Utc>,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
    /// Last state change.
    pub updated_at: DateTime<Utc>,
}

/// Queue depth and age, for `/metrics` and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueStats {
    /// Pending jobs whose time has come.
    pub due: u64,
    /// Pending jobs scheduled for later.
    pub scheduled: u64,
    /// Jobs under a lease.
    pub running: u64,
    /// Dead-lettered jobs.
    pub dead: u64,
    /// Seconds the oldest due job has waited past its `run_at`.
    pub oldest_due_age_secs: u64,
}

/// The durable job queue.
///
/// # Contract
/// A job is claimable when pending with `run_at <= now`, or running with an expired lease.
/// While a lease holds, no other claim returns the job. `complete`, `retry`, `dead_letter` and
/// `extend_lease` MUST return `Conflict` when the lease is no longer the job's current one (it
/// expired and the job was claimed again) and `NotFound` for unknown jobs.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues a job, or returns the live job with the same dedupe key.
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued>;
    /// Claims up to `limit` claimable jobs, oldest `run_at` first, leasing them until `now + lease`
    /// and incrementing their attempt count.
    async fn claim(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<ClaimedJob>>;
    /// Marks a job completed.
    async fn complete(&self, id: JobId, lease: LeaseId, now: DateTime<Utc>) -> Result<()>;
    /// Returns a job to pending, claimable at `run_at`, recording the error.
    async fn retry(
        &self,
        id: JobId,
        lease: LeaseId,
        run_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Moves a job to the dead-letter state, recording the error.
    async fn dead_letter(&self, id: JobId, lease: LeaseId, error: &str, now: DateTime<Utc>) -> Result<()>;
    /// Extends a held lease to `until`.
    async fn extend_lease(&self, id: JobId, lease: LeaseId, until: DateTime<Utc>) -> Result<()>;
    /// MUST return `NotFound` for unknown jobs.
    async fn get(&self, id: JobId) -> Result<JobRecord>;
    /// Depth and age at `now`.
    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats>;
}
