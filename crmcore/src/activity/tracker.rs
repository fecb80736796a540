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
//! - the activity lands in the actor's feed and in the feed of every active follower of its
//!   object or target who followed before it happened;
//! - notifications, at most one per member per event, most specific first: `mention` (members
//!   mentioned in a comment), `reply` (the author of the comment answered), `assignment`,
//!   `activity` (followers; not for comment edits and deletions). Never to the actor, never to
//!   deactivated members, never when the member's preference for the kind is `off`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Activity, ActivityId, ActivityWrite, Applied, CommentId, Delivery, EventEffects, Follow, LiveChange, LiveUpdate,
    Notification, NotificationDraft, NotificationId, NotificationKind,
};
use crate::actor::Principal;
use crate::crm::Crm;
use crate::error::Result;
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::MemberId;
use crate::ports::EmailMessage;

/// Most characters of a comment copied into its activity.
const EXCERPT_CHARS: usize = 280;

/// Records one event: computes its effects and has the store apply them.
pub(crate) async fn track(crm: &Crm, event: &DomainEvent) -> Result<Applied> {
    let effects = effects_of(crm, event).await?;
    crm.store().activities().apply(&effects, crm.clock().now()).await
}

/// Publishes what a fresh application created to live subscribers (after its commit).
pub(crate) async fn publish(crm: &Crm, applied: &Applied) {
    if applied.notifications.is_empty() {
        return;
    }
    let updates: Vec<LiveUpdate> = applied
        .notifications
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
        EntityKind::Deal => text("title"),
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
fn merges_into(crm: &Crm, event: &DomainEvent, latest: &Activity) -> bool {
    let window = crm.activity_config().merge_window;
    let age = event.occurred_at - latest.occurred_at;
    window > chrono::Duration::zero()
        && latest.verb == "updated"
        && latest.actor == event.actor
        && latest.object == event.subject
        && latest.event_id != event.id
        && age >= chrono::Duration::zero()
        && age <= window
}

/// Computes what `event` produces (reads only).
pub(crate) async fn effects_of(crm: &Crm, event: &DomainEvent) -> Result<EventEffects> {
    let store = crm.store();
    let tenant = event.tenant_id;
    let at = event.occurred_at;
    let actor = member_id(event.actor);
    let object_json = event.data.get("object").cloned().unwrap_or(Value::Null);
    let is_comment = event.subject.kind == EntityKind::Comment;
    let target: Option<EntityRef> =
        if is_comment { object_json.get("entity").and_then(|v| serde_json::from_value(v.clone()).ok()) } else { None };

    // The activity, or a merge.
    let data = data_of(event);
    let mut write = None;
    if event.event_type.verb() == "updated" && !is_comment {
        if let Some(latest) = store.activities().latest_for_object(tenant, event.subject).await? {
            if merges_into(crm, event, &latest) {
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
        }
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
    let follow =
        |member: MemberId, entity: EntityRef| Follow { tenant_id: tenant, member_id: member, entity, created_at: at };
    let followable = matches!(event.subject.kind, EntityKind::Contact | EntityKind::Deal);
    let mut assignee = None;
    if followable {
        let verb = event.event_type.verb();
        if verb == "created" {
            if let Some(me) = actor {
                follows.push(follow(me, event.subject));
            }
            assignee = member_field(&object_json, "owner_id");
        } else if verb == "updated" {
            assignee = event
                .data
                .get("changes")
                .and_then(|c| c.get("owner_id"))
                .and_then(|c| c.get("after"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
        }
        if let Some(owner) = assignee {
            follows.push(follow(owner, event.subject));
        }
    }
    if event.event_type == EventType::CommentCreated {
        if let (Some(me), Some(target)) = (actor, target) {
            follows.push(follow(me, target));
        }
    }

    // Who hears about it.
    let mut watched = vec![event.subject];
    watched.extend(target);
    let followers = store.follows().followers(tenant, &watched).await?;
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

    if is_comment {
        let comment_id = event.subject.id;
        if event.event_type != EventType::CommentDeleted {
            for mentioned in object_json.get("mentions").and_then(Value::as_array).into_iter().flatten() {
                if let Some(id) = mentioned.as_str().and_then(|s| s.parse::<MemberId>().ok()) {
                    candidates.push((id, NotificationKind::Mention, Some(comment_id)));
                }
            }
        }
        if event.event_type == EventType::CommentCreated {
            let parent: Option<CommentId> =
                object_json.get("in_reply_to").and_then(Value::as_str).and_then(|s| s.parse().ok());
            if let Some(parent) = parent {
                if let Ok(parent) = store.comments().get(tenant, parent).await {
                    if let Some(author) = parent.author_member() {
                        candidates.push((author, NotificationKind::Reply, Some(comment_id)));
                    }
                }
            }
        }
    }
    if let Some(owner) = assignee {
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
    if !chosen.is_empty() {
        let ids: Vec<MemberId> = chosen.iter().map(|c| c.0).collect();
        let known_active: Vec<MemberId> = followers.iter().filter(|f| f.active).map(|f| f.follow.member_id).collect();
        let prefs: HashMap<MemberId, _> = store.notifications().preferences(tenant, &ids).await?.into_iter().collect();
        for (member, kind, cause) in chosen {
            if !known_active.contains(&member) {
                match store.members().get(tenant, member).await {
                    Ok(m) if m.active => {}
                    _ => continue,
                }
            }
            let delivery = prefs.get(&member).map(|p| p.delivery(kind)).unwrap_or_default();
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
    }
    Ok(EventEffects {
        tenant_id: tenant,
        event_id: event.id,
        activity: write,
        follows,
        audience,
        notifications: drafts,
    })
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
