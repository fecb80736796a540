use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crmcore::campaign::{CampaignConfig, LinkConfig, NewCampaign, NewEmailTemplate, SegmentRule, Variant};
use crmcore::contact::NewContact;
use crmcore::event::EventType;
use crmcore::id::{CampaignId, JobId, LeaseId};
use crmcore::jobs::WorkerConfig;
use crmcore::ports::{
    ActivityRepository, ApprovalRepository, CampaignRepository, ClaimedJob, CommentRepository, ContactRepository,
    CredentialRepository, DealRepository, DocumentRepository, EmailMessage, Enqueued, FollowRepository,
    IntegrationRepository, JobQueue, JobRecord, JobState, MailError, Mailer, MemberRepository, NewJob,
    NotificationRepository, Outbox, QueueStats, SendReceipt, Store, TenantRepository, WebhookRepository,
};
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

/// A tenant with `contacts` contacts, and a campaign to all of them, launched.
async fn launched_campaign(crm: &Crm, contacts: usize) -> (Actor, CampaignId) {
    let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Acme", owner).await.unwrap();
    let me = Actor::member(tenant.id, owner.id, owner.role);
    for i in 0..contacts {
        let contact =
            NewContact { email: Some(format!("c{i}@x.test")), tags: vec!["all".into()], ..Default::default() };
        crm.contacts().create(&me, contact).await.unwrap();
    }
    let template = NewEmailTemplate { name: "T".into(), subject: "Hi".into(), html: "<p>Hi</p>".into(), text: None };
    let template = crm.campaigns().create_template(&me, template).await.unwrap();
    let campaign = NewCampaign {
        name: "News".into(),
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
    (me, campaign.id)
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
    let (me, campaign) = launched_campaign(&crm, 100).await;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = crm.worker();
    let running = tokio::spawn(async move { worker.run(async { stop_rx.await.ok().unwrap_or_default() }).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while crm.campaigns().counts(&me, campaign).await.unwrap().sent == 0 {
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
    let counts = crm.campaigns().counts(&me, campaign).await.unwrap();
    assert!(counts.sent < 100, "dispatched only once the send was over: {counts:?}");
    // `email.sent` events go out as their batches are recorded, not after the send.
    let sent_events = |pending: &[crmcore::event::OutboxEntry]| {
        pending.iter().filter(|e| e.event.event_type == EventType::EmailSent).count()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = store.outbox().pending(10_000).await.unwrap();
    let counts = crm.campaigns().counts(&me, campaign).await.unwrap();
    assert!(counts.sent < 100 && sent_events(&pending) < 20, "{counts:?}, {} pending", sent_events(&pending));

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("worker stops").unwrap();
}

/// What a job's open transaction is on SQLite, for the test below: a send holds it while the
/// mailer works, and a lease extension must wait for it.
type Held = Arc<tokio::sync::Mutex<()>>;

/// A mailer that holds [`Held`] for a while on every send.
#[derive(Debug)]
struct HoldingMailer(Held);

#[async_trait::async_trait]
impl Mailer for HoldingMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        let _held = self.0.lock().await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Ok(SendReceipt { message_id: message.message_id.clone(), response: "250 2.0.0 OK".into() })
    }
}

/// A memory store whose lease extensions wait for [`Held`].
#[derive(Debug)]
struct HoldingStore {
    inner: MemoryStore,
    held: Held,
}

#[async_trait::async_trait]
impl JobQueue for HoldingStore {
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> crmcore::Result<Enqueued> {
        self.inner.jobs().enqueue(job, now).await
    }
    async fn claim(&self, now: DateTime<Utc>, lease: chrono::Duration, limit: u32) -> crmcore::Result<Vec<ClaimedJob>> {
        self.inner.jobs().claim(now, lease, limit).await
    }
    async fn complete(&self, id: JobId, lease: LeaseId, now: DateTime<Utc>) -> crmcore::Result<()> {
        self.inner.jobs().complete(id, lease, now).await
    }
    async fn retry(
        &self,
        id: JobId,
        lease: LeaseId,
        run_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> crmcore::Result<()> {
        self.inner.jobs().retry(id, lease, run_at, error, now).await
    }
    async fn dead_letter(&self, id: JobId, lease: LeaseId, error: &str, now: DateTime<Utc>) -> crmcore::Result<()> {
        self.inner.jobs().dead_letter(id, lease, error, now).await
    }
    async fn extend_lease(&self, id: JobId, lease: LeaseId, until: DateTime<Utc>) -> crmcore::Result<()> {
        let _held = self.held.lock().await;
        self.inner.jobs().extend_lease(id, lease, until).await
    }
    async fn get(&self, id: JobId) -> crmcore::Result<JobRecord> {
        self.inner.jobs().get(id).await
    }
    async fn stats(&self, now: DateTime<Utc>) -> crmcore::Result<QueueStats> {
        self.inner.jobs().stats(now).await
    }
}

#[async_trait::async_trait]
impl Store for HoldingStore {
    fn tenants(&self) -> &dyn TenantRepository {
        self.inner.tenants()
    }
    fn members(&self) -> &dyn MemberRepository {
        self.inner.members()
    }
    fn contacts(&self) -> &dyn ContactRepository {
        self.inner.contacts()
    }
    fn deals(&self) -> &dyn DealRepository {
        self.inner.deals()
    }
    fn campaigns(&self) -> &dyn CampaignRepository {
        self.inner.campaigns()
    }
    fn credentials(&self) -> &dyn CredentialRepository {
        self.inner.credentials()
    }
    fn activities(&self) -> &dyn ActivityRepository {
        self.inner.activities()
    }
    fn comments(&self) -> &dyn CommentRepository {
        self.inner.comments()
    }
    fn follows(&self) -> &dyn FollowRepository {
        self.inner.follows()
    }
    fn notifications(&self) -> &dyn NotificationRepository {
        self.inner.notifications()
    }
    fn webhooks(&self) -> &dyn WebhookRepository {
        self.inner.webhooks()
    }
    fn documents(&self) -> &dyn DocumentRepository {
        self.inner.documents()
    }
    fn approvals(&self) -> &dyn ApprovalRepository {
        self.inner.approvals()
    }
    fn integrations(&self) -> &dyn IntegrationRepository {
        self.inner.integrations()
    }
    fn outbox(&self) -> &dyn Outbox {
        self.inner.outbox()
    }
    fn jobs(&self) -> &dyn JobQueue {
        self
    }
    async fn ping(&self) -> crmcore::Result<()> {
        self.inner.ping().await
    }
}

/// A job's lease is extended beside the job: while an extension waits for something the job
/// holds (on SQLite, the write lock of its open transaction), the job goes on and lets it go.
/// Extended instead of the job, with the job paused, the two would wait on each other.
#[tokio::test]
async fn a_lease_extension_never_waits_on_the_paused_job() {
    let held: Held = Arc::default();
    let store = Arc::new(HoldingStore { inner: MemoryStore::new(), held: held.clone() });
    let links = LinkConfig { public_url: Some("https://crm.acme.test".into()), ..LinkConfig::ephemeral().unwrap() };
    let campaigns = CampaignConfig { concurrency: 1, links: Some(links), ..Default::default() };
    // Extended every second, while each send holds for 1.5 s.
    let worker_config = WorkerConfig { lease: chrono::Duration::seconds(3), ..WorkerConfig::default() };
    let crm = Crm::builder()
        .shared_store(store.clone())
        .mailer(Arc::new(HoldingMailer(held)))
        .campaign_config(campaigns)
        .worker_config(worker_config)
        .build()
        .unwrap();
    let (me, campaign) = launched_campaign(&crm, 3).await;

    let report = tokio::time::timeout(Duration::from_secs(20), crm.worker().run_until_idle())
        .await
        .expect("the send and its lease extensions waited on each other")
        .unwrap();
    assert_eq!(report.dead, 0, "{report:?}");
    let counts = crm.campaigns().counts(&me, campaign).await.unwrap();
    assert_eq!((counts.sent, counts.targeted), (3, 3), "{counts:?}");
}
