use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crmcore::campaign::{CampaignConfig, LinkConfig, NewCampaign, NewEmailTemplate, SegmentRule, Variant};
use crmcore::contact::NewContact;
use crmcore::event::EventType;
use crmcore::jobs::WorkerConfig;
use crmcore::ports::{EmailMessage, JobState, MailError, Mailer, NewJob, SendReceipt, Store};
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

/// Takes 30 ms per message: a campaign of 100 sends for 3 s.
#[derive(Debug)]
struct SlowMailer;

#[async_trait::async_trait]
impl Mailer for SlowMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(SendReceipt { message_id: message.message_id.clone(), response: "250 2.0.0 OK".into() })
    }
}

#[tokio::test]
async fn a_long_campaign_send_does_not_hold_back_other_jobs() {
    let store = Arc::new(MemoryStore::new());
    let links = LinkConfig { public_url: Some("https://crm.acme.test".into()), ..LinkConfig::ephemeral().unwrap() };
    let campaigns = CampaignConfig { batch_size: 10, concurrency: 1, links: Some(links), ..Default::default() };
    let worker_config = WorkerConfig { poll_interval: Duration::from_secs(30), ..WorkerConfig::default() };
    let crm = Crm::builder()
        .shared_store(store.clone())
        .mailer(Arc::new(SlowMailer))
        .campaign_config(campaigns)
        .worker_config(worker_config)
        .build()
        .unwrap();
    let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Acme", owner).await.unwrap();
    let me = Actor::member(tenant.id, owner.id, owner.role);
    for i in 0..100 {
        let contact =
            NewContact { email: Some(format!("c{i}@x.test")), tags: vec!["all".into()], ..Default::default() };
        crm.contacts().create(&me, contact).await.unwrap();
    }
    let template = NewEmailTemplate { name: "T".into(), subject: "Hi".into(), html: "<p>Hi</p>".into(), text: None };
    let template = crm.campaigns().create_template(&me, template).await.unwrap();
    let campaign = NewCampaign {
        name: "Slow".into(),
        from_email: "news@acme.test".into(),
        from_name: None,
        reply_to: None,
        segment: SegmentRule::Tag { tag: "all".into() },
        variants: vec![Variant { name: "A".into(), weight: 1, template_id: template.id, subject: None }],
        ab_test: None,
        rate_limit_per_second: None,
    };
    let campaign = crm.campaigns().create(&me, campaign).await.unwrap();
    crm.campaigns().launch(&me, campaign.id).await.unwrap();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = crm.worker();
    let running = tokio::spawn(async move { worker.run(async { stop_rx.await.ok().unwrap_or_default() }).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while crm.campaigns().counts(&me, campaign.id).await.unwrap().sent == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the send did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The send holds one of the worker's slots for seconds; the dispatcher takes another.
    let late = NewContact { email: Some("late@x.test".into()), ..Default::default() };
    let late = crm.contacts().create(&me, late).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let pending = store.outbox().pending(10_000).await.unwrap();
        if !pending.iter().any(|e| e.event.subject.id == late.id.0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new contact's event waited for the send");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = crm.campaigns().counts(&me, campaign.id).await.unwrap();
    assert!(counts.sent < 100, "dispatched only once the send was over: {counts:?}");
    // `email.sent` events go out as their batches are recorded, not after the send.
    let sent_events = |pending: &[crmcore::event::OutboxEntry]| {
        pending.iter().filter(|e| e.event.event_type == EventType::EmailSent).count()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = store.outbox().pending(10_000).await.unwrap();
    let counts = crm.campaigns().counts(&me, campaign.id).await.unwrap();
    assert!(counts.sent < 100 && sent_events(&pending) < 20, "{counts:?}, {} pending", sent_events(&pending));

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("worker stops").unwrap();
}
