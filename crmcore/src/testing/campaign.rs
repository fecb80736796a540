//! Contract checks for campaigns: segment queries select exactly what the domain's evaluator
//! selects (on generated data and generated rules), recipient claims are exclusive and leased,
//! outcomes keep the ledger balanced, suppressions and templates behave, tenants stay apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use super::fixtures::Fixture;
use crate::actor::Principal;
use crate::campaign::segment::{
    ContactField, DateField, DateOp, EngagementKind, SegmentDeal, SegmentEngagement, SegmentFacts, TextOp, ValueOp,
};
use crate::campaign::{
    Attempt, AttemptOutcome, Campaign, CampaignStatus, EmailTemplate, Recipient, RecipientOutcome, RecipientStatus,
    SegmentRule, Suppression, SuppressionReason, Variant,
};
use crate::contact::{Contact, ContactFilter, NewContact};
use crate::crm::Crm;
use crate::deal::{DealFilter, DealStatus, NewDeal};
use crate::error::CrmError;
use crate::id::{CampaignId, ContactId, EmailTemplateId, RecipientId, TenantId};
use crate::page::PageRequest;
use crate::ports::{Engagement, ManualClock, Store};
use crate::value::EmailAddress;

/// A small deterministic generator (xorshift), so every store sees the same data and rules.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next(items.len() as u64) as usize]
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).single().expect("valid start")
}

fn template(tenant: TenantId) -> EmailTemplate {
    EmailTemplate {
        id: EmailTemplateId::new(),
        tenant_id: tenant,
        name: "T".into(),
        subject: "Hi".into(),
        html: "<p>Hi</p>".into(),
        text: None,
        created_at: start(),
        updated_at: start(),
        version: 1,
    }
}

fn campaign(tenant: TenantId, template: EmailTemplateId) -> Campaign {
    Campaign {
        id: CampaignId::new(),
        tenant_id: tenant,
        name: "C".into(),
        status: CampaignStatus::Sending,
        from_email: EmailAddress::parse("news@acme.test").expect("valid"),
        from_name: None,
        reply_to: None,
        segment: SegmentRule::All { rules: vec![] },
        variants: vec![Variant { name: "A".into(), weight: 1, template_id: template, subject: None }],
        ab_test: None,
        winner: None,
        ab_decide_at: None,
        ab_decision: None,
        links: vec![vec!["https://acme.test/a".into()]],
        rate_limit_per_second: None,
        send_at: None,
        audience_frozen: false,
        freeze_cursor: None,
        created_by: Principal::System,
        launched_at: Some(start()),
        completed_at: None,
        created_at: start(),
        updated_at: start(),
        version: 1,
    }
}

fn recipient(c: &Campaign, contact: ContactId, email: &str, variant: Option<u16>) -> Recipient {
    Recipient {
        id: RecipientId::new(),
        tenant_id: c.tenant_id,
        campaign_id: c.id,
        contact_id: contact,
        email: EmailAddress::parse(email).expect("valid"),
        variables: json!({"email": email}),
        variant,
        status: RecipientStatus::Pending,
        attempts: 0,
        retry_at: None,
        lease_until: None,
        last_error: None,
        sent_at: None,
        updated_at: start(),
    }
}

/// Stores a campaign with its template and returns it at its stored version.
async fn stored_campaign(store: &dyn Store, tenant: TenantId) -> Campaign {
    let t = template(tenant);
    store.campaigns().insert_template(&t, &[]).await.expect("template stored");
    let c = campaign(tenant, t.id);
    store.campaigns().insert(&c, &[]).await.expect("campaign stored");
    c
}

fn bumped(c: &Campaign) -> Campaign {
    let mut next = c.clone();
    next.version += 1;
    next
}

const WORDS: &[&str] = &["ada", "Grace", "ÉDITH", "linus", "Ken", "a_b", "100%", "o'neil", "zoë"];
const COMPANIES: &[&str] = &["Acme", "acme labs", "Globex", "Initech", "Umbrella"];
const TAGS: &[&str] = &["vip", "lead", "churned", "beta"];
const PLANS: &[&str] = &["free", "pro", "Pro", "team"];
const STAGES: &[&str] = &["lead", "qualified", "proposal", "negotiation"];

/// Creates generated contacts (and deals) through the services on a manual clock.
async fn generate_contacts(f: &Fixture, clock: &ManualClock, rng: &mut Rng, count: usize) -> Vec<Contact> {
    let mut contacts = Vec::with_capacity(count);
    for i in 0..count {
        clock.set(start() + Duration::hours(i as i64 * 7));
        let mut custom = BTreeMap::new();
        if rng.next(4) > 0 {
            custom.insert("plan".into(), json!(rng.pick(PLANS)));
        }
        match rng.next(4) {
            0 => {}
            1 => {
                custom.insert("seats".into(), json!(rng.next(20)));
            }
            2 => {
                custom.insert("seats".into(), json!(rng.next(20) as f64 + 0.5));
            }
            _ => {
                custom.insert("seats".into(), json!("many"));
            }
        }
        if rng.next(3) == 0 {
            custom.insert("active".into(), json!(rng.next(2) == 0));
        }
        if rng.next(2) == 0 {
            let langs: Vec<Value> = (0..rng.next(3)).map(|_| json!(rng.pick(&["en", "fr", "de"]))).collect();
            custom.insert("langs".into(), Value::Array(langs));
        }
        let tags: Vec<String> = TAGS.iter().filter(|_| rng.next(3) == 0).map(|t| t.to_string()).collect();
        let input = NewContact {
            email: (rng.next(6) > 0)
                .then(|| format!("{}.{i}@{}.test", rng.pick(WORDS).to_lowercase(), rng.pick(&["acme", "example"]))),
            first_name: (rng.next(4) > 0).then(|| rng.pick(WORDS).to_string()),
            last_name: (rng.next(3) > 0).then(|| format!("{}son", rng.pick(WORDS))),
            company: (rng.next(2) > 0).then(|| rng.pick(COMPANIES).to_string()),
            tags,
            custom_fields: custom,
            ..NewContact::default()
        };
        let input = if input.email.is_none() && input.first_name.is_none() && input.last_name.is_none() {
            NewContact { company: Some("Solo".into()), ..input }
        } else {
            input
        };
        let contact = f.crm.contacts().create(&f.actor, input).await.expect("contact created");
        if rng.next(3) > 0 {
            let deal = NewDeal {
                title: format!("Deal {i}"),
                contact_id: Some(contact.id),
                owner_id: None,
                amount_minor: 1_000 * rng.next(100) as i64,
                currency: rng.pick(&["EUR", "USD"]).to_string(),
                stage: Some(rng.pick(STAGES).to_string()),
                probability: None,
                expected_close: None,
            };
            let deal = f.crm.deals().create(&f.actor, deal).await.expect("deal created");
            match rng.next(4) {
                0 => {
                    f.crm.deals().move_stage(&f.actor, deal.id, "won", None).await.expect("won");
                }
                1 => {
                    f.crm.deals().move_stage(&f.actor, deal.id, "lost", Some("price")).await.expect("lost");
                }
                _ => {}
            }
        }
        contacts.push(contact);
    }
    contacts
}

fn text_rule(rng: &mut Rng) -> SegmentRule {
    let field =
        *rng.pick(&[ContactField::Email, ContactField::FirstName, ContactField::LastName, ContactField::Company]);
    let op = *rng.pick(&[
        TextOp::Equals,
        TextOp::Contains,
        TextOp::StartsWith,
        TextOp::EndsWith,
        TextOp::IsSet,
        TextOp::IsNotSet,
    ]);
    let value = match op {
        TextOp::IsSet | TextOp::IsNotSet => None,
        TextOp::Equals => Some(rng.pick(&["ADA", "grace", "Acme", "édith", "zoë"]).to_string()),
        _ => Some(rng.pick(&["a", "ACME", "%", "_", "son", ".test", "é", "o'", "labs"]).to_string()),
    };
    SegmentRule::Field { field, op, value }
}

fn leaf(rng: &mut Rng, campaigns: &[CampaignId]) -> SegmentRule {
    match rng.next(7) {
        0 | 1 => text_rule(rng),
        2 => {
            let key = rng.pick(&["plan", "seats", "active", "langs", "missing"]).to_string();
            let op = *rng.pick(&[ValueOp::Exists, ValueOp::Equals, ValueOp::Includes, ValueOp::Gt, ValueOp::Lte]);
            let value = match op {
                ValueOp::Exists => None,
                ValueOp::Gt | ValueOp::Lte => Some(json!(rng.next(20) as f64 / 2.0)),
                _ => Some(
                    rng.pick(&[json!("pro"), json!("fr"), json!(5), json!(true), json!("many"), json!(3.5)]).clone(),
                ),
            };
            SegmentRule::CustomField { key, op, value }
        }
        3 => SegmentRule::Tag { tag: rng.pick(TAGS).to_string() },
        4 => {
            let field = *rng.pick(&[DateField::CreatedAt, DateField::UpdatedAt]);
            match rng.next(2) {
                0 => SegmentRule::Date {
                    field,
                    op: *rng.pick(&[DateOp::Before, DateOp::After]),
                    at: Some(start() + Duration::hours(rng.next(60 * 7) as i64)),
                    days: None,
                },
                _ => SegmentRule::Date {
                    field,
                    op: *rng.pick(&[DateOp::WithinDays, DateOp::OlderThanDays]),
                    at: None,
                    days: Some(rng.next(20) as u32),
                },
            }
        }
        5 => SegmentRule::Deal {
            status: [None, Some(DealStatus::Open), Some(DealStatus::Won), Some(DealStatus::Lost)][rng.next(4) as usize],
            stage: (rng.next(3) == 0).then(|| rng.pick(STAGES).to_string()),
            min_amount: (rng.next(2) == 0).then(|| 1_000 * rng.next(60) as i64),
            max_amount: (rng.next(3) == 0).then(|| 60_000 + 1_000 * rng.next(40) as i64),
            currency: (rng.next(3) == 0).then(|| rng.pick(&["EUR", "USD"]).to_string()),
        },
        _ => SegmentRule::Engagement {
            kind: *rng.pick(&[EngagementKind::Opened, EngagementKind::Clicked, EngagementKind::Converted]),
            campaign_id: (rng.next(2) == 0).then(|| *rng.pick(campaigns)),
            within_days: (rng.next(2) == 0).then(|| rng.next(10) as u32),
        },
    }
}

fn rule(rng: &mut Rng, depth: u32, campaigns: &[CampaignId]) -> SegmentRule {
    if depth == 0 || rng.next(3) == 0 {
        return leaf(rng, campaigns);
    }
    match rng.next(3) {
        0 => SegmentRule::All { rules: (0..rng.next(4)).map(|_| rule(rng, depth - 1, campaigns)).collect() },
        1 => SegmentRule::Any { rules: (0..rng.next(4)).map(|_| rule(rng, depth - 1, campaigns)).collect() },
        _ => SegmentRule::Not { rule: Box::new(rule(rng, depth - 1, campaigns)) },
    }
}

/// Segment queries select exactly the contacts the domain's evaluator selects, for 200 generated
/// rules over 60 generated contacts with deals and engagement, counted and paged.
pub async fn campaign_segments_agree_with_the_domain(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(start()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock.clone()).build().expect("crm builds");
    let f = Fixture::with_crm(crm, "Segments").await;
    let other = Fixture::with_crm(f.crm.clone(), "Elsewhere").await;
    let mut rng = Rng(0x5eed_cafe);
    let contacts = generate_contacts(&f, &clock, &mut rng, 60).await;
    generate_contacts(&other, &clock, &mut rng, 10).await;

    // Engagement: two campaigns, some contacts opened/clicked/converted, some only as bots.
    let repo = store.campaigns();
    let mut campaign_ids = Vec::new();
    let mut engagements: HashMap<ContactId, Vec<SegmentEngagement>> = HashMap::new();
    for _ in 0..2 {
        let c = stored_campaign(store.as_ref(), f.tenant.id).await;
        let with_email: Vec<&Contact> = contacts.iter().filter(|c| c.email.is_some()).collect();
        let recipients: Vec<Recipient> = with_email
            .iter()
            .map(|contact| recipient(&c, contact.id, contact.email.as_ref().expect("has email").as_str(), Some(0)))
            .collect();
        repo.add_recipients(&bumped(&c), &recipients, &[]).await.expect("recipients added");
        for r in &recipients {
            for _ in 0..rng.next(3) {
                let kind = *rng.pick(&[EngagementKind::Opened, EngagementKind::Clicked, EngagementKind::Converted]);
                let bot = rng.next(4) == 0;
                let at = start() + Duration::days(rng.next(20) as i64);
                let e = Engagement {
                    tenant_id: f.tenant.id,
                    campaign_id: c.id,
                    recipient_id: r.id,
                    contact_id: r.contact_id,
                    kind,
                    link_index: None,
                    value_minor: None,
                    bot,
                    at,
                };
                repo.record_engagement(&e, &[]).await.expect("engagement recorded");
                if !bot {
                    engagements.entry(r.contact_id).or_default().push(SegmentEngagement {
                        campaign_id: c.id,
                        kind,
                        at,
                    });
                }
            }
        }
        campaign_ids.push(c.id);
    }

    // The reference data, read back through the public per-record API.
    let mut all_contacts = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = f.crm.contacts().list(&f.actor, &ContactFilter::default(), page).await.expect("listed");
        all_contacts.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page = PageRequest::parse(Some(100), Some(&cursor)).expect("cursor"),
            None => break,
        }
    }
    all_contacts.sort_by_key(|c| c.id);
    let mut deals: HashMap<ContactId, Vec<SegmentDeal>> = HashMap::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = f.crm.deals().list(&f.actor, &DealFilter::default(), page).await.expect("listed");
        for d in &got.items {
            if let Some(contact) = d.contact_id {
                deals.entry(contact).or_default().push(SegmentDeal {
                    status: d.status,
                    stage: d.stage.clone(),
                    amount: d.amount.amount_minor,
                    currency: d.amount.currency,
                });
            }
        }
        match got.next_cursor {
            Some(cursor) => page = PageRequest::parse(Some(100), Some(&cursor)).expect("cursor"),
            None => break,
        }
    }

    let now = start() + Duration::days(12);
    let mut non_trivial = 0;
    for i in 0..200 {
        let rule = rule(&mut rng, 3, &campaign_ids);
        let condition = rule.resolve("segment", now).expect("generated rules are valid");
        let expected: Vec<ContactId> = all_contacts
            .iter()
            .filter(|c| {
                let deals = deals.get(&c.id).map(Vec::as_slice).unwrap_or_default();
                let engagements = engagements.get(&c.id).map(Vec::as_slice).unwrap_or_default();
                condition.matches(&SegmentFacts { contact: c, deals, engagements })
            })
            .map(|c| c.id)
            .collect();
        if !expected.is_empty() && expected.len() < all_contacts.len() {
            non_trivial += 1;
        }
        let count = repo.segment_count(f.tenant.id, &condition).await.expect("counted");
        assert_eq!(count, expected.len() as u64, "count of rule #{i}: {rule:?}");
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let batch = repo.segment_batch(f.tenant.id, &condition, after, 17).await.expect("batch");
            let done = batch.len() < 17;
            after = batch.last().map(|c| c.id);
            got.extend(batch.into_iter().map(|c| c.id));
            if done {
                break;
            }
        }
        assert_eq!(got, expected, "members of rule #{i}: {rule:?}");
    }
    assert!(non_trivial > 60, "the generated rules discriminate ({non_trivial} of 200)");
}

/// Claims are exclusive under concurrent claimers, expire into new claims, and outcomes move
/// recipients exactly once while the ledger keeps every attempt.
pub async fn campaign_claims_are_exclusive_and_the_ledger_balances(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Claims").await;
    let repo = store.campaigns();
    let c = stored_campaign(store.as_ref(), f.tenant.id).await;
    let mut recipients: Vec<Recipient> =
        (0..60).map(|i| recipient(&c, ContactId::new(), &format!("r{i}@example.com"), Some(0))).collect();
    recipients[59].variant = None; // held for an A/B winner: never claimed
    let c2 = bumped(&c);
    assert_eq!(repo.add_recipients(&c2, &recipients, &[]).await.expect("added"), 60);
    // Freezing again is idempotent per contact; a stale campaign version conflicts.
    let c3 = bumped(&c2);
    assert_eq!(repo.add_recipients(&c3, &recipients[..5], &[]).await.expect("re-added"), 0);
    assert!(matches!(repo.add_recipients(&c2, &[], &[]).await, Err(CrmError::Conflict { .. })));

    let now = start();
    let lease = now + Duration::minutes(5);
    let claims = futures::future::join_all((0..6).map(|_| {
        let store = store.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let batch =
                    store.campaigns().claim_recipients(c.tenant_id, c.id, now, lease, 7).await.expect("claimed");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|r| r.id));
            }
        }
    }))
    .await;
    let all: Vec<RecipientId> = claims.into_iter().flatten().collect();
    let unique: HashSet<RecipientId> = all.iter().copied().collect();
    assert_eq!(all.len(), 59, "every claimable recipient claimed once");
    assert_eq!(unique.len(), 59);
    let counts = repo.recipient_counts(c.tenant_id, c.id).await.expect("counts");
    assert_eq!((counts.targeted, counts.sending, counts.pending, counts.held), (60, 59, 1, 1));
    assert!(counts.balanced());

    // Nothing more until the leases expire; then all 59 come back.
    assert!(repo.claim_recipients(c.tenant_id, c.id, now, lease, 100).await.expect("claim").is_empty());
    let later = lease + Duration::seconds(1);
    let reclaimed = repo.claim_recipients(c.tenant_id, c.id, later, later + Duration::minutes(5), 100).await;
    let reclaimed = reclaimed.expect("reclaimed");
    assert_eq!(reclaimed.len(), 59);
    assert!(reclaimed.windows(2).all(|w| w[0].id < w[1].id), "oldest first");

    let outcome = |r: &Recipient, status: RecipientStatus, outcome: AttemptOutcome, retry: bool| RecipientOutcome {
        attempt: Attempt {
            recipient_id: r.id,
            number: r.attempts + 1,
            at: later,
            outcome,
            message_id: format!("{}@acme.test", r.id),
            response: "250 OK".into(),
        },
        status,
        retry_at: retry.then(|| later + Duration::minutes(1)),
    };
    let mut outcomes = Vec::new();
    for (i, r) in reclaimed.iter().enumerate() {
        outcomes.push(match i % 4 {
            0 => outcome(r, RecipientStatus::Failed, AttemptOutcome::Permanent, false),
            1 => outcome(r, RecipientStatus::Pending, AttemptOutcome::Transient, true),
            2 => outcome(r, RecipientStatus::Suppressed, AttemptOutcome::Suppressed, false),
            _ => outcome(r, RecipientStatus::Sent, AttemptOutcome::Sent, false),
        });
    }
    repo.record_outcomes(c.tenant_id, &outcomes, &[]).await.expect("recorded");
    // Recording again (a sender whose lease was lost) only appends to the ledger.
    repo.record_outcomes(c.tenant_id, &outcomes[..3], &[]).await.expect("recorded again");
    let counts = repo.recipient_counts(c.tenant_id, c.id).await.expect("counts");
    assert_eq!((counts.failed, counts.suppressed, counts.sent, counts.pending, counts.sending), (15, 15, 14, 16, 0));
    assert!(counts.balanced());
    assert_eq!(repo.attempts(c.tenant_id, reclaimed[0].id).await.expect("ledger").len(), 2);
    let sent = repo.get_recipient(c.tenant_id, reclaimed[3].id).await.expect("recipient");
    assert_eq!((sent.status, sent.attempts, sent.sent_at), (RecipientStatus::Sent, 1, Some(later)));
    assert_eq!(repo.next_retry_at(c.tenant_id, c.id).await.expect("next"), Some(later + Duration::minutes(1)));

    // Retries wait for their time.
    assert!(repo.claim_recipients(c.tenant_id, c.id, later, later, 100).await.expect("claim").is_empty());
    let retry = later + Duration::minutes(1);
    assert_eq!(repo.claim_recipients(c.tenant_id, c.id, retry, retry, 100).await.expect("claim").len(), 15);

    // Held recipients get the winner; failures are queued again; pending ones cancelled.
    let c4 = bumped(&c3);
    assert_eq!(repo.release_held(&c4, 0, &[]).await.expect("released"), 1);
    let c5 = bumped(&c4);
    assert_eq!(
        repo.transition_recipients(&c5, RecipientStatus::Failed, RecipientStatus::Pending, &[]).await.expect("moved"),
        15
    );
    let mut c6 = bumped(&c5);
    c6.status = CampaignStatus::Cancelled;
    assert_eq!(
        repo.transition_recipients(&c6, RecipientStatus::Pending, RecipientStatus::Cancelled, &[])
            .await
            .expect("moved"),
        16
    );
    let counts = repo.recipient_counts(c.tenant_id, c.id).await.expect("counts");
    assert_eq!((counts.cancelled, counts.sending, counts.held), (16, 15, 0));
    assert!(counts.balanced());
    assert_eq!(repo.get(c.tenant_id, c.id).await.expect("campaign").status, CampaignStatus::Cancelled);

    let page = repo.list_recipients(c.tenant_id, c.id, Some(RecipientStatus::Sent), PageRequest::first(10));
    let page = page.await.expect("page");
    assert_eq!(page.items.len(), 10);
    assert!(page.next_cursor.is_some());
}

/// Suppressions are unique per tenant address, listable in address order and removable;
/// templates and campaigns keep their versions; other tenants see none of it.
pub async fn campaign_suppressions_templates_and_isolation(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Lists").await;
    let other = Fixture::with_crm(f.crm.clone(), "Others").await;
    let repo = store.campaigns();
    let suppression = |tenant: TenantId, email: &str, reason| Suppression {
        tenant_id: tenant,
        email: EmailAddress::parse(email).expect("valid"),
        reason,
        campaign_id: None,
        created_at: start(),
    };
    for email in ["b@x.test", "a@x.test", "c@x.test"] {
        assert!(repo.suppress(&suppression(f.tenant.id, email, SuppressionReason::Bounced), &[]).await.expect("ok"));
    }
    assert!(!repo.suppress(&suppression(f.tenant.id, "a@x.test", SuppressionReason::Manual), &[]).await.expect("ok"));
    let emails = ["a@x.test", "z@x.test", "c@x.test"].map(|e| EmailAddress::parse(e).expect("valid"));
    let found = repo.suppressed_among(f.tenant.id, &emails).await.expect("found");
    assert_eq!(found.iter().map(EmailAddress::as_str).collect::<Vec<_>>(), ["a@x.test", "c@x.test"]);
    assert!(repo.suppressed_among(other.tenant.id, &emails).await.expect("found").is_empty());
    let first = repo.list_suppressions(f.tenant.id, None, 2).await.expect("listed");
    assert_eq!(first.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(), ["a@x.test", "b@x.test"]);
    assert_eq!(first[0].reason, SuppressionReason::Bounced, "the first reason stays");
    let rest = repo.list_suppressions(f.tenant.id, Some(&first[1].email), 2).await.expect("listed");
    assert_eq!(rest.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(), ["c@x.test"]);
    repo.unsuppress(f.tenant.id, &emails[0], &[]).await.expect("removed");
    assert!(matches!(repo.unsuppress(f.tenant.id, &emails[0], &[]).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(repo.unsuppress(other.tenant.id, &emails[2], &[]).await, Err(CrmError::NotFound { .. })));

    // Soft bounces are counted per tenant address; hard ones are not soft.
    let bounce = |tenant: TenantId, kind| crate::campaign::BounceRecord {
        tenant_id: tenant,
        email: EmailAddress::parse("bouncy@x.test").expect("valid"),
        kind,
        status: "4.2.2".into(),
        campaign_id: None,
        at: start(),
    };
    use crate::campaign::bounce::BounceKind;
    assert_eq!(repo.record_bounce(&bounce(f.tenant.id, BounceKind::Soft), &[]).await.expect("bounce"), 1);
    assert_eq!(repo.record_bounce(&bounce(f.tenant.id, BounceKind::Hard), &[]).await.expect("bounce"), 1);
    assert_eq!(repo.record_bounce(&bounce(f.tenant.id, BounceKind::Soft), &[]).await.expect("bounce"), 2);
    assert_eq!(repo.record_bounce(&bounce(other.tenant.id, BounceKind::Soft), &[]).await.expect("bounce"), 1);

    let c = stored_campaign(store.as_ref(), f.tenant.id).await;
    let mut t = repo.get_template(f.tenant.id, c.variants[0].template_id).await.expect("template");
    t.version += 1;
    t.subject = "Changed".into();
    repo.update_template(&t, &[]).await.expect("updated");
    assert!(matches!(repo.update_template(&t, &[]).await, Err(CrmError::Conflict { .. })));
    assert_eq!(repo.get_template(f.tenant.id, t.id).await.expect("template").subject, "Changed");
    let mut stale = c.clone();
    stale.version = 5;
    assert!(matches!(repo.update(&stale, &[]).await, Err(CrmError::Conflict { .. })));
    assert_eq!(repo.get(f.tenant.id, c.id).await.expect("campaign"), c);
    assert_eq!(repo.list(f.tenant.id, PageRequest::first(10)).await.expect("list").items, vec![c.clone()]);

    // Other tenants: not found, empty lists, no claims, no counts.
    assert!(matches!(repo.get(other.tenant.id, c.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(repo.get_template(other.tenant.id, t.id).await, Err(CrmError::NotFound { .. })));
    assert!(repo.list(other.tenant.id, PageRequest::first(10)).await.expect("list").items.is_empty());
    assert!(repo.list_templates(other.tenant.id, PageRequest::first(10)).await.expect("list").items.is_empty());
    let mut foreign = c.clone();
    foreign.tenant_id = other.tenant.id;
    foreign.version += 1;
    assert!(matches!(repo.update(&foreign, &[]).await, Err(CrmError::NotFound { .. })));
    let r = recipient(&c, ContactId::new(), "r@x.test", Some(0));
    repo.add_recipients(&bumped(&c), std::slice::from_ref(&r), &[]).await.expect("added");
    let now = start();
    assert!(repo.claim_recipients(other.tenant.id, c.id, now, now, 10).await.expect("claim").is_empty());
    assert_eq!(repo.recipient_counts(other.tenant.id, c.id).await.expect("counts").targeted, 0);
    assert!(matches!(repo.get_recipient(other.tenant.id, r.id).await, Err(CrmError::NotFound { .. })));
    let engagement = Engagement {
        tenant_id: other.tenant.id,
        campaign_id: c.id,
        recipient_id: r.id,
        contact_id: r.contact_id,
        kind: EngagementKind::Opened,
        link_index: None,
        value_minor: None,
        bot: false,
        at: now,
    };
    assert!(matches!(repo.record_engagement(&engagement, &[]).await, Err(CrmError::NotFound { .. })));
}

/// Engagement: the first counted engagement of a kind is reported as first, bots are kept but
/// never counted, the summary groups by kind, variant and link with unique recipients and
/// values, and recipients are found by contact.
pub async fn campaign_engagement_is_summarised_without_bots(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Engaged").await;
    let repo = store.campaigns();
    let mut c = stored_campaign(store.as_ref(), f.tenant.id).await;
    let contacts: Vec<ContactId> = (0..4).map(|_| ContactId::new()).collect();
    let recipients: Vec<Recipient> = contacts
        .iter()
        .enumerate()
        .map(|(i, contact)| recipient(&c, *contact, &format!("e{i}@example.com"), Some((i % 2) as u16)))
        .collect();
    c = bumped(&c);
    repo.add_recipients(&c, &recipients, &[]).await.expect("added");
    let now = start();
    let claimed = repo.claim_recipients(c.tenant_id, c.id, now, now + Duration::minutes(1), 10).await.expect("claimed");
    let outcomes: Vec<RecipientOutcome> = claimed
        .iter()
        .map(|r| RecipientOutcome {
            attempt: Attempt {
                recipient_id: r.id,
                number: 1,
                at: now,
                outcome: AttemptOutcome::Sent,
                message_id: format!("{}@acme.test", r.id),
                response: "250".into(),
            },
            status: RecipientStatus::Sent,
            retry_at: None,
        })
        .collect();
    repo.record_outcomes(c.tenant_id, &outcomes, &[]).await.expect("recorded");

    let engage = |r: &Recipient, kind, link: Option<u16>, value: Option<i64>, bot| Engagement {
        tenant_id: r.tenant_id,
        campaign_id: r.campaign_id,
        recipient_id: r.id,
        contact_id: r.contact_id,
        kind,
        link_index: link,
        value_minor: value,
        bot,
        at: now,
    };
    let [a, b, c2, _] = [&recipients[0], &recipients[1], &recipients[2], &recipients[3]];
    assert!(!repo.record_engagement(&engage(a, EngagementKind::Opened, None, None, true), &[]).await.expect("bot"));
    assert!(repo.record_engagement(&engage(a, EngagementKind::Opened, None, None, false), &[]).await.expect("first"));
    assert!(!repo.record_engagement(&engage(a, EngagementKind::Opened, None, None, false), &[]).await.expect("again"));
    assert!(
        repo.record_engagement(&engage(a, EngagementKind::Clicked, Some(0), None, false), &[]).await.expect("click")
    );
    repo.record_engagement(&engage(a, EngagementKind::Clicked, Some(0), None, false), &[]).await.expect("click");
    repo.record_engagement(&engage(b, EngagementKind::Clicked, Some(1), None, false), &[]).await.expect("click");
    repo.record_engagement(&engage(c2, EngagementKind::Opened, None, None, false), &[]).await.expect("open");
    repo.record_engagement(&engage(c2, EngagementKind::Converted, None, Some(1_500), false), &[]).await.expect("c");
    repo.record_engagement(&engage(c2, EngagementKind::Converted, None, Some(500), false), &[]).await.expect("c");

    let summary = repo.engagement_summary(f.tenant.id, c.id).await.expect("summary");
    assert_eq!(summary.bot_events, 1);
    assert_eq!(summary.sent_by_variant.get(&0), Some(&2));
    assert_eq!(summary.sent_by_variant.get(&1), Some(&2));
    let find = |kind, variant: u16, link: Option<u16>| {
        summary
            .counts
            .iter()
            .find(|x| x.kind == kind && x.variant == Some(variant) && x.link_index == link)
            .map(|x| (x.total, x.unique, x.value_minor))
    };
    assert_eq!(find(EngagementKind::Opened, 0, None), Some((3, 2, 0)));
    assert_eq!(find(EngagementKind::Clicked, 0, Some(0)), Some((2, 1, 0)));
    assert_eq!(find(EngagementKind::Clicked, 1, Some(1)), Some((1, 1, 0)));
    assert_eq!(find(EngagementKind::Converted, 0, None), Some((2, 1, 2_000)));
    assert_eq!(summary.counts.len(), 4);

    // Unsubscribes, complaints and bounces attributed to the campaign are summarised too.
    let suppression = |email: &str, reason| Suppression {
        tenant_id: f.tenant.id,
        email: EmailAddress::parse(email).expect("valid"),
        reason,
        campaign_id: Some(c.id),
        created_at: now,
    };
    repo.suppress(&suppression("e0@example.com", SuppressionReason::Unsubscribed), &[]).await.expect("suppressed");
    repo.suppress(&suppression("e1@example.com", SuppressionReason::Complained), &[]).await.expect("suppressed");
    for kind in [crate::campaign::bounce::BounceKind::Hard, crate::campaign::bounce::BounceKind::Soft] {
        let bounce = crate::campaign::BounceRecord {
            tenant_id: f.tenant.id,
            email: EmailAddress::parse("e2@example.com").expect("valid"),
            kind,
            status: "5.1.1".into(),
            campaign_id: Some(c.id),
            at: now,
        };
        repo.record_bounce(&bounce, &[]).await.expect("bounce");
    }
    let summary = repo.engagement_summary(f.tenant.id, c.id).await.expect("summary");
    assert_eq!((summary.unsubscribes, summary.complaints, summary.hard_bounces, summary.soft_bounces), (1, 1, 1, 1));

    let found = repo.recipient_for_contact(f.tenant.id, c.id, contacts[1]).await.expect("found");
    assert_eq!(found.map(|r| r.id), Some(b.id));
    assert!(repo.recipient_for_contact(f.tenant.id, c.id, ContactId::new()).await.expect("none").is_none());
    let other = Fixture::with_crm(f.crm.clone(), "Not engaged").await;
    assert!(repo.recipient_for_contact(other.tenant.id, c.id, contacts[1]).await.expect("none").is_none());
    assert!(repo.engagement_summary(other.tenant.id, c.id).await.expect("summary").counts.is_empty());
}
