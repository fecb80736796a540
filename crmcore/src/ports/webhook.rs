use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{DeliveryId, LeaseId, TenantId, WebhookEndpointId};
use crate::page::{Page, PageRequest};
use crate::webhook::{
    ClaimLimits, DeliveryAttempt, DeliveryFilter, DeliveryOutcome, EndpointHealth, WebhookDelivery, WebhookEndpoint,
};

/// Webhook endpoints, deliveries (which are their own durable queue) and the attempt log.
///
/// # Contract
/// Deliveries are unique per (endpoint, event): inserting one again is a no-op. Claims MUST be
/// exclusive: a claimed delivery is handed to no one else until its lease expires, and an outcome
/// is written only while its lease holds. Every write is one transaction with its events.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Inserts an endpoint.
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()>;
    /// Replaces an endpoint whose stored version is `endpoint.version - 1` (its circuit state
    /// included). MUST return `NotFound` when absent from the tenant, `Conflict` on a stale version.
    async fn update_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()>;
    /// Deletes an endpoint with its deliveries and their attempts. `NotFound` when absent.
    async fn delete_endpoint(&self, tenant: TenantId, id: WebhookEndpointId, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get_endpoint(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<WebhookEndpoint>;
    /// A tenant's endpoints, newest first.
    async fn list_endpoints(&self, tenant: TenantId, page: PageRequest) -> Result<Page<WebhookEndpoint>>;
    /// The enabled endpoints of these tenants, in any order (what the dispatcher matches against).
    async fn enabled_endpoints(&self, tenants: &[TenantId]) -> Result<Vec<WebhookEndpoint>>;

    /// Inserts pending deliveries, skipping any whose (endpoint, event) already exists, in one
    /// transaction. Returns how many were new.
    async fn insert_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<u64>;
    /// Claims pending deliveries due at `now` whose lease is free or expired, of any tenant:
    /// the earliest due of each endpoint, no more than its room ([`ClaimLimits::room_of`]), and
    /// of those the earliest due first, no more than `limits.total`. Each is leased to `lease`
    /// until `until`.
    ///
    /// An endpoint with no room costs the claim nothing however many deliveries it has queued:
    /// the claim MUST still return the due deliveries of the other endpoints.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: LeaseId,
        until: DateTime<Utc>,
        limits: ClaimLimits<'_>,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Writes outcomes whose lease still holds (the others are skipped) with their attempts, the
    /// endpoints' health, and the events, all in one transaction. Replacing a delivery releases its
    /// lease. Health updates leave the endpoint's version alone; `disable` also disables it.
    /// Returns how many outcomes were written.
    async fn record_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        health: &[EndpointHealth],
        events: &[DomainEvent],
    ) -> Result<u64>;
    /// The earliest `next_attempt_at` of any pending delivery, for an idle worker's sleep.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>>;

    /// MUST return `NotFound` when absent from the tenant.
    async fn get_delivery(&self, tenant: TenantId, id: DeliveryId) -> Result<WebhookDelivery>;
    /// A tenant's deliveries matching `filter`, newest first.
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>>;
    /// A delivery's attempts, oldest first.
    async fn list_attempts(&self, tenant: TenantId, delivery: DeliveryId) -> Result<Vec<DeliveryAttempt>>;
    /// Makes deliveries pending again, due at `now`, with a fresh retry schedule
    /// (`schedule_attempts = 0`) and no lease: the given ids (when `ids` is `Some`), or every
    /// failed delivery of `endpoint` created at or after `since`. Deliveries whose payload was
    /// purged, and pending ones, are left alone. Returns how many were requeued.
    async fn requeue(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        ids: Option<&[DeliveryId]>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// Drops the payload of finished (succeeded or failed) deliveries created before `before`, of
    /// every tenant; returns how many. Attempts are kept.
    async fn purge_payloads(&self, before: DateTime<Utc>) -> Result<u64>;
}
