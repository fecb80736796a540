//! Export as W3C Activity Streams 2.0 JSON (<https://www.w3.org/TR/activitystreams-core/>).
//!
//! Verbs map to AS2 types (`created` → `Create`, `updated` and other changes → `Update`,
//! `deleted` → `Delete`); a comment is a `Note` with `inReplyTo` (the comment answered, else the
//! entity it is on) and one `Mention` tag per mentioned member. Ids are `urn:crmcore:<kind>:<id>`
//! URNs, so the export names no host.

use serde_json::{Value, json};

use super::Activity;
use crate::actor::Principal;
use crate::event::{EntityKind, EntityRef};
use crate::page::Page;

/// The URN of an entity.
pub fn urn(entity: EntityRef) -> String {
    format!("urn:crmcore:{}:{}", entity.kind.as_str(), entity.id)
}

fn actor_urn(actor: Principal) -> Value {
    match actor {
        Principal::Member(id) => json!({"type": "Person", "id": format!("urn:crmcore:member:{id}")}),
        Principal::ApiKey(id) => json!({"type": "Application", "id": format!("urn:crmcore:api_key:{id}")}),
        Principal::System => json!({"type": "Service", "id": "urn:crmcore:system"}),
    }
}

fn as_type(verb: &str) -> &'static str {
    match verb {
        "created" => "Create",
        "deleted" => "Delete",
        _ => "Update",
    }
}

fn object_type(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Comment => "Note",
        EntityKind::Member => "Person",
        EntityKind::Tenant => "Organization",
        _ => "Object",
    }
}

/// One activity as an AS2 `Activity` object (without `@context`).
pub fn activity(a: &Activity) -> Value {
    let mut object = json!({ "type": object_type(a.object.kind), "id": urn(a.object) });
    if let Some(name) = a.data.get("name").and_then(Value::as_str) {
        object["name"] = json!(name);
    }
    if a.object.kind == EntityKind::Comment {
        if let Some(body) = a.data.get("body").and_then(Value::as_str) {
            object["content"] = json!(super::markdown::to_html(body));
            object["mediaType"] = json!("text/html");
        }
        let reply_to = a
            .data
            .get("in_reply_to")
            .and_then(Value::as_str)
            .map(|id| format!("urn:crmcore:comment:{id}"))
            .or_else(|| a.target.map(urn));
        if let Some(reply_to) = reply_to {
            object["inReplyTo"] = json!(reply_to);
        }
        let tags: Vec<Value> = a
            .data
            .get("mentions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|m| json!({"type": "Mention", "href": format!("urn:crmcore:member:{m}")}))
            .collect();
        if !tags.is_empty() {
            object["tag"] = json!(tags);
        }
    }
    let mut out = json!({
        "type": as_type(&a.verb),
        "id": format!("urn:crmcore:activity:{}", a.id),
        "actor": actor_urn(a.actor),
        "object": object,
        "published": a.occurred_at.to_rfc3339(),
        "updated": a.updated_at.to_rfc3339(),
        "summary": format!("{} {}", a.object.kind.as_str(), a.verb),
    });
    if let Some(target) = a.target {
        out["target"] = json!({ "type": object_type(target.kind), "id": urn(target) });
    }
    if let Some(changes) = a.data.get("changes") {
        out["crm:changes"] = changes.clone();
    }
    out
}

/// A feed page as an AS2 `OrderedCollectionPage` with `@context`.
pub fn collection(page: &Page<Activity>) -> Value {
    let mut out = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", {"crm": "urn:crmcore:ns#"}],
        "type": "OrderedCollectionPage",
        "orderedItems": page.items.iter().map(activity).collect::<Vec<_>>(),
    });
    if let Some(next) = &page.next_cursor {
        out["next"] = json!(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::activity::ActivityId;
    use crate::id::{EventId, MemberId, TenantId};

    #[test]
    fn a_reply_is_a_note_with_in_reply_to_and_mentions() {
        let parent = uuid::Uuid::now_v7();
        let mentioned = MemberId::new();
        let deal = EntityRef { kind: EntityKind::Deal, id: uuid::Uuid::now_v7() };
        let a = Activity {
            id: ActivityId::new(),
            tenant_id: TenantId::new(),
            event_id: EventId::new(),
            actor: Principal::Member(MemberId::new()),
            verb: "created".into(),
            object: EntityRef { kind: EntityKind::Comment, id: uuid::Uuid::now_v7() },
            target: Some(deal),
            occurred_at: Utc::now(),
            updated_at: Utc::now(),
            event_count: 1,
            data: json!({"body": "hi <b>", "in_reply_to": parent.to_string(), "mentions": [mentioned.to_string()]}),
        };
        let v = activity(&a);
        assert_eq!(v["type"], "Create");
        assert_eq!(v["object"]["type"], "Note");
        assert_eq!(v["object"]["inReplyTo"], format!("urn:crmcore:comment:{parent}"));
        assert_eq!(v["object"]["tag"][0]["type"], "Mention");
        assert_eq!(v["object"]["content"], "<p>hi &lt;b&gt;</p>");
        assert_eq!(v["target"]["id"], urn(deal));
    }
}
