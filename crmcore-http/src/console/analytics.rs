//! `/analytics/pipeline`: health score with its components, the forecast chart (history,
//! prediction and both interval bands), funnel, velocity, stage metrics and insights that link
//! to their deals — one report, computed from one snapshot of the pipeline.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::NaiveDate;
use crmcore::CrmError;
use crmcore::analytics::AnalyticsParams;
use crmcore::analytics::{forecast_svg, funnel_svg};
use serde::Deserialize;
use serde_json::json;

use super::{PageResult, Viewer, render};
use crate::state::AppState;

/// The page's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/analytics/pipeline", get(pipeline))
}

/// The page's templates.
pub(super) const TEMPLATES: &[(&str, &str)] = &[("pipeline.html", include_str!("templates/pipeline.html"))];

/// The report's filters, as the form sends them (empty fields mean "not set").
#[derive(Debug, Default, Deserialize)]
pub(super) struct PipelineQuery {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    target: String,
}

fn date(field: &'static str, raw: &str) -> Result<Option<NaiveDate>, CrmError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| CrmError::invalid(field, "invalid", "use a date such as 2026-01-31"))
}

impl PipelineQuery {
    fn params(&self) -> Result<AnalyticsParams, CrmError> {
        let target_minor = match self.target.trim() {
            "" => None,
            raw => {
                let amount: f64 = raw
                    .replace(',', "")
                    .parse()
                    .map_err(|_| CrmError::invalid("target", "invalid", "enter an amount such as 250000"))?;
                Some((amount * 100.0).round() as i64)
            }
        };
        Ok(AnalyticsParams {
            currency: Some(self.currency.trim().to_uppercase()).filter(|c| !c.is_empty()),
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
            target_minor,
            ..Default::default()
        })
    }
}

/// `GET /analytics/pipeline`.
async fn pipeline(State(state): State<AppState>, viewer: Viewer, Query(query): Query<PipelineQuery>) -> PageResult {
    let params = match query.params() {
        Ok(params) => params,
        Err(error) => {
            let ctx = json!({ "title": "Pipeline", "query_error": error.to_string(), "query": query_json(&query) });
            return render(&state, &viewer, "pipeline.html", ctx).await;
        }
    };
    let report = state.crm().analytics().report(viewer.actor(), &params).await?;
    let forecast_chart =
        report.forecast.as_ref().map(|f| forecast_svg(f, "Won revenue by month: history and forecast"));
    let funnel_chart = funnel_svg(&report.funnel, "Funnel: deals reaching each stage");
    let ctx = json!({
        "title": "Pipeline",
        "report": report,
        "forecast_chart": forecast_chart,
        "funnel_chart": funnel_chart,
        "query": query_json(&query),
    });
    render(&state, &viewer, "pipeline.html", ctx).await
}

fn query_json(query: &PipelineQuery) -> serde_json::Value {
    json!({ "currency": query.currency, "from": query.from, "to": query.to, "target": query.target })
}
