//! `/api/v1/analytics/…`: pipeline analytics as JSON, and the forecast and funnel as SVG.
//!
//! Every endpoint takes the same query parameters ([`AnalyticsParams`]: `currency`, `owner_id`,
//! `from`, `to`, `target_minor`, `stale_days`, `stuck_days`, `seasonal`, `level`, `horizon`,
//! `window`, `best_case_min`, `commit_min`); unknown or malformed ones are a 400, out-of-range
//! ones a 422, like every other route.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use crmcore::Result;
use crmcore::analytics::{
    AnalyticsParams, AnalyticsReport, Forecast, Funnel, HealthScore, Insight, StageMetrics, Velocity, WeightedPipeline,
    forecast_svg, funnel_svg,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Query};
use crate::state::AppState;

/// Per-stage counts, values, time in stage, conversion and drop-off.
#[utoipa::path(get, path = "/api/v1/analytics/stage-metrics", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Per open stage: counts, values, time in stage, conversion, drop-off", body = StageMetrics),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn stage_metrics(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<StageMetrics>, ApiError> {
    Ok(Json(state.crm().analytics().stage_metrics(&actor, &params).await?))
}

/// The funnel of the deals created in `[from, to)`.
#[utoipa::path(get, path = "/api/v1/analytics/funnel", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "The funnel of the cohort created in `[from, to)`", body = Funnel),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn funnel(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<Funnel>, ApiError> {
    Ok(Json(state.crm().analytics().funnel(&actor, &params).await?))
}

/// Sales velocity, its components and its trend.
#[utoipa::path(get, path = "/api/v1/analytics/velocity", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Sales velocity, its components and its trend", body = Velocity),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn velocity(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<Velocity>, ApiError> {
    Ok(Json(state.crm().analytics().velocity(&actor, &params).await?))
}

/// Weighted pipeline and forecast categories by close month.
#[utoipa::path(get, path = "/api/v1/analytics/pipeline", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Weighted pipeline and forecast categories by close month", body = WeightedPipeline),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<WeightedPipeline>, ApiError> {
    Ok(Json(state.crm().analytics().pipeline(&actor, &params).await?))
}

/// The closed-won revenue forecast with textbook and calibrated intervals; 422 on `series` when
/// the history cannot support one.
#[utoipa::path(get, path = "/api/v1/analytics/forecast", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Closed-won revenue forecast with textbook and calibrated intervals; 422 on `series` without enough history", body = Forecast),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn forecast(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<Forecast>, ApiError> {
    Ok(Json(state.crm().analytics().forecast(&actor, &params).await?))
}

/// The health score and its components.
#[utoipa::path(get, path = "/api/v1/analytics/health", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "The health score and its components", body = HealthScore),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn health(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<HealthScore>, ApiError> {
    Ok(Json(state.crm().analytics().health(&actor, &params).await?))
}

/// An insight with links to the deals it concerns.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InsightView {
    #[serde(flatten)]
    pub(crate) insight: Insight,
    /// `/api/v1/deals/{id}` for each deal concerned.
    pub(crate) links: Vec<String>,
}

/// Findings, most severe first.
#[utoipa::path(get, path = "/api/v1/analytics/insights", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Findings, most severe first", body = Vec<InsightView>),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn insights(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<Vec<InsightView>>, ApiError> {
    let insights = state.crm().analytics().insights(&actor, &params).await?;
    let views = insights
        .into_iter()
        .map(|insight| {
            let links = insight.deal_ids.iter().map(|id| format!("/api/v1/deals/{id}")).collect();
            InsightView { insight, links }
        })
        .collect();
    Ok(Json(views))
}

/// Everything at once, from one read of the store.
#[utoipa::path(get, path = "/api/v1/analytics/report", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "Every result at once, from one read of the store", body = AnalyticsReport),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn report(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<AnalyticsReport>, ApiError> {
    Ok(Json(state.crm().analytics().report(&actor, &params).await?))
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response()
}

/// The forecast as an SVG chart: history, forecast, textbook and calibrated bands.
#[utoipa::path(get, path = "/api/v1/analytics/forecast.svg", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "The forecast as an SVG chart", content_type = "image/svg+xml", body = String),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn forecast_chart(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, ApiError> {
    let forecast = state.crm().analytics().forecast(&actor, &params).await?;
    Ok(svg(forecast_svg(&forecast, "Closed-won revenue forecast")))
}

/// The funnel as an SVG chart.
#[utoipa::path(get, path = "/api/v1/analytics/funnel.svg", tag = "analytics", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, description = "The funnel as an SVG chart", content_type = "image/svg+xml", body = String),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn funnel_chart(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, ApiError> {
    let funnel = state.crm().analytics().funnel(&actor, &params).await?;
    Ok(svg(funnel_svg(&funnel, "Pipeline funnel")))
}
