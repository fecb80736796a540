use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::campaign::segment::{Condition, EngagementKind};
use crate::campaign::{
    Attempt, BounceRecord, Campaign, EmailTemplate, EngagementSummary, Recipient, RecipientCounts, RecipientOutcome,
    RecipientStatus, Suppression,
};
use crate::contact::Contact;
use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{CampaignId, ContactId, EmailTemplateId, RecipientId, TenantId};
use crate::page::{Page, PageRequest};
use crate::value::EmailAddress;

/// A recorded engagement with a campaign e-mail: an open, a click or a conversion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Engagement {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The recipient.
    pub recipient_id: RecipientId,
    /// The contact the recipient was frozen from.
    pub contact_id: ContactId,
    /// What happened.
    pub kind: EngagementKind,
    /// For clicks: which link of the message.
    pub link_index: Option<u16>,
    /// For conversions: the value in minor units.
    pub value_minor: Option<i64>,
    /// A likely machine (a scanner, or too soon after the send): kept, never counted.
    pub bot: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// Campaigns, templates, the frozen audience, the send ledger, suppressions and engagement.
///
/// # Contract
/// Segment queries MUST select exactly the contacts for which [`Condition::matches`] holds, given
/// the contact's deals and its non-bot engagements. Recipient claims MUST be exclusive: a recipient
/// is handed to one claimer until its lease expires. Every write is one transaction together with
/// the events it is given.
#[async_trait]
pub trait CampaignRepository: Send + Sync {
    /// Inserts a template.
    async fn insert_template(&self, template: &EmailTemplate, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a template whose stored version is `template.version - 1`. MUST return `NotFound`
    /// when absent from the tenant, `Conflict` on a stale version.
    async fn update_template(&self, template: &EmailTemplate, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get_template(&self, tenant: TenantId, id: EmailTemplateId) -> Result<EmailTemplate>;
    /// Newest first.
    async fn list_templates(&self, tenant: TenantId, page: PageRequest) -> Result<Page<EmailTemplate>>;

    /// Inserts a campaign.
    async fn insert(&self, campaign: &Campaign, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a campaign whose stored version is `campaign.version - 1`. MUST return `NotFound`
    /// when absent from the tenant, `Conflict` on a stale version.
    async fn update(&self, campaign: &Campaign, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign>;
    /// Newest first.
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Campaign>>;

    /// How many of the tenant's contacts match.
    async fn segment_count(&self, tenant: TenantId, condition: &Condition) -> Result<u64>;
    /// Up to `limit` matching contacts with ids above `after`, in ascending id order.
    async fn segment_batch(
        &self,
        tenant: TenantId,
        condition: &Condition,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>>;

    /// One freeze step: replaces the campaign (version check as [`update`](Self::update)) and adds
    /// the recipients, skipping contacts the campaign already has; returns how many were added.
    async fn add_recipients(
        &self,
        campaign: &Campaign,
        recipients: &[Recipient],
        events: &[DomainEvent],
    ) -> Result<u64>;
    /// Claims up to `limit` recipients of the campaign that are `pending` with a variant and no
    /// future `retry_at`, or `sending` with an expired lease; marks them `sending` until
    /// `lease_until`. Oldest first. Exclusive under concurrent claimers.
    async fn claim_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Recipient>>;
    /// Appends each outcome's attempt to the ledger and moves its recipient to the outcome's
    /// status, with the events, in one transaction. Outcomes for recipients no longer `sending`
    /// only append their attempt.
    async fn record_outcomes(
        &self,
        tenant: TenantId,
        outcomes: &[RecipientOutcome],
        events: &[DomainEvent],
    ) -> Result<()>;
    /// Counts by status.
    async fn recipient_counts(&self, tenant: TenantId, campaign: CampaignId) -> Result<RecipientCounts>;
    /// The earliest `retry_at` of a pending recipient, if any.
    async fn next_retry_at(&self, tenant: TenantId, campaign: CampaignId) -> Result<Option<DateTime<Utc>>>;
    /// Newest first, optionally only those in `status`.
    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: PageRequest,
    ) -> Result<Page<Recipient>>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<Recipient>;
    /// The recipient's ledger, oldest first.
    async fn attempts(&self, tenant: TenantId, id: RecipientId) -> Result<Vec<Attempt>>;
    /// Replaces the campaign (version check) and moves every held recipient (no variant) to
    /// `variant`; returns how many moved.
    async fn release_held(&self, campaign: &Campaign, variant: u16, events: &[DomainEvent]) -> Result<u64>;
    /// Replaces the campaign (version check) and moves every recipient in status `from` to `to`,
    /// clearing retry time, lease and error; returns how many moved. Used to cancel (pending →
    /// cancelled) and to retry failures (failed → pending).
    async fn transition_recipients(
        &self,
        campaign: &Campaign,
        from: RecipientStatus,
        to: RecipientStatus,
        events: &[DomainEvent],
    ) -> Result<u64>;

    /// Adds an address to the suppression list; returns `false` (and keeps the first reason)
    /// when it was already there.
    async fn suppress(&self, suppression: &Suppression, events: &[DomainEvent]) -> Result<bool>;
    /// Removes an address. MUST return `NotFound` when it is not suppressed.
    async fn unsuppress(&self, tenant: TenantId, email: &EmailAddress, events: &[DomainEvent]) -> Result<()>;
    /// Which of `emails` are suppressed.
    async fn suppressed_among(&self, tenant: TenantId, emails: &[EmailAddress]) -> Result<Vec<EmailAddress>>;
    /// Up to `limit` suppressions with addresses after `after`, in address order.
    async fn list_suppressions(
        &self,
        tenant: TenantId,
        after: Option<&EmailAddress>,
        limit: u32,
    ) -> Result<Vec<Suppression>>;

    /// Records a bounce with its events; returns how many soft bounces the tenant has recorded
    /// for the address, this one included.
    async fn record_bounce(&self, bounce: &BounceRecord, events: &[DomainEvent]) -> Result<u64>;
    /// Records an engagement with its events; returns whether it is the recipient's first
    /// non-bot engagement of its kind. MUST return `NotFound` unless the recipient belongs to the
    /// engagement's tenant, campaign and contact.
    async fn record_engagement(&self, engagement: &Engagement, events: &[DomainEvent]) -> Result<bool>;
    /// The campaign's counted (non-bot) engagement grouped by kind, recipient variant and link,
    /// its sent recipients per variant, and the number of bot events.
    async fn engagement_summary(&self, tenant: TenantId, campaign: CampaignId) -> Result<EngagementSummary>;
    /// The campaign's recipient frozen from `contact`, if any.
    async fn recipient_for_contact(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        contact: ContactId,
    ) -> Result<Option<Recipient>>;
}
