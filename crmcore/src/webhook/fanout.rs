//! The dispatcher's webhook step: one pending delivery per (event, enabled endpoint whose filters
//! accept it), inserted idempotently before the events are marked dispatched, so a crash in
//! between only repeats a no-op.

use crate::crm::Crm;
use crate::error::Result;
use crate::event::OutboxEntry;
use crate::id::TenantId;
use crate::webhook::WebhookDelivery;

/// Creates the deliveries of a batch of events; returns how many were new.
pub(crate) async fn plan(crm: &Crm, entries: &[OutboxEntry]) -> Result<u64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let repo = crm.store().webhooks();
    let mut tenants: Vec<TenantId> = entries.iter().map(|e| e.event.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let endpoints = repo.enabled_endpoints(&tenants).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let now = crm.clock().now();
    let deliveries: Vec<WebhookDelivery> = entries
        .iter()
        .flat_map(|entry| {
            let event = &entry.event;
            endpoints
                .iter()
                .filter(move |e| e.tenant_id == event.tenant_id && e.accepts(event.event_type, &event.data))
                .map(move |endpoint| WebhookDelivery::new(endpoint, entry, now))
        })
        .collect();
    if deliveries.is_empty() {
        return Ok(0);
    }
    let created = repo.insert_deliveries(&deliveries).await?;
    if created > 0 {
        crm.wake_webhooks();
    }
    Ok(created)
}
