//! The campaign service: what `crm.campaigns()` returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::segment::{SegmentPreview, SegmentRule};
use super::state::Transition;
use super::{
    AbTest, Attempt, Campaign, CampaignStatus, EmailTemplate, Recipient, RecipientCounts, RecipientStatus, Suppression,
    SuppressionReason, Variant,
};
use crate::actor::{Actor, Permission};
use crate::contact::Contact;
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{CampaignId, ContactId, EmailTemplateId, RecipientId};
use crate::jobs::Job;
use crate::page::{Page, PageRequest};
use crate::record::{check_expected_version, to_json, update_event};
use crate::template::{Rendered, TemplateSet, Variable};
use crate::value::{EmailAddress, NonEmptyText, optional_text};

/// Most variants a campaign may have.
pub const MAX_VARIANTS: usize = 10;
/// Largest template part, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 512 * 1024;

/// Input for adding a template to the library.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewEmailTemplate {
    /// A name for the library.
    pub name: String,
    /// Subject template.
    pub subject: String,
    /// HTML template.
    pub html: String,
    /// Plain-text template; derived from the HTML when absent.
    pub text: Option<String>,
}

/// Changes to a template. Absent fields stay; `text: null` derives the text from the HTML.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplatePatch {
    /// New name.
    pub name: Option<String>,
    /// New subject template.
    pub subject: Option<String>,
    /// New HTML template.
    pub html: Option<String>,
    /// New text template, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub text: Option<Option<String>>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// Input for creating a campaign (a draft).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCampaign {
    /// Internal name.
    pub name: String,
    /// Sender address.
    pub from_email: String,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// Who receives it.
    pub segment: SegmentRule,
    /// Content variants; one unless A/B testing.
    pub variants: Vec<Variant>,
    /// A/B test settings (needs two or more variants).
    pub ab_test: Option<AbTest>,
    /// Messages per second for this campaign.
    pub rate_limit_per_second: Option<u32>,
}

/// Changes to a draft campaign. Absent fields stay; `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignPatch {
    /// New name.
    pub name: Option<String>,
    /// New sender address.
    pub from_email: Option<String>,
    /// New sender name, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub from_name: Option<Option<String>>,
    /// New reply-to, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Option<String>>,
    /// New audience.
    pub segment: Option<SegmentRule>,
    /// New variants.
    pub variants: Option<Vec<Variant>>,
    /// New A/B settings, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub ab_test: Option<Option<AbTest>>,
    /// New rate limit, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<Option<u32>>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// The variables every campaign template may use, and their defaults. `custom` holds the
/// contact's custom fields; `unsubscribe_url` is filled in per message.
pub fn template_variables() -> Vec<Variable> {
    let mut vars: Vec<Variable> = ["first_name", "last_name", "name", "email", "company", "phone"]
        .into_iter()
        .map(|name| Variable::with_default(name, ""))
        .collect();
    vars.push(Variable::with_default("custom", json!({})));
    vars.push(Variable::with_default("unsubscribe_url", ""));
    vars.push(Variable::with_default("campaign_name", ""));
    vars
}

/// The template variables of a contact, as frozen into a recipient. Absent fields are left out,
/// so `{{ first_name | default("there", true) }}` applies.
pub fn contact_variables(contact: &Contact) -> Value {
    let mut vars = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            vars.insert(key.to_owned(), Value::String(v.to_owned()));
        }
    };
    put("first_name", contact.first_name.as_deref());
    put("last_name", contact.last_name.as_deref());
    put("email", contact.email.as_ref().map(EmailAddress::as_str));
    put("company", contact.company.as_deref());
    put("phone", contact.phone.as_deref());
    vars.insert("name".into(), Value::String(contact.display_name()));
    vars.insert("custom".into(), Value::Object(contact.custom_fields.as_map().clone().into_iter().collect()));
    Value::Object(vars)
}

/// E-mail campaigns: templates, segments, campaigns and their send.
#[derive(Debug)]
pub struct CampaignService<'a> {
    crm: &'a Crm,
}

fn campaign_ref(id: CampaignId) -> EntityRef {
    EntityRef { kind: EntityKind::Campaign, id: id.0 }
}

fn template_ref(id: EmailTemplateId) -> EntityRef {
    EntityRef { kind: EntityKind::EmailTemplate, id: id.0 }
}

/// Checks a template's parts compile with the campaign variables; errors carry line numbers.
fn check_template(v: &mut Validator, subject: &str, html: &str, text: Option<&str>) {
    for (field, part) in [("subject", Some(subject)), ("html", Some(html)), ("text", text)] {
        if part.is_some_and(|p| p.len() > MAX_TEMPLATE_BYTES) {
            v.push(FieldError::new(field, "too_large", format!("at most {MAX_TEMPLATE_BYTES} bytes")));
        }
    }
    if subject.trim().is_empty() {
        v.push(FieldError::new("subject", "required", "a subject is required"));
    }
    if html.trim().is_empty() {
        v.push(FieldError::new("html", "required", "an HTML body is required"));
    }
    v.check(TemplateSet::new(subject, html, text.map(str::to_owned)).compile(&template_variables()));
}

impl<'a> CampaignService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    pub(crate) fn crm(&self) -> &'a Crm {
        self.crm
    }

    // ----- templates -------------------------------------------------------------------------

    /// Adds a template (needs `manage_campaigns`); syntax errors and unknown variables are
    /// field errors with line numbers.
    pub async fn create_template(&self, actor: &Actor, input: NewEmailTemplate) -> Result<EmailTemplate> {
        actor.require(Permission::ManageCampaigns)?;
        let mut v = Validator::new();
        let name = v.field("name", NonEmptyText::parse("name", &input.name, 200));
        let text = input.text.filter(|t| !t.trim().is_empty());
        check_template(&mut v, &input.subject, &input.html, text.as_deref());
        v.finish()?;
        let now = self.crm.clock().now();
        let template = EmailTemplate {
            id: EmailTemplateId::new(),
            tenant_id: actor.tenant_id,
            name: name.map(|n| n.to_string()).unwrap_or_default(),
            subject: input.subject,
            html: input.html,
            text,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = DomainEvent::new(
            actor,
            EventType::EmailTemplateCreated,
            template_ref(template.id),
            json!({ "object": template }),
            now,
        );
        self.crm.store().campaigns().insert_template(&template, &[event]).await?;
        self.crm.wake_worker();
        Ok(template)
    }

    /// Changes a template (needs `manage_campaigns`).
    pub async fn update_template(
        &self,
        actor: &Actor,
        id: EmailTemplateId,
        patch: TemplatePatch,
    ) -> Result<EmailTemplate> {
        actor.require(Permission::ManageCampaigns)?;
        let repo = self.crm.store().campaigns();
        let current = repo.get_template(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "template")?;
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(name) = &patch.name
            && let Some(name) = v.field("name", NonEmptyText::parse("name", name, 200))
        {
            next.name = name.to_string();
        }
        if let Some(subject) = patch.subject {
            next.subject = subject;
        }
        if let Some(html) = patch.html {
            next.html = html;
        }
        if let Some(text) = patch.text {
            next.text = text.filter(|t| !t.trim().is_empty());
        }
        check_template(&mut v, &next.subject, &next.html, next.text.as_deref());
        v.finish()?;
        let now = self.crm.clock().now();
        let Some(event) =
            update_event(actor, EventType::EmailTemplateUpdated, template_ref(id), &current, &mut next, now)?
        else {
            return Ok(current);
        };
        repo.update_template(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// One template (needs `view_records`).
    pub async fn get_template(&self, actor: &Actor, id: EmailTemplateId) -> Result<EmailTemplate> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().campaigns().get_template(actor.tenant_id, id).await
    }

    /// The template library, newest first (needs `view_records`).
    pub async fn list_templates(&self, actor: &Actor, page: PageRequest) -> Result<Page<EmailTemplate>> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().campaigns().list_templates(actor.tenant_id, page).await
    }

    /// Renders a template for one contact, as it would be sent (needs `view_records`).
    pub async fn preview_template(&self, actor: &Actor, id: EmailTemplateId, contact: ContactId) -> Result<Rendered> {
        actor.require(Permission::ViewRecords)?;
        let template = self.crm.store().campaigns().get_template(actor.tenant_id, id).await?;
        let contact = self.crm.store().contacts().get(actor.tenant_id, contact).await?;
        let compiled =
            TemplateSet::new(template.subject, template.html, template.text).compile(&template_variables())?;
        let mut vars = contact_variables(&contact);
        vars["unsubscribe_url"] = json!("https://example.invalid/unsubscribe-preview");
        compiled.render(&vars)
    }

    // ----- segments --------------------------------------------------------------------------

    /// How many contacts a rule selects now, and the first `sample` of them (needs
    /// `view_records`). Invalid rules get field errors under `segment`.
    pub async fn preview_segment(&self, actor: &Actor, rule: &SegmentRule, sample: u32) -> Result<SegmentPreview> {
        actor.require(Permission::ViewRecords)?;
        let condition = rule.resolve("segment", self.crm.clock().now())?;
        let repo = self.crm.store().campaigns();
        let count = repo.segment_count(actor.tenant_id, &condition).await?;
        let sample = repo.segment_batch(actor.tenant_id, &condition, None, sample.min(100)).await?;
        Ok(SegmentPreview { count, sample })
    }

    // ----- campaigns -------------------------------------------------------------------------

    async fn check_variants(
        &self,
        actor: &Actor,
        v: &mut Validator,
        variants: &[Variant],
        ab_test: Option<&AbTest>,
    ) -> Result<()> {
        if variants.is_empty() {
            v.push(FieldError::new("variants", "required", "a campaign needs at least one variant"));
        }
        if variants.len() > MAX_VARIANTS {
            v.push(FieldError::new("variants", "too_many", format!("at most {MAX_VARIANTS} variants")));
        }
        for (i, variant) in variants.iter().enumerate() {
            let field = |f: &str| format!("variants[{i}].{f}");
            if variant.name.trim().is_empty() || variant.name.chars().count() > 50 {
                v.push(FieldError::new(field("name"), "invalid", "a name of 1 to 50 characters"));
            }
            if variants[..i].iter().any(|other| other.name == variant.name) {
                v.push(FieldError::new(field("name"), "duplicate", "variant names must differ"));
            }
            if !(1..=1000).contains(&variant.weight) {
                v.push(FieldError::new(field("weight"), "invalid", "a weight of 1 to 1000"));
            }
            match self.crm.store().campaigns().get_template(actor.tenant_id, variant.template_id).await {
                Ok(template) => {
                    let subject = variant.subject.as_deref().unwrap_or(&template.subject);
                    if let Err(CrmError::Validation(errors)) =
                        TemplateSet::new(subject, "x", None).compile(&template_variables())
                    {
                        for e in errors {
                            v.push(FieldError::new(field("subject"), e.code, e.message));
                        }
                    }
                }
                Err(CrmError::NotFound { .. }) => {
                    v.push(FieldError::new(field("template_id"), "unknown", "no such template"));
                }
                Err(other) => return Err(other),
            }
        }
        if let Some(ab) = ab_test {
            if variants.len() < 2 {
                v.push(FieldError::new("ab_test", "invalid", "an A/B test needs at least two variants"));
            }
            if !(1..=100).contains(&ab.sample_percent) {
                v.push(FieldError::new("ab_test.sample_percent", "invalid", "1 to 100"));
            }
            if !(ab.alpha > 0.0 && ab.alpha <= 0.5) {
                v.push(FieldError::new("ab_test.alpha", "invalid", "a significance level in (0, 0.5]"));
            }
            if ab.decide_after_minutes > 60 * 24 * 30 {
                v.push(FieldError::new("ab_test.decide_after_minutes", "invalid", "at most 30 days"));
            }
        }
        Ok(())
    }

    /// Creates a draft campaign (needs `manage_campaigns`).
    pub async fn create(&self, actor: &Actor, input: NewCampaign) -> Result<Campaign> {
        actor.require(Permission::ManageCampaigns)?;
        let now = self.crm.clock().now();
        let mut v = Validator::new();
        let name = v.field("name", NonEmptyText::parse("name", &input.name, 200));
        let from_email = v.field("from_email", EmailAddress::parse(&input.from_email));
        let from_name = v.check(optional_text("from_name", input.from_name.as_deref(), 100)).flatten();
        let reply_to = input.reply_to.as_deref().and_then(|r| v.field("reply_to", EmailAddress::parse(r)));
        v.check(input.segment.resolve("segment", now));
        check_rate(&mut v, input.rate_limit_per_second);
        self.check_variants(actor, &mut v, &input.variants, input.ab_test.as_ref()).await?;
        v.finish()?;
        let (Some(name), Some(from_email)) = (name, from_email) else {
            return Err(CrmError::Internal("validated fields missing".into()));
        };
        let campaign = Campaign {
            id: CampaignId::new(),
            tenant_id: actor.tenant_id,
            name: name.to_string(),
            status: CampaignStatus::Draft,
            from_email,
            from_name,
            reply_to,
            segment: input.segment,
            variants: input.variants,
            ab_test: input.ab_test,
            winner: None,
            ab_decide_at: None,
            ab_decision: None,
            links: Vec::new(),
            rate_limit_per_second: input.rate_limit_per_second,
            send_at: None,
            audience_frozen: false,
            freeze_cursor: None,
            created_by: actor.principal,
            launched_at: None,
            completed_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = DomainEvent::new(
            actor,
            EventType::CampaignCreated,
            campaign_ref(campaign.id),
            json!({ "object": campaign }),
            now,
        );
        self.crm.store().campaigns().insert(&campaign, &[event]).await?;
        self.crm.wake_worker();
        Ok(campaign)
    }

    /// Changes a draft (needs `manage_campaigns`); `Conflict` on `status` once it left draft.
    pub async fn update(&self, actor: &Actor, id: CampaignId, patch: CampaignPatch) -> Result<Campaign> {
        actor.require(Permission::ManageCampaigns)?;
        let repo = self.crm.store().campaigns();
        let current = repo.get(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "campaign")?;
        if !current.status.is_editable() {
            return Err(CrmError::conflict(
                Some("status"),
                format!("a {} campaign cannot be edited", current.status.as_str()),
            ));
        }
        let now = self.crm.clock().now();
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(name) = &patch.name
            && let Some(name) = v.field("name", NonEmptyText::parse("name", name, 200))
        {
            next.name = name.to_string();
        }
        if let Some(from) = &patch.from_email
            && let Some(from) = v.field("from_email", EmailAddress::parse(from))
        {
            next.from_email = from;
        }
        if let Some(from_name) = &patch.from_name {
            next.from_name = v.check(optional_text("from_name", from_name.as_deref(), 100)).flatten();
        }
        if let Some(reply_to) = &patch.reply_to {
            next.reply_to = reply_to.as_deref().and_then(|r| v.field("reply_to", EmailAddress::parse(r)));
        }
        if let Some(segment) = patch.segment {
            v.check(segment.resolve("segment", now));
            next.segment = segment;
        }
        if let Some(variants) = patch.variants {
            next.variants = variants;
        }
        if let Some(ab) = patch.ab_test {
            next.ab_test = ab;
        }
        if let Some(rate) = patch.rate_limit_per_second {
            check_rate(&mut v, rate);
            next.rate_limit_per_second = rate;
        }
        self.check_variants(actor, &mut v, &next.variants, next.ab_test.as_ref()).await?;
        v.finish()?;
        let Some(event) = update_event(actor, EventType::CampaignUpdated, campaign_ref(id), &current, &mut next, now)?
        else {
            return Ok(current);
        };
        repo.update(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// One campaign (needs `view_records`).
    pub async fn get(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().campaigns().get(actor.tenant_id, id).await
    }

    /// Campaigns, newest first (needs `view_records`).
    pub async fn list(&self, actor: &Actor, page: PageRequest) -> Result<Page<Campaign>> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().campaigns().list(actor.tenant_id, page).await
    }

    /// Schedules a draft to start at `send_at` (needs `send_campaign`); the time must be in the
    /// future.
    pub async fn schedule(&self, actor: &Actor, id: CampaignId, send_at: DateTime<Utc>) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        let now = self.crm.clock().now();
        if send_at <= now {
            return Err(CrmError::invalid("send_at", "in_past", "the send time must be in the future"));
        }
        let campaign = self
            .transition(actor, id, Transition::Schedule, EventType::CampaignScheduled, |c| {
                c.send_at = Some(send_at);
            })
            .await?;
        let job = Job::StartCampaign { tenant_id: actor.tenant_id, campaign_id: id }.to_new_job(send_at)?;
        self.crm.store().jobs().enqueue(job, now).await?;
        Ok(campaign)
    }

    /// Takes a scheduled campaign back to draft (needs `send_campaign`).
    pub async fn unschedule(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        self.transition(actor, id, Transition::Unschedule, EventType::CampaignScheduled, |c| c.send_at = None).await
    }

    /// Starts sending now (needs `send_campaign`): the audience is frozen in batches by the send
    /// job, then sent.
    pub async fn launch(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        let now = self.crm.clock().now();
        let links = self.freeze_links(actor, id).await?;
        let campaign = self
            .transition(actor, id, Transition::Launch, EventType::CampaignStarted, |c| {
                c.launched_at = Some(now);
                c.links = links.clone();
            })
            .await?;
        self.enqueue_send(&campaign).await?;
        Ok(campaign)
    }

    /// Stops claiming recipients (needs `send_campaign`); messages in flight finish.
    pub async fn pause(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        self.transition(actor, id, Transition::Pause, EventType::CampaignPaused, |_| {}).await
    }

    /// Continues a paused campaign where it stopped (needs `send_campaign`).
    pub async fn resume(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        let campaign = self.transition(actor, id, Transition::Resume, EventType::CampaignResumed, |_| {}).await?;
        self.enqueue_send(&campaign).await?;
        Ok(campaign)
    }

    /// Stops for good (needs `send_campaign`); recipients not yet sent become `cancelled`.
    pub async fn cancel(&self, actor: &Actor, id: CampaignId) -> Result<Campaign> {
        actor.require(Permission::SendCampaign)?;
        let repo = self.crm.store().campaigns();
        for _ in 0..5 {
            let current = repo.get(actor.tenant_id, id).await?;
            let (next, event) =
                self.next_state(actor, &current, Transition::Cancel, EventType::CampaignCancelled, |_| {})?;
            match repo
                .transition_recipients(&next, RecipientStatus::Pending, RecipientStatus::Cancelled, &[event])
                .await
            {
                Ok(_) => {
                    self.crm.wake_worker();
                    return Ok(next);
                }
                Err(CrmError::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(CrmError::conflict(Some("version"), "the campaign keeps changing; try again"))
    }

    /// Sends again to the recipients whose delivery failed, once a campaign is sent (needs
    /// `send_campaign`). Returns the campaign and how many recipients were queued again.
    pub async fn retry_failed(&self, actor: &Actor, id: CampaignId) -> Result<(Campaign, u64)> {
        actor.require(Permission::SendCampaign)?;
        let repo = self.crm.store().campaigns();
        let current = repo.get(actor.tenant_id, id).await?;
        let counts = repo.recipient_counts(actor.tenant_id, id).await?;
        if counts.failed == 0 {
            return Err(CrmError::conflict(Some("status"), "no recipient of this campaign has failed"));
        }
        let (next, event) =
            self.next_state(actor, &current, Transition::RetryFailed, EventType::CampaignResumed, |c| {
                c.completed_at = None;
            })?;
        let moved =
            repo.transition_recipients(&next, RecipientStatus::Failed, RecipientStatus::Pending, &[event]).await?;
        self.enqueue_send(&next).await?;
        Ok((next, moved))
    }

    /// Counts of the campaign's recipients by status (needs `view_records`).
    pub async fn counts(&self, actor: &Actor, id: CampaignId) -> Result<RecipientCounts> {
        actor.require(Permission::ViewRecords)?;
        let repo = self.crm.store().campaigns();
        repo.get(actor.tenant_id, id).await?;
        repo.recipient_counts(actor.tenant_id, id).await
    }

    /// The campaign's recipients, newest first, optionally in one status (needs `view_records`).
    pub async fn recipients(
        &self,
        actor: &Actor,
        id: CampaignId,
        status: Option<RecipientStatus>,
        page: PageRequest,
    ) -> Result<Page<Recipient>> {
        actor.require(Permission::ViewRecords)?;
        let repo = self.crm.store().campaigns();
        repo.get(actor.tenant_id, id).await?;
        repo.list_recipients(actor.tenant_id, id, status, page).await
    }

    /// One recipient's ledger of attempts, oldest first (needs `view_records`).
    pub async fn attempts(&self, actor: &Actor, recipient: RecipientId) -> Result<Vec<Attempt>> {
        actor.require(Permission::ViewRecords)?;
        let repo = self.crm.store().campaigns();
        repo.get_recipient(actor.tenant_id, recipient).await?;
        repo.attempts(actor.tenant_id, recipient).await
    }

    // ----- suppressions ----------------------------------------------------------------------

    /// Adds an address to the suppression list (needs `manage_campaigns`); `false` when it was
    /// already suppressed.
    pub async fn suppress(&self, actor: &Actor, email: &str, reason: SuppressionReason) -> Result<bool> {
        actor.require(Permission::ManageCampaigns)?;
        let email = EmailAddress::parse(email).map_err(|_| CrmError::invalid("email", "invalid", "not an e-mail"))?;
        self.add_suppression(actor, email, reason, None).await
    }

    /// Adds a suppression on behalf of any actor (unsubscribe links, bounce ingest).
    pub(crate) async fn add_suppression(
        &self,
        actor: &Actor,
        email: EmailAddress,
        reason: SuppressionReason,
        campaign_id: Option<CampaignId>,
    ) -> Result<bool> {
        let now = self.crm.clock().now();
        let suppression = Suppression { tenant_id: actor.tenant_id, email, reason, campaign_id, created_at: now };
        let subject = EntityRef {
            kind: if campaign_id.is_some() { EntityKind::Campaign } else { EntityKind::Tenant },
            id: campaign_id.map_or(actor.tenant_id.0, |c| c.0),
        };
        let event = DomainEvent::new(actor, EventType::EmailSuppressed, subject, json!({ "object": suppression }), now);
        let added = self.crm.store().campaigns().suppress(&suppression, &[event]).await?;
        self.crm.wake_worker();
        Ok(added)
    }

    /// Removes an address from the suppression list (needs `manage_campaigns`).
    pub async fn unsuppress(&self, actor: &Actor, email: &str) -> Result<()> {
        actor.require(Permission::ManageCampaigns)?;
        let email = EmailAddress::parse(email).map_err(|_| CrmError::invalid("email", "invalid", "not an e-mail"))?;
        let now = self.crm.clock().now();
        let subject = EntityRef { kind: EntityKind::Tenant, id: actor.tenant_id.0 };
        let event = DomainEvent::new(actor, EventType::EmailUnsuppressed, subject, json!({ "email": email }), now);
        self.crm.store().campaigns().unsuppress(actor.tenant_id, &email, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    /// The suppression list in address order (needs `view_records`).
    pub async fn suppressions(&self, actor: &Actor, after: Option<&str>, limit: u32) -> Result<Vec<Suppression>> {
        actor.require(Permission::ViewRecords)?;
        let after = after.map(EmailAddress::parse).transpose()?;
        self.crm.store().campaigns().list_suppressions(actor.tenant_id, after.as_ref(), limit.clamp(1, 500)).await
    }

    // ----- lifecycle plumbing ----------------------------------------------------------------

    fn next_state(
        &self,
        actor: &Actor,
        current: &Campaign,
        transition: Transition,
        event_type: EventType,
        change: impl FnOnce(&mut Campaign),
    ) -> Result<(Campaign, DomainEvent)> {
        let now = self.crm.clock().now();
        let mut next = current.clone();
        next.status = current.status.apply(transition)?;
        change(&mut next);
        next.version += 1;
        next.updated_at = now;
        let data = json!({
            "object": to_json(&next)?,
            "from_status": current.status,
            "to_status": next.status,
            "send_at": next.send_at,
        });
        Ok((next, DomainEvent::new(actor, event_type, campaign_ref(current.id), data, now)))
    }

    /// Applies a lifecycle transition, retrying when the send job moved the version meanwhile.
    async fn transition(
        &self,
        actor: &Actor,
        id: CampaignId,
        transition: Transition,
        event_type: EventType,
        change: impl Fn(&mut Campaign),
    ) -> Result<Campaign> {
        let repo = self.crm.store().campaigns();
        for _ in 0..5 {
            let current = repo.get(actor.tenant_id, id).await?;
            let (next, event) = self.next_state(actor, &current, transition, event_type, &change)?;
            match repo.update(&next, &[event]).await {
                Ok(()) => {
                    self.crm.wake_worker();
                    return Ok(next);
                }
                Err(CrmError::Conflict { field, .. }) if field.as_deref() == Some("version") => continue,
                Err(other) => return Err(other),
            }
        }
        Err(CrmError::conflict(Some("version"), "the campaign keeps changing; try again"))
    }

    /// Each variant's static links, from its template as it is now.
    async fn freeze_links(&self, actor: &Actor, id: CampaignId) -> Result<Vec<Vec<String>>> {
        let repo = self.crm.store().campaigns();
        let campaign = repo.get(actor.tenant_id, id).await?;
        let mut links = Vec::with_capacity(campaign.variants.len());
        for variant in &campaign.variants {
            let template = repo.get_template(actor.tenant_id, variant.template_id).await?;
            links.push(super::tracking::extract_links(&template.html));
        }
        Ok(links)
    }

    async fn enqueue_send(&self, campaign: &Campaign) -> Result<()> {
        let now = self.crm.clock().now();
        let job = Job::SendCampaign { tenant_id: campaign.tenant_id, campaign_id: campaign.id }.to_new_job(now)?;
        self.crm.store().jobs().enqueue(job, now).await?;
        self.crm.wake_worker();
        Ok(())
    }
}

fn check_rate(v: &mut Validator, rate: Option<u32>) {
    if rate.is_some_and(|r| !(1..=100_000).contains(&r)) {
        v.push(FieldError::new("rate_limit_per_second", "invalid", "1 to 100000 messages per second"));
    }
}
