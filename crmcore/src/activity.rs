//! Team collaboration: activities, threaded comments, @mentions, follows, notifications, feeds.
//!
//! # How it fits together
//! - Nothing here is called by the feature code. Every mutation already writes its
//!   [`DomainEvent`](crate::event::DomainEvent)s to the outbox; the outbox dispatcher hands each
//!   one to [`tracker`], which turns it into exactly one [`Activity`] (or merges a repeated update
//!   into the previous one, see [`ActivityConfig::merge_window`]), adds automatic [`Follow`]s
//!   (creators, owners, commenters), fans the activity out to the feeds of the actor and the
//!   followers, and creates [`Notification`]s — all in one store transaction keyed by the event
//!   id, so dispatching an event twice changes nothing.
//! - [`Comment`]s are entities with their own events (`comment.created/updated/deleted`), so each
//!   comment is itself an activity, and mentions and replies notify through the same path.
//! - [`mention`] parses `@handle`s (not in code, URLs or e-mail addresses); [`markdown`] renders
//!   comment text to escaped HTML.
//! - [`ActivityService`] (`crm.activity()`) is the API: comments, follows, feeds, the inbox and
//!   notification preferences; [`streams`] exports activities as W3C Activity Streams 2.0.
//! - [`LiveUpdate`]s are published through the [`LiveUpdates`](crate::ports::LiveUpdates) port
//!   after each commit, for Server-Sent Events.

pub mod markdown;
pub mod mention;
mod service;
pub mod streams;
pub(crate) mod tracker;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use service::{ActivityService, CommentNode, NewComment};

use crate::actor::Principal;
use crate::error::{CrmError, Result};
use crate::event::{EntityKind, EntityRef};
use crate::id::{EventId, MemberId, TenantId};

crate::typed_id!(
    /// Identifies an activity.
    ActivityId
);
crate::typed_id!(
    /// Identifies a comment.
    CommentId
);
crate::typed_id!(
    /// Identifies a notification.
    NotificationId
);

/// How activity tracking behaves; set with [`CrmBuilder::activity_config`](crate::CrmBuilder::activity_config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityConfig {
    /// Repeated updates by the same actor to the same record within this window of the
    /// activity's first update merge into one activity (first `before`, latest `after`).
    /// Zero disables merging.
    pub merge_window: Duration,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self { merge_window: Duration::minutes(10) }
    }
}

/// One thing that happened, as shown in feeds: who (`actor`) did what (`verb`) to what
/// (`object`), possibly on what (`target`, e.g. the contact a comment is on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    /// Its id; feeds are ordered by it, newest first.
    pub id: ActivityId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The event that created it (the first one, when updates were merged).
    pub event_id: EventId,
    /// Who did it.
    pub actor: Principal,
    /// What was done: the verb of the event type (`created`, `updated`, `stage_changed`, …).
    pub verb: String,
    /// What it was done to.
    pub object: EntityRef,
    /// What the object belongs to, when it matters (the entity a comment is on).
    pub target: Option<EntityRef>,
    /// When it happened (the first event, when merged).
    pub occurred_at: DateTime<Utc>,
    /// When it last changed (the latest merged event).
    pub updated_at: DateTime<Utc>,
    /// How many events it stands for (more than one when updates were merged).
    pub event_count: i64,
    /// Details: `changes` (`{field: {before, after}}`) for updates, `name` of the object, and
    /// type-specific keys (`from_stage`, `to_stage`, a comment's `body` and `in_reply_to`).
    pub data: Value,
}

impl Activity {
    /// The member who acted, when a person did.
    pub fn actor_member(&self) -> Option<MemberId> {
        match self.actor {
            Principal::Member(id) => Some(id),
            _ => None,
        }
    }
}

/// A comment on an entity, threaded by `in_reply_to`. Deleted comments stay as tombstones
/// (empty body, `deleted_at` set) so replies keep their place in the thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comment {
    /// Its id.
    pub id: CommentId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The entity commented on.
    pub entity: EntityRef,
    /// The comment it answers, on the same entity.
    pub in_reply_to: Option<CommentId>,
    /// Who wrote it.
    pub author: Principal,
    /// Markdown text, stored raw; render with [`markdown::to_html`]. Empty once deleted.
    pub body: String,
    /// Members mentioned in the body (resolved when written; unknown handles are left out).
    pub mentions: Vec<MemberId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last edit, if edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// Deletion time of a tombstone.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl Comment {
    /// The body rendered as escaped HTML (empty for a tombstone).
    pub fn html(&self) -> String {
        markdown::to_html(&self.body)
    }

    /// The author, when a member wrote it.
    pub fn author_member(&self) -> Option<MemberId> {
        match self.author {
            Principal::Member(id) => Some(id),
            _ => None,
        }
    }
}

/// A member following an entity: they get its later activity in their feed and inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Follow {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The follower.
    pub member_id: MemberId,
    /// What is followed.
    pub entity: EntityRef,
    /// Since when; earlier activity is not delivered to this follower.
    pub created_at: DateTime<Utc>,
}

/// A follower as the tracker sees it: with whether the member is still active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Follower {
    /// The follow.
    pub follow: Follow,
    /// Whether the member is active (deactivated members get nothing).
    pub active: bool,
}

/// Why a member is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationKind {
    /// Someone @mentioned them in a comment.
    Mention,
    /// Someone replied to their comment.
    Reply,
    /// Something happened to an entity they follow.
    Activity,
    /// They were made the owner of a record.
    Assignment,
    /// Their approval was requested.
    ApprovalRequested,
}

impl NotificationKind {
    /// Every kind.
    pub const ALL: [NotificationKind; 5] = [
        NotificationKind::Mention,
        NotificationKind::Reply,
        NotificationKind::Activity,
        NotificationKind::Assignment,
        NotificationKind::ApprovalRequested,
    ];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Mention => "mention",
            NotificationKind::Reply => "reply",
            NotificationKind::Activity => "activity",
            NotificationKind::Assignment => "assignment",
            NotificationKind::ApprovalRequested => "approval_requested",
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self> {
        NotificationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CrmError::invalid("kind", "unknown", format!("unknown notification kind `{s}`")))
    }
}

/// How a member wants one kind of notification delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Delivery {
    /// In the inbox only (the default).
    #[default]
    InApp,
    /// In the inbox, and in the periodic e-mail digest.
    EmailDigest,
    /// Not at all.
    Off,
}

impl Delivery {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::InApp => "in_app",
            Delivery::EmailDigest => "email_digest",
            Delivery::Off => "off",
        }
    }
}

impl FromStr for Delivery {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "in_app" => Ok(Delivery::InApp),
            "email_digest" => Ok(Delivery::EmailDigest),
            "off" => Ok(Delivery::Off),
            _ => Err(CrmError::invalid("delivery", "unknown", format!("unknown delivery `{s}`"))),
        }
    }
}

/// A member's delivery choice per notification kind; kinds not listed are [`Delivery::InApp`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPreferences {
    /// Choices that differ from the default.
    pub kinds: BTreeMap<NotificationKind, Delivery>,
}

impl NotificationPreferences {
    /// The delivery chosen for `kind`.
    pub fn delivery(&self, kind: NotificationKind) -> Delivery {
        self.kinds.get(&kind).copied().unwrap_or_default()
    }
}

/// One entry of a member's inbox. At most one exists per (recipient, cause).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Its id; the inbox is ordered by it, newest first.
    pub id: NotificationId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Who is notified.
    pub recipient: MemberId,
    /// Why.
    pub kind: NotificationKind,
    /// What caused it: the comment of a mention or reply, the activity of followed activity,
    /// the event of an assignment. The unique key with `recipient`.
    pub cause: uuid::Uuid,
    /// The activity it points at.
    pub activity_id: ActivityId,
    /// Who caused it.
    pub actor: Principal,
    /// The entity it is about (a comment's target rather than the comment).
    pub entity: EntityRef,
    /// The activity's verb.
    pub verb: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was read; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
    /// Whether it goes into the e-mail digest.
    pub email_digest: bool,
    /// When the digest carrying it was sent.
    pub emailed_at: Option<DateTime<Utc>>,
}

/// A notification the tracker asks the store to create, unless one exists for
/// (recipient, cause). `cause: None` means "the resulting activity's id".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDraft {
    /// The id to give it.
    pub id: NotificationId,
    /// Who is notified.
    pub recipient: MemberId,
    /// Why.
    pub kind: NotificationKind,
    /// The cause; `None` for the activity written in the same call.
    pub cause: Option<uuid::Uuid>,
    /// Whether it goes into the e-mail digest.
    pub email_digest: bool,
}

/// How the tracker records one event: a new activity, or a merge into an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ActivityWrite {
    /// Insert this activity.
    Insert(Activity),
    /// Replace the data of activity `into` (which must be in the tenant), bump its event count
    /// and set its `updated_at`.
    Merge {
        /// The activity merged into.
        into: ActivityId,
        /// Its merged data.
        data: Value,
        /// The merged event's time.
        updated_at: DateTime<Utc>,
    },
}

/// Everything one event produces, written by [`ActivityRepository::apply`](crate::ports::ActivityRepository::apply)
/// in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEffects {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The event: its id is the idempotency key.
    pub event_id: EventId,
    /// The activity write.
    pub activity: ActivityWrite,
    /// Follows to add (existing ones are kept as they are).
    pub follows: Vec<Follow>,
    /// Members whose feed gets the activity.
    pub audience: Vec<MemberId>,
    /// Notifications to create.
    pub notifications: Vec<NotificationDraft>,
}

/// What [`ActivityRepository::apply`](crate::ports::ActivityRepository::apply) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// `false` when the event had been applied before (then nothing was written).
    pub fresh: bool,
    /// The activity the event is recorded in.
    pub activity_id: ActivityId,
    /// The notifications created by this call (duplicates of existing ones are left out).
    pub notifications: Vec<Notification>,
}

/// Which activities a feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedScope {
    /// One entity: activities whose object or target it is.
    Entity(EntityRef),
    /// A member's feed: their own activity and that of what they followed at the time.
    Member(MemberId),
    /// The whole tenant.
    Tenant,
}

/// Filters on a feed; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedFilter {
    /// Only this verb (`created`, `updated`, …).
    pub verb: Option<String>,
    /// Only activities whose object is of this kind.
    pub object_kind: Option<EntityKind>,
    /// Only activities of this member.
    pub actor: Option<MemberId>,
}

impl FeedFilter {
    /// Whether `activity` passes the filter; the reference the SQL adapters agree with.
    pub fn matches(&self, activity: &Activity) -> bool {
        self.verb.as_deref().is_none_or(|v| activity.verb == v)
            && self.object_kind.is_none_or(|k| activity.object.kind == k)
            && self.actor.is_none_or(|m| activity.actor == Principal::Member(m))
    }
}

/// Filters on an inbox listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxFilter {
    /// Only unread notifications.
    pub unread_only: bool,
}

/// Something a live client should hear about, published after the commit that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveUpdate {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The member concerned.
    pub member_id: MemberId,
    /// What changed.
    pub change: LiveChange,
}

/// What a [`LiveUpdate`] is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveChange {
    /// A new notification (the client re-reads its unread count).
    Notification {
        /// Its id.
        notification_id: NotificationId,
    },
    /// Notifications were marked read or unread.
    InboxChanged,
}
