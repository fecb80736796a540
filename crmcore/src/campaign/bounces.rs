//! Bounce and complaint ingest: delivery status notifications (RFC 3464) and abuse reports
//! (RFC 5965), posted by a mail server's webhook or piped from a bounce mailbox.
//!
//! A report is tied back to its recipient through the Message-ID every campaign message carries
//! (`<recipient id>@<sender domain>`). Hard bounces and complaints suppress the address at once;
//! soft bounces are counted per address and suppress it once they reach
//! [`CampaignConfig::soft_bounce_limit`](super::CampaignConfig::soft_bounce_limit).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bounce::{BounceKind, Report, parse_report};
use super::recipient::{Suppression, SuppressionReason};
use super::service::CampaignService;
use crate::actor::{Actor, Permission};
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{CampaignId, RecipientId, TenantId};
use crate::value::EmailAddress;

/// One bounce as stored: the address, its kind and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceRecord {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The address that bounced.
    pub email: EmailAddress,
    /// Hard or soft.
    pub kind: BounceKind,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// The campaign whose message bounced, when known.
    pub campaign_id: Option<CampaignId>,
    /// When it was ingested.
    pub at: DateTime<Utc>,
}

/// What ingesting one report did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestOutcome {
    /// Hard bounces recorded.
    pub hard_bounces: u32,
    /// Soft bounces recorded.
    pub soft_bounces: u32,
    /// Complaints recorded.
    pub complaints: u32,
    /// Addresses newly put on the suppression list.
    pub suppressed: Vec<EmailAddress>,
}

/// One reported address: (address, original Message-ID, bounce kind or `None` for a complaint,
/// status or feedback type).
type ReportItem = (Option<String>, Option<String>, Option<BounceKind>, String);

/// The recipient id inside one of our Message-IDs (`<uuid@domain>`), if it is one.
fn recipient_of(message_id: Option<&str>) -> Option<RecipientId> {
    let id = message_id?.trim().trim_start_matches('<').trim_end_matches('>');
    id.split_once('@')?.0.parse().ok()
}

impl CampaignService<'_> {
    /// Ingests a raw DSN or ARF report (needs `manage_campaigns`). Unparseable input is a
    /// validation error on `report`; a report about unknown messages still suppresses hard
    /// bounces and complaints by address.
    pub async fn ingest_report(&self, actor: &Actor, raw: &[u8]) -> Result<IngestOutcome> {
        actor.require(Permission::ManageCampaigns)?;
        let report = parse_report(raw)?;
        let now = self.crm().clock().now();
        let mut outcome = IngestOutcome::default();
        let items: Vec<ReportItem> = match report {
            Report::Delivery { bounces } => bounces
                .into_iter()
                .map(|b| (Some(b.recipient), b.original_message_id, Some(b.kind), b.status))
                .collect(),
            Report::Complaint(c) => vec![(c.recipient, c.original_message_id, None, c.feedback_type)],
        };
        for (address, message_id, kind, status) in items {
            let repo = self.crm().store().campaigns();
            let recipient = match recipient_of(message_id.as_deref()) {
                Some(id) => match repo.get_recipient(actor.tenant_id, id).await {
                    Ok(r) => Some(r),
                    Err(CrmError::NotFound { .. }) => None,
                    Err(other) => return Err(other),
                },
                None => None,
            };
            let email = match (&recipient, address.as_deref().map(EmailAddress::parse)) {
                (Some(r), _) => r.email.clone(),
                (None, Some(Ok(email))) => email,
                _ => continue,
            };
            let campaign_id = recipient.as_ref().map(|r| r.campaign_id);
            let subject = match campaign_id {
                Some(c) => EntityRef { kind: EntityKind::Campaign, id: c.0 },
                None => EntityRef { kind: EntityKind::Tenant, id: actor.tenant_id.0 },
            };
            let data = json!({
                "email": email,
                "recipient_id": recipient.as_ref().map(|r| r.id),
                "contact_id": recipient.as_ref().map(|r| r.contact_id),
                "kind": kind,
                "status": status,
            });
            let (reason, event_type) = match kind {
                None => (Some(SuppressionReason::Complained), EventType::EmailComplained),
                Some(BounceKind::Hard) => (Some(SuppressionReason::Bounced), EventType::EmailBounced),
                Some(BounceKind::Soft) => (None, EventType::EmailBounced),
            };
            let event = DomainEvent::new(actor, event_type, subject, data, now);
            let reason = match kind {
                Some(kind) => {
                    let record = BounceRecord {
                        tenant_id: actor.tenant_id,
                        email: email.clone(),
                        kind,
                        status: status.clone(),
                        campaign_id,
                        at: now,
                    };
                    let soft = repo.record_bounce(&record, &[event]).await?;
                    match kind {
                        BounceKind::Hard => outcome.hard_bounces += 1,
                        BounceKind::Soft => outcome.soft_bounces += 1,
                    }
                    let limit = u64::from(self.crm().campaign_config().soft_bounce_limit);
                    reason.or((kind == BounceKind::Soft && soft >= limit).then_some(SuppressionReason::Bounced))
                }
                None => {
                    outcome.complaints += 1;
                    // A complaint is recorded by its suppression and its event alone.
                    let suppression = Suppression {
                        tenant_id: actor.tenant_id,
                        email: email.clone(),
                        reason: SuppressionReason::Complained,
                        campaign_id,
                        created_at: now,
                    };
                    let suppressed = DomainEvent::new(
                        actor,
                        EventType::EmailSuppressed,
                        subject,
                        json!({ "object": suppression }),
                        now,
                    );
                    if repo.suppress(&suppression, &[event, suppressed]).await? {
                        outcome.suppressed.push(email);
                    }
                    continue;
                }
            };
            if let Some(reason) = reason
                && self.add_suppression(actor, email.clone(), reason, campaign_id).await?
            {
                outcome.suppressed.push(email);
            }
        }
        self.crm().wake_worker();
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_recipient_ids_from_our_message_ids() {
        let id = RecipientId::new();
        assert_eq!(recipient_of(Some(&format!("<{id}@acme.test>"))), Some(id));
        assert_eq!(recipient_of(Some(&format!("{id}@acme.test"))), Some(id));
        assert_eq!(recipient_of(Some("<CAF=abc@mail.gmail.com>")), None);
        assert_eq!(recipient_of(None), None);
    }
}
