//! Contract checks for the outbox and the worker that drains it.

use std::sync::Arc;

use super::fixtures::{Fixture, now};
use crate::event::EventType;
use crate::ports::{JobState, Store};

/// Events come back in the order they were committed, per tenant and globally; dispatch marks
/// are idempotent and pending excludes dispatched events.
pub async fn outbox_keeps_commit_order_and_dispatch_is_idempotent(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Outbox A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Outbox B").await;
    for i in 0..5 {
        a.contact(&format!("a{i}@example.com")).await;
        b.contact(&format!("b{i}@example.com")).await;
    }
    let pending = store.outbox().pending(1000).await.unwrap();
    assert_eq!(pending.len(), 2 * (2 + 5));
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq), "ascending seq");
    assert!(pending.iter().all(|e| e.dispatched_at.is_none()));

    let a_log = store.outbox().list(a.tenant.id, None, 1000).await.unwrap();
    assert_eq!(a_log.len(), 7);
    assert!(a_log.iter().all(|e| e.event.tenant_id == a.tenant.id));
    let emails: Vec<String> =
        a_log[2..].iter().map(|e| e.event.data["object"]["email"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(emails, (0..5).map(|i| format!("a{i}@example.com")).collect::<Vec<_>>(), "commit order kept");
    let after = store.outbox().list(a.tenant.id, Some(a_log[3].seq), 2).await.unwrap();
    assert_eq!(after, a_log[4..6].to_vec(), "`after` is exclusive and `limit` holds");

    let first_three: Vec<_> = pending[..3].iter().map(|e| e.event.id).collect();
    let at = now();
    store.outbox().mark_dispatched(&first_three, at).await.unwrap();
    store.outbox().mark_dispatched(&first_three, at + chrono::Duration::seconds(5)).await.unwrap();
    store.outbox().mark_dispatched(&[crate::id::EventId::new()], at).await.unwrap();
    let still = store.outbox().pending(1000).await.unwrap();
    assert_eq!(still.len(), pending.len() - 3);
    assert_eq!(still[0].seq, pending[3].seq);
    let limited = store.outbox().pending(2).await.unwrap();
    assert_eq!(limited.len(), 2);
    let dispatched = store.outbox().list(a.tenant.id, None, 1).await.unwrap();
    assert_eq!(dispatched[0].dispatched_at, Some(at), "the first mark wins");
    assert_eq!(dispatched[0].event, pending[0].event, "the event round-trips unchanged");
}

/// `run_until_idle` enqueues the dispatcher, runs it, and leaves no event pending.
pub async fn worker_dispatches_the_outbox_end_to_end(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Worker").await;
    for i in 0..3 {
        f.contact(&format!("w{i}@example.com")).await;
    }
    assert_eq!(store.outbox().pending(100).await.unwrap().len(), 5);
    let report = f.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(report.completed, 1, "one dispatcher job ran: {report:?}");
    assert!(store.outbox().pending(100).await.unwrap().is_empty());
    let log = store.outbox().list(f.tenant.id, None, 100).await.unwrap();
    assert!(log.iter().all(|e| e.dispatched_at.is_some()));
    assert_eq!(log.last().unwrap().event.event_type, EventType::ContactCreated);
    let stats = store.jobs().stats(now()).await.unwrap();
    assert_eq!((stats.due, stats.running, stats.dead), (0, 0, 0));
    let again = f.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(again.total(), 0, "nothing left to do");

    f.contact("late@example.com").await;
    let enqueued =
        store.jobs().enqueue(crate::jobs::Job::DispatchOutbox.to_new_job(now()).unwrap(), now()).await.unwrap();
    f.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(store.jobs().get(enqueued.id).await.unwrap().state, JobState::Completed);
    assert!(store.outbox().pending(100).await.unwrap().is_empty());
}
