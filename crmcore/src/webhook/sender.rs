//! The webhook sender: claims due deliveries under leases, sends each as one signed POST through
//! the transport port, and records every attempt with the delivery's new state.
//!
//! - Up to [`WebhookConfig::concurrency`] requests are in flight, at most
//!   [`WebhookConfig::per_endpoint_concurrency`] to one endpoint, and each endpoint's rate limit
//!   is paced here: a slow or dead endpoint holds only its own slots.
//! - Each endpoint has a circuit breaker shared through the store: while it is open, the
//!   endpoint's deliveries wait without an attempt; after failing for the configured window the
//!   endpoint is disabled (`webhook.endpoint.disabled`); `410 Gone` disables it at once.
//! - Completed attempts are written in batches, each outcome only while its lease still holds.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use serde_json::json;
use tokio::task::JoinSet;

use super::circuit::{Admission, CircuitState};
use super::retry::{AttemptOutcome, parse_retry_after};
use super::signature::{SigningSecret, sign};
use super::{
    ClaimLimits, DeliveryAttempt, DeliveryOutcome, DeliveryStatus, EndpointHealth, ErrorClass, WebhookDelivery,
    WebhookEndpoint,
};
use crate::actor::Actor;
use crate::campaign::send::Pacer;
use crate::crm::Crm;
use crate::error::Result;
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{LeaseId, TenantId, WebhookEndpointId};
use crate::ports::{TransportError, WebhookRequest};

/// How long a tenant's endpoints are cached before they are read again.
const ENDPOINT_TTL: StdDuration = StdDuration::from_secs(2);
/// How often finished deliveries' payloads older than the retention are purged.
const PURGE_EVERY: StdDuration = StdDuration::from_secs(600);
/// User-Agent of every request.
pub(crate) const USER_AGENT: &str = concat!("crmcore-webhooks/", env!("CARGO_PKG_VERSION"));

/// An endpoint as the sender uses it: with its secrets opened.
struct Target {
    endpoint: WebhookEndpoint,
    current: SigningSecret,
    previous: Option<(SigningSecret, DateTime<Utc>)>,
}

struct TenantEndpoints {
    fetched: tokio::time::Instant,
    targets: HashMap<WebhookEndpointId, Arc<Target>>,
}

/// Per-endpoint state of this process.
#[derive(Default)]
struct Runtime {
    in_flight: usize,
    circuit: Option<CircuitState>,
    pacer: Option<(u32, Arc<Pacer>)>,
}

impl Runtime {
    /// Requests this endpoint may have in flight now: none while its circuit is open, one probe
    /// once the open period has run out (half-open), else the configured share.
    fn slots(&self, configured: usize, now: DateTime<Utc>) -> usize {
        match self.circuit {
            Some(c) if matches!(c.admit(now), Admission::WaitUntil(_)) => 0,
            Some(c) if c.open_until.is_some() => 1,
            _ => configured.max(1),
        }
    }
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, TenantEndpoints>,
    runtime: HashMap<WebhookEndpointId, Runtime>,
    last_purge: Option<tokio::time::Instant>,
}

/// What one attempt produced, to be recorded.
struct Finished {
    outcome: DeliveryOutcome,
    health: Option<EndpointHealth>,
    events: Vec<DomainEvent>,
}

/// Sends due webhook deliveries. Cheap to clone; clones share their state.
#[derive(Clone)]
pub(crate) struct Sender {
    crm: Crm,
    state: Arc<Mutex<State>>,
}

impl Sender {
    pub(crate) fn new(crm: Crm) -> Self {
        Self { crm, state: Arc::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends until nothing is due, then returns how many deliveries were handled.
    pub(crate) async fn run_until_idle(&self) -> Result<u64> {
        self.run(std::future::pending::<()>(), true).await
    }

    /// Sends until `shutdown` resolves (finishing what is in flight), or, with `stop_when_idle`,
    /// until nothing is due.
    pub(crate) async fn run(&self, shutdown: impl Future<Output = ()>, stop_when_idle: bool) -> Result<u64> {
        let config = self.crm.webhook_config();
        let concurrency = config.concurrency.max(1);
        let poll = self.crm.worker_poll_interval();
        let mut shutdown = pin!(shutdown.fuse());
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let mut handled = 0u64;
        let mut exhausted = false;
        loop {
            if !stop_when_idle && let Err(error) = self.purge_if_due().await {
                tracing::warn!(%error, "could not purge webhook payloads");
            }
            let free = concurrency.saturating_sub(tasks.len());
            if free > 0 && !exhausted {
                match self.claim(free as u32).await {
                    Ok(batch) => {
                        exhausted = batch.len() < free;
                        for (delivery, target, lease) in batch {
                            let sender = self.clone();
                            tasks.spawn(async move { sender.attempt(delivery, target, lease).await });
                        }
                    }
                    Err(error) if stop_when_idle => return Err(error),
                    Err(error) => {
                        tracing::warn!(%error, "could not claim webhook deliveries");
                        exhausted = true;
                    }
                }
            }
            if tasks.is_empty() && exhausted {
                if stop_when_idle {
                    return Ok(handled);
                }
                let wait = match self.crm.store().webhooks().next_due().await {
                    Ok(Some(at)) => (at - self.crm.clock().now()).to_std().unwrap_or_default().min(poll),
                    _ => poll,
                };
                let wake = self.crm.webhook_wakeup().notified();
                tokio::select! {
                    _ = &mut shutdown => return Ok(handled),
                    _ = wake => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                exhausted = false;
                continue;
            }
            let wake = self.crm.webhook_wakeup().notified();
            tokio::select! {
                joined = tasks.join_next() => {
                    let mut finished: Vec<Finished> = joined.into_iter().filter_map(Result::ok).collect();
                    while let Some(more) = tasks.try_join_next() {
                        finished.extend(more.ok());
                    }
                    handled += finished.len() as u64;
                    self.record(finished).await;
                    exhausted = false;
                }
                _ = wake => exhausted = false,
                _ = &mut shutdown => {
                    let mut finished = Vec::new();
                    while let Some(done) = tasks.join_next().await {
                        finished.extend(done.ok());
                    }
                    handled += finished.len() as u64;
                    self.record(finished).await;
                    return Ok(handled);
                }
            }
        }
    }

    /// Claims up to `limit` due deliveries, of each endpoint no more than it has slots free (none
    /// of an endpoint at its concurrency cap or whose circuit is open), and pairs each with its
    /// endpoint. Deliveries whose endpoint is gone or disabled are failed at once.
    async fn claim(&self, limit: u32) -> Result<Vec<(WebhookDelivery, Option<Arc<Target>>, LeaseId)>> {
        let config = self.crm.webhook_config();
        let now = self.crm.clock().now();
        let per_endpoint = config.per_endpoint_concurrency.max(1);
        // Only endpoints with less room than an idle one are named: those with requests in
        // flight or a circuit that is not closed, so the list stays as short as what is running.
        let room: Vec<(WebhookEndpointId, u32)> = {
            let state = self.state();
            state
                .runtime
                .iter()
                .filter_map(|(id, r)| {
                    let free = r.slots(config.per_endpoint_concurrency, now).saturating_sub(r.in_flight);
                    (free < per_endpoint).then(|| (*id, u32::try_from(free).unwrap_or(u32::MAX)))
                })
                .collect()
        };
        let limits =
            ClaimLimits { total: limit, per_endpoint: u32::try_from(per_endpoint).unwrap_or(u32::MAX), room: &room };
        let lease = LeaseId::new();
        let claimed = self.crm.store().webhooks().claim_due(now, lease, now + config.lease, limits).await?;
        let mut out = Vec::with_capacity(claimed.len());
        let mut overflow = Vec::new();
        for delivery in claimed {
            let target = self.target(delivery.tenant_id, delivery.endpoint_id).await?;
            let mut state = self.state();
            let runtime = state.runtime.entry(delivery.endpoint_id).or_default();
            if let (None, Some(target)) = (runtime.circuit, &target) {
                runtime.circuit = Some(target.endpoint.circuit);
            }
            if runtime.in_flight >= runtime.slots(config.per_endpoint_concurrency, now) {
                // More of one endpoint's deliveries than its slots (its circuit, just read
                // with the endpoint, is open or half-open): hand the rest back at once, so
                // a slow endpoint never holds more than its share.
                overflow.push(DeliveryOutcome { delivery, lease, attempt: None });
                continue;
            }
            runtime.in_flight += 1;
            if let Some(target) = &target {
                match (target.endpoint.rate_limit_per_second, &runtime.pacer) {
                    (None, _) => runtime.pacer = None,
                    (Some(rate), Some((current, _))) if *current == rate => {}
                    (Some(rate), _) => runtime.pacer = Some((rate, Arc::new(Pacer::new(rate)))),
                }
            }
            drop(state);
            out.push((delivery, target, lease));
        }
        if !overflow.is_empty() {
            self.crm.store().webhooks().record_outcomes(&overflow, &[], &[]).await?;
        }
        Ok(out)
    }

    /// The endpoint (enabled, secrets opened), from a cache refreshed every [`ENDPOINT_TTL`] or on
    /// a miss; `None` when it is gone or disabled.
    async fn target(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<Option<Arc<Target>>> {
        {
            let state = self.state();
            if let Some(cached) = state.tenants.get(&tenant)
                && cached.fetched.elapsed() < ENDPOINT_TTL
                && let Some(target) = cached.targets.get(&id)
            {
                return Ok(Some(target.clone()));
            }
        }
        let endpoints = self.crm.store().webhooks().enabled_endpoints(&[tenant]).await?;
        let sealer = self.crm.webhook_sealer();
        let mut targets = HashMap::new();
        for endpoint in endpoints {
            let context = endpoint.id.to_string();
            let current = SigningSecret::parse(&sealer.open(&endpoint.secrets.current, &context)?)?;
            let previous = match (&endpoint.secrets.previous, endpoint.secrets.previous_until) {
                (Some(sealed), Some(until)) => Some((SigningSecret::parse(&sealer.open(sealed, &context)?)?, until)),
                _ => None,
            };
            targets.insert(endpoint.id, Arc::new(Target { endpoint, current, previous }));
        }
        let found = targets.get(&id).cloned();
        let mut state = self.state();
        for (endpoint_id, target) in &targets {
            // The store's circuit is the truth for endpoints this process is not sending to.
            if let Some(runtime) = state.runtime.get_mut(endpoint_id)
                && runtime.in_flight == 0
            {
                runtime.circuit = Some(target.endpoint.circuit);
            }
        }
        state.tenants.insert(tenant, TenantEndpoints { fetched: tokio::time::Instant::now(), targets });
        Ok(found)
    }

    /// Makes one attempt of `delivery` (or settles it without one) and says what to record.
    async fn attempt(&self, delivery: WebhookDelivery, target: Option<Arc<Target>>, lease: LeaseId) -> Finished {
        let endpoint = delivery.endpoint_id;
        let finished = self.attempt_inner(delivery, target, lease).await;
        let mut state = self.state();
        if let Some(runtime) = state.runtime.get_mut(&endpoint) {
            runtime.in_flight = runtime.in_flight.saturating_sub(1);
        }
        finished
    }

    async fn attempt_inner(
        &self,
        mut delivery: WebhookDelivery,
        target: Option<Arc<Target>>,
        lease: LeaseId,
    ) -> Finished {
        let config = self.crm.webhook_config();
        let now = self.crm.clock().now();
        let system = Actor::system(delivery.tenant_id);
        let Some(target) = target else {
            // Disabled (or deleted) since the delivery was created: fail it, kept for replay.
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            delivery.updated_at = now;
            let events = self.outcome_events(&system, &delivery, "the endpoint is disabled", now);
            return Finished { outcome: DeliveryOutcome { delivery, lease, attempt: None }, health: None, events };
        };
        let endpoint = &target.endpoint;
        let circuit = self.circuit_of(endpoint);
        if let Admission::WaitUntil(until) = circuit.admit(now) {
            delivery.next_attempt_at = Some(until);
            delivery.updated_at = now;
            return Finished {
                outcome: DeliveryOutcome { delivery, lease, attempt: None },
                health: None,
                events: vec![],
            };
        }
        let Some(payload) = delivery.payload.clone() else {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            let events = self.outcome_events(&system, &delivery, "the payload was purged", now);
            return Finished { outcome: DeliveryOutcome { delivery, lease, attempt: None }, health: None, events };
        };
        let pacer = self.state().runtime.get(&endpoint.id).and_then(|r| r.pacer.as_ref().map(|(_, p)| p.clone()));
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        let now = self.crm.clock().now();
        let message_id = delivery.message_id();
        let timestamp = now.timestamp();
        let mut secrets = vec![&target.current];
        if let Some((previous, until)) = &target.previous
            && *until > now
        {
            secrets.push(previous);
        }
        let signature = sign(&secrets, &message_id, timestamp, payload.as_bytes());
        let signed = vec![
            ("webhook-id".to_owned(), message_id),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature),
        ];
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), USER_AGENT.to_owned()),
        ];
        headers.extend(signed.iter().cloned());
        headers.extend(endpoint.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        delivery.attempts += 1;
        delivery.schedule_attempts += 1;
        delivery.updated_at = now;
        let mut attempt = DeliveryAttempt {
            delivery_id: delivery.id,
            tenant_id: delivery.tenant_id,
            endpoint_id: endpoint.id,
            number: delivery.attempts,
            attempted_at: now,
            status: None,
            latency_ms: 0,
            request_headers: signed,
            response_headers: Vec::new(),
            response_excerpt: String::new(),
            error_class: None,
            error: None,
            test_mode: endpoint.test_mode,
        };
        if endpoint.test_mode {
            delivery.status = DeliveryStatus::Succeeded;
            delivery.next_attempt_at = None;
            let events = self.outcome_events(&system, &delivery, "", now);
            return Finished {
                outcome: DeliveryOutcome { delivery, lease, attempt: Some(attempt) },
                health: None,
                events,
            };
        }
        let request = WebhookRequest {
            url: endpoint.url.to_string(),
            headers,
            body: payload.into_bytes(),
            timeout: config.timeout,
        };
        let started = tokio::time::Instant::now();
        let (outcome, retry_after) = match self.crm.webhook_transport() {
            Err(error) => {
                attempt.error_class = Some(ErrorClass::Other);
                attempt.error = Some(error.to_string());
                (AttemptOutcome::Failed, None)
            }
            Ok(transport) => match transport.post(&request).await {
                Ok(response) => {
                    attempt.status = Some(response.status);
                    attempt.latency_ms = u32::try_from(response.latency.as_millis()).unwrap_or(u32::MAX);
                    let retry_after = response
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| parse_retry_after(v));
                    attempt.response_headers = response.headers;
                    attempt.response_excerpt = response.body_excerpt;
                    let outcome = AttemptOutcome::from_status(Some(response.status));
                    attempt.error_class = match outcome {
                        AttemptOutcome::Delivered => None,
                        AttemptOutcome::Gone => Some(ErrorClass::Gone),
                        AttemptOutcome::Throttled => Some(ErrorClass::Throttled),
                        AttemptOutcome::Failed => Some(ErrorClass::HttpStatus),
                    };
                    (outcome, retry_after)
                }
                Err(error) => {
                    attempt.latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
                    attempt.error_class = Some(match &error {
                        TransportError::Timeout => ErrorClass::Timeout,
                        TransportError::Connect(_) => ErrorClass::Connect,
                        TransportError::Blocked(_) => ErrorClass::Blocked,
                        TransportError::Other(_) => ErrorClass::Other,
                    });
                    attempt.error = Some(error.to_string());
                    (AttemptOutcome::Failed, None)
                }
            },
        };
        delivery.last_status = attempt.status;
        let done = self.crm.clock().now();
        let mut events = Vec::new();
        let mut health = None;
        match outcome {
            AttemptOutcome::Delivered => {
                delivery.status = DeliveryStatus::Succeeded;
                delivery.next_attempt_at = None;
                let mut circuit = circuit;
                if circuit != CircuitState::default() {
                    circuit.record_success();
                    health = Some(self.set_circuit(endpoint, circuit, None));
                }
                events.extend(self.outcome_events(&system, &delivery, "", done));
            }
            AttemptOutcome::Gone => {
                delivery.status = DeliveryStatus::Failed;
                delivery.next_attempt_at = None;
                let reason = "the endpoint answered 410 Gone".to_owned();
                health = Some(self.set_circuit(endpoint, circuit, Some(reason.clone())));
                events.push(disabled_event(&system, endpoint, &reason, done));
                events.extend(self.outcome_events(&system, &delivery, &reason, done));
            }
            AttemptOutcome::Throttled | AttemptOutcome::Failed => {
                let mut circuit = circuit;
                let disable = circuit.record_failure(&config.circuit, done).then(|| {
                    let since = circuit.failing_since.unwrap_or(done);
                    format!("failing since {}", since.to_rfc3339())
                });
                if let Some(reason) = &disable {
                    events.push(disabled_event(&system, endpoint, reason, done));
                }
                health = Some(self.set_circuit(endpoint, circuit, disable));
                let entropy = delivery.id.0.as_u64_pair().1;
                let schedule = config.schedule_for(delivery.tenant_id);
                match schedule.next_delay(delivery.schedule_attempts, retry_after, entropy) {
                    Some(delay) => {
                        let delay = Duration::from_std(delay).unwrap_or(Duration::hours(24));
                        delivery.next_attempt_at = Some(done + delay);
                    }
                    None => {
                        delivery.status = DeliveryStatus::Failed;
                        delivery.next_attempt_at = None;
                        let why = attempt.error.clone().unwrap_or_else(|| {
                            format!("answered {}", attempt.status.map_or_else(|| "nothing".into(), |s| s.to_string()))
                        });
                        events.extend(self.outcome_events(&system, &delivery, &why, done));
                    }
                }
            }
        }
        Finished { outcome: DeliveryOutcome { delivery, lease, attempt: Some(attempt) }, health, events }
    }

    fn circuit_of(&self, endpoint: &WebhookEndpoint) -> CircuitState {
        self.state().runtime.get(&endpoint.id).and_then(|r| r.circuit).unwrap_or(endpoint.circuit)
    }

    fn set_circuit(
        &self,
        endpoint: &WebhookEndpoint,
        circuit: CircuitState,
        disable: Option<String>,
    ) -> EndpointHealth {
        let mut state = self.state();
        state.runtime.entry(endpoint.id).or_default().circuit = Some(circuit);
        if disable.is_some()
            && let Some(tenant) = state.tenants.get_mut(&endpoint.tenant_id)
        {
            tenant.targets.remove(&endpoint.id);
        }
        EndpointHealth { tenant_id: endpoint.tenant_id, endpoint_id: endpoint.id, circuit, disable }
    }

    /// `delivery.succeeded` / `delivery.failed` for a finished delivery, unless it delivered a
    /// `delivery.*` event itself (no chains) or no endpoint of the tenant listens for it.
    fn outcome_events(
        &self,
        actor: &Actor,
        delivery: &WebhookDelivery,
        why: &str,
        now: DateTime<Utc>,
    ) -> Vec<DomainEvent> {
        let event_type = match delivery.status {
            DeliveryStatus::Succeeded => EventType::DeliverySucceeded,
            DeliveryStatus::Failed => EventType::DeliveryFailed,
            DeliveryStatus::Pending => return Vec::new(),
        };
        if delivery.event_type.is_delivery() {
            return Vec::new();
        }
        let listened = {
            let state = self.state();
            state
                .tenants
                .get(&delivery.tenant_id)
                .is_some_and(|t| t.targets.values().any(|target| target.endpoint.event_types.accepts(event_type)))
        };
        if !listened && event_type == EventType::DeliverySucceeded {
            return Vec::new();
        }
        let data = json!({
            "object": {
                "delivery_id": delivery.id,
                "endpoint_id": delivery.endpoint_id,
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "attempts": delivery.attempts,
                "last_status": delivery.last_status,
                "reason": (!why.is_empty()).then_some(why),
            }
        });
        let subject = EntityRef { kind: EntityKind::WebhookDelivery, id: delivery.id.0 };
        vec![DomainEvent::new(actor, event_type, subject, data, now)]
    }

    /// Writes finished attempts in one transaction.
    async fn record(&self, finished: Vec<Finished>) {
        if finished.is_empty() {
            return;
        }
        let mut outcomes = Vec::with_capacity(finished.len());
        let mut health: Vec<EndpointHealth> = Vec::new();
        let mut events = Vec::new();
        for f in finished {
            outcomes.push(f.outcome);
            if let Some(h) = f.health {
                // The latest state of an endpoint wins; a disable is never dropped.
                match health.iter_mut().find(|x| x.endpoint_id == h.endpoint_id) {
                    Some(existing) => {
                        let disable = h.disable.clone().or_else(|| existing.disable.clone());
                        *existing = EndpointHealth { disable, ..h };
                    }
                    None => health.push(h),
                }
            }
            events.extend(f.events);
        }
        let has_events = !events.is_empty();
        match self.crm.store().webhooks().record_outcomes(&outcomes, &health, &events).await {
            Ok(written) if (written as usize) < outcomes.len() => {
                tracing::warn!(
                    lost = outcomes.len() - written as usize,
                    "webhook leases expired before their outcome was recorded"
                );
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "could not record webhook attempts; their leases will expire and they rerun")
            }
        }
        if has_events {
            self.crm.wake_worker();
        }
    }

    async fn purge_if_due(&self) -> Result<()> {
        {
            let mut state = self.state();
            if state.last_purge.is_some_and(|at| at.elapsed() < PURGE_EVERY) {
                return Ok(());
            }
            state.last_purge = Some(tokio::time::Instant::now());
        }
        let before = self.crm.clock().now() - self.crm.webhook_config().retention;
        let purged = self.crm.store().webhooks().purge_payloads(before).await?;
        if purged > 0 {
            tracing::info!(purged, "purged webhook payloads past retention");
        }
        Ok(())
    }
}

fn disabled_event(actor: &Actor, endpoint: &WebhookEndpoint, reason: &str, now: DateTime<Utc>) -> DomainEvent {
    let subject = EntityRef { kind: EntityKind::WebhookEndpoint, id: endpoint.id.0 };
    let mut view = super::EndpointView::from(endpoint);
    view.enabled = false;
    view.disabled_reason = Some(reason.to_owned());
    DomainEvent::new(actor, EventType::WebhookEndpointDisabled, subject, json!({"object": view, "reason": reason}), now)
}
