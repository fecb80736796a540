use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crmcore::contact::NewContact;
use crmcore::jobs::WorkerConfig;
use crmcore::ports::{JobState, NewJob, Store};
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
use crmcore_memory::MemoryStore;

fn crm_with(store: Arc<MemoryStore>) -> Crm {
    let config = WorkerConfig { poll_interval: Duration::from_secs(30), ..WorkerConfig::default() };
    Crm::builder().shared_store(store).worker_config(config).build().unwrap()
}

#[tokio::test]
async fn running_worker_dispatches_promptly_and_stops_gracefully() {
    let store = Arc::new(MemoryStore::new());
    let crm = crm_with(store.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = crm.worker();
    let running = tokio::spawn(async move { worker.run(async { stop_rx.await.ok().unwrap_or_default() }).await });

    let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Acme", owner).await.unwrap();
    let me = Actor::member(tenant.id, owner.id, owner.role);
    crm.contacts().create(&me, NewContact { email: Some("c@x.test".into()), ..Default::default() }).await.unwrap();

    // The poll interval is 30 s: only the wake-up after each commit can make this prompt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !store.outbox().pending(10).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "events were not dispatched promptly");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), running).await.expect("worker stops").unwrap();
    assert!(report.completed >= 1, "{report:?}");
}

#[tokio::test]
async fn unknown_jobs_are_dead_lettered_not_retried_forever() {
    let store = Arc::new(MemoryStore::new());
    let crm = crm_with(store.clone());
    let now = Utc::now();
    let job = NewJob {
        kind: "no.such.job".into(),
        payload: serde_json::json!({}),
        tenant_id: None,
        run_at: now,
        dedupe_key: None,
        max_attempts: 5,
    };
    let id = store.jobs().enqueue(job, now).await.unwrap().id;
    let report = crm.worker().run_until_idle().await.unwrap();
    assert_eq!(report.dead, 1);
    let record = store.jobs().get(id).await.unwrap();
    assert_eq!((record.state, record.attempts), (JobState::Dead, 1));
    assert!(record.last_error.unwrap().contains("no.such.job"));
}
