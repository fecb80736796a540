//! The outbox dispatcher: reads undispatched events in sequence order, a batch at a time, creates
//! their webhook deliveries, and hands the batch to the activity tracker, whose one store
//! transaction writes every activity, follow, feed item and notification of the batch and marks
//! its events dispatched. The tracker is idempotent per event id, so a replayed batch writes
//! nothing twice.
//!
//! Webhook fan-out does not wait for the tracker: while a batch is being tracked, events that
//! commit meanwhile already get their deliveries (inserting a delivery twice is a no-op, so the
//! fan-out stays safe to repeat after a crash), which keeps commit → first attempt short.

use std::collections::HashSet;
use std::time::Duration;

use crate::activity;
use crate::crm::Crm;
use crate::error::Result;
use crate::event::OutboxEntry;
use crate::id::EventId;

/// Events read per batch.
const BATCH: u32 = 500;
/// How long one job run keeps dispatching, so it never holds its lease for long.
const BUDGET: Duration = Duration::from_secs(2);
/// How long a run waits for more events (a commit in this process wakes it) before it ends:
/// under a steady stream of writes the dispatcher stays running, and new events are dispatched
/// as soon as they commit instead of after another round through the job queue.
const LINGER: Duration = Duration::from_millis(25);

/// Dispatches pending events; returns how many were dispatched.
pub(crate) async fn dispatch(crm: &Crm) -> Result<usize> {
    let outbox = crm.store().outbox();
    let mut dispatched = 0;
    let started = tokio::time::Instant::now();
    let mut fanned_out: HashSet<EventId> = HashSet::new();
    // The batch being tracked runs as a task of its own, so its store transaction is always
    // driven to the end, whatever this loop is waiting for.
    let mut tracking: Option<tokio::task::JoinHandle<Result<Vec<EventId>>>> = None;
    let outcome: Result<()> = async {
        loop {
            let wake = crm.outbox_wakeup().notified();
            let entries = outbox.pending(BATCH).await?;
            let fresh: Vec<OutboxEntry> =
                entries.iter().filter(|e| !fanned_out.contains(&e.event.id)).cloned().collect();
            if !fresh.is_empty() {
                // Webhook deliveries first: inserting them again after a crash is a no-op.
                crate::webhook::fanout::plan(crm, &fresh).await?;
                fanned_out.extend(fresh.iter().map(|e| e.event.id));
            }
            let batch = match tracking.as_mut() {
                Some(batch) => batch,
                None if entries.is_empty() => {
                    if started.elapsed() >= BUDGET || tokio::time::timeout(LINGER, wake).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                None => tracking.insert(tokio::spawn(track(crm.clone(), entries))),
            };
            tokio::select! {
                done = batch => {
                    tracking = None;
                    let ids = joined(done)?;
                    dispatched += ids.len();
                    for id in &ids {
                        fanned_out.remove(id);
                    }
                    if started.elapsed() >= BUDGET {
                        return Ok(());
                    }
                }
                _ = wake => {}
            }
        }
    }
    .await;
    // Never leave a batch being tracked behind: the next run would track it again alongside.
    if let Some(batch) = tracking.take() {
        dispatched += joined(batch.await)?.len();
    }
    outcome.map(|()| dispatched)
}

fn joined(done: std::result::Result<Result<Vec<EventId>>, tokio::task::JoinError>) -> Result<Vec<EventId>> {
    done.map_err(|e| crate::error::CrmError::Internal(format!("event tracking failed: {e}")))?
}

/// Tracks one batch (activities, notifications) and marks all of it dispatched; returns its ids.
async fn track(crm: Crm, entries: Vec<OutboxEntry>) -> Result<Vec<EventId>> {
    let crm = &crm;
    let events: Vec<_> = entries.into_iter().map(|e| e.event).collect();
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    tracing::debug!(events = ids.len(), "dispatching events");
    // Every event of the batch is marked dispatched; only those that are activities are tracked.
    let tracked: Vec<_> = events.into_iter().filter(|e| e.event_type.is_activity()).collect();
    let applied = activity::tracker::track_batch(crm, &tracked, &ids).await?;
    // Live updates only for what the transaction committed.
    let created: Vec<_> = applied.into_iter().filter(|a| a.fresh).flat_map(|a| a.notifications).collect();
    activity::tracker::publish(crm, &created).await;
    Ok(ids)
}
