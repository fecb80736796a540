//! `/api/v1/api-keys`: machine credentials of the caller's tenant.

use axum::extract::State;
use axum::http::StatusCode;
use crmcore::id::ApiKeyId;

use crate::auth::CurrentActor;
use crate::auth::api_key::{self, ApiKeyView, CreatedApiKey, NewApiKeyRequest};
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// Creates an API key; the secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = NewApiKeyRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedApiKey), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(request): Json<NewApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    Ok((StatusCode::CREATED, Json(api_key::create(&state, &actor, request).await?)))
}

/// Lists the tenant's API keys.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 403, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    Ok(Json(api_key::list(&state, &actor).await?))
}

/// Revokes an API key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    api_key::revoke(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
