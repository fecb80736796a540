//! Chat connectors: a webhook endpoint whose format is `slack` or `teams` gets each event as a
//! message the platform's incoming webhook accepts — Slack Block Kit, or a Microsoft Teams
//! Adaptive Card — delivered by the same machinery as any webhook (retries, log, replay).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::event::DomainEvent;

/// The request body an endpoint receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PayloadFormat {
    /// Standard Webhooks JSON: `{"type", "timestamp", "data", "event_id", "subject"}`.
    #[default]
    Standard,
    /// A Slack incoming-webhook message (`text` + Block Kit `blocks`).
    Slack,
    /// A Microsoft Teams incoming-webhook message carrying an Adaptive Card.
    Teams,
}

impl PayloadFormat {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Standard => "standard",
            PayloadFormat::Slack => "slack",
            PayloadFormat::Teams => "teams",
        }
    }

    /// Parses [`PayloadFormat::as_str`].
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "standard" => Ok(PayloadFormat::Standard),
            "slack" => Ok(PayloadFormat::Slack),
            "teams" => Ok(PayloadFormat::Teams),
            _ => Err(crate::error::CrmError::invalid("format", "unknown", format!("unknown payload format `{s}`"))),
        }
    }
}

/// The body of `event` in `format`.
pub fn render(format: PayloadFormat, event: &DomainEvent) -> Value {
    match format {
        PayloadFormat::Standard => json!({
            "type": event.event_type,
            "timestamp": event.occurred_at,
            "data": event.data,
            "event_id": event.id,
            "subject": event.subject,
        }),
        PayloadFormat::Slack => slack(event),
        PayloadFormat::Teams => teams(event),
    }
}

/// A one-line headline and the facts worth showing, from the event's object snapshot.
fn describe(event: &DomainEvent) -> (String, Vec<(&'static str, String)>) {
    let object = event.data.get("object").unwrap_or(&Value::Null);
    let text = |key: &str| object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let name = text("title")
        .or_else(|| text("name"))
        .or_else(|| text("display_name"))
        .or_else(|| {
            let full = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            (!full.is_empty()).then_some(full)
        })
        .or_else(|| text("email"))
        .or_else(|| text("url"));
    let (entity, verb) = event.event_type.as_str().split_once('.').unwrap_or((event.event_type.as_str(), ""));
    let entity = entity.replace('_', " ");
    let verb = verb.replace(['_', '.'], " ");
    let headline = match &name {
        Some(name) => format!("{} {name} {verb}", capitalise(&entity)),
        None => format!("{} {verb}", capitalise(&entity)),
    };
    let mut facts = vec![("Event", event.event_type.as_str().to_owned())];
    if let (Some(amount), Some(currency)) =
        (object.get("amount_minor").and_then(Value::as_i64), object.get("currency").and_then(Value::as_str))
    {
        facts.push(("Amount", format!("{}.{:02} {currency}", amount / 100, (amount % 100).abs())));
    }
    if let Some(stage) = text("stage") {
        facts.push(("Stage", stage));
    }
    if let Some(email) = text("email").filter(|e| Some(e) != name.as_ref()) {
        facts.push(("E-mail", email));
    }
    if let Some(changes) = event.data.get("changes").and_then(Value::as_object).filter(|c| !c.is_empty()) {
        facts.push(("Changed", changes.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    facts.push(("When", event.occurred_at.format("%Y-%m-%d %H:%M UTC").to_string()));
    (headline, facts)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Slack's mrkdwn control characters, escaped as Slack asks.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack(event: &DomainEvent) -> Value {
    let (headline, facts) = describe(event);
    let fields: Vec<Value> = facts
        .iter()
        .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(v))}))
        .take(10)
        .collect();
    json!({
        "text": slack_escape(&headline),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*", slack_escape(&headline))}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("crmcore · `{}`", event.id)}]},
        ],
    })
}

fn teams(event: &DomainEvent) -> Value {
    let (headline, facts) = describe(event);
    let facts: Vec<Value> = facts.iter().map(|(k, v)| json!({"title": k, "value": v})).collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": headline, "wrap": true},
                    {"type": "FactSet", "facts": facts},
                ],
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::actor::Actor;
    use crate::event::{EntityKind, EntityRef, EventType};
    use crate::id::{DealId, MemberId, TenantId};

    fn won() -> DomainEvent {
        let actor = Actor::member(TenantId::new(), MemberId::new(), crate::actor::Role::Owner);
        let subject = EntityRef { kind: EntityKind::Deal, id: DealId::new().0 };
        let data = json!({"object": {"title": "Big <one> & co", "amount_minor": 1_250_050, "currency": "EUR", "stage": "won"}});
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
        DomainEvent::new(&actor, EventType::DealWon, subject, data, at)
    }

    #[test]
    fn slack_messages_use_blocks_and_escape_mrkdwn() {
        let body = render(PayloadFormat::Slack, &won());
        assert_eq!(body["text"], "Deal Big &lt;one&gt; &amp; co won");
        assert_eq!(body["blocks"][0]["type"], "section");
        let fields = body["blocks"][1]["fields"].as_array().unwrap();
        assert!(fields.iter().any(|f| f["text"] == "*Amount*\n12500.50 EUR"), "{fields:?}");
        assert!(fields.iter().any(|f| f["text"] == "*When*\n2026-03-01 09:30 UTC"));
    }

    #[test]
    fn teams_messages_carry_an_adaptive_card() {
        let body = render(PayloadFormat::Teams, &won());
        let card = &body["attachments"][0];
        assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "Deal Big <one> & co won");
        let facts = card["content"]["body"][1]["facts"].as_array().unwrap();
        assert!(facts.iter().any(|f| f["title"] == "Stage" && f["value"] == "won"));
    }

    #[test]
    fn standard_is_the_webhook_shape_and_formats_parse() {
        let event = won();
        let body = render(PayloadFormat::Standard, &event);
        assert_eq!(body["type"], "deal.won");
        assert_eq!(body["data"], event.data);
        for f in [PayloadFormat::Standard, PayloadFormat::Slack, PayloadFormat::Teams] {
            assert_eq!(PayloadFormat::parse(f.as_str()).unwrap(), f);
        }
        assert!(PayloadFormat::parse("discord").is_err());
    }
}
