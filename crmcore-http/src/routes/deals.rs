//! `/api/v1/deals` and `/api/v1/pipeline`.

use axum::extract::State;
use axum::http::StatusCode;
use crmcore::deal::{Deal, DealFilter, DealPatch, DealStatus, NewDeal, Pipeline, StageChange};
use crmcore::id::{ContactId, DealId, MemberId};
use crmcore::page::{Page, PageRequest};
use crmcore::{Permission, Result};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// Filters and page of `GET /api/v1/deals`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DealQuery {
    /// Only deals in this stage.
    stage: Option<String>,
    /// Only deals with this status: `open`, `won` or `lost`.
    status: Option<String>,
    /// Only deals owned by this member.
    #[param(value_type = Option<uuid::Uuid>)]
    owner_id: Option<MemberId>,
    /// Only deals with this contact.
    #[param(value_type = Option<uuid::Uuid>)]
    contact_id: Option<ContactId>,
    /// Case-insensitive search in the title.
    q: Option<String>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl DealQuery {
    fn parse(self) -> Result<(DealFilter, PageRequest)> {
        let status = self.status.as_deref().map(str::parse::<DealStatus>).transpose()?;
        let page = PageRequest::parse(self.limit, self.cursor.as_deref())?;
        let filter = DealFilter {
            stage: self.stage,
            status,
            owner_id: self.owner_id,
            contact_id: self.contact_id,
            search: self.q.filter(|q| !q.is_empty()),
        };
        Ok((filter, page))
    }
}

/// `POST /api/v1/deals/{id}/stage` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveStageRequest {
    /// The stage key to move to.
    stage: String,
    /// Why the deal was lost (lost stages only).
    lost_reason: Option<String>,
}

/// Lists deals, newest first.
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", params(DealQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of deals, newest first", body = Page<Deal>),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<DealQuery>,
) -> Result<Json<Page<Deal>>, ApiError> {
    let (filter, page) = query.parse()?;
    Ok(Json(state.crm().deals().list(&actor, &filter, page).await?))
}

/// Creates a deal in its starting stage.
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", security(("bearer" = [])),
    request_body = NewDeal,
    responses((status = 201, body = Deal), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewDeal>,
) -> Result<(StatusCode, Json<Deal>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().deals().create(&actor, input).await?)))
}

/// One deal.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Deal), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DealId>,
) -> Result<Json<Deal>, ApiError> {
    Ok(Json(state.crm().deals().get(&actor, id).await?))
}

/// Updates a deal's fields (stages move with `POST /deals/{id}/stage`).
#[utoipa::path(patch, path = "/api/v1/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = DealPatch,
    responses((status = 200, body = Deal), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DealId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<DealPatch>,
) -> Result<Json<Deal>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().deals().update(&actor, id, patch).await?))
}

/// Deletes a deal and its history.
#[utoipa::path(delete, path = "/api/v1/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DealId>,
) -> Result<StatusCode, ApiError> {
    state.crm().deals().delete(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a deal to another stage.
#[utoipa::path(post, path = "/api/v1/deals/{id}/stage", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = MoveStageRequest,
    responses((status = 200, body = Deal), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn move_stage(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DealId>,
    Json(request): Json<MoveStageRequest>,
) -> Result<Json<Deal>, ApiError> {
    let deals = state.crm().deals();
    Ok(Json(deals.move_stage(&actor, id, &request.stage, request.lost_reason.as_deref()).await?))
}

/// The deal's stage changes, oldest first.
#[utoipa::path(get, path = "/api/v1/deals/{id}/history", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<StageChange>), (status = 404, body = Problem)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DealId>,
) -> Result<Json<Vec<StageChange>>, ApiError> {
    Ok(Json(state.crm().deals().stage_history(&actor, id).await?))
}

/// The pipeline's stages, in order.
#[utoipa::path(get, path = "/api/v1/pipeline", tag = "deals", security(("bearer" = [])),
    responses((status = 200, description = "The stages, in pipeline order", body = Pipeline)))]
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Pipeline>, ApiError> {
    actor.require(Permission::ViewRecords)?;
    Ok(Json(state.crm().pipeline().clone()))
}
