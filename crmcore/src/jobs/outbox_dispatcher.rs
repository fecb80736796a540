//! The outbox dispatcher: reads undispatched events in sequence order, hands each to the
//! consumers (activity feed, notifications, webhooks as those capabilities land), then marks
//! it dispatched. Consumers are idempotent per event id, so a crash between handling and
//! marking replays the event harmlessly.

use crate::activity;
use crate::crm::Crm;
use crate::error::Result;
use crate::event::OutboxEntry;

/// Events read per batch.
const BATCH: u32 = 500;
/// Batches per job run, so one run never holds its lease for long.
const MAX_BATCHES: usize = 20;

/// Dispatches pending events; returns how many were dispatched.
pub(crate) async fn dispatch(crm: &Crm) -> Result<usize> {
    let outbox = crm.store().outbox();
    let mut dispatched = 0;
    for _ in 0..MAX_BATCHES {
        let entries = outbox.pending(BATCH).await?;
        if entries.is_empty() {
            break;
        }
        for entry in &entries {
            handle(crm, entry).await?;
        }
        let ids: Vec<_> = entries.iter().map(|e| e.event.id).collect();
        outbox.mark_dispatched(&ids, crm.clock().now()).await?;
        dispatched += entries.len();
        if entries.len() < BATCH as usize {
            break;
        }
    }
    Ok(dispatched)
}

/// Hands one event to every consumer: the activity tracker (activity, follows, feeds,
/// notifications in one transaction keyed by the event id), then the live-update fan-out for
/// what that transaction committed.
async fn handle(crm: &Crm, entry: &OutboxEntry) -> Result<()> {
    tracing::debug!(seq = entry.seq, event = %entry.event.event_type, id = %entry.event.id, "dispatching event");
    let applied = activity::tracker::track(crm, &entry.event).await?;
    if applied.fresh {
        activity::tracker::publish(crm, &applied).await;
    }
    Ok(())
}
