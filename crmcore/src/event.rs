//! `DomainEvent`: the one catalogue of what happened. Webhook event types are these names.
//!
//! Services build events next to the state change and hand both to one repository call, which
//! writes them in a single transaction (the outbox). Nothing is "saved, then announced".

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::{Actor, Principal};
use crate::error::{CrmError, Result};
use crate::id::{EventId, TenantId};

macro_rules! event_catalogue {
    ($( #[doc = $doc:literal] $variant:ident => $name:literal, )*) => {
        /// Every event type crmcore emits, named `entity.verb`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum EventType {
            $( #[doc = $doc] #[serde(rename = $name)] $variant, )*
        }

        impl EventType {
            /// The whole catalogue, in declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The dotted name, e.g. `contact.created`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            /// What the event means (its catalogue entry).
            pub fn description(self) -> &'static str {
                match self { $(EventType::$variant => $doc.trim_ascii(),)* }
            }
        }

        impl FromStr for EventType {
            type Err = CrmError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($name => Ok(EventType::$variant),)*
                    _ => Err(CrmError::invalid("event_type", "unknown", format!("unknown event type `{s}`"))),
                }
            }
        }
    };
}

event_catalogue! {
    /// A tenant was created with its first owner.
    TenantCreated => "tenant.created",
    /// A member joined a tenant.
    MemberCreated => "member.created",
    /// A member's profile or role changed.
    MemberUpdated => "member.updated",
    /// A contact was created.
    ContactCreated => "contact.created",
    /// A contact's fields changed.
    ContactUpdated => "contact.updated",
    /// A contact was deleted.
    ContactDeleted => "contact.deleted",
    /// A deal was created.
    DealCreated => "deal.created",
    /// A deal's fields changed (stage changes have their own event too).
    DealUpdated => "deal.updated",
    /// A deal moved to another pipeline stage.
    DealStageChanged => "deal.stage_changed",
    /// A deal was won.
    DealWon => "deal.won",
    /// A deal was lost.
    DealLost => "deal.lost",
    /// A deal was deleted.
    DealDeleted => "deal.deleted",
    /// A comment was posted on an entity.
    CommentCreated => "comment.created",
    /// A comment's text was edited.
    CommentUpdated => "comment.updated",
    /// A comment was deleted (its tombstone keeps the thread together).
    CommentDeleted => "comment.deleted",
    /// An e-mail template was added to the library.
    EmailTemplateCreated => "email_template.created",
    /// An e-mail template changed.
    EmailTemplateUpdated => "email_template.updated",
    /// A campaign was created.
    CampaignCreated => "campaign.created",
    /// A draft campaign changed.
    CampaignUpdated => "campaign.updated",
    /// A campaign got a send time (or lost it: `data.send_at` is then `null`).
    CampaignScheduled => "campaign.scheduled",
    /// A campaign started sending: its audience is being frozen.
    CampaignStarted => "campaign.started",
    /// A campaign was paused.
    CampaignPaused => "campaign.paused",
    /// A paused campaign (or failed recipients of a sent one) resumed sending.
    CampaignResumed => "campaign.resumed",
    /// A campaign was cancelled.
    CampaignCancelled => "campaign.cancelled",
    /// Every recipient of a campaign is done.
    CampaignCompleted => "campaign.completed",
    /// An A/B test chose the variant the rest of the audience gets.
    CampaignWinnerChosen => "campaign.winner_chosen",
    /// An address joined the suppression list.
    EmailSuppressed => "email.suppressed",
    /// An address left the suppression list.
    EmailUnsuppressed => "email.unsuppressed",
    /// A campaign message was accepted by the mail server.
    EmailSent => "email.sent",
    /// A recipient unsubscribed through a campaign message's link.
    EmailUnsubscribed => "email.unsubscribed",
    /// A campaign message was opened (not by a scanner).
    EmailOpened => "email.opened",
    /// A tracked link of a campaign message was clicked.
    EmailClicked => "email.clicked",
    /// A conversion was attributed to a campaign.
    EmailConverted => "email.converted",
    /// A campaign message bounced (hard or soft).
    EmailBounced => "email.bounced",
    /// A recipient reported a campaign message as spam.
    EmailComplained => "email.complained",
    /// A webhook endpoint was created.
    WebhookEndpointCreated => "webhook.endpoint.created",
    /// A webhook endpoint's settings or secret changed, or it was re-enabled.
    WebhookEndpointUpdated => "webhook.endpoint.updated",
    /// A webhook endpoint was disabled: by a member, on `410 Gone`, or after failing for too long.
    WebhookEndpointDisabled => "webhook.endpoint.disabled",
    /// A webhook endpoint was deleted.
    WebhookEndpointDeleted => "webhook.endpoint.deleted",
    /// A document was uploaded (with its first version).
    DocumentCreated => "document.created",
    /// A document's metadata changed.
    DocumentUpdated => "document.updated",
    /// A new version of a document was uploaded, or an old one restored.
    DocumentVersionAdded => "document.version_added",
    /// A document was moved to the trash.
    DocumentTrashed => "document.trashed",
    /// A document was taken out of the trash.
    DocumentRestored => "document.restored",
    /// A document was deleted for good.
    DocumentPurged => "document.purged",
    /// A document was shared with a member, or their access changed (`data.grant`).
    DocumentShared => "document.shared",
    /// A member's access to a document was taken away (`data.member_id`).
    DocumentUnshared => "document.unshared",
    /// An approval of a document's latest version was requested (`data.approvers`: step 1's).
    DocumentApprovalRequested => "document.approval_requested",
    /// An approver's decision was recorded; its step still waits for others (`data.decision`).
    DocumentApprovalDecided => "document.approval_decided",
    /// A decision completed a step and the next began (`data.approvers`: the next step's).
    DocumentApprovalStepCompleted => "document.approval_step_completed",
    /// A decision completed the last step: the document's version is approved.
    DocumentApproved => "document.approved",
    /// A decision left a step's rule unreachable: the approval is rejected.
    DocumentRejected => "document.rejected",
    /// A pending approval was withdrawn, or voided by a new version (`data.reason`).
    DocumentApprovalCancelled => "document.approval_cancelled",
    /// A member connected the tenant to an OAuth 2.0 provider.
    IntegrationConnected => "integration.connected",
    /// A connection was removed (its tokens revoked).
    IntegrationDisconnected => "integration.disconnected",
    /// A connection's sync finished (`data.sync` has the counts).
    IntegrationSynced => "integration.synced",
    /// A connection's sync failed (`data.sync` has the counts).
    IntegrationSyncFailed => "integration.sync_failed",
    /// A webhook delivery was accepted by its endpoint (2xx).
    DeliverySucceeded => "delivery.succeeded",
    /// A webhook delivery exhausted its retries (or its endpoint was disabled); kept for replay.
    DeliveryFailed => "delivery.failed",
}

impl EventType {
    /// The verb part of the name: `created` for `contact.created`, `stage_changed` for
    /// `deal.stage_changed`. Activities carry it.
    pub fn verb(self) -> &'static str {
        self.as_str().split_once('.').map_or(self.as_str(), |(_, verb)| verb)
    }

    /// Whether the event becomes an activity. Per-recipient e-mail facts (`email.*`: sent,
    /// opened, clicked, …) do not: a campaign to a million people would otherwise bury its team's
    /// feeds; they reach webhooks and the campaign's statistics instead.
    pub fn is_activity(self) -> bool {
        !self.as_str().starts_with("email.") && !self.is_delivery()
    }

    /// Whether this is a webhook delivery outcome (`delivery.*`). Deliveries of these events
    /// produce no further outcome events, so failing endpoints cannot feed each other forever.
    pub fn is_delivery(self) -> bool {
        self.as_str().starts_with("delivery.")
    }

    /// Whether this type matches a filter: an exact name, `entity.*`, or `*`.
    pub fn matches(self, filter: &str) -> bool {
        let name = self.as_str();
        match filter.strip_suffix(".*") {
            _ if filter == "*" => true,
            Some(prefix) => name.split_once('.').is_some_and(|(entity, _)| entity == prefix),
            None => name == filter,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of entity events and activities refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntityKind {
    /// A tenant.
    Tenant,
    /// A member.
    Member,
    /// A contact.
    Contact,
    /// A deal.
    Deal,
    /// A comment.
    Comment,
    /// An e-mail campaign.
    Campaign,
    /// An e-mail template.
    EmailTemplate,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery.
    WebhookDelivery,
    /// A connection to a third-party service.
    Integration,
    /// A document.
    Document,
}

impl EntityKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [EntityKind] = &[
        EntityKind::Tenant,
        EntityKind::Member,
        EntityKind::Contact,
        EntityKind::Deal,
        EntityKind::Comment,
        EntityKind::Campaign,
        EntityKind::EmailTemplate,
        EntityKind::WebhookEndpoint,
        EntityKind::WebhookDelivery,
        EntityKind::Integration,
        EntityKind::Document,
    ];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Tenant => "tenant",
            EntityKind::Member => "member",
            EntityKind::Contact => "contact",
            EntityKind::Deal => "deal",
            EntityKind::Comment => "comment",
            EntityKind::Campaign => "campaign",
            EntityKind::EmailTemplate => "email_template",
            EntityKind::WebhookEndpoint => "webhook_endpoint",
            EntityKind::WebhookDelivery => "webhook_delivery",
            EntityKind::Integration => "integration",
            EntityKind::Document => "document",
        }
    }
}

impl FromStr for EntityKind {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tenant" => Ok(EntityKind::Tenant),
            "member" => Ok(EntityKind::Member),
            "contact" => Ok(EntityKind::Contact),
            "deal" => Ok(EntityKind::Deal),
            "comment" => Ok(EntityKind::Comment),
            "campaign" => Ok(EntityKind::Campaign),
            "email_template" => Ok(EntityKind::EmailTemplate),
            "webhook_endpoint" => Ok(EntityKind::WebhookEndpoint),
            "webhook_delivery" => Ok(EntityKind::WebhookDelivery),
            "integration" => Ok(EntityKind::Integration),
            "document" => Ok(EntityKind::Document),
            _ => Err(CrmError::invalid("entity_kind", "unknown", format!("unknown entity kind `{s}`"))),
        }
    }
}

/// A reference to one entity: its kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityRef {
    /// What kind of entity.
    pub kind: EntityKind,
    /// Its id.
    pub id: uuid::Uuid,
}

/// One field's value before and after an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Value before the change (`null` when absent).
    pub before: Value,
    /// Value after the change (`null` when removed).
    pub after: Value,
}

/// Field-level differences between two JSON snapshots of an entity, keyed by top-level field.
pub fn diff(before: &Value, after: &Value, ignore: &[&str]) -> BTreeMap<String, FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut changes = BTreeMap::new();
    for key in b.keys().chain(a.keys()) {
        if ignore.contains(&key.as_str()) || changes.contains_key(key) {
            continue;
        }
        let old = b.get(key).cloned().unwrap_or(Value::Null);
        let new = a.get(key).cloned().unwrap_or(Value::Null);
        if old != new {
            changes.insert(key.clone(), FieldChange { before: old, after: new });
        }
    }
    changes
}

/// Something that happened in a tenant, appended to the outbox with the state change it describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Unique id: the idempotency key of every consumer (activities, webhooks).
    pub id: EventId,
    /// The tenant it happened in.
    pub tenant_id: TenantId,
    /// What happened.
    pub event_type: EventType,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Principal,
    /// The entity it is about.
    pub subject: EntityRef,
    /// Payload: `{"object": <entity after>, "changes": {field: {before, after}}}` and type-specific keys.
    pub data: Value,
}

impl DomainEvent {
    /// A new event caused by `actor` about `subject`, at `now`.
    pub fn new(actor: &Actor, event_type: EventType, subject: EntityRef, data: Value, now: DateTime<Utc>) -> Self {
        Self {
            id: EventId::new(),
            tenant_id: actor.tenant_id,
            event_type,
            occurred_at: now,
            actor: actor.principal,
            subject,
            data,
        }
    }
}

/// An event as stored in the outbox: with its global sequence number and dispatch state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Position in the store's event log; strictly increasing in commit order.
    pub seq: i64,
    /// The event.
    pub event: DomainEvent,
    /// When the dispatcher finished with it.
    pub dispatched_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalogue_round_trips_by_name() {
        for ty in EventType::ALL {
            assert_eq!(ty.as_str().parse::<EventType>().unwrap(), *ty);
            assert_eq!(serde_json::to_value(ty).unwrap(), json!(ty.as_str()));
        }
    }

    #[test]
    fn filters_match_exact_wildcard_and_all() {
        assert!(EventType::DealWon.matches("deal.won"));
        assert!(EventType::DealWon.matches("deal.*"));
        assert!(EventType::DealWon.matches("*"));
        assert!(!EventType::DealWon.matches("contact.*"));
        assert!(!EventType::DealWon.matches("deal.lost"));
    }

    #[test]
    fn diff_reports_changed_added_and_removed_fields() {
        let changes = diff(&json!({"a": 1, "b": 2, "v": 1}), &json!({"a": 1, "b": 3, "c": 4, "v": 2}), &["v"]);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes["b"], FieldChange { before: json!(2), after: json!(3) });
        assert_eq!(changes["c"], FieldChange { before: Value::Null, after: json!(4) });
    }
}
