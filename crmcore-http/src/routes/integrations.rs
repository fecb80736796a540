//! `/api/v1/oauth-providers`, `/api/v1/oauth/complete` and `/api/v1/integrations`: OAuth 2.0
//! connections to third-party services and their syncs. Admins only; the rules live in
//! `crmcore::integration`.
//!
//! The authorization flow: `POST /oauth-providers/{id}/authorize` answers the provider's URL;
//! the person consents there and the provider redirects their browser to the application's
//! `redirect_uri` with `code` and `state`; the application (signed in as the same member) posts
//! both to `/oauth/complete`.

use axum::extract::State;
use axum::http::StatusCode;
use crmcore::id::{ConnectionId, OAuthProviderId};
use crmcore::integration::{AuthorizationStart, ConnectionView, NewProvider, ProviderView, SyncLog};
use crmcore::page::Page;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::campaigns::PageQuery;
use crate::state::AppState;

/// `POST /api/v1/oauth-providers/{id}/authorize` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizeRequest {
    /// Where the provider sends the person back (registered with the provider).
    redirect_uri: String,
}

/// `POST /api/v1/oauth/complete` body: what the provider appended to the redirect URI.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteRequest {
    /// The `state` from the redirect.
    state: String,
    /// The `code` from the redirect.
    code: String,
}

/// `PUT /api/v1/integrations/{id}/schedule` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleRequest {
    /// A cron expression in UTC (5 fields, or 6 with seconds); `null` stops scheduled syncs.
    cron: Option<String>,
}

/// What `POST /api/v1/integrations/{id}/sync` did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncQueued {
    /// `false` when a sync of the connection was already queued or running.
    queued: bool,
}

/// Lists OAuth providers, newest first.
#[utoipa::path(get, path = "/api/v1/oauth-providers", tag = "integrations", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<ProviderView>), (status = 403, body = Problem)))]
pub(crate) async fn list_providers(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<ProviderView>>, ApiError> {
    Ok(Json(state.crm().integrations().list_providers(&actor, query.parse()?).await?))
}

/// Registers an OAuth provider; its client secret is sealed and never shown again.
#[utoipa::path(post, path = "/api/v1/oauth-providers", tag = "integrations", security(("bearer" = [])),
    request_body = NewProvider,
    responses((status = 201, body = ProviderView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_provider(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewProvider>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().integrations().create_provider(&actor, input).await?)))
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/oauth-providers/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ProviderView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_provider(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<OAuthProviderId>,
) -> Result<Json<ProviderView>, ApiError> {
    Ok(Json(state.crm().integrations().get_provider(&actor, id).await?))
}

/// Removes a provider and its connections (tokens revoked first).
#[utoipa::path(delete, path = "/api/v1/oauth-providers/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_provider(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<OAuthProviderId>,
) -> Result<StatusCode, ApiError> {
    state.crm().integrations().delete_provider(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts the authorization-code flow with PKCE: the URL to send the person to.
#[utoipa::path(post, path = "/api/v1/oauth-providers/{id}/authorize", tag = "integrations",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = AuthorizeRequest,
    responses((status = 200, body = AuthorizationStart), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn authorize(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<OAuthProviderId>,
    Json(input): Json<AuthorizeRequest>,
) -> Result<Json<AuthorizationStart>, ApiError> {
    Ok(Json(state.crm().integrations().start_authorization(&actor, id, &input.redirect_uri).await?))
}

/// Completes the flow: exchanges the code and stores the connection.
#[utoipa::path(post, path = "/api/v1/oauth/complete", tag = "integrations", security(("bearer" = [])),
    request_body = CompleteRequest,
    responses((status = 201, body = ConnectionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn complete(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<CompleteRequest>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let connection = state.crm().integrations().complete_authorization(&actor, &input.state, &input.code).await?;
    Ok((StatusCode::CREATED, Json(connection)))
}

/// Lists connections, newest first.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<ConnectionView>), (status = 403, body = Problem)))]
pub(crate) async fn list_connections(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    Ok(Json(state.crm().integrations().list_connections(&actor, query.parse()?).await?))
}

/// One connection.
#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ConnectionView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_connection(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ConnectionId>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(state.crm().integrations().get_connection(&actor, id).await?))
}

/// Disconnects: revokes the tokens at the provider and deletes the connection with its logs.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ConnectionId>,
) -> Result<StatusCode, ApiError> {
    state.crm().integrations().disconnect(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets or clears the sync schedule.
#[utoipa::path(put, path = "/api/v1/integrations/{id}/schedule", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ScheduleRequest,
    responses((status = 200, body = ConnectionView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn set_schedule(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ConnectionId>,
    Json(input): Json<ScheduleRequest>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(state.crm().integrations().set_schedule(&actor, id, input.cron.as_deref()).await?))
}

/// Queues a sync now (never two of one connection at once).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/sync", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = SyncQueued), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn sync_now(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ConnectionId>,
) -> Result<(StatusCode, Json<SyncQueued>), ApiError> {
    let queued = state.crm().integrations().sync_now(&actor, id).await?;
    Ok((StatusCode::ACCEPTED, Json(SyncQueued { queued })))
}

/// A connection's sync log, newest first.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/sync-logs", tag = "integrations", params(PageQuery),
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Page<SyncLog>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn sync_logs(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ConnectionId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<SyncLog>>, ApiError> {
    Ok(Json(state.crm().integrations().sync_logs(&actor, id, query.parse()?).await?))
}
