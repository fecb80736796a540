//! Webhook endpoint settings and their validation: the target URL, which events it receives
//! (exact names, `entity.*` wildcards or `*`), an optional payload filter, custom headers.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::EventType;

/// Longest accepted URL.
const MAX_URL_LEN: usize = 2048;

/// A webhook target URL: absolute `https` (or `http` when the tenant's policy allows it), with a
/// host, without credentials or a fragment. Where it may connect is the transport's SSRF guard's
/// decision, made at send time against the resolved address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Validates `raw`; `allow_http` permits plain `http` (for tenants whose policy says so).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self> {
        let invalid = |code: &str, why: String| CrmError::invalid("url", code, why);
        let trimmed = raw.trim();
        if trimmed.len() > MAX_URL_LEN {
            return Err(invalid("too_long", format!("URLs are at most {MAX_URL_LEN} characters")));
        }
        let url = url::Url::parse(trimmed).map_err(|e| invalid("invalid", format!("`{trimmed}` is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => return Err(invalid("https_required", "webhook URLs must use https".into())),
            other => return Err(invalid("invalid_scheme", format!("scheme `{other}` is not allowed"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("invalid", "the URL needs a host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials", "put credentials in headers, not in the URL".into()));
        }
        if url.fragment().is_some() {
            return Err(invalid("invalid", "the URL must not have a fragment".into()));
        }
        Ok(Self(url.to_string()))
    }

    /// The normalised URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which event types an endpoint receives. Empty means every type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    /// Validates patterns: `*`, `entity.*` for a known entity prefix, or an exact catalogue name.
    pub fn new(patterns: Vec<String>) -> Result<Self> {
        let mut v = Validator::new();
        for (i, pattern) in patterns.iter().enumerate() {
            let known = pattern == "*"
                || pattern.parse::<EventType>().is_ok()
                || pattern.strip_suffix(".*").is_some_and(|prefix| {
                    EventType::ALL.iter().any(|t| t.as_str().split_once('.').is_some_and(|(e, _)| e == prefix))
                });
            if !known {
                v.push(FieldError::new(
                    format!("event_types[{i}]"),
                    "unknown",
                    format!("`{pattern}` names no event type; see the event catalogue"),
                ));
            }
        }
        v.finish()?;
        let mut patterns = patterns;
        patterns.sort();
        patterns.dedup();
        Ok(Self(patterns))
    }

    /// Whether events of `event_type` pass.
    pub fn accepts(&self, event_type: EventType) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| event_type.matches(p))
    }

    /// The patterns.
    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// How a [`PayloadCondition`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadOp {
    /// The value at the pointer equals `value`.
    Eq,
    /// The value at the pointer is absent or differs from `value`.
    Ne,
    /// A value exists at the pointer.
    Exists,
}

/// One test on the event payload: a JSON Pointer (RFC 6901) into the webhook body's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadCondition {
    /// E.g. `/object/stage`.
    pub pointer: String,
    /// The comparison.
    pub op: PayloadOp,
    /// The operand (ignored by `exists`).
    #[serde(default)]
    pub value: Value,
}

/// All conditions must hold for an event to be delivered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PayloadFilter(Vec<PayloadCondition>);

impl PayloadFilter {
    /// Validates the pointers (empty, or starting with `/`); at most 20 conditions.
    pub fn new(conditions: Vec<PayloadCondition>) -> Result<Self> {
        let mut v = Validator::new();
        if conditions.len() > 20 {
            v.push(FieldError::new("payload_filter", "too_many", "at most 20 conditions"));
        }
        for (i, c) in conditions.iter().enumerate() {
            if !(c.pointer.is_empty() || c.pointer.starts_with('/')) {
                v.push(FieldError::new(
                    format!("payload_filter[{i}].pointer"),
                    "invalid",
                    "a JSON Pointer is empty or starts with `/`",
                ));
            }
        }
        v.finish()?;
        Ok(Self(conditions))
    }

    /// Whether `data` passes every condition.
    pub fn accepts(&self, data: &Value) -> bool {
        self.0.iter().all(|c| {
            let found = data.pointer(&c.pointer);
            match c.op {
                PayloadOp::Eq => found == Some(&c.value),
                PayloadOp::Ne => found != Some(&c.value),
                PayloadOp::Exists => found.is_some(),
            }
        })
    }
}

/// Headers a tenant may not set: the signature scheme's and the transport's own.
const RESERVED_HEADERS: &[&str] =
    &["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host", "user-agent"];

/// Validates custom headers: RFC 7230 token names, visible-ASCII values without CR/LF, none reserved,
/// at most 20.
pub fn validate_headers(headers: &[(String, String)]) -> Result<()> {
    let mut v = Validator::new();
    if headers.len() > 20 {
        v.push(FieldError::new("headers", "too_many", "at most 20 custom headers"));
    }
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let token =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            v.push(FieldError::new(field.clone(), "invalid", "header names are RFC 7230 tokens"));
        } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            v.push(FieldError::new(field.clone(), "reserved", format!("`{name}` is set by crmcore")));
        }
        if value.len() > 1024 || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            v.push(FieldError::new(field, "invalid", "header values are at most 1024 bytes, without line breaks"));
        }
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_require_https_a_host_and_no_credentials() {
        assert_eq!(
            WebhookUrl::parse(" https://hooks.example.com/a?b=1 ", false).unwrap().as_str(),
            "https://hooks.example.com/a?b=1"
        );
        assert!(WebhookUrl::parse("http://hooks.example.com", false).is_err());
        assert!(WebhookUrl::parse("http://hooks.example.com", true).is_ok());
        for bad in
            ["ftp://x.com", "https://", "https://u:p@x.com/", "https://x.com/#frag", "not a url", "javascript:alert(1)"]
        {
            assert!(WebhookUrl::parse(bad, true).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse(&format!("https://x.com/{}", "a".repeat(2100)), false).is_err());
    }

    #[test]
    fn event_filters_take_names_wildcards_and_star() {
        let filter = EventFilter::new(vec!["deal.*".into(), "contact.created".into()]).unwrap();
        assert!(filter.accepts(EventType::DealWon));
        assert!(filter.accepts(EventType::ContactCreated));
        assert!(!filter.accepts(EventType::ContactDeleted));
        assert!(EventFilter::default().accepts(EventType::MemberUpdated));
        assert!(EventFilter::new(vec!["*".into()]).unwrap().accepts(EventType::TenantCreated));
        let err = EventFilter::new(vec!["deal.won".into(), "nope.*".into(), "deal.exploded".into()]).unwrap_err();
        assert!(matches!(err, CrmError::Validation(e) if e.len() == 2 && e[0].field == "event_types[1]"));
    }

    #[test]
    fn payload_filters_compare_json_pointers() {
        let data = json!({"object": {"stage": "won", "amount": {"amount_minor": 500}}});
        let cond = |pointer: &str, op, value| PayloadCondition { pointer: pointer.into(), op, value };
        let won = PayloadFilter::new(vec![cond("/object/stage", PayloadOp::Eq, json!("won"))]).unwrap();
        assert!(won.accepts(&data));
        let not_lost = PayloadFilter::new(vec![
            cond("/object/stage", PayloadOp::Ne, json!("lost")),
            cond("/object/amount", PayloadOp::Exists, Value::Null),
        ])
        .unwrap();
        assert!(not_lost.accepts(&data));
        assert!(
            !PayloadFilter::new(vec![cond("/object/missing", PayloadOp::Exists, Value::Null)]).unwrap().accepts(&data)
        );
        assert!(PayloadFilter::new(vec![cond("object", PayloadOp::Exists, Value::Null)]).is_err());
    }

    #[test]
    fn headers_refuse_injection_and_reserved_names() {
        assert!(validate_headers(&[("X-Api-Key".into(), "secret".into())]).is_ok());
        assert!(validate_headers(&[("X-Evil".into(), "a\r\nInjected: 1".into())]).is_err());
        assert!(validate_headers(&[("Webhook-Signature".into(), "v1,forged".into())]).is_err());
        assert!(validate_headers(&[("Bad Name".into(), "x".into())]).is_err());
    }
}
