//! The activity tracker: what one [`DomainEvent`] produces — its activity (or a merge into the
//! previous one), automatic follows, the feeds it lands in and the notifications it causes —
//! decided here, written by the store in one transaction keyed by the event id.
//!
//! Rules:
//! - every event is one activity; `*.updated` by the same actor within
//!   [`ActivityConfig::merge_window`](super::ActivityConfig::merge_window) of the object's latest
//!   activity (also an update by them) merges into it: first `before`, latest `after`, and a
//!   field changed back to its original value drops out;
//! - the member who creates a record or comments on it follows it; so does a record's owner
//!   whenever it is assigned (who also gets an `assignment` notification unless they assigned
//!   themselves);
//! - the member who requests a document's approval follows the document; the approvers of the
//!   step an approval request or a completed step makes current (`data.approvers`) get an
//!   `approval_requested` notification;
//! - the activity lands in the actor's feed and in the feed of every active follower of its
//!   object or target who followed before it happened;
//! - notifications, at most one per member per event, most specific first: `mention` (members
//!   mentioned in a comment), `reply` (the author of the comment answered), `approval_requested`,
//!   `assignment`, `activity` (followers; not for comment edits and deletions). Never to the
//!   actor, never to deactivated members, never when the member's preference for the kind is
//!   `off`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Activity, ActivityId, ActivityWrite, Applied, CommentId, Delivery, EventEffects, Follow, Follower, LiveChange,
    LiveUpdate, Notification, NotificationDraft, NotificationId, NotificationKind, NotificationPreferences,
};
use crate::actor::Principal;
use crate::crm::Crm;
use crate::error::CrmError;
use crate::error::Result;
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{EventId, MemberId, TenantId};
use crate::ports::EmailMessage;

/// Most characters of a comment copied into its activity.
const EXCERPT_CHARS: usize = 280;

/// Records one event: computes its effects and has the store apply them.
#[cfg(feature = "testing")]
pub(crate) async fn track(crm: &Crm, event: &DomainEvent) -> Result<Applied> {
    let mut applied = track_batch(crm, std::slice::from_ref(event), &[]).await?;
    applied.pop().ok_or_else(|| CrmError::Internal("the tracker applied nothing".into()))
}

/// Records a batch of events, in order, as if each were tracked after the previous one was
/// applied: the reads are done once per tenant for the whole batch ([`Context`]), the effects are
/// computed here, and the store writes them all (and marks `dispatched` dispatched in the outbox)
/// in one transaction. Returns what was applied for each event, in order.
pub(crate) async fn track_batch(crm: &Crm, events: &[DomainEvent], dispatched: &[EventId]) -> Result<Vec<Applied>> {
    let store = crm.store();
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    let before: HashMap<EventId, ActivityId> = store.activities().applied_events(&ids).await?.into_iter().collect();
    let mut tenants: Vec<TenantId> = events.iter().map(|e| e.tenant_id).collect();
    dedup(&mut tenants);
    let mut effects: Vec<Option<EventEffects>> = vec![None; events.len()];
    for tenant in tenants {
        let own: Vec<(usize, &DomainEvent)> =
            events.iter().enumerate().filter(|(_, e)| e.tenant_id == tenant && !before.contains_key(&e.id)).collect();
        if own.is_empty() {
            continue;
        }
        let mut context = Context::read(crm, tenant, own.iter().map(|(_, e)| *e)).await?;
        for (i, event) in own {
            effects[i] = Some(context.effects_of(event));
        }
    }
    let writes: Vec<EventEffects> = effects.iter().flatten().cloned().collect();
    let mut applied = store.activities().apply_batch(&writes, dispatched, crm.clock().now()).await?.into_iter();
    let mut out = Vec::with_capacity(events.len());
    for (event, effect) in events.iter().zip(&effects) {
        match (effect, before.get(&event.id)) {
            (Some(_), _) => {
                out.push(applied.next().ok_or_else(|| CrmError::Internal("the store applied fewer effects".into()))?)
            }
            (None, Some(activity_id)) => {
                out.push(Applied { fresh: false, activity_id: *activity_id, notifications: Vec::new() })
            }
            (None, None) => return Err(CrmError::Internal("an event was neither applied nor tracked".into())),
        }
    }
    Ok(out)
}

/// Publishes notifications created by a committed transaction to live subscribers.
pub(crate) async fn publish(crm: &Crm, notifications: &[Notification]) {
    if notifications.is_empty() {
        return;
    }
    let updates: Vec<LiveUpdate> = notifications
        .iter()
        .map(|n: &Notification| LiveUpdate {
            tenant_id: n.tenant_id,
            member_id: n.recipient,
            change: LiveChange::Notification { notification_id: n.id },
        })
        .collect();
    if let Err(error) = crm.live_updates().publish(&updates).await {
        tracing::warn!(%error, "could not publish live updates");
    }
}

fn member_id(principal: Principal) -> Option<MemberId> {
    match principal {
        Principal::Member(id) => Some(id),
        _ => None,
    }
}

/// `object.<field>` of the event payload as a member id.
fn member_field(value: &Value, field: &str) -> Option<MemberId> {
    value.get(field).and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// A short human name for the object, from its JSON snapshot.
fn name_of(kind: EntityKind, object: &Value) -> Option<String> {
    let text = |key: &str| object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    match kind {
        EntityKind::Contact => {
            let full = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            Some(full).filter(|s| !s.is_empty()).or_else(|| text("company")).or_else(|| text("email"))
        }
        EntityKind::Deal | EntityKind::Document => text("title"),
        EntityKind::Member => text("display_name"),
        EntityKind::Tenant => text("name"),
        _ => None,
    }
}

fn excerpt(body: &str) -> String {
    match body.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &body[..at]),
        None => body.to_owned(),
    }
}

/// The activity data of an event: its payload without the object snapshot, plus the object's name
/// and, for comments, an excerpt of the body.
fn data_of(event: &DomainEvent) -> Value {
    let mut data = match &event.data {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let object = data.remove("object").unwrap_or(Value::Null);
    if let Some(name) = name_of(event.subject.kind, &object) {
        data.insert("name".into(), Value::String(name));
    }
    if event.subject.kind == EntityKind::Comment {
        if let Some(body) = object.get("body").and_then(Value::as_str) {
            data.insert("body".into(), Value::String(excerpt(body)));
        }
        if let Some(parent) = object.get("in_reply_to").filter(|v| !v.is_null()) {
            data.insert("in_reply_to".into(), parent.clone());
        }
        if let Some(mentions) = object.get("mentions").filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
            data.insert("mentions".into(), mentions.clone());
        }
    }
    Value::Object(data)
}

/// Merges two `changes` maps: the first `before`, the latest `after`; a field back at its
/// original value drops out.
pub(crate) fn merge_changes(earlier: &Value, later: &Value) -> Value {
    let mut merged: BTreeMap<String, Value> =
        earlier.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    if let Some(later) = later.as_object() {
        for (field, change) in later {
            let after = change.get("after").cloned().unwrap_or(Value::Null);
            match merged.get(field).and_then(|c| c.get("before")).cloned() {
                Some(before) if before == after => {
                    merged.remove(field);
                }
                Some(before) => {
                    merged.insert(field.clone(), json!({ "before": before, "after": after }));
                }
                None => {
                    merged.insert(field.clone(), change.clone());
                }
            }
        }
    }
    Value::Object(merged.into_iter().collect())
}

/// Whether `event` merges into `latest` under the merge window.
fn merges_into(window: chrono::Duration, event: &DomainEvent, latest: &Activity) -> bool {
    let age = event.occurred_at - latest.occurred_at;
    window > chrono::Duration::zero()
        && latest.verb == "updated"
        && latest.actor == event.actor
        && latest.object == event.subject
        && latest.event_id != event.id
        && age >= chrono::Duration::zero()
        && age <= window
}

/// What the rules read from an event's payload.
struct Parsed {
    actor: Option<MemberId>,
    is_comment: bool,
    /// For comments: the entity commented on.
    target: Option<EntityRef>,
    /// The member a record was assigned to (created with, or changed to, this owner).
    assignee: Option<MemberId>,
    /// Members mentioned in a comment (not for deletions).
    mentions: Vec<MemberId>,
    /// The comment a new comment replies to.
    parent: Option<CommentId>,
    /// Members whose approval the event asks for.
    approvers: Vec<MemberId>,
}

impl Parsed {
    fn of(event: &DomainEvent) -> Self {
        let object = event.data.get("object").cloned().unwrap_or(Value::Null);
        let is_comment = event.subject.kind == EntityKind::Comment;
        let target =
            if is_comment { object.get("entity").and_then(|v| serde_json::from_value(v.clone()).ok()) } else { None };
        let verb = event.event_type.verb();
        let assignee = match (matches!(event.subject.kind, EntityKind::Contact | EntityKind::Deal), verb) {
            (true, "created") => member_field(&object, "owner_id"),
            (true, "updated") => event
                .data
                .get("changes")
                .and_then(|c| c.get("owner_id"))
                .and_then(|c| c.get("after"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
            _ => None,
        };
        let mut mentions = Vec::new();
        if is_comment && event.event_type != EventType::CommentDeleted {
            for mentioned in object.get("mentions").and_then(Value::as_array).into_iter().flatten() {
                if let Some(id) = mentioned.as_str().and_then(|s| s.parse::<MemberId>().ok()) {
                    mentions.push(id);
                }
            }
        }
        let parent = if event.event_type == EventType::CommentCreated {
            object.get("in_reply_to").and_then(Value::as_str).and_then(|s| s.parse().ok())
        } else {
            None
        };
        let approvers = match event.event_type {
            EventType::DocumentApprovalRequested | EventType::DocumentApprovalStepCompleted => event
                .data
                .get("approvers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect(),
            _ => Vec::new(),
        };
        Self { actor: member_id(event.actor), is_comment, target, assignee, mentions, parent, approvers }
    }
}

/// Everything the rules read from the store for a batch of one tenant's events, read once, then
/// kept up to date with each event's effects as they are computed — so the effects of a batch
/// are exactly those of tracking its events one by one, each after the previous was applied.
pub(crate) struct Context {
    tenant: TenantId,
    merge_window: chrono::Duration,
    /// Followers of every entity the batch touches.
    followers: HashMap<EntityRef, Vec<Follower>>,
    /// The newest activity of every object updated in the batch.
    latest: HashMap<EntityRef, Activity>,
    /// The members concerned who are active members of the tenant.
    active: HashSet<MemberId>,
    prefs: HashMap<MemberId, NotificationPreferences>,
    /// The member who wrote each parent comment replied to.
    parent_authors: HashMap<CommentId, Option<MemberId>>,
    /// Private documents the batch touches: who may see each besides admins.
    private_documents: HashMap<EntityRef, HashSet<MemberId>>,
    /// Of the members concerned, those who see every document (admins and owners).
    sees_all: HashSet<MemberId>,
}

impl Context {
    /// Reads what tracking `events` (all of `tenant`) needs: followers, latest activities,
    /// replied-to comments, then the activity state and preferences of every member concerned.
    pub(crate) async fn read<'a>(
        crm: &Crm,
        tenant: TenantId,
        events: impl Iterator<Item = &'a DomainEvent>,
    ) -> Result<Self> {
        let store = crm.store();
        let events: Vec<(&DomainEvent, Parsed)> = events.map(|e| (e, Parsed::of(e))).collect();
        let mut watched: Vec<EntityRef> = Vec::new();
        let mut updated: Vec<EntityRef> = Vec::new();
        let mut members: Vec<MemberId> = Vec::new();
        let mut parent_authors = HashMap::new();
        for (event, parsed) in &events {
            watched.push(event.subject);
            watched.extend(parsed.target);
            if event.event_type.verb() == "updated" && !parsed.is_comment {
                updated.push(event.subject);
            }
            members.extend(parsed.actor);
            members.extend(parsed.assignee);
            members.extend(parsed.mentions.iter().copied());
            members.extend(parsed.approvers.iter().copied());
            if let Some(parent) = parsed.parent
                && let std::collections::hash_map::Entry::Vacant(slot) = parent_authors.entry(parent)
            {
                let author = store.comments().get(tenant, parent).await.ok().and_then(|c| c.author_member());
                members.extend(author);
                slot.insert(author);
            }
        }
        dedup(&mut watched);
        dedup(&mut updated);
        let mut followers: HashMap<EntityRef, Vec<Follower>> = HashMap::new();
        for f in store.follows().followers(tenant, &watched).await? {
            members.push(f.follow.member_id);
            followers.entry(f.follow.entity).or_default().push(f);
        }
        let latest = if updated.is_empty() {
            HashMap::new()
        } else {
            store.activities().latest_for_objects(tenant, &updated).await?.into_iter().map(|a| (a.object, a)).collect()
        };
        dedup(&mut members);
        let active: HashSet<MemberId> = if members.is_empty() {
            HashSet::new()
        } else {
            store.members().active_ids(tenant, &members).await?.into_iter().collect()
        };
        let prefs = if members.is_empty() {
            HashMap::new()
        } else {
            store.notifications().preferences(tenant, &members).await?.into_iter().collect()
        };
        // Private documents: only their owner, the members they are shared with and admins hear
        // of them (a purged one is known from its event).
        let mut private_documents = HashMap::new();
        for entity in watched.iter().filter(|e| e.kind == EntityKind::Document) {
            let id = crate::id::DocumentId(entity.id);
            let document = match store.documents().get(tenant, id).await {
                Ok(document) => Some(document),
                Err(crate::error::CrmError::NotFound { .. }) => events
                    .iter()
                    .filter(|(e, _)| e.subject == *entity)
                    .find_map(|(e, _)| e.data.get("object").cloned())
                    .and_then(|o| serde_json::from_value::<crate::document::Document>(o).ok()),
                Err(error) => return Err(error),
            };
            let Some(document) = document.filter(|d| d.visibility == crate::document::Visibility::Private) else {
                continue;
            };
            let mut allowed: HashSet<MemberId> = HashSet::from([document.owner_id]);
            match store.documents().grants(tenant, id).await {
                Ok(grants) => allowed.extend(grants.into_iter().map(|g| g.member_id)),
                Err(crate::error::CrmError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
            private_documents.insert(*entity, allowed);
        }
        let mut sees_all = HashSet::new();
        if !private_documents.is_empty() {
            for member in &members {
                if let Ok(m) = store.members().get(tenant, *member).await
                    && m.role >= crate::actor::Role::Admin
                {
                    sees_all.insert(*member);
                }
            }
        }
        Ok(Self {
            tenant,
            merge_window: crm.activity_config().merge_window,
            followers,
            latest,
            active,
            prefs,
            parent_authors,
            private_documents,
            sees_all,
        })
    }

    /// Whether `member` may see every one of `entities` (only private documents restrict).
    fn may_see(&self, member: MemberId, entities: &[EntityRef]) -> bool {
        self.sees_all.contains(&member)
            || entities.iter().all(|e| self.private_documents.get(e).is_none_or(|allowed| allowed.contains(&member)))
    }

    /// The effects of `event` (of this context's tenant, read by [`Context::read`]), as if every
    /// event passed here before had been applied.
    pub(crate) fn effects_of(&mut self, event: &DomainEvent) -> EventEffects {
        let tenant = self.tenant;
        let at = event.occurred_at;
        let parsed = Parsed::of(event);
        let actor = parsed.actor;
        let (is_comment, target) = (parsed.is_comment, parsed.target);

        // The activity, or a merge.
        let data = data_of(event);
        let mut write = None;
        if event.event_type.verb() == "updated"
            && !is_comment
            && let Some(latest) = self.latest.get(&event.subject)
            && merges_into(self.merge_window, event, latest)
        {
            let mut merged = data.clone();
            if let Some(map) = merged.as_object_mut() {
                let changes = merge_changes(
                    latest.data.get("changes").unwrap_or(&Value::Null),
                    data.get("changes").unwrap_or(&Value::Null),
                );
                map.insert("changes".into(), changes);
            }
            write = Some(ActivityWrite::Merge { into: latest.id, data: merged, updated_at: at });
        }
        let write = write.unwrap_or_else(|| {
            ActivityWrite::Insert(Activity {
                id: ActivityId::new(),
                tenant_id: tenant,
                event_id: event.id,
                actor: event.actor,
                verb: event.event_type.verb().to_owned(),
                object: event.subject,
                target,
                occurred_at: at,
                updated_at: at,
                event_count: 1,
                data,
            })
        });

        // Automatic follows and assignments.
        let mut follows: Vec<Follow> = Vec::new();
        let follow = |member: MemberId, entity: EntityRef| Follow {
            tenant_id: tenant,
            member_id: member,
            entity,
            created_at: at,
        };
        if matches!(event.subject.kind, EntityKind::Contact | EntityKind::Deal) {
            if event.event_type.verb() == "created"
                && let Some(me) = actor
            {
                follows.push(follow(me, event.subject));
            }
            if let Some(owner) = parsed.assignee {
                follows.push(follow(owner, event.subject));
            }
        }
        if event.event_type == EventType::CommentCreated
            && let (Some(me), Some(target)) = (actor, target)
        {
            follows.push(follow(me, target));
        }
        if event.event_type == EventType::DocumentApprovalRequested
            && let Some(me) = actor
        {
            follows.push(follow(me, event.subject));
        }

        // Who hears about it.
        let mut watched = vec![event.subject];
        watched.extend(target);
        let followers: Vec<&Follower> = watched.iter().flat_map(|e| self.followers.get(e)).flatten().collect();
        let mut audience: Vec<MemberId> = actor.into_iter().collect();
        let mut candidates: Vec<(MemberId, NotificationKind, Option<uuid::Uuid>)> = Vec::new();
        let mut active_followers = Vec::new();
        for f in followers.iter().filter(|f| f.active && f.follow.created_at <= at) {
            if !audience.contains(&f.follow.member_id) {
                audience.push(f.follow.member_id);
            }
            active_followers.push(f.follow.member_id);
        }
        for f in &follows {
            if !audience.contains(&f.member_id) {
                audience.push(f.member_id);
            }
        }
        // No feed item or notification for a member who may not see what it is about.
        audience.retain(|m| self.may_see(*m, &watched));
        active_followers.retain(|m| self.may_see(*m, &watched));

        if is_comment {
            let comment_id = event.subject.id;
            for &id in &parsed.mentions {
                candidates.push((id, NotificationKind::Mention, Some(comment_id)));
            }
            if let Some(Some(author)) = parsed.parent.and_then(|p| self.parent_authors.get(&p)) {
                candidates.push((*author, NotificationKind::Reply, Some(comment_id)));
            }
        }
        for &id in &parsed.approvers {
            candidates.push((id, NotificationKind::ApprovalRequested, Some(event.id.0)));
        }
        if let Some(owner) = parsed.assignee {
            candidates.push((owner, NotificationKind::Assignment, Some(event.id.0)));
        }
        let notify_followers = !matches!(
            event.event_type,
            EventType::CommentUpdated | EventType::CommentDeleted | EventType::TenantCreated | EventType::MemberCreated
        );
        if notify_followers {
            for member in active_followers {
                candidates.push((member, NotificationKind::Activity, None));
            }
        }

        // One per member, most specific first; never the actor; only active members.
        let mut chosen: Vec<(MemberId, NotificationKind, Option<uuid::Uuid>)> = Vec::new();
        for candidate in candidates {
            if Some(candidate.0) == actor || chosen.iter().any(|c| c.0 == candidate.0) {
                continue;
            }
            chosen.push(candidate);
        }
        let mut drafts = Vec::new();
        for (member, kind, cause) in chosen {
            if !self.active.contains(&member) || !self.may_see(member, &watched) {
                continue;
            }
            let delivery = self.prefs.get(&member).map(|p| p.delivery(kind)).unwrap_or_default();
            if delivery == Delivery::Off {
                continue;
            }
            drafts.push(NotificationDraft {
                id: NotificationId::new(),
                recipient: member,
                kind,
                cause,
                email_digest: delivery == Delivery::EmailDigest,
            });
        }
        let effects = EventEffects {
            tenant_id: tenant,
            event_id: event.id,
            activity: write,
            follows,
            audience,
            notifications: drafts,
        };
        self.record(event, &effects);
        effects
    }

    /// Updates the context with what applying `effects` changes: the object's latest activity,
    /// and the follows that did not exist yet.
    fn record(&mut self, event: &DomainEvent, effects: &EventEffects) {
        match &effects.activity {
            ActivityWrite::Insert(a) => {
                self.latest.insert(a.object, a.clone());
            }
            ActivityWrite::Merge { into, data, updated_at } => {
                if let Some(latest) = self.latest.get_mut(&event.subject).filter(|l| l.id == *into) {
                    latest.data = data.clone();
                    latest.updated_at = *updated_at;
                    latest.event_count += 1;
                }
            }
        }
        for follow in &effects.follows {
            let list = self.followers.entry(follow.entity).or_default();
            if !list.iter().any(|f| f.follow.member_id == follow.member_id) {
                let active = self.active.contains(&follow.member_id);
                list.push(Follower { follow: follow.clone(), active });
            }
        }
    }
}

/// Drops repeated items, keeping the first of each.
fn dedup<T: Eq + std::hash::Hash + Copy>(items: &mut Vec<T>) {
    let mut seen = HashSet::new();
    items.retain(|x| seen.insert(*x));
}

/// Unread notifications read per digest run.
const DIGEST_BATCH: u32 = 1_000;

/// Sends one digest e-mail per member with pending digest notifications, through the mailer;
/// returns how many e-mails were sent.
pub(crate) async fn send_digests(crm: &Crm) -> Result<usize> {
    let store = crm.store();
    let pending = store.notifications().digest_pending(DIGEST_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mailer = crm.mailer()?;
    let mut groups: BTreeMap<(uuid::Uuid, uuid::Uuid), Vec<Notification>> = BTreeMap::new();
    for n in pending {
        groups.entry((n.tenant_id.0, n.recipient.0)).or_default().push(n);
    }
    let mut sent = 0;
    for ((tenant, member), notes) in groups {
        let ids: Vec<NotificationId> = notes.iter().map(|n| n.id).collect();
        let Ok(member) = store.members().get(tenant.into(), member.into()).await else {
            store.notifications().mark_emailed(&ids, crm.clock().now()).await?;
            continue;
        };
        if !member.active {
            store.notifications().mark_emailed(&ids, crm.clock().now()).await?;
            continue;
        }
        let message = digest_message(&member.email.to_string(), &member.display_name, &notes, crm.clock().now());
        match mailer.send(&message).await {
            Ok(_) => {
                store.notifications().mark_emailed(&ids, crm.clock().now()).await?;
                sent += 1;
            }
            Err(crate::ports::MailError::Permanent(error)) => {
                tracing::warn!(%error, member = %member.id, "digest rejected permanently; not retrying it");
                store.notifications().mark_emailed(&ids, crm.clock().now()).await?;
            }
            Err(error) => {
                return Err(crate::error::CrmError::Unavailable {
                    port: crate::error::Port::Mailer,
                    message: error.to_string(),
                });
            }
        }
    }
    Ok(sent)
}

fn describe(n: &Notification) -> String {
    let what = match n.kind {
        NotificationKind::Mention => "mentioned you on",
        NotificationKind::Reply => "replied to you on",
        NotificationKind::Assignment => "assigned you",
        NotificationKind::ApprovalRequested => "requests your approval on",
        _ => "activity on",
    };
    format!("{what} {} {} ({})", n.entity.kind.as_str(), n.entity.id, n.verb)
}

fn digest_message(to: &str, name: &str, notes: &[Notification], now: DateTime<Utc>) -> EmailMessage {
    let lines: Vec<String> = notes.iter().map(|n| format!("- {}", describe(n))).collect();
    let text = format!("Hello {name},\n\nYou have {} unread notification(s):\n\n{}\n", notes.len(), lines.join("\n"));
    let items: Vec<String> =
        notes.iter().map(|n| format!("<li>{}</li>", super::markdown::escape(&describe(n)))).collect();
    let html = format!(
        "<p>Hello {},</p><p>You have {} unread notification(s):</p><ul>{}</ul>",
        super::markdown::escape(name),
        notes.len(),
        items.join("")
    );
    let first = notes.first().map(|n| n.id.to_string()).unwrap_or_default();
    EmailMessage {
        from: "crmcore <notifications@crmcore.invalid>".into(),
        to: to.to_owned(),
        reply_to: None,
        subject: format!("{} unread notification(s)", notes.len()),
        html: Some(html),
        text: Some(text),
        message_id: format!("digest-{first}-{}@crmcore.invalid", now.timestamp()),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_changes_keep_first_before_and_latest_after() {
        let first = json!({"phone": {"before": null, "after": "1"}, "company": {"before": "A", "after": "B"}});
        let second = json!({"phone": {"before": "1", "after": "2"}, "company": {"before": "B", "after": "A"},
                            "last_name": {"before": null, "after": "X"}});
        let merged = merge_changes(&first, &second);
        assert_eq!(
            merged,
            json!({"phone": {"before": null, "after": "2"}, "last_name": {"before": null, "after": "X"}}),
            "company went back to its original value and drops out"
        );
    }

    #[test]
    fn excerpts_cut_on_characters() {
        let long = "é".repeat(EXCERPT_CHARS + 5);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt("short"), "short");
    }
}
