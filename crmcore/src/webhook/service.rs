//! The webhook service: what `crm.webhooks()` returns. Endpoints, their secrets, the delivery
//! log, replay and recovery, test sends and the event catalogue. Every call needs
//! `manage_integrations`.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::circuit::{CircuitPolicy, CircuitState};
use super::endpoint::{EventFilter, PayloadCondition, PayloadFilter, WebhookUrl, validate_headers};
use super::retry::RetrySchedule;
use super::seal::SecretSealer;
use super::signature::SigningSecret;
use super::{DeliveryAttempt, DeliveryFilter, DeliveryStatus, EndpointSecrets, WebhookDelivery, WebhookEndpoint};
use crate::actor::{Actor, Permission};
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType, OutboxEntry, diff};
use crate::id::{DeliveryId, EventId, WebhookEndpointId};
use crate::integration::PayloadFormat;
use crate::page::{Page, PageRequest};
use crate::record::{check_expected_version, to_json};

/// Webhook delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays between attempts.
    pub schedule: RetrySchedule,
    /// Tenants with a schedule of their own (instead of `schedule`).
    pub tenant_schedules: std::collections::HashMap<crate::id::TenantId, RetrySchedule>,
    /// When an endpoint's circuit opens, and when a failing endpoint is disabled.
    pub circuit: CircuitPolicy,
    /// Per-request timeout (a timeout is a failed attempt).
    pub timeout: StdDuration,
    /// Deliveries' payloads are purged this long after creation (attempts are kept).
    pub retention: Duration,
    /// Whether endpoints may use plain `http` URLs.
    pub allow_http: bool,
    /// How long the previous secret keeps signing after a rotation.
    pub rotation_overlap: Duration,
    /// Requests in flight per worker, across endpoints.
    pub concurrency: usize,
    /// Requests in flight per worker to one endpoint, so a slow one cannot take every slot.
    pub per_endpoint_concurrency: usize,
    /// How long a claimed delivery is held before another worker may take it.
    pub lease: Duration,
    /// Seals signing secrets at rest. Default: an ephemeral key (secrets do not survive a
    /// restart), fit for in-memory stores only; servers derive it from configuration.
    pub sealer: Option<SecretSealer>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            tenant_schedules: std::collections::HashMap::new(),
            circuit: CircuitPolicy::default(),
            timeout: StdDuration::from_secs(15),
            retention: Duration::days(30),
            allow_http: false,
            rotation_overlap: Duration::hours(24),
            concurrency: 256,
            per_endpoint_concurrency: 64,
            lease: Duration::seconds(60),
            sealer: None,
        }
    }
}

impl WebhookConfig {
    /// The retry schedule of `tenant`'s deliveries.
    pub fn schedule_for(&self, tenant: crate::id::TenantId) -> &RetrySchedule {
        self.tenant_schedules.get(&tenant).unwrap_or(&self.schedule)
    }
}

/// Input for creating an endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewEndpoint {
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Event type filter: names, `entity.*` or `*`; empty = every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Payload conditions, all of which must hold.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub payload_filter: Vec<PayloadCondition>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Most deliveries per second.
    pub rate_limit_per_second: Option<u32>,
    /// Record and sign deliveries without sending them.
    #[serde(default)]
    pub test_mode: bool,
    /// `standard` (default), `slack` or `teams`: a chat connector posts each event as a message.
    #[serde(default)]
    pub format: PayloadFormat,
    /// A `whsec_…` secret to use instead of a generated one.
    pub secret: Option<String>,
}

/// Changes to an endpoint. Absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New event type filter.
    pub event_types: Option<Vec<String>>,
    /// New payload conditions.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub payload_filter: Option<Vec<PayloadCondition>>,
    /// New headers (replacing all).
    pub headers: Option<BTreeMap<String, String>>,
    /// New rate limit; `0` removes it.
    pub rate_limit_per_second: Option<u32>,
    /// Test mode on or off.
    pub test_mode: Option<bool>,
    /// New body format.
    pub format: Option<PayloadFormat>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// An endpoint as shown to people and in events: everything but its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointView {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Target URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Event type filter.
    pub event_types: Vec<String>,
    /// Payload filter.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub payload_filter: PayloadFilter,
    /// Custom header names (values are not shown: they may hold credentials).
    pub header_names: Vec<String>,
    /// Rate limit.
    pub rate_limit_per_second: Option<u32>,
    /// Test mode.
    pub test_mode: bool,
    /// Body format.
    pub format: PayloadFormat,
    /// Enabled.
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Consecutive failed attempts.
    pub consecutive_failures: u32,
    /// Failing since.
    pub failing_since: Option<DateTime<Utc>>,
    /// The circuit is open until.
    pub circuit_open_until: Option<DateTime<Utc>>,
    /// The previous secret still signs until.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
    /// Version.
    pub version: i64,
}

impl From<&WebhookEndpoint> for EndpointView {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url.to_string(),
            description: e.description.clone(),
            event_types: e.event_types.patterns().to_vec(),
            payload_filter: e.payload_filter.clone(),
            header_names: e.headers.keys().cloned().collect(),
            rate_limit_per_second: e.rate_limit_per_second,
            test_mode: e.test_mode,
            format: e.format,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            consecutive_failures: e.circuit.consecutive_failures,
            failing_since: e.circuit.failing_since,
            circuit_open_until: e.circuit.open_until,
            previous_secret_until: e.secrets.previous_until,
            created_at: e.created_at,
            updated_at: e.updated_at,
            version: e.version,
        }
    }
}

/// A created endpoint and its signing secret (shown once here; revealable later by admins).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedEndpoint {
    /// The endpoint.
    pub endpoint: EndpointView,
    /// `whsec_…`.
    pub secret: String,
}

/// One entry of the event catalogue.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeInfo {
    /// E.g. `deal.won`.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// A request body as delivered.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub example: Value,
}

/// Webhooks.
#[derive(Debug, Clone, Copy)]
pub struct WebhookService<'a> {
    crm: &'a Crm,
}

impl<'a> WebhookService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    fn sealer(&self) -> &SecretSealer {
        self.crm.webhook_sealer()
    }

    /// Creates an endpoint; returns it with its signing secret.
    pub async fn create_endpoint(&self, actor: &Actor, input: NewEndpoint) -> Result<CreatedEndpoint> {
        actor.require(Permission::ManageIntegrations)?;
        let mut v = Validator::new();
        let url = v.field("url", WebhookUrl::parse(&input.url, self.crm.webhook_config().allow_http));
        let event_types = v.check(EventFilter::new(input.event_types));
        let payload_filter = v.check(PayloadFilter::new(input.payload_filter));
        let headers: Vec<(String, String)> = input.headers.clone().into_iter().collect();
        v.check(validate_headers(&headers));
        check_description(&mut v, &input.description);
        check_rate(&mut v, input.rate_limit_per_second);
        let secret = match &input.secret {
            Some(raw) => v.field("secret", SigningSecret::parse(raw)),
            None => Some(SigningSecret::generate()?),
        };
        v.finish()?;
        let (Some(url), Some(event_types), Some(payload_filter), Some(secret)) =
            (url, event_types, payload_filter, secret)
        else {
            return Err(CrmError::Internal("validation passed without values".into()));
        };
        let now = self.crm.clock().now();
        let id = WebhookEndpointId::new();
        let exposed = secret.expose();
        let endpoint = WebhookEndpoint {
            id,
            tenant_id: actor.tenant_id,
            url,
            description: input.description.trim().to_owned(),
            event_types,
            payload_filter,
            headers: input.headers,
            rate_limit_per_second: input.rate_limit_per_second.filter(|r| *r > 0),
            test_mode: input.test_mode,
            format: input.format,
            enabled: true,
            disabled_reason: None,
            secrets: EndpointSecrets {
                current: self.sealer().seal(&exposed, &id.to_string())?,
                previous: None,
                previous_until: None,
            },
            circuit: CircuitState::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let view = EndpointView::from(&endpoint);
        let event = endpoint_event(actor, EventType::WebhookEndpointCreated, &endpoint, json!({"object": view}), now);
        self.crm.store().webhooks().insert_endpoint(&endpoint, &[event]).await?;
        self.crm.wake_worker();
        Ok(CreatedEndpoint { endpoint: view, secret: exposed })
    }

    /// Changes an endpoint's settings.
    pub async fn update_endpoint(
        &self,
        actor: &Actor,
        id: WebhookEndpointId,
        patch: EndpointPatch,
    ) -> Result<EndpointView> {
        actor.require(Permission::ManageIntegrations)?;
        let current = self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "endpoint")?;
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(url) = &patch.url
            && let Some(url) = v.field("url", WebhookUrl::parse(url, self.crm.webhook_config().allow_http))
        {
            next.url = url;
        }
        if let Some(description) = patch.description {
            check_description(&mut v, &description);
            next.description = description.trim().to_owned();
        }
        if let Some(types) = patch.event_types
            && let Some(filter) = v.check(EventFilter::new(types))
        {
            next.event_types = filter;
        }
        if let Some(conditions) = patch.payload_filter
            && let Some(filter) = v.check(PayloadFilter::new(conditions))
        {
            next.payload_filter = filter;
        }
        if let Some(headers) = patch.headers {
            let list: Vec<(String, String)> = headers.clone().into_iter().collect();
            v.check(validate_headers(&list));
            next.headers = headers;
        }
        if let Some(rate) = patch.rate_limit_per_second {
            check_rate(&mut v, Some(rate));
            next.rate_limit_per_second = Some(rate).filter(|r| *r > 0);
        }
        if let Some(test_mode) = patch.test_mode {
            next.test_mode = test_mode;
        }
        if let Some(format) = patch.format {
            next.format = format;
        }
        v.finish()?;
        let headers_changed = next.headers != current.headers;
        self.save_change(actor, &current, next, EventType::WebhookEndpointUpdated, headers_changed).await
    }

    /// Disables an endpoint: it gets no new deliveries and its pending ones fail (replayable).
    pub async fn disable_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<EndpointView> {
        actor.require(Permission::ManageIntegrations)?;
        let current = self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?;
        let mut next = current.clone();
        next.enabled = false;
        next.disabled_reason = Some("disabled by a member".into());
        self.save_change(actor, &current, next, EventType::WebhookEndpointDisabled, false).await
    }

    /// Re-enables an endpoint with a closed circuit.
    pub async fn enable_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<EndpointView> {
        actor.require(Permission::ManageIntegrations)?;
        let current = self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?;
        let mut next = current.clone();
        next.enabled = true;
        next.disabled_reason = None;
        next.circuit = CircuitState::default();
        self.save_change(actor, &current, next, EventType::WebhookEndpointUpdated, false).await
    }

    /// Replaces the signing secret; the old one keeps signing alongside for the configured
    /// overlap (or `overlap`). Returns the new secret.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        id: WebhookEndpointId,
        secret: Option<String>,
        overlap: Option<Duration>,
    ) -> Result<String> {
        actor.require(Permission::ManageIntegrations)?;
        let new = match secret {
            Some(raw) => SigningSecret::parse(&raw)?,
            None => SigningSecret::generate()?,
        };
        let overlap = overlap.unwrap_or(self.crm.webhook_config().rotation_overlap);
        if overlap < Duration::zero() || overlap > Duration::days(7) {
            return Err(CrmError::invalid("overlap", "out_of_range", "the overlap is between 0 and 7 days"));
        }
        let current = self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let mut next = current.clone();
        let exposed = new.expose();
        next.secrets = EndpointSecrets {
            current: self.sealer().seal(&exposed, &id.to_string())?,
            previous: Some(current.secrets.current.clone()).filter(|_| overlap > Duration::zero()),
            previous_until: Some(now + overlap).filter(|_| overlap > Duration::zero()),
        };
        self.save_change(actor, &current, next, EventType::WebhookEndpointUpdated, true).await?;
        Ok(exposed)
    }

    /// The current signing secret, `whsec_…`.
    pub async fn reveal_secret(&self, actor: &Actor, id: WebhookEndpointId) -> Result<String> {
        actor.require(Permission::ManageIntegrations)?;
        let endpoint = self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?;
        self.sealer().open(&endpoint.secrets.current, &id.to_string())
    }

    /// Deletes an endpoint with its delivery log.
    pub async fn delete_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<()> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().webhooks();
        let current = repo.get_endpoint(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let view = EndpointView::from(&current);
        let event = endpoint_event(actor, EventType::WebhookEndpointDeleted, &current, json!({"object": view}), now);
        repo.delete_endpoint(actor.tenant_id, id, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    /// One endpoint.
    pub async fn get_endpoint(&self, actor: &Actor, id: WebhookEndpointId) -> Result<EndpointView> {
        actor.require(Permission::ManageIntegrations)?;
        Ok(EndpointView::from(&self.crm.store().webhooks().get_endpoint(actor.tenant_id, id).await?))
    }

    /// The tenant's endpoints, newest first.
    pub async fn list_endpoints(&self, actor: &Actor, page: PageRequest) -> Result<Page<EndpointView>> {
        actor.require(Permission::ManageIntegrations)?;
        let page = self.crm.store().webhooks().list_endpoints(actor.tenant_id, page).await?;
        Ok(Page { items: page.items.iter().map(EndpointView::from).collect(), next_cursor: page.next_cursor })
    }

    /// Deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        actor: &Actor,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        actor.require(Permission::ManageIntegrations)?;
        self.crm.store().webhooks().list_deliveries(actor.tenant_id, filter, page).await
    }

    /// One delivery.
    pub async fn get_delivery(&self, actor: &Actor, id: DeliveryId) -> Result<WebhookDelivery> {
        actor.require(Permission::ManageIntegrations)?;
        self.crm.store().webhooks().get_delivery(actor.tenant_id, id).await
    }

    /// A delivery's attempts, oldest first.
    pub async fn list_attempts(&self, actor: &Actor, id: DeliveryId) -> Result<Vec<DeliveryAttempt>> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().webhooks();
        repo.get_delivery(actor.tenant_id, id).await?;
        repo.list_attempts(actor.tenant_id, id).await
    }

    /// Sends a finished delivery again, with a fresh retry schedule and the same `webhook-id`.
    /// `Conflict` while it is still pending; `Validation` when its payload was purged.
    pub async fn replay(&self, actor: &Actor, id: DeliveryId) -> Result<WebhookDelivery> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().webhooks();
        let delivery = repo.get_delivery(actor.tenant_id, id).await?;
        if delivery.status == DeliveryStatus::Pending {
            return Err(CrmError::conflict(Some("status"), "the delivery is still pending"));
        }
        if delivery.payload.is_none() {
            return Err(CrmError::invalid("payload", "purged", "the delivery's payload was purged by retention"));
        }
        let now = self.crm.clock().now();
        repo.requeue(actor.tenant_id, delivery.endpoint_id, Some(&[id]), delivery.created_at, now).await?;
        self.crm.wake_webhooks();
        repo.get_delivery(actor.tenant_id, id).await
    }

    /// Requeues every failed delivery of an endpoint created at or after `since`; returns how many.
    pub async fn recover(&self, actor: &Actor, endpoint: WebhookEndpointId, since: DateTime<Utc>) -> Result<u64> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().webhooks();
        repo.get_endpoint(actor.tenant_id, endpoint).await?;
        let count = repo.requeue(actor.tenant_id, endpoint, None, since, self.crm.clock().now()).await?;
        self.crm.wake_webhooks();
        Ok(count)
    }

    /// Queues a delivery of the catalogue's example for `event_type` to one endpoint, whatever its
    /// filters (it must be enabled). Returns the delivery; watch its attempts.
    pub async fn send_example(
        &self,
        actor: &Actor,
        id: WebhookEndpointId,
        event_type: EventType,
    ) -> Result<WebhookDelivery> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().webhooks();
        let endpoint = repo.get_endpoint(actor.tenant_id, id).await?;
        if !endpoint.enabled {
            return Err(CrmError::conflict(Some("enabled"), "the endpoint is disabled"));
        }
        let now = self.crm.clock().now();
        let event = DomainEvent {
            id: EventId::new(),
            tenant_id: actor.tenant_id,
            event_type,
            occurred_at: now,
            actor: actor.principal,
            subject: EntityRef { kind: EntityKind::WebhookEndpoint, id: id.0 },
            data: example_data(event_type),
        };
        let delivery = WebhookDelivery::new(&endpoint, &OutboxEntry { seq: 0, event, dispatched_at: None }, now);
        repo.insert_deliveries(std::slice::from_ref(&delivery)).await?;
        self.crm.wake_webhooks();
        Ok(delivery)
    }

    /// Every event type an endpoint can receive, with a description and an example body.
    pub fn event_catalogue(&self) -> Vec<EventTypeInfo> {
        EventType::ALL
            .iter()
            .map(|t| EventTypeInfo {
                name: t.as_str(),
                description: t.description(),
                example: json!({
                    "type": t.as_str(),
                    "timestamp": "2026-01-01T12:00:00Z",
                    "data": example_data(*t),
                    "event_id": "0190d3f0-0000-7000-8000-000000000001",
                    "subject": {"kind": t.as_str().split('.').next().unwrap_or_default(), "id": "0190d3f0-0000-7000-8000-000000000002"},
                }),
            })
            .collect()
    }

    async fn save_change(
        &self,
        actor: &Actor,
        current: &WebhookEndpoint,
        mut next: WebhookEndpoint,
        event_type: EventType,
        secret_changed: bool,
    ) -> Result<EndpointView> {
        let before = to_json(&EndpointView::from(current))?;
        let mut after = to_json(&EndpointView::from(&next))?;
        let changes = diff(&before, &after, &["version", "updated_at"]);
        if changes.is_empty() && !secret_changed {
            return Ok(EndpointView::from(current));
        }
        let now = self.crm.clock().now();
        next.version = current.version + 1;
        next.updated_at = now;
        after = to_json(&EndpointView::from(&next))?;
        let data = json!({"object": after, "changes": changes, "secret_rotated": secret_changed});
        let event = endpoint_event(actor, event_type, &next, data, now);
        self.crm.store().webhooks().update_endpoint(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(EndpointView::from(&next))
    }
}

fn endpoint_event(
    actor: &Actor,
    event_type: EventType,
    endpoint: &WebhookEndpoint,
    data: Value,
    now: DateTime<Utc>,
) -> DomainEvent {
    DomainEvent::new(actor, event_type, EntityRef { kind: EntityKind::WebhookEndpoint, id: endpoint.id.0 }, data, now)
}

fn check_description(v: &mut Validator, description: &str) {
    if description.chars().count() > 1000 {
        v.push(FieldError::new("description", "too_long", "at most 1000 characters"));
    }
}

fn check_rate(v: &mut Validator, rate: Option<u32>) {
    if rate.is_some_and(|r| r > 10_000) {
        v.push(FieldError::new("rate_limit_per_second", "out_of_range", "at most 10000 per second"));
    }
}

/// A plausible `data` for an event type: `{"object": …}` shaped like the entity it is about.
pub(crate) fn example_data(event_type: EventType) -> Value {
    if let Some(data) = crate::document::approval_example(event_type) {
        return data;
    }
    let entity = event_type.as_str().split('.').next().unwrap_or_default();
    let object = match entity {
        "contact" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "tags": ["vip"], "version": 1})
        }
        "deal" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "title": "Analytical engine", "stage": "won", "amount": {"amount_minor": 1250000, "currency": "EUR"}, "version": 3})
        }
        "member" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "display_name": "Grace Hopper", "handle": "grace", "role": "manager"})
        }
        "tenant" => json!({"id": "0190d3f0-0000-7000-8000-000000000002", "name": "Acme"}),
        "comment" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "body": "Ping @grace", "entity": {"kind": "deal", "id": "0190d3f0-0000-7000-8000-000000000003"}})
        }
        "campaign" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "name": "Spring launch", "status": "sending"})
        }
        "email_template" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "name": "Welcome", "subject": "Hello {{ first_name }}"})
        }
        "email" => {
            json!({"campaign_id": "0190d3f0-0000-7000-8000-000000000002", "recipient_id": "0190d3f0-0000-7000-8000-000000000004", "email": "ada@example.com"})
        }
        "webhook" => {
            json!({"id": "0190d3f0-0000-7000-8000-000000000002", "url": "https://hooks.example.com/crm", "enabled": true})
        }
        "delivery" => {
            json!({"delivery_id": "0190d3f0-0000-7000-8000-000000000005", "endpoint_id": "0190d3f0-0000-7000-8000-000000000002", "event_type": "deal.won", "attempts": 1, "last_status": 200})
        }
        _ => json!({}),
    };
    json!({ "object": object })
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use super::*;
    use crate::id::TenantId;

    #[test]
    fn tenants_may_have_their_own_retry_schedule() {
        let quick = TenantId::new();
        let mut config = WebhookConfig::default();
        let fast = RetrySchedule { delays: vec![StdDuration::from_secs(1)], ..RetrySchedule::default() };
        config.tenant_schedules.insert(quick, fast.clone());
        assert_eq!(config.schedule_for(quick), &fast);
        assert_eq!(config.schedule_for(TenantId::new()), &RetrySchedule::default());
    }
}
