//! [`AnalyticsService`]: loads a tenant's deals with one snapshot read and runs the metrics.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::DealSnapshot;
use super::forecast::{self, Forecast, ForecastOptions, MonthlyPoint, YearMonth};
use super::{
    AnalyticsParams, Dataset, Funnel, HealthScore, Insight, StageMetrics, Velocity, WeightedPipeline, month_of,
};
use crate::actor::{Actor, Permission};
use crate::crm::Crm;
use crate::deal::DealStatus;
use crate::error::{CrmError, Result};

/// Every analytics result at once, from one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsReport {
    /// The currency analysed (`None` without deals).
    pub currency: Option<String>,
    /// Stage metrics.
    pub stage_metrics: StageMetrics,
    /// The funnel.
    pub funnel: Funnel,
    /// Velocity and its trend.
    pub velocity: Velocity,
    /// Weighted pipeline and forecast categories.
    pub pipeline: WeightedPipeline,
    /// The revenue forecast, when the history allows one.
    pub forecast: Option<Forecast>,
    /// Why there is no forecast (e.g. too little history).
    pub forecast_error: Option<String>,
    /// The health score.
    pub health: HealthScore,
    /// Findings.
    pub insights: Vec<Insight>,
}

/// Pipeline analytics (every call needs `view_records`).
#[derive(Debug)]
pub struct AnalyticsService<'a> {
    crm: &'a Crm,
}

impl<'a> AnalyticsService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// Checks the permission and the parameters, loads the snapshot and runs `f` on the dataset.
    async fn with_dataset<T>(
        &self,
        actor: &Actor,
        params: &AnalyticsParams,
        f: impl FnOnce(&Dataset<'_>) -> Result<T>,
    ) -> Result<T> {
        actor.require(Permission::ViewRecords)?;
        params.validate()?;
        let snapshot = self.crm.store().deals().snapshot(actor.tenant_id).await?;
        let dataset = Dataset::new(self.crm.pipeline(), &snapshot, self.crm.clock().now(), params)?;
        f(&dataset)
    }

    /// Stage metrics.
    pub async fn stage_metrics(&self, actor: &Actor, params: &AnalyticsParams) -> Result<StageMetrics> {
        self.with_dataset(actor, params, |d| Ok(d.stage_metrics())).await
    }

    /// The funnel.
    pub async fn funnel(&self, actor: &Actor, params: &AnalyticsParams) -> Result<Funnel> {
        self.with_dataset(actor, params, |d| Ok(d.funnel())).await
    }

    /// Velocity.
    pub async fn velocity(&self, actor: &Actor, params: &AnalyticsParams) -> Result<Velocity> {
        self.with_dataset(actor, params, |d| Ok(d.velocity())).await
    }

    /// Weighted pipeline and forecast categories.
    pub async fn pipeline(&self, actor: &Actor, params: &AnalyticsParams) -> Result<WeightedPipeline> {
        self.with_dataset(actor, params, |d| Ok(d.weighted_pipeline())).await
    }

    /// The closed-won revenue forecast. `Validation` on `series` with too little history.
    pub async fn forecast(&self, actor: &Actor, params: &AnalyticsParams) -> Result<Forecast> {
        self.with_dataset(actor, params, |d| d.forecast()).await
    }

    /// The health score.
    pub async fn health(&self, actor: &Actor, params: &AnalyticsParams) -> Result<HealthScore> {
        self.with_dataset(actor, params, |d| Ok(d.health())).await
    }

    /// Findings.
    pub async fn insights(&self, actor: &Actor, params: &AnalyticsParams) -> Result<Vec<Insight>> {
        self.with_dataset(actor, params, |d| Ok(d.insights())).await
    }

    /// Everything, from one snapshot.
    pub async fn report(&self, actor: &Actor, params: &AnalyticsParams) -> Result<AnalyticsReport> {
        self.with_dataset(actor, params, |d| Ok(d.report())).await
    }

    /// The deals and stage history the metrics are computed from (one snapshot read).
    pub async fn snapshot(&self, actor: &Actor) -> Result<DealSnapshot> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().deals().snapshot(actor.tenant_id).await
    }
}

impl Dataset<'_> {
    /// Monthly closed-won revenue in major units of the currency, from the month of the first
    /// deal to the last complete month (the current month is still running).
    pub fn won_revenue_series(&self) -> Vec<MonthlyPoint> {
        let Some(first) = self.facts.iter().map(|f| f.deal.created_at).min() else { return Vec::new() };
        let (first, end) = (month_of(first), YearMonth::new(self.now.year(), self.now.month()));
        let len = (end.index() - first.index()).max(0) as usize;
        let mut minor = vec![0i64; len];
        for f in self.facts.iter().filter(|f| f.deal.status == DealStatus::Won) {
            if let Some(closed) = f.deal.closed_at {
                let i = month_of(closed).index() - first.index();
                if (0..len as i64).contains(&i) {
                    minor[i as usize] += f.deal.amount.amount_minor;
                }
            }
        }
        minor
            .into_iter()
            .enumerate()
            .map(|(i, v)| MonthlyPoint { month: first.plus(i as i64), value: v as f64 / 100.0 })
            .collect()
    }

    /// The forecast options the parameters ask for: seasonal by default from 36 months of
    /// history, trained on at most the last 60 months, 95 %, 12 months ahead.
    pub fn forecast_options(&self, months: usize) -> ForecastOptions {
        let p = &self.params;
        ForecastOptions {
            seasonal: p.seasonal.unwrap_or(months >= 36),
            window: Some(p.window.map_or(60, |w| w as usize)),
            level: p.level.unwrap_or(0.95),
            horizon: p.horizon.map_or(12, |h| h as usize),
            backtest: true,
        }
    }

    /// Forecast of monthly closed-won revenue (major units). `Validation` on `series` when the
    /// history is too short or constant (e.g. nothing won yet).
    pub fn forecast(&self) -> Result<Forecast> {
        let series = self.won_revenue_series();
        let options = self.forecast_options(series.len());
        forecast::forecast(&series, &options)
    }

    /// Every metric at once.
    pub fn report(&self) -> AnalyticsReport {
        let forecast = self.forecast().map_err(|e| match e {
            CrmError::Validation(errors) => {
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
            }
            other => other.to_string(),
        });
        let (forecast, forecast_error) = match forecast {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        // The live deals and the velocity feed several results: computed once.
        let live = self.without_stale();
        let (velocity, live_velocity) = self.velocities();
        AnalyticsReport {
            currency: self.currency.map(|c| c.to_string()),
            forecast_error,
            stage_metrics: self.stage_metrics(),
            funnel: self.funnel(),
            pipeline: self.weighted_pipeline(),
            forecast,
            health: self.health_with(&live, &live_velocity),
            insights: self.insights_with(&live, &velocity),
            velocity,
        }
    }
}
