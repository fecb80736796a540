//! [`ActivityService`]: comments, follows, feeds, the inbox and notification preferences.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Activity, Comment, CommentId, Delivery, FeedFilter, FeedScope, Follow, InboxFilter, LiveChange, LiveUpdate,
    Notification, NotificationId, NotificationKind, NotificationPreferences, mention,
};
use crate::actor::{Actor, Permission};
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{CampaignId, ContactId, DealId, EmailTemplateId, MemberId};
use crate::page::{Page, PageRequest};
use crate::record::to_json;

/// Longest comment, in characters.
const MAX_BODY_CHARS: usize = 10_000;
/// Most distinct handles resolved per comment.
const MAX_MENTIONS: usize = 50;
/// Most comments [`ActivityService::thread`] assembles.
const MAX_THREAD: usize = 2_000;

/// Input for posting a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewComment {
    /// The entity commented on.
    pub entity: EntityRef,
    /// The comment answered, on the same entity.
    #[serde(default)]
    pub in_reply_to: Option<CommentId>,
    /// Markdown text (1 to 10,000 characters).
    pub body: String,
}

/// A comment with its replies, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentNode {
    /// The comment.
    pub comment: Comment,
    /// Its body as escaped HTML.
    pub html: String,
    /// Replies to it.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub replies: Vec<CommentNode>,
}

/// Collaboration features. Every call takes the acting [`Actor`] first.
#[derive(Debug)]
pub struct ActivityService<'a> {
    crm: &'a Crm,
}

fn comment_ref(id: CommentId) -> EntityRef {
    EntityRef { kind: EntityKind::Comment, id: id.0 }
}

fn member_of(actor: &Actor) -> Result<MemberId> {
    actor.member_id().ok_or_else(|| CrmError::Forbidden("only members have feeds, follows and an inbox".into()))
}

fn check_body(body: &str) -> Result<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return Err(CrmError::invalid("body", "required", "a comment needs text"));
    }
    if trimmed.chars().count() > MAX_BODY_CHARS {
        return Err(CrmError::invalid("body", "too_long", format!("at most {MAX_BODY_CHARS} characters")));
    }
    Ok(trimmed.to_owned())
}

impl<'a> ActivityService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// `NotFound` unless `entity` exists in the actor's tenant; `Validation` for kinds that
    /// cannot be commented on or followed.
    /// Documents also need `access` to them.
    async fn check_entity(&self, actor: &Actor, entity: EntityRef, access: crate::document::Access) -> Result<()> {
        let store = self.crm.store();
        let tenant = actor.tenant_id;
        match entity.kind {
            EntityKind::Contact => store.contacts().get(tenant, ContactId(entity.id)).await.map(drop),
            EntityKind::Deal => store.deals().get(tenant, DealId(entity.id)).await.map(drop),
            EntityKind::Member => store.members().get(tenant, MemberId(entity.id)).await.map(drop),
            EntityKind::Comment => store.comments().get(tenant, CommentId(entity.id)).await.map(drop),
            EntityKind::Campaign => store.campaigns().get(tenant, CampaignId(entity.id)).await.map(drop),
            EntityKind::Document => {
                self.crm.documents().visible(actor, crate::id::DocumentId(entity.id), access).await.map(drop)
            }
            EntityKind::EmailTemplate => {
                store.campaigns().get_template(tenant, EmailTemplateId(entity.id)).await.map(drop)
            }
            EntityKind::Tenant if entity.id == tenant.0 => Ok(()),
            EntityKind::Tenant => Err(CrmError::not_found("tenant", entity.id)),
            #[allow(unreachable_patterns)]
            _ => {
                Err(CrmError::invalid("entity", "unsupported", format!("`{}` is not supported", entity.kind.as_str())))
            }
        }
    }

    /// Active members of the tenant mentioned in `body` (unknown handles ignored).
    async fn resolve_mentions(&self, actor: &Actor, body: &str) -> Result<Vec<MemberId>> {
        let mut ids = Vec::new();
        for handle in mention::parse(body).into_iter().take(MAX_MENTIONS) {
            if let Some(member) = self.crm.store().members().find_by_handle(actor.tenant_id, &handle).await?
                && member.active
                && !ids.contains(&member.id)
            {
                ids.push(member.id);
            }
        }
        Ok(ids)
    }

    /// Posts a comment (needs `comment`). `NotFound` when the entity or the comment replied to is
    /// absent; `Validation` when the reply is on another entity or the body is empty or too long.
    pub async fn comment(&self, actor: &Actor, input: NewComment) -> Result<Comment> {
        actor.require(Permission::Comment)?;
        let body = check_body(&input.body)?;
        if input.entity.kind == EntityKind::Comment {
            return Err(CrmError::invalid("entity", "unsupported", "reply with `in_reply_to` instead"));
        }
        self.check_entity(actor, input.entity, crate::document::Access::Comment).await?;
        if let Some(parent) = input.in_reply_to {
            let parent = self.crm.store().comments().get(actor.tenant_id, parent).await?;
            if parent.entity != input.entity {
                return Err(CrmError::invalid(
                    "in_reply_to",
                    "other_entity",
                    "the comment replied to is on another entity",
                ));
            }
        }
        let now = self.crm.clock().now();
        let comment = Comment {
            id: CommentId::new(),
            tenant_id: actor.tenant_id,
            entity: input.entity,
            in_reply_to: input.in_reply_to,
            author: actor.principal,
            mentions: self.resolve_mentions(actor, &body).await?,
            body,
            created_at: now,
            edited_at: None,
            deleted_at: None,
            version: 1,
        };
        let event = DomainEvent::new(
            actor,
            EventType::CommentCreated,
            comment_ref(comment.id),
            json!({ "object": to_json(&comment)? }),
            now,
        );
        self.crm.store().comments().insert(&comment, &[event]).await?;
        self.crm.wake_worker();
        Ok(comment)
    }

    /// Edits a comment's text (its author only). `Conflict` when it was deleted or, with
    /// `expected_version`, changed since.
    pub async fn edit_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        body: &str,
        expected_version: Option<i64>,
    ) -> Result<Comment> {
        actor.require(Permission::Comment)?;
        let current = self.crm.store().comments().get(actor.tenant_id, id).await?;
        if current.author != actor.principal {
            return Err(CrmError::Forbidden("only its author edits a comment".into()));
        }
        if current.deleted_at.is_some() {
            return Err(CrmError::conflict(Some("deleted_at"), "the comment was deleted"));
        }
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(CrmError::conflict(Some("version"), "the comment was changed by someone else"));
        }
        let body = check_body(body)?;
        if body == current.body {
            return Ok(current);
        }
        let now = self.crm.clock().now();
        let mut next = current.clone();
        next.mentions = self.resolve_mentions(actor, &body).await?;
        next.body = body;
        next.edited_at = Some(now);
        next.version += 1;
        let changes = crate::event::diff(&json!({"body": current.body}), &json!({"body": next.body}), &[]);
        let data = json!({ "object": to_json(&next)?, "changes": changes });
        let event = DomainEvent::new(actor, EventType::CommentUpdated, comment_ref(id), data, now);
        self.crm.store().comments().update(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// Deletes a comment, leaving a tombstone so its replies keep their place. Its author may,
    /// and so may anyone with `delete_records`. Deleting a tombstone again changes nothing.
    pub async fn delete_comment(&self, actor: &Actor, id: CommentId) -> Result<Comment> {
        actor.require(Permission::Comment)?;
        let current = self.crm.store().comments().get(actor.tenant_id, id).await?;
        if current.author != actor.principal {
            actor.require(Permission::DeleteRecords)?;
        }
        if current.deleted_at.is_some() {
            return Ok(current);
        }
        let now = self.crm.clock().now();
        let mut next = current.clone();
        next.body = String::new();
        next.mentions.clear();
        next.deleted_at = Some(now);
        next.version += 1;
        let event = DomainEvent::new(
            actor,
            EventType::CommentDeleted,
            comment_ref(id),
            json!({ "object": to_json(&next)? }),
            now,
        );
        self.crm.store().comments().update(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// `NotFound` when `entity` is a document the actor may not see (other entities are
    /// tenant-wide).
    async fn check_visible(&self, actor: &Actor, entity: &EntityRef) -> Result<()> {
        if entity.kind == EntityKind::Document {
            let id = crate::id::DocumentId(entity.id);
            self.crm.documents().visible(actor, id, crate::document::Access::View).await?;
        }
        Ok(())
    }

    /// One comment.
    pub async fn get_comment(&self, actor: &Actor, id: CommentId) -> Result<Comment> {
        actor.require(Permission::ViewRecords)?;
        let comment = self.crm.store().comments().get(actor.tenant_id, id).await?;
        self.check_visible(actor, &comment.entity).await.map_err(|_| CrmError::not_found("comment", id))?;
        Ok(comment)
    }

    /// The comments on an entity, newest first (tombstones included).
    pub async fn comments(&self, actor: &Actor, entity: EntityRef, page: PageRequest) -> Result<Page<Comment>> {
        actor.require(Permission::ViewRecords)?;
        self.check_visible(actor, &entity).await?;
        self.crm.store().comments().list(actor.tenant_id, entity, page).await
    }

    /// The comments on an entity as threads, oldest first at every level (up to 2,000 comments).
    pub async fn thread(&self, actor: &Actor, entity: EntityRef) -> Result<Vec<CommentNode>> {
        actor.require(Permission::ViewRecords)?;
        self.check_visible(actor, &entity).await?;
        let mut all = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let batch = self.crm.store().comments().list(actor.tenant_id, entity, page).await?;
            all.extend(batch.items);
            match batch.next_cursor {
                Some(cursor) if all.len() < MAX_THREAD => page = PageRequest::parse(Some(page.limit), Some(&cursor))?,
                _ => break,
            }
        }
        Ok(build_threads(all))
    }

    /// Follows an entity (needs `view_records`); following twice is harmless.
    pub async fn follow(&self, actor: &Actor, entity: EntityRef) -> Result<Follow> {
        actor.require(Permission::ViewRecords)?;
        let member_id = member_of(actor)?;
        self.check_entity(actor, entity, crate::document::Access::View).await?;
        let follow = Follow { tenant_id: actor.tenant_id, member_id, entity, created_at: self.crm.clock().now() };
        self.crm.store().follows().follow(&follow).await?;
        Ok(follow)
    }

    /// Stops following an entity; returns whether the member followed it.
    pub async fn unfollow(&self, actor: &Actor, entity: EntityRef) -> Result<bool> {
        let member_id = member_of(actor)?;
        self.crm.store().follows().unfollow(actor.tenant_id, member_id, entity).await
    }

    /// What the acting member follows, newest first (at most `limit`, up to 1,000).
    pub async fn following(&self, actor: &Actor, limit: u32) -> Result<Vec<Follow>> {
        let member_id = member_of(actor)?;
        self.crm.store().follows().following(actor.tenant_id, member_id, limit.clamp(1, 1000)).await
    }

    /// A feed. `Entity` needs `view_records`; `Member` is the acting member's own feed (their
    /// activity and that of what they follow, from when they followed it); `Tenant` needs
    /// `view_audit_log` (admins).
    pub async fn feed(
        &self,
        actor: &Actor,
        scope: FeedScope,
        filter: &FeedFilter,
        page: PageRequest,
    ) -> Result<Page<Activity>> {
        match scope {
            FeedScope::Entity(entity) => {
                actor.require(Permission::ViewRecords)?;
                self.check_visible(actor, &entity).await?;
            }
            FeedScope::Member(member) => {
                if actor.member_id() != Some(member) {
                    return Err(CrmError::Forbidden("a member's feed is theirs alone".into()));
                }
            }
            FeedScope::Tenant => actor.require(Permission::ViewAuditLog)?,
        }
        self.crm.store().activities().feed(actor.tenant_id, scope, filter, page).await
    }

    /// The acting member's own feed.
    pub async fn my_feed(&self, actor: &Actor, filter: &FeedFilter, page: PageRequest) -> Result<Page<Activity>> {
        self.feed(actor, FeedScope::Member(member_of(actor)?), filter, page).await
    }

    /// One activity (needs `view_records`).
    pub async fn get_activity(&self, actor: &Actor, id: super::ActivityId) -> Result<Activity> {
        actor.require(Permission::ViewRecords)?;
        let activity = self.crm.store().activities().get(actor.tenant_id, id).await?;
        for entity in std::iter::once(&activity.object).chain(activity.target.as_ref()) {
            self.check_visible(actor, entity).await.map_err(|_| CrmError::not_found("activity", id))?;
        }
        Ok(activity)
    }

    /// The acting member's notifications, newest first.
    pub async fn inbox(&self, actor: &Actor, filter: InboxFilter, page: PageRequest) -> Result<Page<Notification>> {
        let me = member_of(actor)?;
        self.crm.store().notifications().list(actor.tenant_id, me, filter, page).await
    }

    /// How many of the acting member's notifications are unread.
    pub async fn unread_count(&self, actor: &Actor) -> Result<u64> {
        let me = member_of(actor)?;
        self.crm.store().notifications().unread_count(actor.tenant_id, me).await
    }

    /// Marks one of the acting member's notifications read (`true`) or unread (`false`).
    /// `NotFound` when it is not theirs.
    pub async fn mark_read(&self, actor: &Actor, id: NotificationId, read: bool) -> Result<()> {
        let me = member_of(actor)?;
        let at = read.then(|| self.crm.clock().now());
        self.crm.store().notifications().set_read(actor.tenant_id, me, id, at).await?;
        self.inbox_changed(actor, me).await;
        Ok(())
    }

    /// Marks all of the acting member's notifications read; returns how many changed.
    pub async fn mark_all_read(&self, actor: &Actor) -> Result<u64> {
        let me = member_of(actor)?;
        let changed =
            self.crm.store().notifications().mark_all_read(actor.tenant_id, me, self.crm.clock().now()).await?;
        if changed > 0 {
            self.inbox_changed(actor, me).await;
        }
        Ok(changed)
    }

    async fn inbox_changed(&self, actor: &Actor, member_id: MemberId) {
        let update = LiveUpdate { tenant_id: actor.tenant_id, member_id, change: LiveChange::InboxChanged };
        if let Err(error) = self.crm.live_updates().publish(&[update]).await {
            tracing::warn!(%error, "could not publish an inbox change");
        }
    }

    /// The acting member's delivery preferences.
    pub async fn preferences(&self, actor: &Actor) -> Result<NotificationPreferences> {
        let me = member_of(actor)?;
        let found = self.crm.store().notifications().preferences(actor.tenant_id, &[me]).await?;
        Ok(found.into_iter().find(|(m, _)| *m == me).map(|(_, p)| p).unwrap_or_default())
    }

    /// Sets how the acting member wants one kind of notification delivered.
    pub async fn set_preference(
        &self,
        actor: &Actor,
        kind: NotificationKind,
        delivery: Delivery,
    ) -> Result<NotificationPreferences> {
        let me = member_of(actor)?;
        self.crm.store().notifications().set_preference(actor.tenant_id, me, kind, delivery).await?;
        self.preferences(actor).await
    }
}

/// Assembles threads from comments in any order: roots and replies oldest first. A reply whose
/// parent is missing (beyond the page cap) becomes a root.
pub(crate) fn build_threads(mut comments: Vec<Comment>) -> Vec<CommentNode> {
    use std::collections::{HashMap, HashSet};
    comments.sort_by_key(|c| c.id);
    let ids: HashSet<CommentId> = comments.iter().map(|c| c.id).collect();
    let mut children: HashMap<Option<CommentId>, Vec<Comment>> = HashMap::new();
    for comment in comments {
        let parent = comment.in_reply_to.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(comment);
    }
    fn build(parent: Option<CommentId>, children: &mut HashMap<Option<CommentId>, Vec<Comment>>) -> Vec<CommentNode> {
        let Some(list) = children.remove(&parent) else { return Vec::new() };
        list.into_iter()
            .map(|comment| {
                let replies = build(Some(comment.id), children);
                CommentNode { html: comment.html(), comment, replies }
            })
            .collect()
    }
    build(None, &mut children)
}
