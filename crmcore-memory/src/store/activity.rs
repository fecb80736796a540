//! Activities, comments, follows and notifications in memory, under the store's one lock (so
//! [`ActivityRepository::apply`] is atomic like a database transaction). Indexes keep every
//! feed and inbox page proportional to its size, not to the store's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::activity::{
    Activity, ActivityId, ActivityWrite, Applied, Comment, CommentId, Delivery, EventEffects, FeedFilter, FeedScope,
    Follow, Follower, InboxFilter, Notification, NotificationId, NotificationKind, NotificationPreferences,
};
use crmcore::event::{DomainEvent, EntityRef};
use crmcore::id::{EventId, MemberId, TenantId};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::{ActivityRepository, CommentRepository, FollowRepository, NotificationRepository};
use crmcore::{CrmError, Result};
use uuid::Uuid;

use super::{MemoryStore, State};

type EntityKey = (TenantId, EntityRef);
type MemberKey = (TenantId, MemberId);

/// The collaboration part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct ActivityState {
    activities: BTreeMap<ActivityId, Activity>,
    by_event: HashMap<EventId, ActivityId>,
    /// Activities whose object or target is the entity.
    by_entity: HashMap<EntityKey, BTreeSet<ActivityId>>,
    /// Activities whose object is the entity (for merges).
    by_object: HashMap<EntityKey, BTreeSet<ActivityId>>,
    feeds: HashMap<MemberKey, BTreeSet<ActivityId>>,
    comments: BTreeMap<CommentId, Comment>,
    comments_by_entity: HashMap<EntityKey, BTreeSet<CommentId>>,
    follows: HashMap<(TenantId, MemberId, EntityRef), Follow>,
    followers: HashMap<EntityKey, HashSet<MemberId>>,
    notifications: BTreeMap<NotificationId, Notification>,
    notification_keys: HashMap<(TenantId, MemberId, Uuid), NotificationId>,
    inboxes: HashMap<MemberKey, BTreeSet<NotificationId>>,
    preferences: HashMap<MemberKey, NotificationPreferences>,
}

impl State {
    fn member_exists(&self, tenant: TenantId, member: MemberId) -> bool {
        self.members.get(&member).is_some_and(|m| m.tenant_id == tenant)
    }
}

impl ActivityState {
    fn index_activity(&mut self, a: &Activity) {
        self.by_entity.entry((a.tenant_id, a.object)).or_default().insert(a.id);
        if let Some(target) = a.target {
            self.by_entity.entry((a.tenant_id, target)).or_default().insert(a.id);
        }
        self.by_object.entry((a.tenant_id, a.object)).or_default().insert(a.id);
    }

    fn add_follow(&mut self, follow: &Follow) -> bool {
        let key = (follow.tenant_id, follow.member_id, follow.entity);
        if self.follows.contains_key(&key) {
            return false;
        }
        self.follows.insert(key, follow.clone());
        self.followers.entry((follow.tenant_id, follow.entity)).or_default().insert(follow.member_id);
        true
    }
}

/// Newest first from an id index: ids below `after`, mapped and filtered, `limit + 1` of them.
fn page_from_index<K: Ord + Copy, T: Clone>(
    index: Option<&BTreeSet<K>>,
    request: PageRequest,
    to_key: impl Fn(Uuid) -> K,
    get: impl Fn(&K) -> Option<T>,
    keep: impl Fn(&T) -> bool,
    id_of: impl Fn(&T) -> Uuid,
) -> Page<T> {
    let Some(index) = index else { return Page { items: Vec::new(), next_cursor: None } };
    let take = request.limit as usize + 1;
    let rows: Vec<T> = match request.after {
        Some(after) => index.range(..to_key(after)).rev().filter_map(&get).filter(|t| keep(t)).take(take).collect(),
        None => index.iter().rev().filter_map(&get).filter(|t| keep(t)).take(take).collect(),
    };
    Page::from_overfetch(rows, request, id_of)
}

impl State {
    /// Checks `effects` against the state as it would be after `batch_before` was applied
    /// (activities they insert count as present): what [`State::apply_effects`] requires.
    fn check_effects(&self, effects: &EventEffects, inserted: &HashMap<ActivityId, TenantId>) -> Result<()> {
        let tenant = effects.tenant_id;
        if !self.tenants.contains_key(&tenant) {
            return Err(CrmError::not_found("tenant", tenant));
        }
        match &effects.activity {
            ActivityWrite::Insert(a) => {
                if a.tenant_id != tenant || self.activity.activities.contains_key(&a.id) || inserted.contains_key(&a.id)
                {
                    return Err(CrmError::conflict(Some("id"), "activity id exists"));
                }
            }
            ActivityWrite::Merge { into, .. } => {
                let stored = self.activity.activities.get(into).map(|a| a.tenant_id);
                if stored.or_else(|| inserted.get(into).copied()) != Some(tenant) {
                    return Err(CrmError::not_found("activity", into));
                }
            }
        }
        Ok(())
    }

    /// Applies checked effects (see [`State::check_effects`]); cannot fail.
    fn apply_effects(&mut self, effects: &EventEffects) -> Applied {
        let tenant = effects.tenant_id;
        let activity_id = match &effects.activity {
            ActivityWrite::Insert(a) => a.id,
            ActivityWrite::Merge { into, .. } => *into,
        };
        let known = |m: &MemberId| self.member_exists(tenant, *m);
        let follows: Vec<&Follow> =
            effects.follows.iter().filter(|f| f.tenant_id == tenant && known(&f.member_id)).collect();
        let audience: Vec<MemberId> = effects.audience.iter().copied().filter(known).collect();
        let drafts: Vec<_> = effects.notifications.iter().filter(|d| known(&d.recipient)).collect();

        let state = &mut self.activity;
        let activity = match &effects.activity {
            ActivityWrite::Insert(a) => {
                state.activities.insert(a.id, a.clone());
                state.index_activity(a);
                a.clone()
            }
            ActivityWrite::Merge { into, data, updated_at } => match state.activities.get_mut(into) {
                Some(a) => {
                    a.data = data.clone();
                    a.updated_at = *updated_at;
                    a.event_count += 1;
                    a.clone()
                }
                None => unreachable!("checked by check_effects"),
            },
        };
        state.by_event.insert(effects.event_id, activity_id);
        for follow in follows {
            state.add_follow(follow);
        }
        for member in audience {
            state.feeds.entry((tenant, member)).or_default().insert(activity_id);
        }
        let mut created = Vec::new();
        for draft in drafts {
            let cause = draft.cause.unwrap_or(activity_id.0);
            let key = (tenant, draft.recipient, cause);
            if state.notification_keys.contains_key(&key) || state.notifications.contains_key(&draft.id) {
                continue;
            }
            let notification = Notification {
                id: draft.id,
                tenant_id: tenant,
                recipient: draft.recipient,
                kind: draft.kind,
                cause,
                activity_id,
                actor: activity.actor,
                entity: activity.target.unwrap_or(activity.object),
                verb: activity.verb.clone(),
                created_at: activity.updated_at,
                read_at: None,
                email_digest: draft.email_digest,
                emailed_at: None,
            };
            state.notification_keys.insert(key, draft.id);
            state.inboxes.entry((tenant, draft.recipient)).or_default().insert(draft.id);
            state.notifications.insert(draft.id, notification.clone());
            created.push(notification);
        }
        Applied { fresh: true, activity_id, notifications: created }
    }
}

#[async_trait]
impl ActivityRepository for MemoryStore {
    async fn apply(&self, effects: &EventEffects, now: DateTime<Utc>) -> Result<Applied> {
        let mut applied = self.apply_batch(std::slice::from_ref(effects), &[], now).await?;
        applied.pop().ok_or_else(|| CrmError::Internal("nothing applied".into()))
    }

    async fn apply_batch(
        &self,
        batch: &[EventEffects],
        dispatched: &[EventId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        // Check everything before changing anything, as the batch would find the state.
        let mut seen: HashMap<EventId, ActivityId> = HashMap::new();
        let mut inserted: HashMap<ActivityId, TenantId> = HashMap::new();
        for effects in batch {
            if s.activity.by_event.contains_key(&effects.event_id) || seen.contains_key(&effects.event_id) {
                continue;
            }
            s.check_effects(effects, &inserted)?;
            let id = match &effects.activity {
                ActivityWrite::Insert(a) => {
                    inserted.insert(a.id, a.tenant_id);
                    a.id
                }
                ActivityWrite::Merge { into, .. } => *into,
            };
            seen.insert(effects.event_id, id);
        }
        let mut out = Vec::with_capacity(batch.len());
        for effects in batch {
            match s.activity.by_event.get(&effects.event_id) {
                Some(existing) => out.push(Applied { fresh: false, activity_id: *existing, notifications: Vec::new() }),
                None => out.push(s.apply_effects(effects)),
            }
        }
        s.mark_dispatched(dispatched, now);
        Ok(out)
    }

    async fn applied_events(&self, events: &[EventId]) -> Result<Vec<(EventId, ActivityId)>> {
        let s = self.lock();
        Ok(events.iter().filter_map(|e| s.activity.by_event.get(e).map(|a| (*e, *a))).collect())
    }

    async fn latest_for_objects(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Activity>> {
        let s = self.lock();
        let mut seen = HashSet::new();
        Ok(entities
            .iter()
            .filter(|e| seen.insert(**e))
            .filter_map(|e| s.activity.by_object.get(&(tenant, *e)).and_then(|ids| ids.iter().next_back()))
            .filter_map(|id| s.activity.activities.get(id).cloned())
            .collect())
    }

    async fn latest_for_object(&self, tenant: TenantId, entity: EntityRef) -> Result<Option<Activity>> {
        let s = self.lock();
        let latest = s.activity.by_object.get(&(tenant, entity)).and_then(|ids| ids.iter().next_back());
        Ok(latest.and_then(|id| s.activity.activities.get(id)).cloned())
    }

    async fn get(&self, tenant: TenantId, id: ActivityId) -> Result<Activity> {
        self.lock()
            .activity
            .activities
            .get(&id)
            .filter(|a| a.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("activity", id))
    }

    async fn feed(
        &self,
        tenant: TenantId,
        scope: FeedScope,
        filter: &FeedFilter,
        page: PageRequest,
    ) -> Result<Page<Activity>> {
        let s = self.lock();
        let state = &s.activity;
        let get = |id: &ActivityId| state.activities.get(id).filter(|a| a.tenant_id == tenant).cloned();
        let keep = |a: &Activity| filter.matches(a);
        Ok(match scope {
            FeedScope::Entity(entity) => {
                page_from_index(state.by_entity.get(&(tenant, entity)), page, ActivityId, get, keep, |a| a.id.0)
            }
            FeedScope::Member(member) => {
                page_from_index(state.feeds.get(&(tenant, member)), page, ActivityId, get, keep, |a| a.id.0)
            }
            FeedScope::Tenant => {
                let upper = page.after.map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(ActivityId(a)));
                let rows: Vec<Activity> = state
                    .activities
                    .range((std::ops::Bound::Unbounded, upper))
                    .rev()
                    .map(|(_, a)| a)
                    .filter(|a| a.tenant_id == tenant && filter.matches(a))
                    .take(page.limit as usize + 1)
                    .cloned()
                    .collect();
                Page::from_overfetch(rows, page, |a| a.id.0)
            }
        })
    }
}

#[async_trait]
impl CommentRepository for MemoryStore {
    async fn insert(&self, comment: &Comment, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if !s.tenants.contains_key(&comment.tenant_id) {
            return Err(CrmError::not_found("tenant", comment.tenant_id));
        }
        if s.activity.comments.contains_key(&comment.id) {
            return Err(CrmError::conflict(Some("id"), "comment id exists"));
        }
        s.activity.comments.insert(comment.id, comment.clone());
        s.activity.comments_by_entity.entry((comment.tenant_id, comment.entity)).or_default().insert(comment.id);
        s.append(events);
        Ok(())
    }

    async fn update(&self, comment: &Comment, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        State::check_version(
            s.activity.comments.get(&comment.id),
            |c| c.tenant_id,
            |c| c.version,
            comment.tenant_id,
            comment.version,
            "comment",
            comment.id,
        )?;
        s.activity.comments.insert(comment.id, comment.clone());
        s.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: CommentId) -> Result<Comment> {
        self.lock()
            .activity
            .comments
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("comment", id))
    }

    async fn list(&self, tenant: TenantId, entity: EntityRef, page: PageRequest) -> Result<Page<Comment>> {
        let s = self.lock();
        let state = &s.activity;
        Ok(page_from_index(
            state.comments_by_entity.get(&(tenant, entity)),
            page,
            CommentId,
            |id| state.comments.get(id).cloned(),
            |c| c.tenant_id == tenant,
            |c| c.id.0,
        ))
    }
}

#[async_trait]
impl FollowRepository for MemoryStore {
    async fn follow(&self, follow: &Follow) -> Result<bool> {
        let mut s = self.lock();
        if !s.member_exists(follow.tenant_id, follow.member_id) {
            return Err(CrmError::not_found("member", follow.member_id));
        }
        Ok(s.activity.add_follow(follow))
    }

    async fn unfollow(&self, tenant: TenantId, member: MemberId, entity: EntityRef) -> Result<bool> {
        let mut s = self.lock();
        let removed = s.activity.follows.remove(&(tenant, member, entity)).is_some();
        if removed && let Some(set) = s.activity.followers.get_mut(&(tenant, entity)) {
            set.remove(&member);
        }
        Ok(removed)
    }

    async fn following(&self, tenant: TenantId, member: MemberId, limit: u32) -> Result<Vec<Follow>> {
        let s = self.lock();
        let mut found: Vec<Follow> =
            s.activity.follows.values().filter(|f| f.tenant_id == tenant && f.member_id == member).cloned().collect();
        found.sort_by_key(|f| std::cmp::Reverse((f.created_at, f.entity.id)));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn followers(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Follower>> {
        let s = self.lock();
        let mut out = Vec::new();
        for entity in entities {
            for member in s.activity.followers.get(&(tenant, *entity)).into_iter().flatten() {
                if let Some(follow) = s.activity.follows.get(&(tenant, *member, *entity)) {
                    let active = s.members.get(member).is_some_and(|m| m.tenant_id == tenant && m.active);
                    out.push(Follower { follow: follow.clone(), active });
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl NotificationRepository for MemoryStore {
    async fn list(
        &self,
        tenant: TenantId,
        recipient: MemberId,
        filter: InboxFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>> {
        let s = self.lock();
        let state = &s.activity;
        Ok(page_from_index(
            state.inboxes.get(&(tenant, recipient)),
            page,
            NotificationId,
            |id| state.notifications.get(id).cloned(),
            |n| !filter.unread_only || n.read_at.is_none(),
            |n| n.id.0,
        ))
    }

    async fn unread_count(&self, tenant: TenantId, recipient: MemberId) -> Result<u64> {
        let s = self.lock();
        let state = &s.activity;
        let count = state
            .inboxes
            .get(&(tenant, recipient))
            .into_iter()
            .flatten()
            .filter(|id| state.notifications.get(id).is_some_and(|n| n.read_at.is_none()))
            .count();
        Ok(count as u64)
    }

    async fn set_read(
        &self,
        tenant: TenantId,
        recipient: MemberId,
        id: NotificationId,
        at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut s = self.lock();
        let n = s
            .activity
            .notifications
            .get_mut(&id)
            .filter(|n| n.tenant_id == tenant && n.recipient == recipient)
            .ok_or_else(|| CrmError::not_found("notification", id))?;
        match at {
            Some(at) => {
                n.read_at.get_or_insert(at);
            }
            None => n.read_at = None,
        }
        Ok(())
    }

    async fn mark_all_read(&self, tenant: TenantId, recipient: MemberId, at: DateTime<Utc>) -> Result<u64> {
        let mut s = self.lock();
        let state = &mut s.activity;
        let ids: Vec<NotificationId> = state.inboxes.get(&(tenant, recipient)).into_iter().flatten().copied().collect();
        let mut changed = 0;
        for id in ids {
            if let Some(n) = state.notifications.get_mut(&id)
                && n.read_at.is_none()
            {
                n.read_at = Some(at);
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn preferences(
        &self,
        tenant: TenantId,
        members: &[MemberId],
    ) -> Result<Vec<(MemberId, NotificationPreferences)>> {
        let s = self.lock();
        Ok(members.iter().filter_map(|m| s.activity.preferences.get(&(tenant, *m)).map(|p| (*m, p.clone()))).collect())
    }

    async fn set_preference(
        &self,
        tenant: TenantId,
        member: MemberId,
        kind: NotificationKind,
        delivery: Delivery,
    ) -> Result<()> {
        let mut s = self.lock();
        if !s.member_exists(tenant, member) {
            return Err(CrmError::not_found("member", member));
        }
        s.activity.preferences.entry((tenant, member)).or_default().kinds.insert(kind, delivery);
        Ok(())
    }

    async fn digest_pending(&self, limit: u32) -> Result<Vec<Notification>> {
        let s = self.lock();
        let mut pending: Vec<Notification> = s
            .activity
            .notifications
            .values()
            .filter(|n| n.email_digest && n.emailed_at.is_none() && n.read_at.is_none())
            .cloned()
            .collect();
        pending.sort_by_key(|n| (n.tenant_id, n.recipient, n.id));
        pending.truncate(limit as usize);
        Ok(pending)
    }

    async fn mark_emailed(&self, ids: &[NotificationId], at: DateTime<Utc>) -> Result<()> {
        let mut s = self.lock();
        for id in ids {
            if let Some(n) = s.activity.notifications.get_mut(id) {
                n.emailed_at.get_or_insert(at);
            }
        }
        Ok(())
    }
}
