//! Monthly forecast: ordinary least squares (linfa-linear) on a trend and, optionally,
//! month-of-year dummies; textbook prediction intervals; intervals calibrated on a rolling-origin
//! backtest of the same model; and the backtest's accuracy against a naive last-value forecast.
//!
//! # Model
//! `y_t = b0 + b1·t (+ Σ_{m=2..12} c_m·[month(t) = m])`, `t = 0` at the first training point.
//! With `p` parameters and `n` points, `s² = SSR / (n − p)`, and the textbook interval at `x₀` is
//! `ŷ ± t_{1−α/2, n−p} · s · √(1 + x₀ᵀ(XᵀX)⁻¹x₀)`.
//!
//! # Calibration
//! The backtest refits the model at every origin `o ≥ min_train` on the points before `o` and
//! forecasts `h = 1..=horizon` months ahead, recording each error scaled by its textbook standard
//! error, `z = (y − ŷ) / se`. The calibrated interval at horizon `h` is `ŷ + [q_lo, q_hi]·se`
//! with `q` the empirical `α/2` and `1 − α/2` quantiles (conformal order statistics) of the
//! horizon's `z`. Coverage is measured honestly: the interval for origin `o` uses only errors
//! whose actual was known before `o`.
//!
//! # Errors
//! Too few points, gaps, non-finite values and constant series are `Validation` errors on
//! `series` (codes `too_few_points`, `gap`, `not_finite`, `constant_series`), never a made-up number.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use linfa::traits::{Fit as _, Predict as _};
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{CrmError, Result};

/// A calendar month; serialized as `"YYYY-MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    /// Year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
}

impl YearMonth {
    /// A month; `month` is clamped to 1..=12.
    pub fn new(year: i32, month: u32) -> Self {
        Self { year, month: month.clamp(1, 12) }
    }

    /// The month of a date.
    pub fn from_date(date: NaiveDate) -> Self {
        Self::new(date.year(), date.month())
    }

    /// Months since year 0: consecutive months differ by one.
    pub fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    /// The month `months` after this one.
    pub fn plus(self, months: i64) -> Self {
        let i = self.index() + months;
        Self::new(i.div_euclid(12) as i32, (i.rem_euclid(12) + 1) as u32)
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl std::str::FromStr for YearMonth {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || CrmError::invalid("month", "invalid", format!("`{s}` is not a month like 2026-01"));
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month) = (y.parse::<i32>().map_err(|_| bad())?, m.parse::<u32>().map_err(|_| bad())?);
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
}

impl Serialize for YearMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for YearMonth {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A calendar month, `YYYY-MM`."))
            .examples(["2026-01"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for YearMonth {}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One observation of a monthly series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthlyPoint {
    /// The month.
    pub month: YearMonth,
    /// The value.
    pub value: f64,
}

/// How to forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastOptions {
    /// Add month-of-year dummies (needs ≥ 24 training points).
    pub seasonal: bool,
    /// Train on the last `window` points only (default: all).
    pub window: Option<usize>,
    /// Interval level, 0.5 to 0.99.
    pub level: f64,
    /// Months ahead, 1 to 24.
    pub horizon: usize,
    /// Run the rolling-origin backtest (calibrated intervals and accuracy).
    pub backtest: bool,
}

impl Default for ForecastOptions {
    /// Trend only, all points, 95 %, 12 months, with backtest.
    fn default() -> Self {
        Self { seasonal: false, window: None, level: 0.95, horizon: 12, backtest: true }
    }
}

impl ForecastOptions {
    /// Parameters of the model.
    pub fn parameters(&self) -> usize {
        if self.seasonal { 13 } else { 2 }
    }

    /// The fewest points the model is fitted on.
    pub fn min_points(&self) -> usize {
        if self.seasonal { 24 } else { 6 }
    }

    /// The first backtest origin for a series of `n` points: the training size at the first
    /// refit. Without a window, 36 months (seasonal) or 12 (trend), growing with each origin.
    /// With a window, the window itself, so every refit trains on as many points as the final
    /// model and the scaled errors are comparable, unless that would leave fewer than
    /// [`MIN_CALIBRATION_ERRORS`] errors at the last horizon; then as little as the window-less
    /// minimum.
    pub fn min_train(&self, n: usize) -> usize {
        let min = if self.seasonal { 36 } else { 12 };
        match self.window {
            None => min,
            Some(w) => w.min(n.saturating_sub(self.horizon + MIN_CALIBRATION_ERRORS)).max(min.min(w)),
        }
    }
}

/// A prediction interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// Whether `value` lies within the bounds.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// One forecast month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastPoint {
    /// The month forecast.
    pub month: YearMonth,
    /// Months after the last observation, from 1.
    pub horizon: usize,
    /// Point forecast.
    pub mean: f64,
    /// Standard error of a new observation, `s·√(1 + x₀ᵀ(XᵀX)⁻¹x₀)`.
    pub std_error: f64,
    /// Textbook prediction interval (Student t).
    pub textbook: Interval,
    /// Interval calibrated on the backtest; `None` when it has fewer than 20 errors at this horizon.
    pub calibrated: Option<Interval>,
}

/// Backtest accuracy at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HorizonAccuracy {
    /// Months ahead.
    pub horizon: usize,
    /// Forecasts made (one per origin with a known actual).
    pub forecasts: usize,
    /// Mean absolute error of the model.
    pub mae: f64,
    /// Mean absolute error of the naive last-value forecast.
    pub naive_mae: f64,
    /// Mean absolute percentage error of the model (over non-zero actuals; `None` without one).
    pub mape: Option<f64>,
    /// MAPE of the naive forecast.
    pub naive_mape: Option<f64>,
    /// Mean absolute scaled error (each error over its training data's mean one-step naive error).
    pub mase: Option<f64>,
    /// MASE of the naive forecast.
    pub naive_mase: Option<f64>,
    /// Forecasts whose calibrated interval could be built from earlier errors only.
    pub coverage_evaluated: usize,
    /// Share of those actuals inside the textbook interval.
    pub textbook_coverage: Option<f64>,
    /// Share of those actuals inside the calibrated interval.
    pub calibrated_coverage: Option<f64>,
}

/// The rolling-origin backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backtest {
    /// Origins refitted.
    pub origins: usize,
    /// Training points at the first origin.
    pub min_train: usize,
    /// Accuracy per horizon, 1 to `horizon`.
    pub horizons: Vec<HorizonAccuracy>,
    /// Whether the model's MAE beats the naive one over all horizons.
    pub beats_naive: bool,
}

/// A forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forecast {
    /// `ols_trend` or `ols_trend_seasonal`.
    pub model: String,
    /// Interval level.
    pub level: f64,
    /// Points the final model was fitted on.
    pub observations: usize,
    /// Model parameters.
    pub parameters: usize,
    /// Residual standard deviation `s`.
    pub residual_std: f64,
    /// The series, as given.
    pub history: Vec<MonthlyPoint>,
    /// Forecasts for the next `horizon` months.
    pub points: Vec<ForecastPoint>,
    /// The backtest, when it could run.
    pub backtest: Option<Backtest>,
    /// Why calibrated intervals or the backtest are missing, when they are.
    pub calibration_note: Option<String>,
}

/// Fewest backtest errors at a horizon for a calibrated interval.
pub const MIN_CALIBRATION_ERRORS: usize = 20;

fn series_error(code: &str, message: impl Into<String>) -> CrmError {
    CrmError::invalid("series", code, message)
}

/// Checks a series: finite values, consecutive months, enough points, not constant.
pub fn validate_series(series: &[MonthlyPoint], options: &ForecastOptions) -> Result<()> {
    if !(0.5..=0.99).contains(&options.level) {
        return Err(CrmError::invalid("level", "out_of_range", "level must be 0.5 to 0.99"));
    }
    if options.horizon == 0 || options.horizon > 24 {
        return Err(CrmError::invalid("horizon", "out_of_range", "horizon must be 1 to 24 months"));
    }
    if let Some(w) = options.window
        && w < options.min_points()
    {
        return Err(CrmError::invalid(
            "window",
            "too_small",
            format!("the window must hold at least {} months for this model", options.min_points()),
        ));
    }
    if let Some(p) = series.iter().find(|p| !p.value.is_finite()) {
        return Err(series_error("not_finite", format!("the value for {} is not a finite number", p.month)));
    }
    for pair in series.windows(2) {
        if pair[1].month.index() != pair[0].month.index() + 1 {
            return Err(series_error(
                "gap",
                format!("months must be consecutive: {} is followed by {}", pair[0].month, pair[1].month),
            ));
        }
    }
    let used = options.window.map_or(series.len(), |w| w.min(series.len()));
    if used < options.min_points() {
        return Err(series_error(
            "too_few_points",
            format!("the model needs at least {} monthly points, the series has {used}", options.min_points()),
        ));
    }
    let tail = &series[series.len() - used..];
    if tail.iter().all(|p| p.value == tail[0].value) {
        return Err(series_error("constant_series", "the series is constant: a regression would claim certainty"));
    }
    Ok(())
}

/// A fitted model: coefficients (intercept first), `(XᵀX)⁻¹`, residual std and its degrees of freedom.
#[derive(Debug, Clone)]
struct Fit {
    beta: Vec<f64>,
    xtx_inv: Vec<Vec<f64>>,
    s: f64,
    dof: usize,
    /// Calendar month of `t = 0`.
    start: YearMonth,
    seasonal: bool,
}

/// The regressors of time `t` (without the intercept).
fn features(t: usize, month: YearMonth, seasonal: bool, out: &mut Vec<f64>) {
    out.clear();
    out.push(t as f64);
    if seasonal {
        out.extend((2..=12).map(|m| if month.month == m { 1.0 } else { 0.0 }));
    }
}

impl Fit {
    /// Fits the model on `points` (consecutive months), `t = 0` at the first.
    fn new(points: &[MonthlyPoint], seasonal: bool) -> Result<Self> {
        let n = points.len();
        let k = if seasonal { 12 } else { 1 };
        let p = k + 1;
        if n <= p {
            return Err(series_error("too_few_points", "not enough points for the model"));
        }
        let mut x = Array2::<f64>::zeros((n, k));
        let mut row = Vec::with_capacity(k);
        for (t, point) in points.iter().enumerate() {
            features(t, point.month, seasonal, &mut row);
            for (j, v) in row.iter().enumerate() {
                x[[t, j]] = *v;
            }
        }
        let y = Array1::from_iter(points.iter().map(|p| p.value));
        let dataset = linfa::Dataset::new(x.clone(), y.clone());
        let model = LinearRegression::new()
            .fit(&dataset)
            .map_err(|e| series_error("singular", format!("the regression cannot be fitted: {e}")))?;
        let mut beta = Vec::with_capacity(p);
        beta.push(model.intercept());
        beta.extend(model.params().iter().copied());
        let fitted = model.predict(&x);
        let ssr: f64 = y.iter().zip(fitted.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
        let dof = n - p;
        let s = (ssr / dof as f64).sqrt();
        // XᵀX with the intercept column.
        let mut xtx = vec![vec![0.0; p]; p];
        for t in 0..n {
            let xi = |j: usize| if j == 0 { 1.0 } else { x[[t, j - 1]] };
            for (a, row) in xtx.iter_mut().enumerate() {
                let va = xi(a);
                if va == 0.0 {
                    continue;
                }
                for (b, cell) in row.iter_mut().enumerate() {
                    *cell += va * xi(b);
                }
            }
        }
        let xtx_inv = invert(xtx).ok_or_else(|| series_error("singular", "the regressors are collinear"))?;
        Ok(Self { beta, xtx_inv, s, dof, start: points[0].month, seasonal })
    }

    /// Point forecast and standard error of a new observation at `t`.
    fn predict(&self, t: usize) -> (f64, f64) {
        let month = self.start.plus(t as i64);
        let mut row = Vec::with_capacity(self.beta.len());
        features(t, month, self.seasonal, &mut row);
        row.insert(0, 1.0);
        let mean = row.iter().zip(&self.beta).map(|(a, b)| a * b).sum();
        let mut quad = 0.0;
        for (a, va) in row.iter().enumerate() {
            for (b, vb) in row.iter().enumerate() {
                quad += va * self.xtx_inv[a][b] * vb;
            }
        }
        (mean, self.s * (1.0 + quad).sqrt())
    }
}

/// Gauss–Jordan inverse with partial pivoting; `None` when singular.
fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut inv: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= scale * 1e-13 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..n {
            if i != col && a[i][col] != 0.0 {
                let f = a[i][col];
                for j in 0..n {
                    a[i][j] -= f * a[col][j];
                    inv[i][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

/// The `p` quantile of Student's t with `dof` degrees of freedom, to ~1e-12.
pub fn student_t_quantile(p: f64, dof: usize) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) || dof == 0 {
        return Err(CrmError::invalid("level", "out_of_range", "quantile level must be in (0, 1)"));
    }
    let dist = StudentsT::new(0.0, 1.0, dof as f64).map_err(|e| CrmError::Internal(format!("student t: {e}")))?;
    let mut q = dist.inverse_cdf(p);
    // Polish with Newton steps on the CDF: the inverse is an approximation.
    for _ in 0..3 {
        let density = statrs::distribution::Continuous::pdf(&dist, q);
        if density.is_nan() || density <= 0.0 {
            break;
        }
        q -= (dist.cdf(q) - p) / density;
    }
    Ok(q)
}

/// Conformal-style empirical quantiles of sorted values at `α/2` and `1 − α/2`.
fn calibration_bounds(sorted: &[f64], alpha: f64) -> (f64, f64) {
    let m = sorted.len();
    let upper = (((m + 1) as f64 * (1.0 - alpha / 2.0)).ceil() as usize).clamp(1, m) - 1;
    let lower = (((m + 1) as f64 * (alpha / 2.0)).floor() as usize).clamp(1, m) - 1;
    (sorted[lower], sorted[upper])
}

/// One backtest forecast.
#[derive(Debug, Clone, Copy)]
struct Trial {
    origin: usize,
    actual: f64,
    mean: f64,
    se: f64,
    naive: f64,
    /// Mean absolute one-step naive error on the training data.
    scale: f64,
    /// Half-width of the textbook interval, `t_{1−α/2, dof}·se`.
    half_width: f64,
}

/// Forecasts the months after `series`. See the module docs for the model and the errors.
pub fn forecast(series: &[MonthlyPoint], options: &ForecastOptions) -> Result<Forecast> {
    validate_series(series, options)?;
    let n = series.len();
    let train = &series[n - options.window.map_or(n, |w| w.min(n))..];
    let fit = Fit::new(train, options.seasonal)?;
    let alpha = 1.0 - options.level;
    let tq = student_t_quantile(1.0 - alpha / 2.0, fit.dof)?;
    let last = series[n - 1].month;
    let mut points: Vec<ForecastPoint> = (1..=options.horizon)
        .map(|h| {
            let (mean, se) = fit.predict(train.len() + h - 1);
            ForecastPoint {
                month: last.plus(h as i64),
                horizon: h,
                mean,
                std_error: se,
                textbook: Interval { lower: mean - tq * se, upper: mean + tq * se },
                calibrated: None,
            }
        })
        .collect();
    let mut note = None;
    let backtest = if !options.backtest {
        None
    } else if n < options.min_train(n) + 1 {
        note = Some(format!(
            "the backtest needs more than {} months of history, the series has {n}: no calibrated intervals",
            options.min_train(n)
        ));
        None
    } else {
        let (backtest, trials) = run_backtest(series, options)?;
        for point in &mut points {
            let mut z: Vec<f64> = trials[point.horizon - 1]
                .iter()
                .map(|t| (t.actual - t.mean) / t.se)
                .filter(|z| z.is_finite())
                .collect();
            if z.len() >= MIN_CALIBRATION_ERRORS {
                z.sort_by(f64::total_cmp);
                let (lo, hi) = calibration_bounds(&z, alpha);
                point.calibrated = Some(Interval {
                    lower: point.mean + lo * point.std_error,
                    upper: point.mean + hi * point.std_error,
                });
            }
        }
        if points.iter().any(|p| p.calibrated.is_none()) {
            note = Some(format!(
                "calibrated intervals need at least {MIN_CALIBRATION_ERRORS} backtest errors per horizon; longer \
                 horizons have fewer"
            ));
        }
        Some(backtest)
    };
    Ok(Forecast {
        model: if options.seasonal { "ols_trend_seasonal" } else { "ols_trend" }.to_owned(),
        level: options.level,
        observations: train.len(),
        parameters: options.parameters(),
        residual_std: fit.s,
        history: series.to_vec(),
        points,
        backtest,
        calibration_note: note,
    })
}

/// Refits at every origin and scores the forecasts; returns the trials per horizon too.
fn run_backtest(series: &[MonthlyPoint], options: &ForecastOptions) -> Result<(Backtest, Vec<Vec<Trial>>)> {
    let n = series.len();
    let min_train = options.min_train(n);
    let alpha = 1.0 - options.level;
    let mut trials: Vec<Vec<Trial>> = vec![Vec::new(); options.horizon];
    let mut origins = 0;
    for origin in min_train..n {
        let start = options.window.map_or(0, |w| origin.saturating_sub(w));
        let train = &series[start..origin];
        // A constant or collinear training window cannot be fitted: skip the origin.
        let Ok(fit) = Fit::new(train, options.seasonal) else { continue };
        if fit.s.is_nan() || fit.s <= 0.0 {
            continue;
        }
        origins += 1;
        let steps: f64 = train.windows(2).map(|w| (w[1].value - w[0].value).abs()).sum();
        let scale = steps / (train.len() - 1) as f64;
        let naive = train[train.len() - 1].value;
        let tq = student_t_quantile(1.0 - alpha / 2.0, fit.dof)?;
        for h in 1..=options.horizon.min(n - origin) {
            let (mean, se) = fit.predict(train.len() + h - 1);
            let actual = series[origin + h - 1].value;
            trials[h - 1].push(Trial { origin, actual, mean, se, naive, scale, half_width: tq * se });
        }
    }
    let horizons =
        trials.iter().enumerate().filter(|(_, t)| !t.is_empty()).map(|(i, t)| accuracy(i + 1, t, alpha)).collect();
    let (model, naive) = trials
        .iter()
        .flatten()
        .fold((0.0, 0.0), |(m, nv), t| (m + (t.actual - t.mean).abs(), nv + (t.actual - t.naive).abs()));
    Ok((Backtest { origins, min_train, horizons, beats_naive: model < naive }, trials))
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Accuracy and honest coverage at one horizon; `trials` are in origin order.
fn accuracy(h: usize, trials: &[Trial], alpha: f64) -> HorizonAccuracy {
    let abs = |t: &Trial| (t.actual - t.mean).abs();
    let naive_abs = |t: &Trial| (t.actual - t.naive).abs();
    let pct = |e: f64, t: &Trial| (t.actual != 0.0).then(|| e / t.actual.abs());
    let scaled = |e: f64, t: &Trial| (t.scale > 0.0).then(|| e / t.scale);
    let mut covered = (0usize, 0usize, 0usize);
    let mut past: Vec<f64> = Vec::new();
    let mut next_past = 0;
    for t in trials {
        // Errors whose actual was observed before this origin: origin' + h − 1 < origin.
        while next_past < trials.len() && trials[next_past].origin + h - 1 < t.origin {
            let p = &trials[next_past];
            let z = (p.actual - p.mean) / p.se;
            if z.is_finite() {
                let at = past.partition_point(|v| *v < z);
                past.insert(at, z);
            }
            next_past += 1;
        }
        if past.len() < MIN_CALIBRATION_ERRORS {
            continue;
        }
        let (lo, hi) = calibration_bounds(&past, alpha);
        covered.0 += 1;
        if (t.actual - t.mean).abs() <= t.half_width {
            covered.1 += 1;
        }
        if (t.mean + lo * t.se..=t.mean + hi * t.se).contains(&t.actual) {
            covered.2 += 1;
        }
    }
    let ratio = |k: usize| (covered.0 > 0).then(|| k as f64 / covered.0 as f64);
    HorizonAccuracy {
        horizon: h,
        forecasts: trials.len(),
        mae: mean(trials.iter().map(abs)).unwrap_or(0.0),
        naive_mae: mean(trials.iter().map(naive_abs)).unwrap_or(0.0),
        mape: mean(trials.iter().filter_map(|t| pct(abs(t), t))),
        naive_mape: mean(trials.iter().filter_map(|t| pct(naive_abs(t), t))),
        mase: mean(trials.iter().filter_map(|t| scaled(abs(t), t))),
        naive_mase: mean(trials.iter().filter_map(|t| scaled(naive_abs(t), t))),
        coverage_evaluated: covered.0,
        textbook_coverage: ratio(covered.1),
        calibrated_coverage: ratio(covered.2),
    }
}
