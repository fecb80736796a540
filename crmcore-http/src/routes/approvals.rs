//! `/api/v1/documents/{id}/approvals` and `/api/v1/approvals`: approval workflows of document
//! versions. Requesting needs edit access to the document; reading and deciding need view
//! access; deciding also needs to be an approver of the current step (403 otherwise). A stale
//! `expected_version` or a decision on a finished approval is a 409.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use crmcore::document::{Approval, CancelApproval, Decide, NewApproval, Source};
use crmcore::id::{ApprovalId, DocumentId};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

type Connect = Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>;

fn source(connect: Connect) -> Source {
    Source(connect.map(|axum::Extension(ConnectInfo(addr))| addr.ip().to_string()))
}

/// Requests approval of the document's latest version.
#[utoipa::path(post, path = "/api/v1/documents/{id}/approvals", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = NewApproval,
    responses((status = 201, body = Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn request(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Connect,
    Path(id): Path<DocumentId>,
    Json(input): Json<NewApproval>,
) -> Result<(StatusCode, Json<Approval>), ApiError> {
    let approval = state.crm().documents().approvals().request(&actor, id, input, &source(connect)).await?;
    Ok((StatusCode::CREATED, Json(approval)))
}

/// A document's approvals, newest first.
#[utoipa::path(get, path = "/api/v1/documents/{id}/approvals", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Approval>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentId>,
) -> Result<Json<Vec<Approval>>, ApiError> {
    Ok(Json(state.crm().documents().approvals().list(&actor, id).await?))
}

/// One approval.
#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Approval), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ApprovalId>,
) -> Result<Json<Approval>, ApiError> {
    Ok(Json(state.crm().documents().approvals().get(&actor, id).await?))
}

/// Approves the current step, as one of its approvers.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = Decide,
    responses((status = 200, body = Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Connect,
    Path(id): Path<ApprovalId>,
    Json(input): Json<Decide>,
) -> Result<Json<Approval>, ApiError> {
    Ok(Json(state.crm().documents().approvals().approve(&actor, id, input, &source(connect)).await?))
}

/// Rejects the current step, as one of its approvers (`comment` required).
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = Decide,
    responses((status = 200, body = Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Connect,
    Path(id): Path<ApprovalId>,
    Json(input): Json<Decide>,
) -> Result<Json<Approval>, ApiError> {
    Ok(Json(state.crm().documents().approvals().reject(&actor, id, input, &source(connect)).await?))
}

/// Withdraws a pending approval (its requester, or an admin).
#[utoipa::path(post, path = "/api/v1/approvals/{id}/cancel", tag = "approvals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = CancelApproval,
    responses((status = 200, body = Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Connect,
    Path(id): Path<ApprovalId>,
    Json(input): Json<CancelApproval>,
) -> Result<Json<Approval>, ApiError> {
    Ok(Json(state.crm().documents().approvals().cancel(&actor, id, input, &source(connect)).await?))
}
