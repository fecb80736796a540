//! Pipeline analytics: stage metrics, funnel, velocity, weighted pipeline and forecast
//! categories, a revenue forecast with calibrated prediction intervals, a health score,
//! insights and SVG charts.
//!
//! # Layout
//! - [`DealSnapshot`] is what a store returns: per deal only the facts the metrics read
//!   ([`DealFacts`], `Copy`), and the stage history as one flat list, stage keys interned.
//! - [`Dataset`] is the pure entry point: a snapshot + a clock's `now`, scoped to one currency
//!   (and optionally one owner). Every metric is a method on it, so the maths is testable without
//!   a store.
//! - [`AnalyticsService`] (`crm.analytics()`) loads one tenant's snapshot with a single
//!   [`DealRepository::snapshot`](crate::ports::DealRepository::snapshot) read, checks
//!   `view_records`, and calls the `Dataset`.
//! - [`forecast`] works on any dense monthly series; the deals' closed-won revenue is one.
//!
//! Numbers never lie: a metric without data is `None`, never `0`; a forecast on too few points,
//! a constant series or a series with gaps is a [`CrmError::Validation`] naming the problem.

mod chart;
mod dataset;
pub mod forecast;
mod funnel;
mod health;
mod insights;
mod service;
mod snapshot;
mod stage_metrics;
mod velocity;
mod weighted;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use chart::{forecast_svg, funnel_svg};
pub use dataset::Dataset;
pub use forecast::{
    Backtest, Forecast, ForecastOptions, ForecastPoint, HorizonAccuracy, Interval, MonthlyPoint, YearMonth,
};
pub use funnel::{Funnel, FunnelStep};
pub use health::{HealthComponent, HealthScore};
pub use insights::{Insight, Severity};
pub use service::{AnalyticsReport, AnalyticsService};
pub use snapshot::{DealFacts, DealSnapshot, StageEntry, StageRef};
pub use stage_metrics::{StageMetric, StageMetrics};
pub use velocity::{Velocity, VelocityComponents};
pub use weighted::{CategoryTotal, ForecastCategory, MonthRollup, WeightedPipeline};

use crate::error::{CrmError, FieldError, Result, Validator};
use crate::id::MemberId;

/// A half-open range of days `[from, to)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// First day included.
    pub from: NaiveDate,
    /// First day excluded.
    pub to: NaiveDate,
}

impl Period {
    /// A period; `Validation` on `to` unless `from < to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self> {
        if from >= to {
            return Err(CrmError::invalid("to", "out_of_range", "`to` must be after `from`"));
        }
        Ok(Self { from, to })
    }

    /// The `days` days ending with the day of `now` (included).
    pub fn trailing(now: DateTime<Utc>, days: u32) -> Self {
        let to = now.date_naive() + Days::new(1);
        Self { from: to - Days::new(u64::from(days.max(1))), to }
    }

    /// The period of equal length right before this one.
    pub fn previous(&self) -> Self {
        let len = (self.to - self.from).num_days().max(1) as u64;
        Self { from: self.from - Days::new(len), to: self.from }
    }

    /// Length in days.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// Whether an instant falls in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let day = at.date_naive();
        self.from <= day && day < self.to
    }

    /// The first instant of the period.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The first instant after the period.
    pub fn end(&self) -> DateTime<Utc> {
        self.to.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Parameters of every analytics call; each metric reads the ones it needs. All optional.
///
/// Deserializes from a query string (`?currency=EUR&from=2026-01-01&target_minor=5000000`);
/// unknown parameters are rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AnalyticsParams {
    /// ISO 4217 currency to analyse; required when the tenant's deals use several.
    pub currency: Option<String>,
    /// Only deals owned by this member.
    pub owner_id: Option<MemberId>,
    /// Start of the period (included). Cohort metrics (stage metrics, funnel) select deals
    /// created in it; velocity selects deals closed in it. Default: all time for cohorts, the
    /// 90 days up to today for velocity.
    pub from: Option<NaiveDate>,
    /// End of the period (excluded).
    pub to: Option<NaiveDate>,
    /// Revenue target in minor units, for pipeline coverage (health score, insights).
    pub target_minor: Option<i64>,
    /// Days without a stage change or update after which an open deal is stale (default 30).
    pub stale_days: Option<u32>,
    /// Days in one stage after which an open deal is stuck (default 30).
    pub stuck_days: Option<u32>,
    /// Forecast with month-of-year seasonality (default: when ≥ 36 months of history exist).
    pub seasonal: Option<bool>,
    /// Prediction-interval level, e.g. 0.95 (default; 0.5 to 0.99).
    pub level: Option<f64>,
    /// Months to forecast (1 to 24, default 12).
    pub horizon: Option<u32>,
    /// Train on at most the last `window` months (default 60).
    pub window: Option<u32>,
    /// Forecast category threshold: open deals at or above this probability are best case (default 50).
    pub best_case_min: Option<u8>,
    /// Forecast category threshold: open deals at or above this probability are commit (default 80).
    pub commit_min: Option<u8>,
}

/// Default stale and stuck thresholds, in days.
pub const DEFAULT_STALE_DAYS: u32 = 30;
/// Default length of the velocity and trend windows, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;

impl AnalyticsParams {
    /// Checks every parameter, reporting all invalid ones at once.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            v.push(FieldError::new("to", "out_of_range", "`to` must be after `from`"));
        }
        if self.target_minor.is_some_and(|t| t <= 0) {
            v.push(FieldError::new("target_minor", "out_of_range", "target must be positive"));
        }
        for (field, value) in [("stale_days", self.stale_days), ("stuck_days", self.stuck_days)] {
            if value.is_some_and(|d| d == 0 || d > 3650) {
                v.push(FieldError::new(field, "out_of_range", "days must be 1 to 3650"));
            }
        }
        if self.level.is_some_and(|l| !(0.5..=0.99).contains(&l)) {
            v.push(FieldError::new("level", "out_of_range", "level must be 0.5 to 0.99"));
        }
        if self.horizon.is_some_and(|h| h == 0 || h > 24) {
            v.push(FieldError::new("horizon", "out_of_range", "horizon must be 1 to 24 months"));
        }
        for (field, value) in [("best_case_min", self.best_case_min), ("commit_min", self.commit_min)] {
            if value.is_some_and(|p| p > 100) {
                v.push(FieldError::new(field, "out_of_range", "probability must be 0 to 100"));
            }
        }
        if self.best_case_min.unwrap_or(50) > self.commit_min.unwrap_or(80) {
            v.push(FieldError::new("commit_min", "out_of_range", "commit_min must be at least best_case_min"));
        }
        v.finish()
    }

    /// The cohort period, when `from` or `to` is given (the other end is open).
    pub(crate) fn cohort(&self) -> Option<Period> {
        match (self.from, self.to) {
            (None, None) => None,
            (from, to) => Some(Period { from: from.unwrap_or(NaiveDate::MIN), to: to.unwrap_or(NaiveDate::MAX) }),
        }
    }

    /// The velocity window: `[from, to)`, or the 90 days up to today.
    pub(crate) fn window_period(&self, now: DateTime<Utc>) -> Period {
        let trailing = Period::trailing(now, DEFAULT_WINDOW_DAYS);
        match (self.from, self.to) {
            (None, None) => trailing,
            (Some(from), None) => Period { from, to: trailing.to.max(from + Days::new(1)) },
            (None, Some(to)) => Period { from: to - Days::new(u64::from(DEFAULT_WINDOW_DAYS)), to },
            (Some(from), Some(to)) => Period { from, to },
        }
    }

    pub(crate) fn stale_days(&self) -> u32 {
        self.stale_days.unwrap_or(DEFAULT_STALE_DAYS)
    }

    pub(crate) fn stuck_days(&self) -> u32 {
        self.stuck_days.unwrap_or(DEFAULT_STALE_DAYS)
    }
}

/// Days between two instants, with fractions.
pub(crate) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 86_400_000.0
}

/// `part / whole`, `None` when `whole` is zero.
pub(crate) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The calendar month of an instant.
pub(crate) fn month_of(at: DateTime<Utc>) -> YearMonth {
    YearMonth::new(at.year(), at.month())
}

/// Median of a slice (reordered in place); `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let cmp = |a: &f64, b: &f64| a.total_cmp(b);
    let (_, upper, _) = values.select_nth_unstable_by(n / 2, cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = values[..n / 2].iter().copied().max_by(cmp).unwrap_or(upper);
    Some((lower + upper) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn params_report_every_bad_field() {
        let params = AnalyticsParams {
            level: Some(1.5),
            horizon: Some(0),
            target_minor: Some(-1),
            from: NaiveDate::from_ymd_opt(2026, 2, 1),
            to: NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Default::default()
        };
        let Err(CrmError::Validation(errors)) = params.validate() else { panic!("invalid") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "target_minor", "level", "horizon"]);
    }

    #[test]
    fn periods() {
        let p =
            Period::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 1, 31).unwrap())
                .unwrap();
        assert_eq!(p.days(), 30);
        assert_eq!(p.previous().to, p.from);
        assert_eq!(p.previous().days(), 30);
        assert!(Period::new(p.to, p.from).is_err());
    }
}
