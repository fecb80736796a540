//! Segments: a rule tree (`all` / `any` / `not`) over contact fields, custom fields, tags, dates,
//! deal facts and campaign engagement.
//!
//! A [`SegmentRule`] is what users write (JSON). [`SegmentRule::resolve`] validates it — every
//! mistake becomes a field error with the path of the offending node, e.g. `rule.rules[2].value` —
//! and turns it into a [`Condition`]: relative dates become instants, text is lowercased, tags are
//! normalised. The domain evaluates a `Condition` itself ([`Condition::matches`]); the SQL stores
//! compile the same `Condition` into a `WHERE` clause, and the contract suite proves both select
//! the same contacts.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::Contact;
use crate::deal::DealStatus;
use crate::error::{CrmError, FieldError, Result};
use crate::id::{CampaignId, ContactId};
use crate::value::{Currency, Tag};

/// The deepest nesting a rule may have.
pub const MAX_DEPTH: usize = 8;
/// The most nodes a rule may have.
pub const MAX_NODES: usize = 200;
/// The longest text value a rule may compare with.
pub const MAX_TEXT: usize = 500;

/// A segment rule as written by users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(no_recursion))]
pub enum SegmentRule {
    /// Every sub-rule matches (an empty list matches every contact).
    All {
        /// The sub-rules.
        rules: Vec<SegmentRule>,
    },
    /// At least one sub-rule matches (an empty list matches nothing).
    Any {
        /// The sub-rules.
        rules: Vec<SegmentRule>,
    },
    /// The sub-rule does not match.
    Not {
        /// The negated rule.
        rule: Box<SegmentRule>,
    },
    /// A standard contact field compared case-insensitively.
    Field {
        /// Which field.
        field: ContactField,
        /// How to compare.
        op: TextOp,
        /// The text to compare with (not for `is_set` / `is_not_set`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// A tenant-defined custom field.
    CustomField {
        /// The field's key.
        key: String,
        /// How to compare.
        op: ValueOp,
        /// A string, number or boolean (not for `exists`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    /// The contact carries a tag.
    Tag {
        /// The tag.
        tag: String,
    },
    /// The creation or last-update time.
    Date {
        /// Which timestamp.
        field: DateField,
        /// How to compare.
        op: DateOp,
        /// An RFC 3339 instant for `before` / `after`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
        /// A number of days for `within_days` / `older_than_days`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<u32>,
    },
    /// The contact has at least one deal with all the given properties.
    Deal {
        /// Open, won or lost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<DealStatus>,
        /// In this pipeline stage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// Amount in minor units at least this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_amount: Option<i64>,
        /// Amount in minor units at most this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_amount: Option<i64>,
        /// In this ISO 4217 currency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
    },
    /// The contact engaged with a campaign e-mail (bot-flagged opens never count).
    Engagement {
        /// Opened, clicked or converted.
        kind: EngagementKind,
        /// In this campaign only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign_id: Option<CampaignId>,
        /// Within the last N days only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within_days: Option<u32>,
    },
}

/// A standard contact field a segment can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ContactField {
    /// The e-mail address.
    Email,
    /// The given name.
    FirstName,
    /// The family name.
    LastName,
    /// The company.
    Company,
}

impl ContactField {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactField::Email => "email",
            ContactField::FirstName => "first_name",
            ContactField::LastName => "last_name",
            ContactField::Company => "company",
        }
    }

    /// The field's value on a contact.
    pub fn value_of(self, contact: &Contact) -> Option<&str> {
        match self {
            ContactField::Email => contact.email.as_ref().map(|e| e.as_str()),
            ContactField::FirstName => contact.first_name.as_deref(),
            ContactField::LastName => contact.last_name.as_deref(),
            ContactField::Company => contact.company.as_deref(),
        }
    }
}

/// Case-insensitive text comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TextOp {
    /// Equal, ignoring case.
    Equals,
    /// Contains the text.
    Contains,
    /// Starts with the text.
    StartsWith,
    /// Ends with the text.
    EndsWith,
    /// Has a value.
    IsSet,
    /// Has no value.
    IsNotSet,
}

/// Custom-field comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ValueOp {
    /// The key is present.
    Exists,
    /// A scalar equal to the value (numbers compare by value: `5` equals `5.0`).
    Equals,
    /// An array containing the value.
    Includes,
    /// A number greater than the value.
    Gt,
    /// A number at least the value.
    Gte,
    /// A number less than the value.
    Lt,
    /// A number at most the value.
    Lte,
}

/// Which contact timestamp a date rule tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DateField {
    /// When the contact was created.
    CreatedAt,
    /// When the contact last changed.
    UpdatedAt,
}

/// Date comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DateOp {
    /// Strictly before `at`.
    Before,
    /// At or after `at`.
    After,
    /// Within the last `days` days.
    WithinDays,
    /// More than `days` days ago.
    OlderThanDays,
}

/// Kinds of recorded engagement with a campaign e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EngagementKind {
    /// Opened the e-mail (a click counts as an open too).
    Opened,
    /// Clicked a link.
    Clicked,
    /// Converted (reported through the API).
    Converted,
}

impl EngagementKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EngagementKind::Opened => "opened",
            EngagementKind::Clicked => "clicked",
            EngagementKind::Converted => "converted",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "opened" => Ok(EngagementKind::Opened),
            "clicked" => Ok(EngagementKind::Clicked),
            "converted" => Ok(EngagementKind::Converted),
            _ => Err(CrmError::invalid("kind", "unknown", format!("unknown engagement kind `{s}`"))),
        }
    }
}

/// A validated, resolved rule: what stores compile and the domain evaluates.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every sub-condition holds.
    All(Vec<Condition>),
    /// Some sub-condition holds.
    Any(Vec<Condition>),
    /// The sub-condition does not hold.
    Not(Box<Condition>),
    /// A text test on a lowercased standard field.
    Text {
        /// The field.
        field: ContactField,
        /// The test.
        test: TextTest,
    },
    /// A custom-field test.
    Custom {
        /// The key (validated: `[a-z][a-z0-9_]{0,63}`).
        key: String,
        /// The test.
        test: CustomTest,
    },
    /// Carries the tag.
    HasTag(Tag),
    /// A timestamp bound.
    Date {
        /// Which timestamp.
        field: DateField,
        /// `true`: the time is at or after `at`; `false`: strictly before.
        at_or_after: bool,
        /// The bound.
        at: DateTime<Utc>,
    },
    /// Some deal of the contact has these properties.
    Deal(DealTest),
    /// Some counted engagement of the contact has these properties.
    Engagement(EngagementTest),
}

/// A resolved text test; the operand is already lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextTest {
    /// Lowercased value equals.
    Equals(String),
    /// Lowercased value contains.
    Contains(String),
    /// Lowercased value starts with.
    StartsWith(String),
    /// Lowercased value ends with.
    EndsWith(String),
    /// The field has a value.
    IsSet,
    /// The field has no value.
    IsNotSet,
}

/// A resolved custom-field test.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomTest {
    /// The key is present.
    Exists,
    /// A scalar equal to this one.
    Equals(Scalar),
    /// An array containing this scalar.
    Includes(Scalar),
    /// A number compared with this one.
    Compare(Ordering, f64),
}

/// A scalar custom-field operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Text(a), Value::String(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl Ordering {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Ordering::Gt => ">",
            Ordering::Gte => ">=",
            Ordering::Lt => "<",
            Ordering::Lte => "<=",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Ordering::Gt => left > right,
            Ordering::Gte => left >= right,
            Ordering::Lt => left < right,
            Ordering::Lte => left <= right,
        }
    }
}

/// Resolved deal properties; `None` means "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DealTest {
    /// Status.
    pub status: Option<DealStatus>,
    /// Stage key.
    pub stage: Option<String>,
    /// Minimum amount (minor units).
    pub min_amount: Option<i64>,
    /// Maximum amount (minor units).
    pub max_amount: Option<i64>,
    /// Currency code.
    pub currency: Option<Currency>,
}

/// Resolved engagement properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementTest {
    /// The kind.
    pub kind: EngagementKind,
    /// Only this campaign.
    pub campaign_id: Option<CampaignId>,
    /// Only at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// The facts about one deal a segment can test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDeal {
    /// Status.
    pub status: DealStatus,
    /// Stage key.
    pub stage: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency.
    pub currency: Currency,
}

/// One counted engagement a segment can test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEngagement {
    /// Which campaign.
    pub campaign_id: CampaignId,
    /// The kind.
    pub kind: EngagementKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// Everything the domain needs to evaluate a condition for one contact.
#[derive(Debug, Clone, Copy)]
pub struct SegmentFacts<'a> {
    /// The contact.
    pub contact: &'a Contact,
    /// Its deals.
    pub deals: &'a [SegmentDeal],
    /// Its counted engagements.
    pub engagements: &'a [SegmentEngagement],
}

/// Whether a condition needs deal or engagement facts (stores skip loading them otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactsNeeded {
    /// Some node tests deals.
    pub deals: bool,
    /// Some node tests engagement.
    pub engagements: bool,
}

impl Condition {
    /// The reference evaluation every store must agree with.
    pub fn matches(&self, facts: &SegmentFacts<'_>) -> bool {
        let contact = facts.contact;
        match self {
            Condition::All(items) => items.iter().all(|c| c.matches(facts)),
            Condition::Any(items) => items.iter().any(|c| c.matches(facts)),
            Condition::Not(inner) => !inner.matches(facts),
            Condition::Text { field, test } => {
                let value = field.value_of(contact).map(str::to_lowercase);
                match (test, value) {
                    (TextTest::IsSet, v) => v.is_some(),
                    (TextTest::IsNotSet, v) => v.is_none(),
                    (_, None) => false,
                    (TextTest::Equals(x), Some(v)) => v == *x,
                    (TextTest::Contains(x), Some(v)) => v.contains(x.as_str()),
                    (TextTest::StartsWith(x), Some(v)) => v.starts_with(x.as_str()),
                    (TextTest::EndsWith(x), Some(v)) => v.ends_with(x.as_str()),
                }
            }
            Condition::Custom { key, test } => {
                let Some(value) = contact.custom_fields.get(key) else {
                    return false;
                };
                match test {
                    CustomTest::Exists => true,
                    CustomTest::Equals(s) => s.matches(value),
                    CustomTest::Includes(s) => value.as_array().is_some_and(|items| items.iter().any(|i| s.matches(i))),
                    CustomTest::Compare(ord, x) => value.as_f64().is_some_and(|v| ord.holds(v, *x)),
                }
            }
            Condition::HasTag(tag) => contact.tags.contains(tag),
            Condition::Date { field, at_or_after, at } => {
                let t = match field {
                    DateField::CreatedAt => contact.created_at,
                    DateField::UpdatedAt => contact.updated_at,
                };
                if *at_or_after { t >= *at } else { t < *at }
            }
            Condition::Deal(test) => facts.deals.iter().any(|d| {
                test.status.is_none_or(|s| d.status == s)
                    && test.stage.as_deref().is_none_or(|s| d.stage == s)
                    && test.min_amount.is_none_or(|m| d.amount >= m)
                    && test.max_amount.is_none_or(|m| d.amount <= m)
                    && test.currency.as_ref().is_none_or(|c| d.currency == *c)
            }),
            Condition::Engagement(test) => facts.engagements.iter().any(|e| {
                e.kind == test.kind
                    && test.campaign_id.is_none_or(|c| e.campaign_id == c)
                    && test.since.is_none_or(|s| e.at >= s)
            }),
        }
    }

    /// Which facts beyond the contact itself this condition reads.
    pub fn facts_needed(&self) -> FactsNeeded {
        let mut needed = FactsNeeded::default();
        self.visit(&mut |c| match c {
            Condition::Deal(_) => needed.deals = true,
            Condition::Engagement(_) => needed.engagements = true,
            _ => {}
        });
        needed
    }

    fn visit(&self, f: &mut impl FnMut(&Condition)) {
        f(self);
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().for_each(|c| c.visit(f)),
            Condition::Not(inner) => inner.visit(f),
            _ => {}
        }
    }
}

impl SegmentRule {
    /// Validates the rule and resolves it at `now`. Every problem is reported as a field error
    /// under `path` (e.g. `rule.rules[1].value`), all of them at once.
    pub fn resolve(&self, path: &str, now: DateTime<Utc>) -> Result<Condition> {
        let mut errors = Vec::new();
        let mut nodes = 0;
        let condition = resolve(self, path, now, 1, &mut nodes, &mut errors);
        if nodes > MAX_NODES {
            errors.push(FieldError::new(path, "too_large", format!("a rule may have at most {MAX_NODES} nodes")));
        }
        match condition {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(CrmError::Validation(errors)),
        }
    }
}

fn resolve(
    rule: &SegmentRule,
    path: &str,
    now: DateTime<Utc>,
    depth: usize,
    nodes: &mut usize,
    errors: &mut Vec<FieldError>,
) -> Option<Condition> {
    *nodes += 1;
    if depth > MAX_DEPTH {
        errors.push(FieldError::new(path, "too_deep", format!("rules nest at most {MAX_DEPTH} levels")));
        return None;
    }
    let mut fail = |field: &str, code: &str, message: String| {
        errors.push(FieldError::new(format!("{path}.{field}"), code, message));
        None
    };
    match rule {
        SegmentRule::All { rules } | SegmentRule::Any { rules } => {
            let mut items = Vec::with_capacity(rules.len());
            let mut ok = true;
            for (i, sub) in rules.iter().enumerate() {
                match resolve(sub, &format!("{path}.rules[{i}]"), now, depth + 1, nodes, errors) {
                    Some(c) => items.push(c),
                    None => ok = false,
                }
            }
            let all = matches!(rule, SegmentRule::All { .. });
            ok.then_some(if all { Condition::All(items) } else { Condition::Any(items) })
        }
        SegmentRule::Not { rule } => {
            resolve(rule, &format!("{path}.rule"), now, depth + 1, nodes, errors).map(|c| Condition::Not(Box::new(c)))
        }
        SegmentRule::Field { field, op, value } => {
            let needs_value = !matches!(op, TextOp::IsSet | TextOp::IsNotSet);
            let text = match (needs_value, value) {
                (true, None) => return fail("value", "required", "this comparison needs a value".into()),
                (true, Some(v)) if v.is_empty() => return fail("value", "required", "the value is empty".into()),
                (true, Some(v)) if v.chars().count() > MAX_TEXT => {
                    return fail("value", "too_long", format!("at most {MAX_TEXT} characters"));
                }
                (false, Some(_)) => return fail("value", "unexpected", "this comparison takes no value".into()),
                (_, v) => v.as_deref().map(str::to_lowercase).unwrap_or_default(),
            };
            let test = match op {
                TextOp::Equals => TextTest::Equals(text),
                TextOp::Contains => TextTest::Contains(text),
                TextOp::StartsWith => TextTest::StartsWith(text),
                TextOp::EndsWith => TextTest::EndsWith(text),
                TextOp::IsSet => TextTest::IsSet,
                TextOp::IsNotSet => TextTest::IsNotSet,
            };
            Some(Condition::Text { field: *field, test })
        }
        SegmentRule::CustomField { key, op, value } => {
            let key_ok = key.len() <= 64
                && key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return fail("key", "invalid", "keys are 1 to 64 of a-z, 0-9, `_`, starting with a letter".into());
            }
            let scalar = match (op, value) {
                (ValueOp::Exists, None) => None,
                (ValueOp::Exists, Some(_)) => {
                    return fail("value", "unexpected", "`exists` takes no value".into());
                }
                (_, None) => return fail("value", "required", "this comparison needs a value".into()),
                (_, Some(Value::String(s))) if s.chars().count() > MAX_TEXT => {
                    return fail("value", "too_long", format!("at most {MAX_TEXT} characters"));
                }
                (_, Some(Value::String(s))) => Some(Scalar::Text(s.clone())),
                (_, Some(Value::Bool(b))) => Some(Scalar::Bool(*b)),
                (_, Some(Value::Number(n))) => match n.as_f64().filter(|f| f.is_finite()) {
                    Some(f) => Some(Scalar::Number(f)),
                    None => return fail("value", "invalid", "not a finite number".into()),
                },
                (_, Some(_)) => return fail("value", "invalid", "a string, number or boolean".into()),
            };
            let ordering = match op {
                ValueOp::Gt => Some(Ordering::Gt),
                ValueOp::Gte => Some(Ordering::Gte),
                ValueOp::Lt => Some(Ordering::Lt),
                ValueOp::Lte => Some(Ordering::Lte),
                _ => None,
            };
            let test = match (op, scalar, ordering) {
                (ValueOp::Exists, _, _) => CustomTest::Exists,
                (ValueOp::Equals, Some(s), _) => CustomTest::Equals(s),
                (ValueOp::Includes, Some(s), _) => CustomTest::Includes(s),
                (_, Some(Scalar::Number(x)), Some(ord)) => CustomTest::Compare(ord, x),
                _ => return fail("value", "invalid", "ordering comparisons need a number".into()),
            };
            Some(Condition::Custom { key: key.clone(), test })
        }
        SegmentRule::Tag { tag } => match Tag::parse(tag) {
            Ok(tag) => Some(Condition::HasTag(tag)),
            Err(e) => fail("tag", "invalid", e.to_string()),
        },
        SegmentRule::Date { field, op, at, days } => {
            let (at_or_after, bound) = match (op, at, days) {
                (DateOp::Before | DateOp::After, Some(at), None) => (*op == DateOp::After, *at),
                (DateOp::Before | DateOp::After, _, _) => {
                    return fail("at", "required", "`before` and `after` need `at` (and no `days`)".into());
                }
                (DateOp::WithinDays | DateOp::OlderThanDays, None, Some(d)) if *d <= 36_500 => {
                    (*op == DateOp::WithinDays, now - Duration::days(i64::from(*d)))
                }
                (DateOp::WithinDays | DateOp::OlderThanDays, _, _) => {
                    return fail("days", "required", "this comparison needs `days` (0 to 36500, and no `at`)".into());
                }
            };
            Some(Condition::Date { field: *field, at_or_after, at: bound })
        }
        SegmentRule::Deal { status, stage, min_amount, max_amount, currency } => {
            if let (Some(lo), Some(hi)) = (min_amount, max_amount)
                && lo > hi
            {
                return fail("max_amount", "invalid", "`max_amount` is below `min_amount`".into());
            }
            if stage.as_ref().is_some_and(|s| s.is_empty() || s.len() > 64) {
                return fail("stage", "invalid", "a stage key of 1 to 64 characters".into());
            }
            let currency = match currency.as_deref().map(Currency::parse) {
                Some(Err(e)) => return fail("currency", "invalid", e.to_string()),
                Some(Ok(c)) => Some(c),
                None => None,
            };
            Some(Condition::Deal(DealTest {
                status: *status,
                stage: stage.clone(),
                min_amount: *min_amount,
                max_amount: *max_amount,
                currency,
            }))
        }
        SegmentRule::Engagement { kind, campaign_id, within_days } => {
            if within_days.is_some_and(|d| d > 36_500) {
                return fail("within_days", "invalid", "at most 36500 days".into());
            }
            Some(Condition::Engagement(EngagementTest {
                kind: *kind,
                campaign_id: *campaign_id,
                since: within_days.map(|d| now - Duration::days(i64::from(d))),
            }))
        }
    }
}

/// How many contacts a segment selects, and the first few of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentPreview {
    /// Contacts matching now.
    pub count: u64,
    /// Up to the requested number of them, in id order.
    pub sample: Vec<Contact>,
}

/// A page of segment members in id order, for streaming a large audience.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentBatch {
    /// The contacts.
    pub contacts: Vec<Contact>,
    /// Pass back to continue after the last one; `None` at the end.
    pub next_after: Option<ContactId>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::id::TenantId;
    use crate::value::{CustomFields, EmailAddress};

    fn contact() -> Contact {
        let now = Utc::now();
        Contact {
            id: ContactId::new(),
            tenant_id: TenantId::new(),
            email: Some(EmailAddress::parse("Ada@Example.com").unwrap()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            company: None,
            phone: None,
            owner_id: None,
            tags: [Tag::parse("vip").unwrap()].into(),
            custom_fields: CustomFields::new(BTreeMap::from([
                ("plan".into(), json!("pro")),
                ("seats".into(), json!(5)),
                ("langs".into(), json!(["en", "fr"])),
            ]))
            .unwrap(),
            created_at: now - Duration::days(10),
            updated_at: now,
            version: 1,
        }
    }

    fn eval(rule: Value, contact: &Contact, deals: &[SegmentDeal]) -> bool {
        let rule: SegmentRule = serde_json::from_value(rule).unwrap();
        let condition = rule.resolve("rule", Utc::now()).unwrap();
        condition.matches(&SegmentFacts { contact, deals, engagements: &[] })
    }

    #[test]
    fn evaluates_every_rule_type() {
        let c = contact();
        let deal = SegmentDeal {
            status: DealStatus::Open,
            stage: "proposal".into(),
            amount: 50_000,
            currency: Currency::parse("EUR").unwrap(),
        };
        assert!(eval(json!({"type": "field", "field": "email", "op": "ends_with", "value": "EXAMPLE.COM"}), &c, &[]));
        assert!(eval(json!({"type": "field", "field": "company", "op": "is_not_set"}), &c, &[]));
        assert!(eval(json!({"type": "custom_field", "key": "seats", "op": "equals", "value": 5.0}), &c, &[]));
        assert!(eval(json!({"type": "custom_field", "key": "seats", "op": "gt", "value": 4}), &c, &[]));
        assert!(eval(json!({"type": "custom_field", "key": "langs", "op": "includes", "value": "fr"}), &c, &[]));
        assert!(!eval(json!({"type": "custom_field", "key": "plan", "op": "equals", "value": "Pro"}), &c, &[]));
        assert!(eval(json!({"type": "tag", "tag": "VIP"}), &c, &[]));
        assert!(eval(json!({"type": "date", "field": "created_at", "op": "older_than_days", "days": 5}), &c, &[]));
        assert!(!eval(json!({"type": "date", "field": "created_at", "op": "within_days", "days": 5}), &c, &[]));
        let has_deal = json!({"type": "deal", "status": "open", "min_amount": 10000, "currency": "EUR"});
        assert!(eval(has_deal.clone(), &c, std::slice::from_ref(&deal)));
        assert!(!eval(has_deal, &c, &[]));
        let tree = json!({"type": "all", "rules": [
            {"type": "tag", "tag": "vip"},
            {"type": "not", "rule": {"type": "any", "rules": [
                {"type": "field", "field": "first_name", "op": "equals", "value": "grace"},
                {"type": "engagement", "kind": "opened", "within_days": 30}
            ]}}
        ]});
        assert!(eval(tree, &c, &[]));
    }

    #[test]
    fn reports_every_mistake_with_its_path() {
        let rule: SegmentRule = serde_json::from_value(json!({"type": "all", "rules": [
            {"type": "field", "field": "email", "op": "contains"},
            {"type": "custom_field", "key": "Bad Key", "op": "exists"},
            {"type": "not", "rule": {"type": "date", "field": "created_at", "op": "before", "days": 3}},
            {"type": "deal", "min_amount": 10, "max_amount": 5}
        ]}))
        .unwrap();
        let CrmError::Validation(errors) = rule.resolve("rule", Utc::now()).unwrap_err() else { panic!() };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rule.rules[0].value", "rule.rules[1].key", "rule.rules[2].rule.at", "rule.rules[3].max_amount"]
        );
    }

    #[test]
    fn rejects_rules_nested_too_deep() {
        let mut rule = SegmentRule::Tag { tag: "a".into() };
        for _ in 0..MAX_DEPTH {
            rule = SegmentRule::Not { rule: Box::new(rule) };
        }
        let CrmError::Validation(errors) = rule.resolve("rule", Utc::now()).unwrap_err() else { panic!() };
        assert_eq!(errors[0].code, "too_deep");
    }
}
