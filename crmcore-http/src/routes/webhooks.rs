//! `/api/v1/webhook-endpoints`, `/api/v1/webhook-deliveries` and `/api/v1/event-types`: outgoing
//! webhooks. Every route needs `manage_integrations` (admins); the rules live in
//! `crmcore::webhook`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use crmcore::Result;
use crmcore::event::EventType;
use crmcore::id::{DeliveryId, EventId, WebhookEndpointId};
use crmcore::page::{Page, PageRequest};
use crmcore::webhook::{
    CreatedEndpoint, DeliveryAttempt, DeliveryFilter, DeliveryStatus, EndpointPatch, EndpointView, EventTypeInfo,
    NewEndpoint, WebhookDelivery,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::routes::campaigns::PageQuery;
use crate::state::AppState;

/// Filters and page of `GET /api/v1/webhook-deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only this endpoint's deliveries.
    endpoint_id: Option<WebhookEndpointId>,
    /// Only deliveries in this status: `pending`, `succeeded` or `failed`.
    status: Option<String>,
    /// Only deliveries of this event.
    event_id: Option<EventId>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl DeliveryQuery {
    fn parse(&self) -> Result<(DeliveryFilter, PageRequest)> {
        let status = self.status.as_deref().filter(|s| !s.is_empty()).map(DeliveryStatus::parse).transpose()?;
        let filter = DeliveryFilter { endpoint_id: self.endpoint_id, status, event_id: self.event_id };
        Ok((filter, PageRequest::parse(self.limit, self.cursor.as_deref())?))
    }
}

/// `POST /api/v1/webhook-endpoints/{id}/secret/rotate` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// A `whsec_…` secret to use; generated when absent.
    secret: Option<String>,
    /// Seconds the old secret keeps signing alongside the new one (default 86400, at most 7 days).
    overlap_seconds: Option<i64>,
}

/// The endpoint's signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretResponse {
    /// `whsec_…`.
    secret: String,
}

/// `POST /api/v1/webhook-endpoints/{id}/test` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// Which catalogue example to send (default `webhook.endpoint.updated`).
    event_type: Option<EventType>,
}

/// `POST /api/v1/webhook-endpoints/{id}/recover` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoverRequest {
    /// Requeue failed deliveries created at or after this time (RFC 3339).
    since: DateTime<Utc>,
}

/// What a recovery requeued.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecoverResponse {
    /// Deliveries queued again.
    requeued: u64,
}

/// Lists the tenant's endpoints, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "webhooks", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<EndpointView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list_endpoints(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<EndpointView>>, ApiError> {
    Ok(Json(state.crm().webhooks().list_endpoints(&actor, query.parse()?).await?))
}

/// Creates an endpoint; the response carries its signing secret.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    request_body = NewEndpoint,
    responses((status = 201, body = CreatedEndpoint), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewEndpoint>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().webhooks().create_endpoint(&actor, input).await?)))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = EndpointView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(state.crm().webhooks().get_endpoint(&actor, id).await?))
}

/// Changes an endpoint's settings.
#[utoipa::path(patch, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = EndpointPatch,
    responses((status = 200, body = EndpointView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn update_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<EndpointPatch>,
) -> Result<Json<EndpointView>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().webhooks().update_endpoint(&actor, id, patch).await?))
}

/// Deletes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
) -> Result<StatusCode, ApiError> {
    state.crm().webhooks().delete_endpoint(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables an endpoint: no new deliveries; pending ones fail and can be recovered later.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/disable", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = EndpointView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn disable_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(state.crm().webhooks().disable_endpoint(&actor, id).await?))
}

/// Re-enables an endpoint with a closed circuit.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/enable", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = EndpointView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn enable_endpoint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(state.crm().webhooks().enable_endpoint(&actor, id).await?))
}

/// Reveals the endpoint's current signing secret.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = SecretResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn reveal_secret(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
) -> Result<Json<SecretResponse>, ApiError> {
    Ok(Json(SecretResponse { secret: state.crm().webhooks().reveal_secret(&actor, id).await? }))
}

/// Rotates the signing secret; the old one keeps signing alongside for the overlap.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/secret/rotate", tag = "webhooks",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = RotateRequest,
    responses((status = 200, body = SecretResponse), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
    Json(input): Json<RotateRequest>,
) -> Result<Json<SecretResponse>, ApiError> {
    let overlap = input.overlap_seconds.map(chrono::Duration::seconds);
    Ok(Json(SecretResponse { secret: state.crm().webhooks().rotate_secret(&actor, id, input.secret, overlap).await? }))
}

/// Sends a catalogue example to the endpoint, whatever its filters; returns the queued delivery.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = TestRequest,
    responses((status = 202, body = WebhookDelivery), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub(crate) async fn send_test(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
    Json(input): Json<TestRequest>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    let event_type = input.event_type.unwrap_or(EventType::WebhookEndpointUpdated);
    Ok((StatusCode::ACCEPTED, Json(state.crm().webhooks().send_example(&actor, id, event_type).await?)))
}

/// Requeues every failed delivery of the endpoint created since a time.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/recover", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = RecoverRequest,
    responses((status = 202, body = RecoverResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn recover(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<WebhookEndpointId>,
    Json(input): Json<RecoverRequest>,
) -> Result<(StatusCode, Json<RecoverResponse>), ApiError> {
    let requeued = state.crm().webhooks().recover(&actor, id, input.since).await?;
    Ok((StatusCode::ACCEPTED, Json(RecoverResponse { requeued })))
}

/// Lists deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries", tag = "webhooks", params(DeliveryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<WebhookDelivery>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<Page<WebhookDelivery>>, ApiError> {
    let (filter, page) = query.parse()?;
    Ok(Json(state.crm().webhooks().list_deliveries(&actor, filter, page).await?))
}

/// One delivery, with its body unless retention purged it.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = WebhookDelivery), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_delivery(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DeliveryId>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    Ok(Json(state.crm().webhooks().get_delivery(&actor, id).await?))
}

/// A delivery's attempts, oldest first: status, latency, response headers and excerpt, error class.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries/{id}/attempts", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<DeliveryAttempt>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn list_attempts(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DeliveryId>,
) -> Result<Json<Vec<DeliveryAttempt>>, ApiError> {
    Ok(Json(state.crm().webhooks().list_attempts(&actor, id).await?))
}

/// Sends a finished delivery again (same `webhook-id`, fresh retry schedule).
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = WebhookDelivery), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DeliveryId>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.crm().webhooks().replay(&actor, id).await?)))
}

/// The event catalogue: every type an endpoint can subscribe to, with an example body.
#[utoipa::path(get, path = "/api/v1/event-types", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<EventTypeInfo>)))]
pub(crate) async fn event_types(
    State(state): State<AppState>,
    CurrentActor(_actor): CurrentActor,
) -> Json<Vec<EventTypeInfo>> {
    Json(state.crm().webhooks().event_catalogue())
}
