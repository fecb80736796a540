//! Campaigns end to end over the memory store: templates, segments, launch, the send ledger,
//! suppression, pause/resume, transient failures and a crash in the middle of a send.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use crmcore::actor::{Actor, Role};
use crmcore::campaign::{
    CampaignStatus, NewCampaign, NewEmailTemplate, RecipientStatus, SegmentRule, SuppressionReason, Variant,
};
use crmcore::contact::NewContact;
use crmcore::page::PageRequest;
use crmcore::ports::{Clock, EmailMessage, MailError, Mailer, ManualClock, SendReceipt};
use crmcore::tenant::NewOwner;
use crmcore::{Crm, CrmError};
use crmcore_memory::{CapturingMailer, MemoryStore};
use serde_json::json;

struct Setup {
    crm: Crm,
    owner: Actor,
    clock: Arc<ManualClock>,
}

async fn setup(mailer: Arc<dyn Mailer>) -> Setup {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let links = crmcore::campaign::LinkConfig {
        public_url: Some("https://crm.acme.test/".into()),
        ..crmcore::campaign::LinkConfig::ephemeral().unwrap()
    };
    let config =
        crmcore::campaign::CampaignConfig { batch_size: 7, concurrency: 3, links: Some(links), ..Default::default() };
    let crm = Crm::builder()
        .store(MemoryStore::new())
        .clock(clock.clone())
        .mailer(mailer)
        .campaign_config(config)
        .build()
        .unwrap();
    let owner = NewOwner { email: "owner@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Acme", owner).await.unwrap();
    Setup { crm, owner: Actor::member(tenant.id, owner.id, Role::Owner), clock }
}

async fn contacts(s: &Setup, n: usize, tag: &str) {
    for i in 0..n {
        let input = NewContact {
            email: Some(format!("{tag}{i}@example.com")),
            first_name: (i % 2 == 0).then(|| format!("Name{i}")),
            tags: vec![tag.into()],
            custom_fields: [("plan".to_string(), json!(if i % 3 == 0 { "pro" } else { "free" }))].into(),
            ..Default::default()
        };
        s.crm.contacts().create(&s.owner, input).await.unwrap();
    }
}

async fn campaign(s: &Setup, segment: SegmentRule) -> crmcore::campaign::Campaign {
    let template = s
        .crm
        .campaigns()
        .create_template(
            &s.owner,
            NewEmailTemplate {
                name: "Welcome".into(),
                subject: "Hello {{ first_name | default('there', true) }}".into(),
                html: "<p>Hi {{ first_name | default('there', true) }}, you are on {{ custom.plan }}.</p>\
                       <a href=\"https://acme.test/offer\">Offer</a>"
                    .into(),
                text: None,
            },
        )
        .await
        .unwrap();
    s.crm
        .campaigns()
        .create(
            &s.owner,
            NewCampaign {
                name: "Spring".into(),
                from_email: "news@acme.test".into(),
                from_name: Some("Acme \"News\"".into()),
                reply_to: None,
                segment,
                variants: vec![Variant { name: "A".into(), weight: 1, template_id: template.id, subject: None }],
                ab_test: None,
                rate_limit_per_second: None,
            },
        )
        .await
        .unwrap()
}

fn tagged(tag: &str) -> SegmentRule {
    SegmentRule::Tag { tag: tag.into() }
}

#[tokio::test]
async fn a_launched_campaign_reaches_its_segment_once_each_with_a_balanced_ledger() {
    let mailer = Arc::new(CapturingMailer::new());
    let s = setup(mailer.clone()).await;
    contacts(&s, 20, "vip").await;
    contacts(&s, 5, "other").await;
    s.crm.campaigns().suppress(&s.owner, "vip3@example.com", SuppressionReason::Unsubscribed).await.unwrap();

    let preview = s.crm.campaigns().preview_segment(&s.owner, &tagged("vip"), 3).await.unwrap();
    assert_eq!(preview.count, 20);
    assert_eq!(preview.sample.len(), 3);

    let c = campaign(&s, tagged("vip")).await;
    let launched = s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();
    assert_eq!(launched.status, CampaignStatus::Sending);
    s.crm.worker().run_until_idle().await.unwrap();

    let done = s.crm.campaigns().get(&s.owner, c.id).await.unwrap();
    assert_eq!(done.status, CampaignStatus::Sent);
    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!((counts.targeted, counts.sent, counts.suppressed, counts.failed), (20, 19, 1, 0));
    assert!(counts.balanced() && counts.is_done());

    let sent = mailer.sent();
    assert_eq!(sent.len(), 19);
    let mut by_to: HashMap<String, &EmailMessage> = HashMap::new();
    for m in &sent {
        assert!(by_to.insert(m.to.clone(), m).is_none(), "one message per recipient");
    }
    assert!(!by_to.contains_key("vip3@example.com"), "suppressed at freeze");
    let m = by_to["vip0@example.com"];
    assert_eq!(m.subject, "Hello Name0");
    assert_eq!(m.from, "\"Acme \\\"News\\\"\" <news@acme.test>");
    assert!(m.html.as_deref().unwrap().contains("you are on pro"));
    assert!(m.text.as_deref().unwrap().contains("Hi Name0"));
    assert_eq!(by_to["vip1@example.com"].subject, "Hello there");
    assert!(m.message_id.ends_with("@acme.test"));

    // The ledger: one attempt per sent recipient, carrying the Message-ID and the response.
    let page = s.crm.campaigns().recipients(&s.owner, c.id, Some(RecipientStatus::Sent), PageRequest::first(50)).await;
    let recipients = page.unwrap().items;
    assert_eq!(recipients.len(), 19);
    let r = &recipients[0];
    let attempts = s.crm.campaigns().attempts(&s.owner, r.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].response.starts_with("250"));
    assert!(sent.iter().any(|m| m.message_id == attempts[0].message_id && m.to == r.email.as_str()));

    // The campaign's own feed has its lifecycle, not a million e-mail facts: `email.*` events
    // are dispatched (to webhooks later) without becoming activities.
    let entity = crmcore::event::EntityRef { kind: crmcore::event::EntityKind::Campaign, id: c.id.0 };
    let feed = s
        .crm
        .activity()
        .feed(&s.owner, crmcore::activity::FeedScope::Entity(entity), &Default::default(), PageRequest::first(50))
        .await
        .unwrap();
    let verbs: Vec<&str> = feed.items.iter().map(|a| a.verb.as_str()).collect();
    assert!(verbs.contains(&"started") && verbs.contains(&"completed") && !verbs.contains(&"sent"), "{verbs:?}");
    assert!(s.crm.store().outbox().pending(10).await.unwrap().is_empty(), "every email.sent was dispatched");
    let log = s.crm.store().outbox().list(s.owner.tenant_id, None, 1000).await.unwrap();
    let sent_events = log.iter().filter(|e| e.event.event_type == crmcore::event::EventType::EmailSent).count();
    assert_eq!(sent_events, 19, "one email.sent per accepted message");

    // Every message can be unsubscribed from: https one-click (RFC 8058) and mailto.
    let header = |m: &EmailMessage, name: &str| {
        m.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let list = header(m, "List-Unsubscribe");
    assert!(list.starts_with("<https://crm.acme.test/t/u/"), "{list}");
    assert!(list.contains(">, <mailto:news@acme.test?subject=unsubscribe%20"), "{list}");
    assert_eq!(header(m, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    let token = list.trim_start_matches("<https://crm.acme.test/t/u/").split('>').next().unwrap().to_owned();
    let target = s.crm.campaigns().unsubscribe_target(&token).await.unwrap();
    assert_eq!((target.email.as_str(), target.already_unsubscribed), ("vip0@example.com", false));
    let done_once = s.crm.campaigns().unsubscribe(&token).await.unwrap();
    assert!(!done_once.already_unsubscribed);
    assert!(s.crm.campaigns().unsubscribe(&token).await.unwrap().already_unsubscribed, "idempotent");
    let listed = s.crm.campaigns().suppressions(&s.owner, None, 10).await.unwrap();
    assert!(listed.iter().any(|x| x.email.as_str() == "vip0@example.com" && x.campaign_id == Some(c.id)));
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(s.crm.campaigns().unsubscribe(&tampered).await, Err(CrmError::Validation(_))));
    assert!(m.html.as_deref().unwrap().contains("Offer"));

    // Tracking: the static link goes through the click redirect, the pixel is there.
    let html = m.html.as_deref().unwrap();
    assert!(!html.contains("href=\"https://acme.test/offer\""), "the link is tracked");
    let click = html.split("href=\"https://crm.acme.test/t/c/").nth(1).unwrap().split('"').next().unwrap();
    let open = html.split("src=\"https://crm.acme.test/t/o/").nth(1).unwrap().split('"').next().unwrap();
    // Machine traffic right after the send, or from a scanner, is kept but not counted.
    s.crm.campaigns().record_open(open, Some("Mozilla/5.0 Thunderbird")).await.unwrap();
    s.clock.advance(Duration::minutes(1));
    s.crm.campaigns().record_open(open, Some("Barracuda Sentinel (EE)")).await.unwrap();
    let target = s.crm.campaigns().record_click(click, Some("Mozilla/5.0 Thunderbird")).await.unwrap();
    assert_eq!(target, "https://acme.test/offer", "the target comes from the frozen link table");
    s.crm.campaigns().record_open(open, Some("Mozilla/5.0 Thunderbird")).await.unwrap();
    assert!(matches!(s.crm.campaigns().record_click(open, None).await, Err(CrmError::Validation(_))), "purpose");
    let contact = by_to["vip0@example.com"].to.clone();
    let contact = s
        .crm
        .contacts()
        .list(
            &s.owner,
            &crmcore::contact::ContactFilter { search: Some(contact), ..Default::default() },
            PageRequest::first(1),
        )
        .await
        .unwrap()
        .items[0]
        .id;
    s.crm.campaigns().record_conversion(&s.owner, c.id, contact, Some(4_900)).await.unwrap();
    let stats = s.crm.campaigns().stats(&s.owner, c.id).await.unwrap();
    assert_eq!((stats.opens, stats.unique_opens, stats.clicks, stats.unique_clicks), (2, 1, 1, 1));
    assert_eq!((stats.conversions, stats.conversion_value_minor, stats.bot_events), (1, 4_900, 2));
    assert_eq!(stats.links[0].url, "https://acme.test/offer");
    assert_eq!((stats.unsubscribes, stats.delivered, stats.bounces), (1, 19, 0));
    assert!((stats.open_rate - 1.0 / 19.0).abs() < 1e-9);
    s.clock.advance(Duration::days(31));
    let late = s.crm.campaigns().record_conversion(&s.owner, c.id, contact, None).await.unwrap_err();
    assert!(matches!(late, CrmError::Validation(ref e) if e[0].code == "outside_attribution_window"), "{late:?}");

    // A sent campaign is not edited, launched or paused again.
    assert!(matches!(s.crm.campaigns().launch(&s.owner, c.id).await, Err(CrmError::Conflict { .. })));
    assert!(matches!(s.crm.campaigns().pause(&s.owner, c.id).await, Err(CrmError::Conflict { .. })));
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_and_permanent_ones_fail() {
    let mailer = Arc::new(CapturingMailer::new());
    let s = setup(mailer.clone()).await;
    contacts(&s, 4, "vip").await;
    mailer.fail_next(MailError::Transient("421 4.7.0 try later".into()));
    mailer.fail_next(MailError::Permanent("550 5.1.1 no such user".into()));
    let c = campaign(&s, tagged("vip")).await;
    s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();
    s.crm.worker().run_until_idle().await.unwrap();

    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!((counts.sent, counts.failed, counts.pending), (2, 1, 1), "{counts:?}");
    assert_eq!(s.crm.campaigns().get(&s.owner, c.id).await.unwrap().status, CampaignStatus::Sending);

    s.clock.advance(Duration::minutes(2));
    s.crm.worker().run_until_idle().await.unwrap();
    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!((counts.sent, counts.failed, counts.pending), (3, 1, 0));
    assert!(counts.balanced());
    assert_eq!(s.crm.campaigns().get(&s.owner, c.id).await.unwrap().status, CampaignStatus::Sent);

    let campaigns = s.crm.campaigns();
    let failed = campaigns.recipients(&s.owner, c.id, Some(RecipientStatus::Failed), PageRequest::first(5)).await;
    let failed = failed.unwrap().items;
    assert!(failed[0].last_error.as_deref().unwrap().contains("550"));

    // Retry failed: the permanent failure goes out again (the mailer accepts it now).
    let (again, moved) = s.crm.campaigns().retry_failed(&s.owner, c.id).await.unwrap();
    assert_eq!((again.status, moved), (CampaignStatus::Sending, 1));
    s.crm.worker().run_until_idle().await.unwrap();
    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!((counts.sent, counts.failed), (4, 0));
    let attempts = s.crm.campaigns().attempts(&s.owner, failed[0].id).await.unwrap();
    assert_eq!(attempts.len(), 2, "the ledger keeps both attempts");
    assert_eq!(mailer.sent().len(), 4);
}

/// Accepts `budget` messages, then stalls until the budget is raised (as if the server hung);
/// dropping the send future mid-stall is what a killed process does.
#[derive(Debug)]
struct StallingMailer {
    inner: CapturingMailer,
    budget: AtomicUsize,
    raised: tokio::sync::Notify,
}

impl StallingMailer {
    fn new(budget: usize) -> Self {
        Self { inner: CapturingMailer::new(), budget: AtomicUsize::new(budget), raised: tokio::sync::Notify::new() }
    }

    fn unblock(&self) {
        self.budget.store(usize::MAX, Ordering::SeqCst);
        self.raised.notify_waiters();
    }
}

#[async_trait]
impl Mailer for StallingMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        loop {
            let mut raised = std::pin::pin!(self.raised.notified());
            raised.as_mut().enable();
            if self.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_ok() {
                break;
            }
            raised.await;
        }
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_crash_mid_send_skips_nobody_and_duplicates_at_most_the_batch_in_flight() {
    let mailer = Arc::new(StallingMailer::new(10));
    let s = setup(mailer.clone()).await;
    contacts(&s, 30, "vip").await;
    let c = campaign(&s, tagged("vip")).await;
    s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();

    // The worker is dropped mid-batch: the "process" dies with messages in flight.
    let crashed = tokio::time::timeout(std::time::Duration::from_millis(500), s.crm.worker().run_until_idle()).await;
    assert!(crashed.is_err(), "the send stalled");
    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert!(counts.sending > 0, "recipients were left in flight: {counts:?}");

    // A new process: leases expire, the job and its recipients are claimed again.
    mailer.unblock();
    s.clock.advance(Duration::minutes(10));
    s.crm.worker().run_until_idle().await.unwrap();

    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!((counts.targeted, counts.sent), (30, 30), "{counts:?}");
    assert!(counts.balanced());
    let sent = mailer.inner.sent();
    let mut per_address: HashMap<&str, usize> = HashMap::new();
    for m in &sent {
        *per_address.entry(m.to.as_str()).or_default() += 1;
    }
    assert_eq!(per_address.len(), 30, "nobody skipped");
    let duplicates = sent.len() - per_address.len();
    assert!(duplicates <= 7, "duplicates bounded by one batch: {duplicates}");
}

#[tokio::test]
async fn pause_and_resume_send_nothing_twice() {
    let mailer = Arc::new(StallingMailer::new(8));
    let s = setup(mailer.clone()).await;
    contacts(&s, 25, "vip").await;
    let c = campaign(&s, tagged("vip")).await;
    s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();
    let worker = s.crm.worker();
    let run = tokio::spawn(async move { worker.run_until_idle().await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let paused = s.crm.campaigns().pause(&s.owner, c.id).await.unwrap();
    assert_eq!(paused.status, CampaignStatus::Paused);
    mailer.unblock();
    // The batch in flight finishes; nothing new is claimed while paused.
    run.await.unwrap().unwrap();
    let at_pause = mailer.inner.sent().len();
    assert!(at_pause < 25, "paused before the end ({at_pause})");
    s.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(mailer.inner.sent().len(), at_pause, "nothing sent while paused");

    s.crm.campaigns().resume(&s.owner, c.id).await.unwrap();
    s.crm.worker().run_until_idle().await.unwrap();
    let sent = mailer.inner.sent();
    assert_eq!(sent.len(), 25, "every recipient exactly once");
    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert_eq!(counts.sent, 25);
    assert_eq!(s.crm.campaigns().get(&s.owner, c.id).await.unwrap().status, CampaignStatus::Sent);
}

#[tokio::test]
async fn scheduling_cancelling_and_validation() {
    let mailer = Arc::new(CapturingMailer::new());
    let s = setup(mailer.clone()).await;
    contacts(&s, 3, "vip").await;
    let c = campaign(&s, tagged("vip")).await;
    let at = s.clock.now() + Duration::hours(1);
    let scheduled = s.crm.campaigns().schedule(&s.owner, c.id, at).await.unwrap();
    assert_eq!(scheduled.status, CampaignStatus::Scheduled);
    s.crm.worker().run_until_idle().await.unwrap();
    assert!(mailer.sent().is_empty(), "not before its time");
    s.clock.advance(Duration::hours(1) + Duration::seconds(1));
    s.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(mailer.sent().len(), 3);
    assert_eq!(s.crm.campaigns().get(&s.owner, c.id).await.unwrap().status, CampaignStatus::Sent);

    // Cancel a draft; edits after launch are refused.
    let d = campaign(&s, tagged("vip")).await;
    let cancelled = s.crm.campaigns().cancel(&s.owner, d.id).await.unwrap();
    assert_eq!(cancelled.status, CampaignStatus::Cancelled);
    let patch = crmcore::campaign::CampaignPatch { name: Some("x".into()), ..Default::default() };
    assert!(matches!(s.crm.campaigns().update(&s.owner, d.id, patch).await, Err(CrmError::Conflict { .. })));

    // Bad templates and rules are field errors with line numbers / paths.
    let bad = NewEmailTemplate {
        name: "Bad".into(),
        subject: "Hi {{ nickname }}".into(),
        html: "<p>\n{% if %}</p>".into(),
        text: None,
    };
    let CrmError::Validation(errors) = s.crm.campaigns().create_template(&s.owner, bad).await.unwrap_err() else {
        panic!("expected validation errors")
    };
    assert!(errors.iter().any(|e| e.field == "subject" && e.message.contains("nickname")), "{errors:?}");
    assert!(errors.iter().any(|e| e.field == "html" && e.message.contains("line 2")), "{errors:?}");
    let rule = SegmentRule::All { rules: vec![SegmentRule::Tag { tag: "".into() }] };
    let CrmError::Validation(errors) = s.crm.campaigns().preview_segment(&s.owner, &rule, 5).await.unwrap_err() else {
        panic!("expected validation errors")
    };
    assert_eq!(errors[0].field, "segment.rules[0].tag");

    // Viewers cannot launch.
    let viewer = Actor::member(s.owner.tenant_id, crmcore::id::MemberId::new(), Role::Viewer);
    assert!(matches!(s.crm.campaigns().launch(&viewer, d.id).await, Err(CrmError::Forbidden(_))));
}

#[tokio::test]
async fn an_ab_test_sends_the_significant_winner_to_the_rest() {
    let mailer = Arc::new(CapturingMailer::new());
    let s = setup(mailer.clone()).await;
    contacts(&s, 60, "vip").await;
    let mut variants = Vec::new();
    for (name, subject) in [("A", "Plain subject"), ("B", "Irresistible subject")] {
        let t = NewEmailTemplate {
            name: name.into(),
            subject: subject.into(),
            html: "<p>Hello</p><a href=\"https://acme.test/x\">x</a>".into(),
            text: None,
        };
        let t = s.crm.campaigns().create_template(&s.owner, t).await.unwrap();
        variants.push(Variant { name: name.into(), weight: 1, template_id: t.id, subject: None });
    }
    let input = NewCampaign {
        name: "A/B".into(),
        from_email: "news@acme.test".into(),
        from_name: None,
        reply_to: None,
        segment: tagged("vip"),
        variants,
        ab_test: Some(crmcore::campaign::AbTest {
            sample_percent: 50,
            metric: crmcore::campaign::AbMetric::Opens,
            alpha: 0.05,
            decide_after_minutes: 60,
        }),
        rate_limit_per_second: None,
    };
    let c = s.crm.campaigns().create(&s.owner, input).await.unwrap();
    s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();
    s.crm.worker().run_until_idle().await.unwrap();

    let counts = s.crm.campaigns().counts(&s.owner, c.id).await.unwrap();
    assert!(counts.held > 10 && counts.sent > 10, "a test phase and a held rest: {counts:?}");
    assert_eq!(counts.sent + counts.held, 60);
    // Everyone who got B opens it; nobody who got A does.
    s.clock.advance(Duration::minutes(5));
    let test_phase = mailer.sent();
    for m in test_phase.iter().filter(|m| m.subject == "Irresistible subject") {
        let html = m.html.as_deref().unwrap();
        let open = html.split("/t/o/").nth(1).unwrap().split('"').next().unwrap();
        s.crm.campaigns().record_open(open, Some("Mozilla/5.0")).await.unwrap();
    }
    // Not before the decision time; then the winner goes to the rest.
    s.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(mailer.sent().len(), test_phase.len());
    s.clock.advance(Duration::minutes(61));
    s.crm.worker().run_until_idle().await.unwrap();

    let done = s.crm.campaigns().get(&s.owner, c.id).await.unwrap();
    assert_eq!(done.status, CampaignStatus::Sent);
    assert_eq!(done.winner, Some(1));
    let decision = done.ab_decision.unwrap();
    assert_eq!(decision.winner, "B");
    assert!(decision.comparisons[0].significant && decision.comparisons[0].p_value.unwrap() < 0.05, "{decision:?}");
    let sent = mailer.sent();
    assert_eq!(sent.len(), 60, "everyone exactly once");
    assert!(sent[test_phase.len()..].iter().all(|m| m.subject == "Irresistible subject"));
    let stats = s.crm.campaigns().stats(&s.owner, c.id).await.unwrap();
    assert_eq!(stats.variants[0].unique_opens, 0);
    assert!(stats.variants[1].sent > stats.variants[0].sent);
}

/// A minimal RFC 3464 report for `to`, about the message `message_id`.
fn dsn(to: &str, message_id: &str, action: &str, status: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.acme.test\r\nTo: news@acme.test\r\nSubject: Delivery Status Notification\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nDelivery to {to} failed.\r\n\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test\r\n\r\n\
         Final-Recipient: rfc822; {to}\r\nAction: {action}\r\nStatus: {status}\r\n\
         Diagnostic-Code: smtp; {status} mailbox problem\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}>\r\nTo: {to}\r\n\r\n--b1--\r\n"
    )
}

#[tokio::test]
async fn bounce_reports_suppress_hard_bounces_at_once_and_soft_ones_after_the_limit() {
    let mailer = Arc::new(CapturingMailer::new());
    let s = setup(mailer.clone()).await;
    contacts(&s, 3, "vip").await;
    let c = campaign(&s, tagged("vip")).await;
    s.crm.campaigns().launch(&s.owner, c.id).await.unwrap();
    s.crm.worker().run_until_idle().await.unwrap();
    let sent = mailer.sent();
    let hard = &sent[0];
    let report = dsn(&hard.to, &hard.message_id, "failed", "5.1.1");
    let outcome = s.crm.campaigns().ingest_report(&s.owner, report.as_bytes()).await.unwrap();
    assert_eq!((outcome.hard_bounces, outcome.suppressed.len()), (1, 1));
    assert_eq!(outcome.suppressed[0].as_str(), hard.to);

    let soft = &sent[1];
    for round in 1..=3 {
        let report = dsn(&soft.to, &soft.message_id, "delayed", "4.2.2");
        let outcome = s.crm.campaigns().ingest_report(&s.owner, report.as_bytes()).await.unwrap();
        assert_eq!(outcome.soft_bounces, 1);
        assert_eq!(outcome.suppressed.len(), usize::from(round == 3), "suppressed at the third soft bounce");
    }
    let list = s.crm.campaigns().suppressions(&s.owner, None, 10).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|x| x.reason == SuppressionReason::Bounced && x.campaign_id == Some(c.id)));

    let garbage = s.crm.campaigns().ingest_report(&s.owner, b"hello").await.unwrap_err();
    assert!(matches!(garbage, CrmError::Validation(ref e) if e[0].field == "report"), "{garbage:?}");
    let viewer = Actor::member(s.owner.tenant_id, crmcore::id::MemberId::new(), Role::Viewer);
    let report = dsn(&sent[2].to, &sent[2].message_id, "failed", "5.1.1");
    assert!(matches!(s.crm.campaigns().ingest_report(&viewer, report.as_bytes()).await, Err(CrmError::Forbidden(_))));
}
