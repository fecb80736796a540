use std::future::Future;
use std::pin::pin;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::future::FutureExt;
use tokio::task::{JoinError, JoinSet};

use super::{Job, outbox_dispatcher};
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::ports::ClaimedJob;
use crate::webhook::sender::Sender;

/// Exponential backoff between attempts of a failing job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// Delay after failed attempt number `attempt` (1-based): `base * 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1i32.checked_shl(attempt.saturating_sub(1).min(30)).unwrap_or(i32::MAX);
        self.base.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::seconds(1), max: Duration::hours(1) }
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the job.
    pub lease: Duration,
    /// How long an idle worker waits before polling again (a local wake-up cuts it short).
    pub poll_interval: StdDuration,
    /// Backoff for failing jobs.
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::seconds(60),
            poll_interval: StdDuration::from_millis(500),
            retry: RetryPolicy::default(),
        }
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that completed.
    pub completed: u64,
    /// Jobs scheduled for another attempt.
    pub retried: u64,
    /// Jobs dead-lettered.
    pub dead: u64,
    /// Jobs whose lease was lost before they finished (another worker took over).
    pub lease_lost: u64,
    /// Webhook deliveries attempted or settled.
    pub webhooks: u64,
}

impl WorkerReport {
    fn add(&mut self, other: WorkerReport) {
        self.completed += other.completed;
        self.retried += other.retried;
        self.dead += other.dead;
        self.lease_lost += other.lease_lost;
        self.webhooks += other.webhooks;
    }

    /// Jobs handled in any way.
    pub fn total(&self) -> u64 {
        self.completed + self.retried + self.dead + self.lease_lost
    }
}

/// Runs jobs from the CRM's queue. Any number of workers, in any number of processes, may run
/// against one store: the queue's leases keep each job with one worker at a time.
#[derive(Debug, Clone)]
pub struct Worker {
    crm: Crm,
    config: WorkerConfig,
}

impl Worker {
    pub(crate) fn new(crm: Crm, config: WorkerConfig) -> Self {
        Self { crm, config }
    }

    /// Runs every job that is due now (including the outbox dispatcher) until none is left, then
    /// returns. Jobs scheduled for later are left alone. For tests, demos and scripts.
    pub async fn run_until_idle(&self) -> Result<WorkerReport> {
        let mut report = WorkerReport::default();
        let sender = Sender::new(self.crm.clone());
        let mut running = JoinSet::new();
        loop {
            self.fill(&mut running).await?;
            if running.is_empty() {
                let sent = sender.run_until_idle().await?;
                report.webhooks += sent;
                if sent == 0 {
                    return Ok(report);
                }
                continue;
            }
            // A job that runs long (a send slice) wakes the worker as it commits events, which
            // a dispatcher in a free slot then takes on.
            let wake = self.crm.worker_wakeup().notified();
            tokio::select! {
                Some(done) = running.join_next() => report.add(finished(done)),
                _ = wake => {}
            }
        }
    }

    /// Runs until `shutdown` resolves, then finishes the jobs in flight and returns. Store
    /// failures are logged and retried after the poll interval, never fatal.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let shutdown = shutdown.shared();
        let sender = Sender::new(self.crm.clone());
        let webhooks = async {
            loop {
                match sender.run(shutdown.clone(), false).await {
                    Ok(sent) => return sent,
                    Err(error) => tracing::warn!(%error, "webhook sender stopped; restarting"),
                }
            }
        };
        let (mut report, sent) = tokio::join!(self.run_jobs(shutdown.clone()), webhooks);
        report.webhooks += sent;
        report
    }

    /// Keeps up to `concurrency` jobs running, claiming into each slot as it frees: a long job
    /// (a campaign's send slice, an OCR run) never holds back the others, such as the outbox
    /// dispatcher behind webhooks and notifications.
    async fn run_jobs(&self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let mut shutdown = pin!(shutdown.fuse());
        let mut report = WorkerReport::default();
        let mut running = JoinSet::new();
        loop {
            if let Err(error) = self.fill(&mut running).await {
                tracing::warn!(%error, "worker poll failed");
            }
            let wake = self.crm.worker_wakeup().notified();
            tokio::select! {
                _ = &mut shutdown => {
                    while let Some(done) = running.join_next().await {
                        report.add(finished(done));
                    }
                    return report;
                }
                Some(done) = running.join_next(), if !running.is_empty() => report.add(finished(done)),
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = wake => {}
            }
        }
    }

    /// Claims due jobs into the free slots (up to `concurrency` running), each started as a
    /// task of its own: it runs on while the loop claims again, since a claim waiting for the
    /// database's write lock must never wait on a job the loop is not polling. First makes sure
    /// pending events have a dispatcher queued.
    async fn fill(&self, running: &mut JoinSet<WorkerReport>) -> Result<()> {
        let free = self.config.concurrency.max(1).saturating_sub(running.len());
        if free == 0 {
            return Ok(());
        }
        let store = self.crm.store();
        let now = self.crm.clock().now();
        if !store.outbox().pending(1).await?.is_empty() {
            store.jobs().enqueue(Job::DispatchOutbox.to_new_job(now)?, now).await?;
        }
        crate::integration::sync::schedule_due(&self.crm, now).await?;
        for job in store.jobs().claim(now, self.config.lease, free as u32).await? {
            let worker = self.clone();
            running.spawn(async move { worker.execute(job).await });
        }
        Ok(())
    }

    /// Runs one claimed job and records its outcome in the queue. While it runs, its lease is
    /// extended every third of the lease, so a long job (OCR of a long scan) is not claimed
    /// again by another worker; once the lease is lost, extending stops.
    async fn execute(&self, job: ClaimedJob) -> WorkerReport {
        let result = match Job::from_claimed(&job) {
            Ok(decoded) => {
                // The lease is extended beside the job, never instead of it: the job is polled
                // while an extension waits. An extension awaited with the job paused could wait
                // on the job itself — on SQLite for the write lock of the job's own open
                // transaction, until the busy timeout ended it in "database is locked".
                let work = self.perform(&decoded, job.attempt >= job.max_attempts);
                let every = (self.config.lease / 3).to_std().unwrap_or_default().max(std::time::Duration::from_secs(1));
                let keep_lease = async {
                    loop {
                        tokio::time::sleep(every).await;
                        let until = self.crm.clock().now() + self.config.lease;
                        if let Err(error) = self.crm.store().jobs().extend_lease(job.id, job.lease, until).await {
                            tracing::warn!(job = %job.id, %error, "could not extend the lease of a running job");
                            if matches!(error, CrmError::Conflict { .. } | CrmError::NotFound { .. }) {
                                // The lease is gone: stop extending, let the job finish.
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                };
                tokio::select! {
                    result = work => result,
                    never = keep_lease => match never {},
                }
            }
            Err(error) => Err(error),
        };
        let queue = self.crm.store().jobs();
        let now = self.crm.clock().now();
        let mut report = WorkerReport::default();
        let recorded = match result {
            Ok(None) => {
                report.completed = 1;
                queue.complete(job.id, job.lease, now).await
            }
            Ok(Some(at)) => {
                report.completed = 1;
                queue.retry(job.id, job.lease, at, "continues in its next slice", now).await
            }
            Err(error) if error.is_transient() && job.attempt < job.max_attempts => {
                report.retried = 1;
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempt, %error, "job failed, will retry");
                queue
                    .retry(job.id, job.lease, now + self.config.retry.delay(job.attempt), &error.to_string(), now)
                    .await
            }
            Err(error) => {
                report.dead = 1;
                tracing::error!(job = %job.id, kind = %job.kind, attempt = job.attempt, %error, "job dead-lettered");
                queue.dead_letter(job.id, job.lease, &error.to_string(), now).await
            }
        };
        match recorded {
            Ok(()) => report,
            Err(CrmError::Conflict { .. }) => {
                tracing::warn!(job = %job.id, "lease lost before the job finished; another worker owns it");
                WorkerReport { lease_lost: 1, ..WorkerReport::default() }
            }
            Err(error) => {
                tracing::warn!(job = %job.id, %error, "could not record job outcome; the lease will expire and the job rerun");
                WorkerReport { lease_lost: 1, ..WorkerReport::default() }
            }
        }
    }

    /// Runs a job; `Some(at)` asks to run it again at `at` (a job that works in slices).
    /// `last_attempt`: the queue will not retry a transient failure.
    async fn perform(&self, job: &Job, last_attempt: bool) -> Result<Option<DateTime<Utc>>> {
        match job {
            Job::DispatchOutbox => outbox_dispatcher::dispatch(&self.crm).await.map(|_| None),
            Job::SendNotificationDigests => crate::activity::tracker::send_digests(&self.crm).await.map(|_| None),
            Job::SendCampaign { tenant_id, campaign_id } => {
                crate::campaign::send::run(&self.crm, *tenant_id, *campaign_id).await
            }
            Job::StartCampaign { tenant_id, campaign_id } => {
                crate::campaign::send::start_scheduled(&self.crm, *tenant_id, *campaign_id).await
            }
            Job::CollectBlobs { keys } => crate::document::collect_blobs(&self.crm, keys).await.map(|_| None),
            Job::ExtractText { tenant_id, document_id, number } => {
                crate::document::extract_text(&self.crm, *tenant_id, *document_id, *number, last_attempt)
                    .await
                    .map(|_| None)
            }
            Job::SyncConnection { tenant_id, connection_id, scheduled } => {
                crate::integration::sync::run(&self.crm, *tenant_id, *connection_id, *scheduled).await.map(|_| None)
            }
        }
    }
}

/// A job task's report; a task that panicked counts as a lost lease (the job is claimed again
/// once its lease expires).
fn finished(done: std::result::Result<WorkerReport, JoinError>) -> WorkerReport {
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "a job task panicked; its lease will expire and the job rerun");
        WorkerReport { lease_lost: 1, ..WorkerReport::default() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::seconds(1));
        assert_eq!(p.delay(2), Duration::seconds(2));
        assert_eq!(p.delay(5), Duration::seconds(16));
        assert_eq!(p.delay(40), Duration::hours(1));
    }
}
