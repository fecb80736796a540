//! Campaigns, templates, recipients, the send ledger, suppressions and engagement in memory,
//! under the store's one lock. Segments are evaluated with the domain's own
//! [`Condition::matches`], the reference the SQL stores are held to.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::campaign::bounce::BounceKind;
use crmcore::campaign::segment::{Condition, EngagementKind, SegmentDeal, SegmentEngagement, SegmentFacts};
use crmcore::campaign::{
    Attempt, BounceRecord, Campaign, EmailTemplate, EngagementCount, EngagementSummary, Recipient, RecipientCounts,
    RecipientOutcome, RecipientStatus, Suppression, SuppressionReason,
};
use crmcore::contact::Contact;
use crmcore::event::DomainEvent;
use crmcore::id::{CampaignId, ContactId, EmailTemplateId, RecipientId, TenantId};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::{CampaignRepository, Engagement};
use crmcore::value::EmailAddress;
use crmcore::{CrmError, Result};

use super::{MemoryStore, State, page_of};

/// The campaign part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct CampaignState {
    templates: BTreeMap<EmailTemplateId, EmailTemplate>,
    campaigns: BTreeMap<CampaignId, Campaign>,
    recipients: BTreeMap<RecipientId, Recipient>,
    /// Recipient ids per campaign, in id (freeze) order.
    by_campaign: HashMap<CampaignId, BTreeSet<RecipientId>>,
    /// Which contacts a campaign already has (freezing is idempotent).
    contacts_frozen: HashSet<(CampaignId, ContactId)>,
    attempts: HashMap<RecipientId, Vec<Attempt>>,
    suppressions: BTreeMap<(TenantId, String), Suppression>,
    engagements: HashMap<(TenantId, ContactId), Vec<Engagement>>,
    bounces: Vec<BounceRecord>,
}

impl State {
    fn check_campaign_version(&self, campaign: &Campaign) -> Result<()> {
        State::check_version(
            self.campaign.campaigns.get(&campaign.id),
            |c| c.tenant_id,
            |c| c.version,
            campaign.tenant_id,
            campaign.version,
            "campaign",
            campaign.id,
        )
    }

    /// Every contact of the tenant matching `condition`, with ids above `after`, in id order.
    fn segment_matches<'a>(
        &'a self,
        tenant: TenantId,
        condition: &'a Condition,
        after: Option<ContactId>,
    ) -> impl Iterator<Item = &'a Contact> + 'a {
        let needed = condition.facts_needed();
        let mut deals: HashMap<ContactId, Vec<SegmentDeal>> = HashMap::new();
        if needed.deals {
            for deal in self.deals.values().filter(|d| d.tenant_id == tenant) {
                if let Some(contact) = deal.contact_id {
                    deals.entry(contact).or_default().push(SegmentDeal {
                        status: deal.status,
                        stage: deal.stage.clone(),
                        amount: deal.amount.amount_minor,
                        currency: deal.amount.currency,
                    });
                }
            }
        }
        let range = match after {
            Some(after) => self.contacts.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => self.contacts.range(..),
        };
        range.map(|(_, c)| c).filter(move |c| c.tenant_id == tenant).filter(move |contact| {
            let engagements: Vec<SegmentEngagement> = if needed.engagements {
                self.campaign
                    .engagements
                    .get(&(tenant, contact.id))
                    .into_iter()
                    .flatten()
                    .filter(|e| !e.bot)
                    .map(|e| SegmentEngagement { campaign_id: e.campaign_id, kind: e.kind, at: e.at })
                    .collect()
            } else {
                Vec::new()
            };
            let deals = deals.get(&contact.id).map(Vec::as_slice).unwrap_or_default();
            condition.matches(&SegmentFacts { contact, deals, engagements: &engagements })
        })
    }

    fn campaign_recipients(&self, campaign: CampaignId) -> impl Iterator<Item = &Recipient> {
        self.campaign.by_campaign.get(&campaign).into_iter().flatten().filter_map(|id| self.campaign.recipients.get(id))
    }
}

#[async_trait]
impl CampaignRepository for MemoryStore {
    async fn insert_template(&self, template: &EmailTemplate, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !state.tenants.contains_key(&template.tenant_id) {
            return Err(CrmError::not_found("tenant", template.tenant_id));
        }
        state.campaign.templates.insert(template.id, template.clone());
        state.append(events);
        Ok(())
    }

    async fn update_template(&self, template: &EmailTemplate, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        State::check_version(
            state.campaign.templates.get(&template.id),
            |t| t.tenant_id,
            |t| t.version,
            template.tenant_id,
            template.version,
            "email_template",
            template.id,
        )?;
        state.campaign.templates.insert(template.id, template.clone());
        state.append(events);
        Ok(())
    }

    async fn get_template(&self, tenant: TenantId, id: EmailTemplateId) -> Result<EmailTemplate> {
        self.lock()
            .campaign
            .templates
            .get(&id)
            .filter(|t| t.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("email_template", id))
    }

    async fn list_templates(&self, tenant: TenantId, page: PageRequest) -> Result<Page<EmailTemplate>> {
        let state = self.lock();
        Ok(page_of(&state.campaign.templates, page, |t| t.tenant_id == tenant, EmailTemplateId, |t| t.id.0))
    }

    async fn insert(&self, campaign: &Campaign, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !state.tenants.contains_key(&campaign.tenant_id) {
            return Err(CrmError::not_found("tenant", campaign.tenant_id));
        }
        state.campaign.campaigns.insert(campaign.id, campaign.clone());
        state.append(events);
        Ok(())
    }

    async fn update(&self, campaign: &Campaign, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        state.check_campaign_version(campaign)?;
        state.campaign.campaigns.insert(campaign.id, campaign.clone());
        state.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        self.lock()
            .campaign
            .campaigns
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("campaign", id))
    }

    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Campaign>> {
        let state = self.lock();
        Ok(page_of(&state.campaign.campaigns, page, |c| c.tenant_id == tenant, CampaignId, |c| c.id.0))
    }

    async fn segment_count(&self, tenant: TenantId, condition: &Condition) -> Result<u64> {
        let state = self.lock();
        Ok(state.segment_matches(tenant, condition, None).count() as u64)
    }

    async fn segment_batch(
        &self,
        tenant: TenantId,
        condition: &Condition,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let state = self.lock();
        Ok(state.segment_matches(tenant, condition, after).take(limit as usize).cloned().collect())
    }

    async fn add_recipients(
        &self,
        campaign: &Campaign,
        recipients: &[Recipient],
        events: &[DomainEvent],
    ) -> Result<u64> {
        let mut state = self.lock();
        state.check_campaign_version(campaign)?;
        if recipients.iter().any(|r| r.tenant_id != campaign.tenant_id || r.campaign_id != campaign.id) {
            return Err(CrmError::invalid("recipients", "invalid", "recipients of another campaign"));
        }
        let mut added = 0;
        let cs = &mut state.campaign;
        cs.campaigns.insert(campaign.id, campaign.clone());
        for recipient in recipients {
            if cs.contacts_frozen.insert((campaign.id, recipient.contact_id)) {
                cs.by_campaign.entry(campaign.id).or_default().insert(recipient.id);
                cs.recipients.insert(recipient.id, recipient.clone());
                added += 1;
            }
        }
        state.append(events);
        Ok(added)
    }

    async fn claim_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Recipient>> {
        let mut state = self.lock();
        let claimable: Vec<RecipientId> = state
            .campaign_recipients(campaign)
            .filter(|r| r.tenant_id == tenant)
            .filter(|r| match r.status {
                RecipientStatus::Pending => r.variant.is_some() && r.retry_at.is_none_or(|t| t <= now),
                RecipientStatus::Sending => r.lease_until.is_none_or(|t| t <= now),
                _ => false,
            })
            .take(limit as usize)
            .map(|r| r.id)
            .collect();
        let mut claimed = Vec::with_capacity(claimable.len());
        for id in claimable {
            if let Some(r) = state.campaign.recipients.get_mut(&id) {
                r.status = RecipientStatus::Sending;
                r.lease_until = Some(lease_until);
                r.updated_at = now;
                claimed.push(r.clone());
            }
        }
        Ok(claimed)
    }

    async fn record_outcomes(
        &self,
        tenant: TenantId,
        outcomes: &[RecipientOutcome],
        events: &[DomainEvent],
    ) -> Result<()> {
        let mut state = self.lock();
        for outcome in outcomes {
            let id = outcome.attempt.recipient_id;
            if state.campaign.recipients.get(&id).is_none_or(|r| r.tenant_id != tenant) {
                return Err(CrmError::not_found("recipient", id));
            }
        }
        for outcome in outcomes {
            let attempt = &outcome.attempt;
            let cs = &mut state.campaign;
            cs.attempts.entry(attempt.recipient_id).or_default().push(attempt.clone());
            let Some(r) = cs.recipients.get_mut(&attempt.recipient_id) else { continue };
            if r.status != RecipientStatus::Sending {
                continue;
            }
            r.status = outcome.status;
            r.attempts = r.attempts.max(attempt.number);
            r.retry_at = outcome.retry_at;
            r.lease_until = None;
            r.updated_at = attempt.at;
            match outcome.status {
                RecipientStatus::Sent => {
                    r.sent_at = Some(attempt.at);
                    r.last_error = None;
                }
                _ => r.last_error = Some(attempt.response.clone()),
            }
        }
        state.append(events);
        Ok(())
    }

    async fn recipient_counts(&self, tenant: TenantId, campaign: CampaignId) -> Result<RecipientCounts> {
        let state = self.lock();
        let mut counts = RecipientCounts::default();
        for r in state.campaign_recipients(campaign).filter(|r| r.tenant_id == tenant) {
            counts.targeted += 1;
            match r.status {
                RecipientStatus::Pending => {
                    counts.pending += 1;
                    if r.variant.is_none() {
                        counts.held += 1;
                    }
                }
                RecipientStatus::Sending => counts.sending += 1,
                RecipientStatus::Sent => counts.sent += 1,
                RecipientStatus::Failed => counts.failed += 1,
                RecipientStatus::Suppressed => counts.suppressed += 1,
                RecipientStatus::Cancelled => counts.cancelled += 1,
            }
        }
        Ok(counts)
    }

    async fn next_retry_at(&self, tenant: TenantId, campaign: CampaignId) -> Result<Option<DateTime<Utc>>> {
        let state = self.lock();
        Ok(state
            .campaign_recipients(campaign)
            .filter(|r| r.tenant_id == tenant && r.status == RecipientStatus::Pending && r.variant.is_some())
            .filter_map(|r| r.retry_at)
            .min())
    }

    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: PageRequest,
    ) -> Result<Page<Recipient>> {
        let state = self.lock();
        let keep = |r: &&Recipient| r.tenant_id == tenant && status.is_none_or(|s| r.status == s);
        let ids = state.campaign.by_campaign.get(&campaign);
        let rows: Vec<Recipient> = ids
            .into_iter()
            .flat_map(|set| match page.after {
                Some(after) => Box::new(set.range(..RecipientId(after)).rev()) as Box<dyn Iterator<Item = _>>,
                None => Box::new(set.iter().rev()),
            })
            .filter_map(|id| state.campaign.recipients.get(id))
            .filter(keep)
            .take(page.limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(rows, page, |r| r.id.0))
    }

    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<Recipient> {
        self.lock()
            .campaign
            .recipients
            .get(&id)
            .filter(|r| r.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("recipient", id))
    }

    async fn attempts(&self, tenant: TenantId, id: RecipientId) -> Result<Vec<Attempt>> {
        let state = self.lock();
        if state.campaign.recipients.get(&id).is_none_or(|r| r.tenant_id != tenant) {
            return Ok(Vec::new());
        }
        Ok(state.campaign.attempts.get(&id).cloned().unwrap_or_default())
    }

    async fn release_held(&self, campaign: &Campaign, variant: u16, events: &[DomainEvent]) -> Result<u64> {
        let mut state = self.lock();
        state.check_campaign_version(campaign)?;
        let held: Vec<RecipientId> = state
            .campaign_recipients(campaign.id)
            .filter(|r| r.status == RecipientStatus::Pending && r.variant.is_none())
            .map(|r| r.id)
            .collect();
        let cs = &mut state.campaign;
        cs.campaigns.insert(campaign.id, campaign.clone());
        for id in &held {
            if let Some(r) = cs.recipients.get_mut(id) {
                r.variant = Some(variant);
                r.updated_at = campaign.updated_at;
            }
        }
        state.append(events);
        Ok(held.len() as u64)
    }

    async fn transition_recipients(
        &self,
        campaign: &Campaign,
        from: RecipientStatus,
        to: RecipientStatus,
        events: &[DomainEvent],
    ) -> Result<u64> {
        let mut state = self.lock();
        state.check_campaign_version(campaign)?;
        let moving: Vec<RecipientId> =
            state.campaign_recipients(campaign.id).filter(|r| r.status == from).map(|r| r.id).collect();
        let cs = &mut state.campaign;
        cs.campaigns.insert(campaign.id, campaign.clone());
        for id in &moving {
            if let Some(r) = cs.recipients.get_mut(id) {
                r.status = to;
                r.retry_at = None;
                r.lease_until = None;
                r.last_error = None;
                r.updated_at = campaign.updated_at;
            }
        }
        state.append(events);
        Ok(moving.len() as u64)
    }

    async fn suppress(&self, suppression: &Suppression, events: &[DomainEvent]) -> Result<bool> {
        let mut state = self.lock();
        if !state.tenants.contains_key(&suppression.tenant_id) {
            return Err(CrmError::not_found("tenant", suppression.tenant_id));
        }
        let key = (suppression.tenant_id, suppression.email.to_string());
        if state.campaign.suppressions.contains_key(&key) {
            return Ok(false);
        }
        state.campaign.suppressions.insert(key, suppression.clone());
        state.append(events);
        Ok(true)
    }

    async fn unsuppress(&self, tenant: TenantId, email: &EmailAddress, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if state.campaign.suppressions.remove(&(tenant, email.to_string())).is_none() {
            return Err(CrmError::not_found("suppression", email));
        }
        state.append(events);
        Ok(())
    }

    async fn suppressed_among(&self, tenant: TenantId, emails: &[EmailAddress]) -> Result<Vec<EmailAddress>> {
        let state = self.lock();
        Ok(emails
            .iter()
            .filter(|e| state.campaign.suppressions.contains_key(&(tenant, e.to_string())))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    }

    async fn list_suppressions(
        &self,
        tenant: TenantId,
        after: Option<&EmailAddress>,
        limit: u32,
    ) -> Result<Vec<Suppression>> {
        let state = self.lock();
        let start = after.map(ToString::to_string).unwrap_or_default();
        Ok(state
            .campaign
            .suppressions
            .range((tenant, start)..)
            .take_while(|((t, _), _)| *t == tenant)
            .filter(|((_, e), _)| after.is_none_or(|a| e.as_str() > a.as_str()))
            .take(limit as usize)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn record_bounce(&self, bounce: &BounceRecord, events: &[DomainEvent]) -> Result<u64> {
        let mut state = self.lock();
        if !state.tenants.contains_key(&bounce.tenant_id) {
            return Err(CrmError::not_found("tenant", bounce.tenant_id));
        }
        state.campaign.bounces.push(bounce.clone());
        let soft = state
            .campaign
            .bounces
            .iter()
            .filter(|b| b.tenant_id == bounce.tenant_id && b.email == bounce.email && b.kind == BounceKind::Soft)
            .count();
        state.append(events);
        Ok(soft as u64)
    }

    async fn record_engagement(&self, engagement: &Engagement, events: &[DomainEvent]) -> Result<bool> {
        let mut state = self.lock();
        if !state.campaign.recipients.get(&engagement.recipient_id).is_some_and(|r| {
            r.tenant_id == engagement.tenant_id
                && r.campaign_id == engagement.campaign_id
                && r.contact_id == engagement.contact_id
        }) {
            return Err(CrmError::not_found("recipient", engagement.recipient_id));
        }
        let list = state.campaign.engagements.entry((engagement.tenant_id, engagement.contact_id)).or_default();
        let first = !engagement.bot
            && !list.iter().any(|e| !e.bot && e.recipient_id == engagement.recipient_id && e.kind == engagement.kind);
        list.push(engagement.clone());
        state.append(events);
        Ok(first)
    }

    async fn engagement_summary(&self, tenant: TenantId, campaign: CampaignId) -> Result<EngagementSummary> {
        let state = self.lock();
        let mut summary = EngagementSummary::default();
        for r in state.campaign_recipients(campaign).filter(|r| r.tenant_id == tenant) {
            if r.status == RecipientStatus::Sent {
                *summary.sent_by_variant.entry(r.variant.unwrap_or(0)).or_default() += 1;
            }
        }
        type Key = (EngagementKind, Option<u16>, Option<u16>);
        let mut groups: BTreeMap<Key, (u64, BTreeSet<RecipientId>, i64)> = BTreeMap::new();
        for e in state.campaign.engagements.values().flatten() {
            if e.tenant_id != tenant || e.campaign_id != campaign {
                continue;
            }
            if e.bot {
                summary.bot_events += 1;
                continue;
            }
            let variant = state.campaign.recipients.get(&e.recipient_id).and_then(|r| r.variant);
            let group = groups.entry((e.kind, variant, e.link_index)).or_default();
            group.0 += 1;
            group.1.insert(e.recipient_id);
            group.2 += e.value_minor.unwrap_or(0);
        }
        for s in state.campaign.suppressions.values() {
            if s.tenant_id == tenant && s.campaign_id == Some(campaign) {
                match s.reason {
                    SuppressionReason::Unsubscribed => summary.unsubscribes += 1,
                    SuppressionReason::Complained => summary.complaints += 1,
                    _ => {}
                }
            }
        }
        for b in state.campaign.bounces.iter().filter(|b| b.tenant_id == tenant && b.campaign_id == Some(campaign)) {
            match b.kind {
                BounceKind::Hard => summary.hard_bounces += 1,
                BounceKind::Soft => summary.soft_bounces += 1,
            }
        }
        summary.counts = groups
            .into_iter()
            .map(|((kind, variant, link_index), (total, unique, value))| EngagementCount {
                kind,
                variant,
                link_index,
                total,
                unique: unique.len() as u64,
                value_minor: value,
            })
            .collect();
        Ok(summary)
    }

    async fn recipient_for_contact(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        contact: ContactId,
    ) -> Result<Option<Recipient>> {
        let state = self.lock();
        Ok(state.campaign_recipients(campaign).find(|r| r.tenant_id == tenant && r.contact_id == contact).cloned())
    }
}
