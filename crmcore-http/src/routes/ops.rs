//! Operational endpoints: liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use crmcore::CrmError;
use serde_json::{Value, json};
use utoipa::OpenApi as _;

use crate::error::{ApiError, Problem};
use crate::extract::Json;
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Object)))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Object), (status = 503, body = Problem)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.crm().store().ping().await.map_err(|e| match e {
        CrmError::Unavailable { .. } => e,
        other => CrmError::store_unavailable(other.to_string()),
    })?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.crm().clock().now();
    let queue = match state.crm().store().jobs().stats(now).await {
        Ok(stats) => Some(stats),
        Err(error) => {
            tracing::warn!(%error, "queue stats unavailable for /metrics");
            None
        }
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics().render(queue))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, body = Object)))]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
