//! What every versioned record's update shares: the optimistic-concurrency check, the field
//! diff, and the `*.updated` event that carries it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::actor::Actor;
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityRef, EventType, diff};

/// A record with an optimistic-concurrency version and an update time.
pub(crate) trait Versioned: Serialize {
    /// The stored version.
    fn version(&self) -> i64;
    /// Marks the record changed at `now`: bumps the version and the update time.
    fn touch(&mut self, now: DateTime<Utc>);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> i64 {
                self.version
            }
            fn touch(&mut self, now: DateTime<Utc>) {
                self.version += 1;
                self.updated_at = now;
            }
        }
    )*};
}
versioned!(
    crate::contact::Contact,
    crate::deal::Deal,
    crate::member::Member,
    crate::campaign::Campaign,
    crate::campaign::EmailTemplate,
    crate::webhook::WebhookEndpoint,
    crate::document::Document,
    crate::document::DocumentTemplate
);

/// `Conflict` on `version` when the caller expected another version than the stored one.
pub(crate) fn check_expected_version(expected: Option<i64>, current: &impl Versioned, entity: &str) -> Result<()> {
    match expected {
        Some(v) if v != current.version() => {
            Err(CrmError::conflict(Some("version"), format!("the {entity} was changed by someone else")))
        }
        _ => Ok(()),
    }
}

/// Serializes a value for an event payload or a diff.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| CrmError::Internal(format!("serialization failed: {e}")))
}

/// Diffs `current` against `next`. When nothing changed returns `None` (and the caller writes
/// nothing); otherwise touches `next` and returns the update event carrying the field changes.
pub(crate) fn update_event<T: Versioned>(
    actor: &Actor,
    event_type: EventType,
    subject: EntityRef,
    current: &T,
    next: &mut T,
    now: DateTime<Utc>,
) -> Result<Option<DomainEvent>> {
    let changes = diff(&to_json(current)?, &to_json(next)?, &["version", "updated_at"]);
    if changes.is_empty() {
        return Ok(None);
    }
    next.touch(now);
    Ok(Some(DomainEvent::new(actor, event_type, subject, json!({ "object": to_json(next)?, "changes": changes }), now)))
}
