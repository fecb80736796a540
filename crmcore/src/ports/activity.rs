//! Repositories of the collaboration features: activities and feeds, comments, follows and the
//! notification inbox. See [`crate::activity`] for how they fit together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::activity::{
    Activity, ActivityId, Applied, Comment, CommentId, Delivery, EventEffects, FeedFilter, FeedScope, Follow, Follower,
    InboxFilter, Notification, NotificationId, NotificationKind, NotificationPreferences,
};
use crate::error::Result;
use crate::event::{DomainEvent, EntityRef};
use crate::id::{EventId, MemberId, TenantId};
use crate::page::{Page, PageRequest};

/// Activities and the feeds that show them.
#[async_trait]
pub trait ActivityRepository: Send + Sync {
    /// Writes everything one event produces in one transaction, idempotently per
    /// `effects.event_id`: when that event was applied before, MUST write nothing and return
    /// `fresh: false` with the activity it was recorded in. Otherwise inserts the activity (or
    /// merges into `ActivityWrite::Merge::into`, `NotFound` when that is absent from the tenant),
    /// adds the follows that do not exist yet, adds the activity to each audience member's feed,
    /// and creates each notification unless one exists for its (recipient, cause); returns the
    /// notifications it created.
    async fn apply(&self, effects: &EventEffects, now: DateTime<Utc>) -> Result<Applied>;
    /// Applies each of `batch`, in order, exactly as [`apply`](Self::apply) would one after the
    /// other (a later one may merge into an activity an earlier one inserted), then marks the
    /// outbox events `dispatched` dispatched at `now` (keeping an earlier time) — all in ONE
    /// transaction: on any error nothing of the batch is written and no event is marked.
    /// Returns what each application did, in order (`fresh: false` for events applied before,
    /// including by an earlier item of the batch).
    async fn apply_batch(
        &self,
        batch: &[EventEffects],
        dispatched: &[EventId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>>;
    /// The activity each of `events` was recorded in, for those applied before (any order).
    async fn applied_events(&self, events: &[EventId]) -> Result<Vec<(EventId, ActivityId)>>;
    /// The newest activity (by id) whose object is `entity`, if any.
    async fn latest_for_object(&self, tenant: TenantId, entity: EntityRef) -> Result<Option<Activity>>;
    /// [`latest_for_object`](Self::latest_for_object) of each of `entities` that has one, in one
    /// read (any order).
    async fn latest_for_objects(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Activity>>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: ActivityId) -> Result<Activity>;
    /// A feed, newest first, filtered exactly as [`FeedFilter::matches`]. `Entity`: activities
    /// whose object or target is the entity; `Member`: the activities in the member's feed (those
    /// [`apply`](Self::apply) fanned out to them); `Tenant`: all. One query per page, whatever
    /// the number of follows.
    async fn feed(
        &self,
        tenant: TenantId,
        scope: FeedScope,
        filter: &FeedFilter,
        page: PageRequest,
    ) -> Result<Page<Activity>>;
}

/// Comments on entities.
#[async_trait]
pub trait CommentRepository: Send + Sync {
    /// Inserts a comment with its events. MUST return `Conflict` (field `id`) when the id exists,
    /// `NotFound` when its tenant does not exist.
    async fn insert(&self, comment: &Comment, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a comment whose stored version is `comment.version - 1`. MUST return `NotFound`
    /// when absent from the tenant, `Conflict` (field `version`) on a stale version.
    async fn update(&self, comment: &Comment, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: CommentId) -> Result<Comment>;
    /// The comments on `entity`, tombstones included, newest first.
    async fn list(&self, tenant: TenantId, entity: EntityRef, page: PageRequest) -> Result<Page<Comment>>;
}

/// Who follows what.
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// Adds a follow; returns `false` (and changes nothing) when the member already follows the
    /// entity. MUST return `NotFound` when the member is absent from the tenant.
    async fn follow(&self, follow: &Follow) -> Result<bool>;
    /// Removes a follow; returns whether there was one.
    async fn unfollow(&self, tenant: TenantId, member: MemberId, entity: EntityRef) -> Result<bool>;
    /// The member's follows, newest first (by time, then entity id), at most `limit`.
    async fn following(&self, tenant: TenantId, member: MemberId, limit: u32) -> Result<Vec<Follow>>;
    /// The followers of any of `entities`, with whether each member is active (one entry per
    /// follow).
    async fn followers(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Follower>>;
}

/// The notification inbox and delivery preferences.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// A member's notifications, newest first. The unread ones are exactly those counted by
    /// [`unread_count`](Self::unread_count).
    async fn list(
        &self,
        tenant: TenantId,
        recipient: MemberId,
        filter: InboxFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>>;
    /// How many of the member's notifications are unread.
    async fn unread_count(&self, tenant: TenantId, recipient: MemberId) -> Result<u64>;
    /// Marks one notification read at `at` (keeping an earlier read time) or, with `None`,
    /// unread. MUST return `NotFound` when it is absent from the tenant or not the recipient's.
    async fn set_read(
        &self,
        tenant: TenantId,
        recipient: MemberId,
        id: NotificationId,
        at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Marks every unread notification of the member read; returns how many changed.
    async fn mark_all_read(&self, tenant: TenantId, recipient: MemberId, at: DateTime<Utc>) -> Result<u64>;
    /// The preferences of each of `members` that has any (others have the defaults).
    async fn preferences(
        &self,
        tenant: TenantId,
        members: &[MemberId],
    ) -> Result<Vec<(MemberId, NotificationPreferences)>>;
    /// Sets how a member wants one kind delivered. MUST return `NotFound` when the member is
    /// absent from the tenant.
    async fn set_preference(
        &self,
        tenant: TenantId,
        member: MemberId,
        kind: NotificationKind,
        delivery: Delivery,
    ) -> Result<()>;
    /// Unread, not yet e-mailed digest notifications of all tenants, ordered by tenant,
    /// recipient, then id; at most `limit`.
    async fn digest_pending(&self, limit: u32) -> Result<Vec<Notification>>;
    /// Records that a digest carried these notifications. Unknown ids are ignored.
    async fn mark_emailed(&self, ids: &[NotificationId], at: DateTime<Utc>) -> Result<()>;
}
