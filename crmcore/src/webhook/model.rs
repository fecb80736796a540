//! What the webhook repository stores: endpoints (with sealed secrets and circuit health),
//! deliveries (one event bound for one endpoint, which is also its own durable queue entry) and
//! the attempt log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::circuit::CircuitState;
use super::endpoint::{EventFilter, PayloadFilter, WebhookUrl};
use super::seal::SealedSecret;
use crate::event::{EventType, OutboxEntry};
use crate::id::{DeliveryId, EventId, LeaseId, TenantId, WebhookEndpointId};
use crate::integration::PayloadFormat;

/// A receiver of webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Where deliveries are POSTed.
    pub url: WebhookUrl,
    /// Free text for people.
    pub description: String,
    /// Which event types it receives.
    pub event_types: EventFilter,
    /// Which payloads it receives.
    pub payload_filter: PayloadFilter,
    /// Extra request headers (names validated, values never logged).
    pub headers: BTreeMap<String, String>,
    /// Most deliveries per second (per worker process); `None` = unlimited.
    pub rate_limit_per_second: Option<u32>,
    /// Deliveries are recorded and signed but never sent.
    pub test_mode: bool,
    /// The request body's shape: Standard Webhooks JSON, or a Slack or Teams message.
    pub format: PayloadFormat,
    /// Disabled endpoints get no new deliveries; their pending ones fail (kept for replay).
    pub enabled: bool,
    /// Why it was disabled, when it is.
    pub disabled_reason: Option<String>,
    /// The signing secrets, sealed.
    pub secrets: EndpointSecrets,
    /// The circuit breaker's state, shared by every worker.
    pub circuit: CircuitState,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last changed by a member at.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, bumped by every member edit (not by health updates).
    pub version: i64,
}

impl WebhookEndpoint {
    /// Whether an event of this type and payload is delivered here.
    pub fn accepts(&self, event_type: EventType, data: &Value) -> bool {
        self.enabled && self.event_types.accepts(event_type) && self.payload_filter.accepts(data)
    }
}

/// The current signing secret and, during a rotation's overlap, the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecrets {
    /// Signs every delivery.
    pub current: SealedSecret,
    /// Also signs deliveries until `previous_until`.
    pub previous: Option<SealedSecret>,
    /// The end of the rotation overlap.
    pub previous_until: Option<DateTime<Utc>>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt was answered with 2xx (or recorded in test mode).
    Succeeded,
    /// Retries exhausted, or the endpoint was disabled; kept for replay.
    Failed,
}

impl DeliveryStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses [`DeliveryStatus::as_str`].
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "succeeded" => Ok(DeliveryStatus::Succeeded),
            "failed" => Ok(DeliveryStatus::Failed),
            _ => Err(crate::error::CrmError::invalid("status", "unknown", format!("unknown delivery status `{s}`"))),
        }
    }
}

/// One event bound for one endpoint. Unique per (endpoint, event); the row is its own queue
/// entry: due at `next_attempt_at`, claimed under a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// Its id; the `webhook-id` header is `msg_` + its simple form.
    pub id: DeliveryId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The receiver.
    pub endpoint_id: WebhookEndpointId,
    /// The event delivered.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// The exact request body, fixed at creation so every retry signs the same bytes; `None`
    /// once purged by retention.
    pub payload: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made in all.
    pub attempts: u32,
    /// Attempts made in the current retry schedule (a replay starts a new one).
    pub schedule_attempts: u32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last response status, if any.
    pub last_status: Option<u16>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last attempted or changed at.
    pub updated_at: DateTime<Utc>,
}

impl WebhookDelivery {
    /// The pending delivery of `entry`'s event to `endpoint`, due at `now`, its body in the
    /// endpoint's format (Standard Webhooks: `{"type", "timestamp", "data", …}`).
    pub fn new(endpoint: &WebhookEndpoint, entry: &OutboxEntry, now: DateTime<Utc>) -> Self {
        let event = &entry.event;
        let body = crate::integration::render(endpoint.format, event);
        Self {
            id: DeliveryId::new(),
            tenant_id: event.tenant_id,
            endpoint_id: endpoint.id,
            event_id: event.id,
            event_type: event.event_type,
            payload: Some(body.to_string()),
            status: DeliveryStatus::Pending,
            attempts: 0,
            schedule_attempts: 0,
            next_attempt_at: Some(now),
            last_status: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The `webhook-id` header: the receivers' idempotency key, stable across retries.
    pub fn message_id(&self) -> String {
        format!("msg_{}", self.id.0.simple())
    }
}

/// Why an attempt did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorClass {
    /// No answer within the timeout.
    Timeout,
    /// DNS, TCP or TLS failure.
    Connect,
    /// The SSRF guard refused the address.
    Blocked,
    /// 429, 502, 503 or 504.
    Throttled,
    /// 410: the endpoint is gone and was disabled.
    Gone,
    /// Any other non-2xx status.
    HttpStatus,
    /// Another transport failure.
    Other,
}

impl ErrorClass {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Blocked => "blocked",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Gone => "gone",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::Other => "other",
        }
    }

    /// Parses [`ErrorClass::as_str`].
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        Ok(match s {
            "timeout" => ErrorClass::Timeout,
            "connect" => ErrorClass::Connect,
            "blocked" => ErrorClass::Blocked,
            "throttled" => ErrorClass::Throttled,
            "gone" => ErrorClass::Gone,
            "http_status" => ErrorClass::HttpStatus,
            "other" => ErrorClass::Other,
            _ => return Err(crate::error::CrmError::invalid("error_class", "unknown", format!("unknown `{s}`"))),
        })
    }
}

/// One logged attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// 1 for the first attempt of the delivery.
    pub number: u32,
    /// When the request was sent.
    pub attempted_at: DateTime<Utc>,
    /// The response status, when one came.
    pub status: Option<u16>,
    /// Time to the response (or to the failure).
    pub latency_ms: u32,
    /// The signature headers sent (`webhook-id`, `webhook-timestamp`, `webhook-signature`);
    /// custom headers are not logged, they may hold credentials.
    pub request_headers: Vec<(String, String)>,
    /// Response headers (bounded).
    pub response_headers: Vec<(String, String)>,
    /// The first bytes of the response body.
    pub response_excerpt: String,
    /// Why it failed; `None` on success.
    pub error_class: Option<ErrorClass>,
    /// The failure's message.
    pub error: Option<String>,
    /// Recorded in test mode: signed, never sent.
    pub test_mode: bool,
}

/// A delivery's state after a worker finished with it, to be written if its lease still holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    /// The delivery as it now stands (status, counts, next attempt).
    pub delivery: WebhookDelivery,
    /// The lease it was claimed under.
    pub lease: LeaseId,
    /// The attempt made, if a request was sent (or recorded in test mode).
    pub attempt: Option<DeliveryAttempt>,
}

/// How many due deliveries one claim may take: in all, and of each endpoint.
///
/// A worker names the endpoints it already has requests in flight to, with the room they have
/// left, so that a claim never hands it deliveries it could not start: a slow endpoint at its cap
/// is passed over (`0`) and costs the claim nothing, while the other endpoints' deliveries are
/// still taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits<'a> {
    /// At most this many deliveries in all.
    pub total: u32,
    /// At most this many of any endpoint not named in `room`.
    pub per_endpoint: u32,
    /// Endpoints with a room of their own (the first entry of an endpoint counts; `0` skips it).
    pub room: &'a [(WebhookEndpointId, u32)],
}

impl ClaimLimits<'static> {
    /// At most `total` deliveries, of any endpoints.
    pub const fn total(total: u32) -> Self {
        Self { total, per_endpoint: total, room: &[] }
    }
}

impl ClaimLimits<'_> {
    /// How many deliveries of `endpoint` the claim may take.
    pub fn room_of(&self, endpoint: WebhookEndpointId) -> u32 {
        self.room.iter().find(|(id, _)| *id == endpoint).map_or(self.per_endpoint, |(_, room)| *room)
    }
}

/// An endpoint's health after some attempts: its circuit, and whether it was disabled.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointHealth {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Its circuit.
    pub circuit: CircuitState,
    /// `Some(reason)` disables it.
    pub disable: Option<String>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only this endpoint's.
    pub endpoint_id: Option<WebhookEndpointId>,
    /// Only in this status.
    pub status: Option<DeliveryStatus>,
    /// Only this event's.
    pub event_id: Option<EventId>,
}
