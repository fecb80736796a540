//! The send job: freezes a campaign's audience in batches, then sends to leased batches of
//! recipients, recording every attempt.
//!
//! Crash safety comes from the order of writes: a recipient is `sending` under a lease *before*
//! its message leaves and `sent` only *after* the server accepted it. A crash between the two
//! leaves the recipient `sending`; when the lease expires it is claimed and sent again, so nobody
//! is skipped and the duplicates are bounded by the batches in flight: the one being sent and the
//! one before it, whose outcomes are written while the next is rendered. Pausing stops claiming;
//! the batches in flight are recorded as usual, so resuming sends nothing twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::{FutureExt, StreamExt, TryStreamExt};

use super::ab_test;
use super::recipient::{Attempt, AttemptOutcome, Recipient, RecipientOutcome, RecipientStatus};
use super::segment::EngagementKind;
use super::service::{contact_variables, template_variables};
use super::tracking::{TrackingConfig, add_pixel, click_url, open_url, rewrite_links};
use super::unsubscribe::{LinkConfig, links};
use super::{AbMetric, Campaign, CampaignStatus, state::Transition};
use crate::actor::Actor;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{CampaignId, ContactId, RecipientId, TenantId};
use crate::ports::{EmailMessage, MailError};
use crate::record::to_json;
use crate::template::{CompiledTemplate, TemplateSet};
use crate::value::EmailAddress;

/// How campaigns are sent.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Recipients claimed (and contacts frozen) per batch.
    pub batch_size: u32,
    /// Messages handed to the mailer at once.
    pub concurrency: usize,
    /// How long a claimed recipient stays with its sender before another may take it.
    pub lease: Duration,
    /// Delivery attempts before a transiently failing recipient is given up.
    pub max_attempts: u32,
    /// Backoff after the n-th transient failure (the last entry repeats).
    pub retry_delays: Vec<Duration>,
    /// Messages per second over every campaign together (the transport's limit).
    pub transport_rate_per_second: Option<u32>,
    /// How long one run of the send job works before it yields the worker.
    pub slice: Duration,
    /// Open and click tracking.
    pub tracking: TrackingConfig,
    /// Soft bounces of one address before it is suppressed.
    pub soft_bounce_limit: u32,
    /// Unsubscribe links; when absent, [`crate::CrmBuilder::build`] makes one with a random key
    /// and no public URL (messages then carry only a `mailto:` unsubscribe).
    pub links: Option<LinkConfig>,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            concurrency: 16,
            lease: Duration::minutes(5),
            max_attempts: 5,
            retry_delays: vec![Duration::minutes(1), Duration::minutes(5), Duration::minutes(30), Duration::hours(2)],
            transport_rate_per_second: None,
            slice: Duration::seconds(30),
            links: None,
            tracking: TrackingConfig::default(),
            soft_bounce_limit: 3,
        }
    }
}

impl CampaignConfig {
    fn retry_delay(&self, failures: u32) -> Duration {
        let index = (failures.max(1) as usize - 1).min(self.retry_delays.len().saturating_sub(1));
        self.retry_delays.get(index).copied().unwrap_or(Duration::minutes(5))
    }
}

/// Spaces out sends to at most `rate` per second (a virtual-clock scheduler: each caller reserves
/// the next free slot, then sleeps until it).
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: StdDuration,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            interval: StdDuration::from_secs_f64(1.0 / f64::from(per_second.max(1))),
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    pub(crate) async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The variant a recipient gets, `None` = held back for the A/B winner. Sampling and variant
/// choice are hashes of (campaign, contact), never random draws, so they survive restarts.
pub(crate) fn assign_variant(campaign: &Campaign, contact: ContactId) -> Result<Option<u16>> {
    let Some(ab) = campaign.ab_test.as_ref().filter(|_| campaign.winner.is_none()) else {
        return Ok(Some(campaign.winner.unwrap_or(0)));
    };
    let (id, key) = (campaign.id.to_string(), contact.to_string());
    let sample = [u32::from(ab.sample_percent), 100 - u32::from(ab.sample_percent.min(100))];
    if ab_test::assign_variant(&id, &format!("sample:{key}"), &sample)? != 0 {
        return Ok(None);
    }
    let weights: Vec<u32> = campaign.variants.iter().map(|v| v.weight).collect();
    let variant = ab_test::assign_variant(&id, &key, &weights)?;
    Ok(Some(u16::try_from(variant).map_err(|_| CrmError::Internal("too many variants".into()))?))
}

/// The deterministic Message-ID of a recipient (without angle brackets).
pub(crate) fn message_id(recipient: RecipientId, from: &EmailAddress) -> String {
    let domain = from.as_str().rsplit_once('@').map_or("localhost", |(_, d)| d);
    format!("{recipient}@{domain}")
}

fn campaign_ref(id: CampaignId) -> EntityRef {
    EntityRef { kind: EntityKind::Campaign, id: id.0 }
}

/// Runs one slice of a campaign's send. Returns when to run again, or `None` when there is
/// nothing left to do (sent, paused, cancelled).
pub(crate) async fn run(crm: &Crm, tenant: TenantId, id: CampaignId) -> Result<Option<DateTime<Utc>>> {
    let mut unrecorded = None;
    let result = run_slice(crm, tenant, id, &mut unrecorded).await;
    // A batch already sent is recorded whatever ended the slice (its end, a pause, an error).
    let recorded = record(crm, unrecorded).await;
    let next = result?;
    recorded?;
    Ok(next)
}

/// A sent batch's outcomes and `email.sent` events, not yet written.
struct Delivered {
    tenant: TenantId,
    outcomes: Vec<RecipientOutcome>,
    events: Vec<DomainEvent>,
}

/// Writes a sent batch's ledger, statuses and events in one transaction, then wakes the worker
/// so the events go out while the send goes on; nothing when there is no batch.
async fn record(crm: &Crm, delivered: Option<Delivered>) -> Result<()> {
    let Some(delivered) = delivered else { return Ok(()) };
    crm.store().campaigns().record_outcomes(delivered.tenant, &delivered.outcomes, &delivered.events).await?;
    crm.wake_worker();
    Ok(())
}

/// The send loop of [`run`]. Each batch's outcomes are written while the next batch is rendered
/// and sent (the store's writes and the rendering use different cores); the last sent batch is
/// left in `unrecorded` for [`run`] to write.
async fn run_slice(
    crm: &Crm,
    tenant: TenantId,
    id: CampaignId,
    unrecorded: &mut Option<Delivered>,
) -> Result<Option<DateTime<Utc>>> {
    let config = crm.campaign_config().clone();
    let started = crm.clock().now();
    let mut templates: HashMap<u16, Arc<CompiledTemplate>> = HashMap::new();
    loop {
        let now = crm.clock().now();
        if now - started > config.slice {
            return Ok(Some(now));
        }
        let repo = crm.store().campaigns();
        let campaign = repo.get(tenant, id).await?;
        if campaign.status != CampaignStatus::Sending {
            return Ok(None);
        }
        if !campaign.audience_frozen {
            match freeze_step(crm, &campaign, config.batch_size).await {
                Err(CrmError::Conflict { .. }) => continue,
                other => other?,
            }
            continue;
        }
        let lease_until = now + config.lease;
        // A rate-limited batch is at most ~5 s of sending, so it finishes well inside its lease.
        let rate = campaign.rate_limit_per_second.into_iter().chain(config.transport_rate_per_second).min();
        let batch_size = rate.map_or(config.batch_size, |r| config.batch_size.min(r.saturating_mul(5).max(1)));
        let batch = repo.claim_recipients(tenant, id, now, lease_until, batch_size).await?;
        if batch.is_empty() {
            // The counts below must see the last batch's outcomes.
            if unrecorded.is_some() {
                record(crm, unrecorded.take()).await?;
                continue;
            }
            let counts = repo.recipient_counts(tenant, id).await?;
            if counts.is_done() {
                return complete(crm, &campaign).await.map(|()| None);
            }
            let test_phase_sent = counts.held > 0 && counts.pending == counts.held && counts.sending == 0;
            if test_phase_sent && campaign.winner.is_none() {
                match decide_winner(crm, &campaign, now).await {
                    Ok(Some(at)) => return Ok(Some(at)),
                    Ok(None) | Err(CrmError::Conflict { .. }) => continue,
                    Err(other) => return Err(other),
                }
            }
            // Waiting: for retries that are not due, for leases held by another sender, or for
            // the A/B winner.
            let retry_at = repo.next_retry_at(tenant, id).await?;
            let wake = retry_at.unwrap_or(now + Duration::seconds(5)).min(now + config.lease);
            return Ok(Some(wake.max(now + Duration::milliseconds(200))));
        }
        let (delivered, recorded) =
            tokio::join!(send_batch(crm, &config, &campaign, batch, &mut templates), record(crm, unrecorded.take()));
        *unrecorded = Some(delivered?);
        recorded?;
    }
}

/// Launches a scheduled campaign once its send time has come; a campaign rescheduled later
/// asks to run again at its new time, one unscheduled or launched by hand is left alone.
pub(crate) async fn start_scheduled(crm: &Crm, tenant: TenantId, id: CampaignId) -> Result<Option<DateTime<Utc>>> {
    let campaign = crm.store().campaigns().get(tenant, id).await?;
    let now = crm.clock().now();
    match campaign.send_at {
        _ if campaign.status != CampaignStatus::Scheduled => Ok(None),
        Some(at) if at > now => Ok(Some(at)),
        _ => crm.campaigns().launch(&Actor::system(tenant), id).await.map(|_| None),
    }
}

/// Freezes the next batch of the segment into recipients (suppressed addresses become
/// `suppressed` recipients, so they are counted as targeted).
async fn freeze_step(crm: &Crm, campaign: &Campaign, limit: u32) -> Result<()> {
    let repo = crm.store().campaigns();
    let as_of = campaign.launched_at.unwrap_or(campaign.updated_at);
    let condition = campaign.segment.resolve("segment", as_of)?;
    let after = campaign.freeze_cursor.map(Into::into);
    let contacts = repo.segment_batch(campaign.tenant_id, &condition, after, limit).await?;
    let emails: Vec<EmailAddress> = contacts.iter().filter_map(|c| c.email.clone()).collect();
    let suppressed: HashSet<EmailAddress> =
        repo.suppressed_among(campaign.tenant_id, &emails).await?.into_iter().collect();
    let now = crm.clock().now();
    let mut recipients = Vec::with_capacity(contacts.len());
    for contact in &contacts {
        let Some(email) = contact.email.clone() else { continue };
        let status = if suppressed.contains(&email) { RecipientStatus::Suppressed } else { RecipientStatus::Pending };
        recipients.push(Recipient {
            id: RecipientId::new(),
            tenant_id: campaign.tenant_id,
            campaign_id: campaign.id,
            contact_id: contact.id,
            variant: assign_variant(campaign, contact.id)?,
            email,
            variables: contact_variables(contact),
            status,
            attempts: 0,
            retry_at: None,
            lease_until: None,
            last_error: None,
            sent_at: None,
            updated_at: now,
        });
    }
    let mut next = campaign.clone();
    next.freeze_cursor = contacts.last().map(|c| c.id.0).or(campaign.freeze_cursor);
    next.audience_frozen = (contacts.len() as u32) < limit;
    next.version += 1;
    next.updated_at = now;
    repo.add_recipients(&next, &recipients, &[]).await?;
    Ok(())
}

/// Once the test phase is sent: waits `decide_after_minutes`, then picks the winner on the
/// test's metric (two-proportion z-test, Bonferroni-corrected; the control unless a challenger
/// is significantly better) and hands it every held recipient. `Some(at)` = come back at `at`.
async fn decide_winner(crm: &Crm, campaign: &Campaign, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let Some(ab) = &campaign.ab_test else { return Ok(None) };
    let repo = crm.store().campaigns();
    let decide_at = match campaign.ab_decide_at {
        Some(at) => at,
        None => {
            let at = now + Duration::minutes(i64::from(ab.decide_after_minutes));
            let mut next = campaign.clone();
            next.ab_decide_at = Some(at);
            next.version += 1;
            next.updated_at = now;
            repo.update(&next, &[]).await?;
            at
        }
    };
    if now < decide_at {
        return Ok(Some(decide_at));
    }
    let summary = repo.engagement_summary(campaign.tenant_id, campaign.id).await?;
    let kind = match ab.metric {
        AbMetric::Opens => EngagementKind::Opened,
        AbMetric::Clicks => EngagementKind::Clicked,
        AbMetric::Conversions => EngagementKind::Converted,
    };
    let stats: Vec<ab_test::VariantStats> = campaign
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            let sent = summary.sent_by_variant.get(&i).copied().unwrap_or(0);
            let converted: u64 =
                summary.counts.iter().filter(|c| c.kind == kind && c.variant == Some(i)).map(|c| c.unique).sum();
            ab_test::VariantStats::new(v.name.clone(), sent, converted.min(sent))
        })
        .collect();
    let decision = ab_test::choose_winner(&stats, ab.alpha)?;
    let winner = campaign.variants.iter().position(|v| v.name == decision.winner).unwrap_or(0);
    let winner = u16::try_from(winner).map_err(|_| CrmError::Internal("too many variants".into()))?;
    let mut next = campaign.clone();
    next.winner = Some(winner);
    next.ab_decision = Some(decision.clone());
    next.version += 1;
    next.updated_at = now;
    let actor = Actor::system(campaign.tenant_id);
    let data = serde_json::json!({ "object": to_json(&next)?, "decision": decision });
    let event = DomainEvent::new(&actor, EventType::CampaignWinnerChosen, campaign_ref(campaign.id), data, now);
    repo.release_held(&next, winner, &[event]).await?;
    crm.wake_worker();
    Ok(None)
}

async fn complete(crm: &Crm, campaign: &Campaign) -> Result<()> {
    let now = crm.clock().now();
    let mut next = campaign.clone();
    next.status = campaign.status.apply(Transition::Complete)?;
    next.completed_at = Some(now);
    next.version += 1;
    next.updated_at = now;
    let counts = crm.store().campaigns().recipient_counts(campaign.tenant_id, campaign.id).await?;
    let actor = Actor::system(campaign.tenant_id);
    let data = serde_json::json!({ "object": to_json(&next)?, "counts": counts });
    let event = DomainEvent::new(&actor, EventType::CampaignCompleted, campaign_ref(campaign.id), data, now);
    match crm.store().campaigns().update(&next, &[event]).await {
        // Paused or cancelled meanwhile: the person's choice stands.
        Err(CrmError::Conflict { .. }) => Ok(()),
        other => other,
    }
}

async fn compiled(
    crm: &Crm,
    campaign: &Campaign,
    variant: u16,
    cache: &mut HashMap<u16, Arc<CompiledTemplate>>,
) -> Result<Arc<CompiledTemplate>> {
    if let Some(found) = cache.get(&variant) {
        return Ok(found.clone());
    }
    let spec = campaign
        .variants
        .get(usize::from(variant))
        .ok_or_else(|| CrmError::Internal(format!("campaign {} has no variant {variant}", campaign.id)))?;
    let template = crm.store().campaigns().get_template(campaign.tenant_id, spec.template_id).await?;
    let subject = spec.subject.clone().unwrap_or(template.subject);
    let compiled = Arc::new(TemplateSet::new(subject, template.html, template.text).compile(&template_variables())?);
    cache.insert(variant, compiled.clone());
    Ok(compiled)
}

fn from_header(campaign: &Campaign) -> String {
    match &campaign.from_name {
        Some(name) => {
            let escaped: String = name
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| matches!(c, '"' | '\\').then_some('\\').into_iter().chain([c]))
                .collect();
            format!("\"{escaped}\" <{}>", campaign.from_email)
        }
        None => campaign.from_email.to_string(),
    }
}

/// What rendering made of one claimed recipient.
enum Prepared {
    /// Ready to hand to the mailer.
    Message(Box<EmailMessage>),
    /// Not to be sent: its outcome is already known (suppressed, or the render failed).
    Done(AttemptOutcome, RecipientStatus, String),
}

/// Everything a render needs, shared by the rendering threads.
struct RenderContext {
    campaign: Campaign,
    links: LinkConfig,
    tracking: TrackingConfig,
    from: String,
}

impl RenderContext {
    fn prepare(&self, recipient: &Recipient, template: &CompiledTemplate, suppressed: bool) -> Prepared {
        let campaign = &self.campaign;
        if suppressed {
            return Prepared::Done(
                AttemptOutcome::Suppressed,
                RecipientStatus::Suppressed,
                "suppressed at dispatch".into(),
            );
        }
        let failed = |what: &str, e: CrmError| {
            Prepared::Done(AttemptOutcome::Permanent, RecipientStatus::Failed, format!("{what}: {e}"))
        };
        let unsubscribe = match links(&self.links, recipient, &campaign.from_email) {
            Ok(links) => links,
            Err(e) => return failed("unsubscribe link", e),
        };
        let mut vars = recipient.variables.clone();
        if let Some(map) = vars.as_object_mut() {
            map.insert("campaign_name".into(), campaign.name.clone().into());
            map.insert("unsubscribe_url".into(), unsubscribe.preferred().into());
        }
        let rendered = match template.render(&vars) {
            Ok(r) => r,
            Err(e) => return failed("render failed", e),
        };
        let mut html = rendered.html;
        if self.tracking.clicks
            && self.links.public_url.is_some()
            && let Some(frozen) = campaign.links.get(usize::from(recipient.variant.unwrap_or(0)))
            && !frozen.is_empty()
        {
            html = rewrite_links(&html, frozen, |i| click_url(&self.links, recipient, i));
        }
        if self.tracking.opens
            && let Ok(Some(url)) = open_url(&self.links, recipient)
        {
            add_pixel(&mut html, &url);
        }
        Prepared::Message(Box::new(EmailMessage {
            from: self.from.clone(),
            to: recipient.email.to_string(),
            reply_to: campaign.reply_to.as_ref().map(ToString::to_string),
            subject: rendered.subject,
            html: Some(html),
            text: Some(rendered.text),
            message_id: message_id(recipient.id, &campaign.from_email),
            headers: [("X-Campaign-Id".to_owned(), campaign.id.to_string())]
                .into_iter()
                .chain(unsubscribe.headers())
                .collect(),
        }))
    }
}

/// Recipients rendered at a time: a slice of a claimed batch.
const RENDER_SLICE: usize = 100;

/// `items` in order, in runs of `size` (the last one shorter).
fn split<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut runs = Vec::with_capacity(items.len().div_ceil(size.max(1)));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        runs.push(items.by_ref().take(size.max(1)).collect());
    }
    runs
}

/// Renders a claimed batch on every core (rendering is CPU work; the mailer and the store are
/// I/O), keeping the batch's order.
async fn render_all(
    context: Arc<RenderContext>,
    work: Vec<(Recipient, Arc<CompiledTemplate>, bool)>,
) -> Result<Vec<(Recipient, Prepared)>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let per_thread = work.len().div_ceil(threads).max(1);
    let handles: Vec<_> = split(work, per_thread)
        .into_iter()
        .map(|chunk| {
            let context = context.clone();
            tokio::task::spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|(recipient, template, suppressed)| {
                        let prepared = context.prepare(&recipient, &template, suppressed);
                        (recipient, prepared)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut rendered = Vec::new();
    for handle in handles {
        rendered.extend(handle.await.map_err(|e| CrmError::Internal(format!("render task failed: {e}")))?);
    }
    Ok(rendered)
}

/// Renders and sends a claimed batch; returns its outcomes for [`record`].
async fn send_batch(
    crm: &Crm,
    config: &CampaignConfig,
    campaign: &Campaign,
    batch: Vec<Recipient>,
    templates: &mut HashMap<u16, Arc<CompiledTemplate>>,
) -> Result<Delivered> {
    let repo = crm.store().campaigns();
    let emails: Vec<EmailAddress> = batch.iter().map(|r| r.email.clone()).collect();
    let suppressed: HashSet<EmailAddress> =
        repo.suppressed_among(campaign.tenant_id, &emails).await?.into_iter().collect();
    let mut work = Vec::with_capacity(batch.len());
    for recipient in batch {
        let template = compiled(crm, campaign, recipient.variant.unwrap_or(0), templates).await?;
        let is_suppressed = suppressed.contains(&recipient.email);
        work.push((recipient, template, is_suppressed));
    }
    let mailer = crm.mailer()?;
    let links = config.links.clone().ok_or_else(|| CrmError::Internal("no unsubscribe link settings".into()))?;
    let context = Arc::new(RenderContext {
        campaign: campaign.clone(),
        links,
        tracking: config.tracking.clone(),
        from: from_header(campaign),
    });
    // Rendered a slice at a time as the mailer takes them, so a batch never holds more than a
    // slice of messages (plus those in flight) in memory.
    let prepared = futures::stream::iter(split(work, RENDER_SLICE))
        .then(|slice| render_all(context.clone(), slice))
        .map_ok(|rendered| futures::stream::iter(rendered.into_iter().map(Ok)))
        .try_flatten();
    let campaign_pacer = campaign.rate_limit_per_second.map(Pacer::new);
    let outcomes: Vec<RecipientOutcome> = prepared
        .map_ok(|(recipient, prepared)| {
            let campaign_pacer = campaign_pacer.as_ref();
            async move {
                let number = recipient.attempts + 1;
                let attempt = |outcome, response: String| Attempt {
                    recipient_id: recipient.id,
                    number,
                    at: crm.clock().now(),
                    outcome,
                    message_id: message_id(recipient.id, &campaign.from_email),
                    response,
                };
                let message = match prepared {
                    Prepared::Done(outcome, status, response) => {
                        return RecipientOutcome { attempt: attempt(outcome, response), status, retry_at: None };
                    }
                    Prepared::Message(message) => message,
                };
                if let Some(pacer) = campaign_pacer {
                    pacer.wait().await;
                }
                if let Some(pacer) = crm.transport_pacer() {
                    pacer.wait().await;
                }
                match mailer.send(&message).await {
                    Ok(receipt) => RecipientOutcome {
                        attempt: attempt(AttemptOutcome::Sent, receipt.response),
                        status: RecipientStatus::Sent,
                        retry_at: None,
                    },
                    Err(MailError::Permanent(response)) => RecipientOutcome {
                        attempt: attempt(AttemptOutcome::Permanent, response),
                        status: RecipientStatus::Failed,
                        retry_at: None,
                    },
                    Err(MailError::Transient(response)) if number >= config.max_attempts => RecipientOutcome {
                        attempt: attempt(AttemptOutcome::Transient, response),
                        status: RecipientStatus::Failed,
                        retry_at: None,
                    },
                    Err(MailError::Transient(response)) => RecipientOutcome {
                        attempt: attempt(AttemptOutcome::Transient, response),
                        status: RecipientStatus::Pending,
                        retry_at: Some(crm.clock().now() + config.retry_delay(number)),
                    },
                }
            }
            .map(Ok::<_, CrmError>)
        })
        .try_buffer_unordered(config.concurrency.max(1))
        .try_collect()
        .await?;
    // One `email.sent` per accepted message, written with the ledger (webhooks follow them).
    let actor = Actor::system(campaign.tenant_id);
    let now = crm.clock().now();
    let events: Vec<DomainEvent> = outcomes
        .iter()
        .filter(|o| o.status == RecipientStatus::Sent)
        .map(|o| {
            let data = serde_json::json!({
                "recipient_id": o.attempt.recipient_id,
                "message_id": o.attempt.message_id,
                "response": o.attempt.response,
            });
            DomainEvent::new(&actor, EventType::EmailSent, campaign_ref(campaign.id), data, now)
        })
        .collect();
    Ok(Delivered { tenant: campaign.tenant_id, outcomes, events })
}
