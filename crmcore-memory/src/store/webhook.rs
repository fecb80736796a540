//! Webhook endpoints, deliveries (with their leases) and the attempt log in memory, under the
//! store's one lock.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::event::DomainEvent;
use crmcore::id::{DeliveryId, EventId, LeaseId, TenantId, WebhookEndpointId};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::WebhookRepository;
use crmcore::webhook::{
    ClaimLimits, DeliveryAttempt, DeliveryFilter, DeliveryOutcome, DeliveryStatus, EndpointHealth, WebhookDelivery,
    WebhookEndpoint,
};
use crmcore::{CrmError, Result};

use super::{MemoryStore, State, page_of};

/// The webhook part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct WebhookState {
    endpoints: BTreeMap<WebhookEndpointId, WebhookEndpoint>,
    deliveries: BTreeMap<DeliveryId, StoredDelivery>,
    /// Unique (endpoint, event) index.
    by_event: HashMap<(WebhookEndpointId, EventId), DeliveryId>,
    attempts: HashMap<DeliveryId, Vec<DeliveryAttempt>>,
}

#[derive(Debug, Clone)]
struct StoredDelivery {
    delivery: WebhookDelivery,
    lease: Option<(LeaseId, DateTime<Utc>)>,
}

impl State {
    fn endpoint_in(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<&WebhookEndpoint> {
        self.webhook
            .endpoints
            .get(&id)
            .filter(|e| e.tenant_id == tenant)
            .ok_or_else(|| CrmError::not_found("webhook endpoint", id))
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if state.webhook.endpoints.contains_key(&endpoint.id) {
            return Err(CrmError::conflict(Some("id"), format!("webhook endpoint {} exists", endpoint.id)));
        }
        state.webhook.endpoints.insert(endpoint.id, endpoint.clone());
        state.append(events);
        Ok(())
    }

    async fn update_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        State::check_version(
            state.webhook.endpoints.get(&endpoint.id),
            |e| e.tenant_id,
            |e| e.version,
            endpoint.tenant_id,
            endpoint.version,
            "webhook endpoint",
            endpoint.id,
        )?;
        state.webhook.endpoints.insert(endpoint.id, endpoint.clone());
        state.append(events);
        Ok(())
    }

    async fn delete_endpoint(&self, tenant: TenantId, id: WebhookEndpointId, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        state.endpoint_in(tenant, id)?;
        state.webhook.endpoints.remove(&id);
        let gone: Vec<DeliveryId> =
            state.webhook.deliveries.values().filter(|d| d.delivery.endpoint_id == id).map(|d| d.delivery.id).collect();
        for delivery in gone {
            if let Some(d) = state.webhook.deliveries.remove(&delivery) {
                state.webhook.by_event.remove(&(id, d.delivery.event_id));
            }
            state.webhook.attempts.remove(&delivery);
        }
        state.append(events);
        Ok(())
    }

    async fn get_endpoint(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<WebhookEndpoint> {
        self.lock().endpoint_in(tenant, id).cloned()
    }

    async fn list_endpoints(&self, tenant: TenantId, page: PageRequest) -> Result<Page<WebhookEndpoint>> {
        let state = self.lock();
        Ok(page_of(&state.webhook.endpoints, page, |e| e.tenant_id == tenant, WebhookEndpointId, |e| e.id.0))
    }

    async fn enabled_endpoints(&self, tenants: &[TenantId]) -> Result<Vec<WebhookEndpoint>> {
        let state = self.lock();
        Ok(state.webhook.endpoints.values().filter(|e| e.enabled && tenants.contains(&e.tenant_id)).cloned().collect())
    }

    async fn insert_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<u64> {
        let mut state = self.lock();
        for d in deliveries {
            state.endpoint_in(d.tenant_id, d.endpoint_id)?;
        }
        let mut created = 0;
        for d in deliveries {
            let key = (d.endpoint_id, d.event_id);
            if state.webhook.by_event.contains_key(&key) || state.webhook.deliveries.contains_key(&d.id) {
                continue;
            }
            state.webhook.by_event.insert(key, d.id);
            state.webhook.deliveries.insert(d.id, StoredDelivery { delivery: d.clone(), lease: None });
            created += 1;
        }
        Ok(created)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: LeaseId,
        until: DateTime<Utc>,
        limits: ClaimLimits<'_>,
    ) -> Result<Vec<WebhookDelivery>> {
        let mut state = self.lock();
        let mut due: Vec<(DateTime<Utc>, DeliveryId, WebhookEndpointId)> = state
            .webhook
            .deliveries
            .values()
            .filter(|d| {
                d.delivery.status == DeliveryStatus::Pending
                    && d.delivery.next_attempt_at.is_some_and(|at| at <= now)
                    && d.lease.is_none_or(|(_, expires)| expires <= now)
            })
            .filter_map(|d| d.delivery.next_attempt_at.map(|at| (at, d.delivery.id, d.delivery.endpoint_id)))
            .collect();
        due.sort();
        // Earliest due first, each taken while its endpoint has room: the same as taking each
        // endpoint's earliest up to its room, then the earliest of those.
        let mut taken: HashMap<WebhookEndpointId, u32> = HashMap::new();
        let mut picked = Vec::new();
        for (_, id, endpoint) in due {
            if picked.len() >= limits.total as usize {
                break;
            }
            let count = taken.entry(endpoint).or_insert(0);
            if *count < limits.room_of(endpoint) {
                *count += 1;
                picked.push(id);
            }
        }
        let mut out = Vec::with_capacity(picked.len());
        for id in picked {
            if let Some(stored) = state.webhook.deliveries.get_mut(&id) {
                stored.lease = Some((lease, until));
                out.push(stored.delivery.clone());
            }
        }
        Ok(out)
    }

    async fn record_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        health: &[EndpointHealth],
        events: &[DomainEvent],
    ) -> Result<u64> {
        let mut state = self.lock();
        let mut written = 0;
        for outcome in outcomes {
            let id = outcome.delivery.id;
            let holds = state.webhook.deliveries.get(&id).is_some_and(|d| {
                d.delivery.tenant_id == outcome.delivery.tenant_id
                    && d.lease.is_some_and(|(lease, _)| lease == outcome.lease)
            });
            if !holds {
                continue;
            }
            // Retention may have purged the payload meanwhile; never bring it back.
            let mut delivery = outcome.delivery.clone();
            if let Some(stored) = state.webhook.deliveries.get(&id)
                && stored.delivery.payload.is_none()
            {
                delivery.payload = None;
            }
            state.webhook.deliveries.insert(id, StoredDelivery { delivery, lease: None });
            if let Some(attempt) = &outcome.attempt {
                state.webhook.attempts.entry(id).or_default().push(attempt.clone());
            }
            written += 1;
        }
        for h in health {
            if let Some(endpoint) =
                state.webhook.endpoints.get_mut(&h.endpoint_id).filter(|e| e.tenant_id == h.tenant_id)
            {
                endpoint.circuit = h.circuit;
                if let Some(reason) = &h.disable {
                    endpoint.enabled = false;
                    endpoint.disabled_reason = Some(reason.clone());
                }
            }
        }
        state.append(events);
        Ok(written)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.lock();
        Ok(state
            .webhook
            .deliveries
            .values()
            .filter(|d| d.delivery.status == DeliveryStatus::Pending)
            .filter_map(|d| match (d.delivery.next_attempt_at, d.lease) {
                (Some(at), Some((_, expires))) => Some(at.max(expires)),
                (at, None) => at,
                (None, Some(_)) => None,
            })
            .min())
    }

    async fn get_delivery(&self, tenant: TenantId, id: DeliveryId) -> Result<WebhookDelivery> {
        self.lock()
            .webhook
            .deliveries
            .get(&id)
            .filter(|d| d.delivery.tenant_id == tenant)
            .map(|d| d.delivery.clone())
            .ok_or_else(|| CrmError::not_found("webhook delivery", id))
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let state = self.lock();
        let keep = |d: &StoredDelivery| {
            let d = &d.delivery;
            d.tenant_id == tenant
                && filter.endpoint_id.is_none_or(|e| e == d.endpoint_id)
                && filter.status.is_none_or(|s| s == d.status)
                && filter.event_id.is_none_or(|e| e == d.event_id)
        };
        let page = page_of(&state.webhook.deliveries, page, keep, DeliveryId, |d| d.delivery.id.0);
        Ok(Page { items: page.items.into_iter().map(|d| d.delivery).collect(), next_cursor: page.next_cursor })
    }

    async fn list_attempts(&self, tenant: TenantId, delivery: DeliveryId) -> Result<Vec<DeliveryAttempt>> {
        let state = self.lock();
        Ok(state
            .webhook
            .attempts
            .get(&delivery)
            .map(|list| list.iter().filter(|a| a.tenant_id == tenant).cloned().collect())
            .unwrap_or_default())
    }

    async fn requeue(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        ids: Option<&[DeliveryId]>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut state = self.lock();
        let mut count = 0;
        for stored in state.webhook.deliveries.values_mut() {
            let d = &mut stored.delivery;
            let chosen = match ids {
                Some(ids) => ids.contains(&d.id),
                None => d.status == DeliveryStatus::Failed && d.created_at >= since,
            };
            if d.tenant_id != tenant
                || d.endpoint_id != endpoint
                || !chosen
                || d.status == DeliveryStatus::Pending
                || d.payload.is_none()
            {
                continue;
            }
            d.status = DeliveryStatus::Pending;
            d.schedule_attempts = 0;
            d.next_attempt_at = Some(now);
            d.updated_at = now;
            stored.lease = None;
            count += 1;
        }
        Ok(count)
    }

    async fn purge_payloads(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut state = self.lock();
        let mut count = 0;
        for stored in state.webhook.deliveries.values_mut() {
            let d = &mut stored.delivery;
            if d.status != DeliveryStatus::Pending && d.created_at < before && d.payload.is_some() {
                d.payload = None;
                count += 1;
            }
        }
        Ok(count)
    }
}
