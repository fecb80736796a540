//! The outbox dispatcher: reads undispatched events in sequence order, a batch at a time, creates
//! their webhook deliveries and text-extraction jobs, and hands the batch to the activity tracker, whose one store transaction writes every activity,
//! follow, feed item and notification of the batch and marks its events dispatched. The tracker
//! is idempotent per event id, so a replayed batch writes nothing twice.

use std::time::Duration;

use crate::activity;
use crate::crm::Crm;
use crate::error::Result;

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
    while started.elapsed() < BUDGET {
        let wake = crm.outbox_wakeup().notified();
        let entries = outbox.pending(BATCH).await?;
        if entries.is_empty() {
            if tokio::time::timeout(LINGER, wake).await.is_err() {
                break;
            }
            continue;
        }
        // Webhook deliveries first: inserting them again after a crash is a no-op.
        crate::webhook::fanout::plan(crm, &entries).await?;
        // Text extraction for new versions: queued again after a crash, the dedupe key holds.
        crate::document::enqueue_extraction(crm, &entries).await?;
        let events: Vec<_> = entries.iter().map(|e| e.event.clone()).collect();
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        tracing::debug!(events = ids.len(), first_seq = entries[0].seq, "dispatching events");
        // Every event of the batch is marked dispatched; only those that are activities are tracked.
        let tracked: Vec<_> = events.into_iter().filter(|e| e.event_type.is_activity()).collect();
        let applied = activity::tracker::track_batch(crm, &tracked, &ids).await?;
        // Live updates only for what the transaction committed.
        let created: Vec<_> = applied.into_iter().filter(|a| a.fresh).flat_map(|a| a.notifications).collect();
        activity::tracker::publish(crm, &created).await;
        dispatched += entries.len();
    }
    Ok(dispatched)
}
