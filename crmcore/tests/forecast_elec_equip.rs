//! Evidence for the forecast on a real series: `tests/fixtures/elec_equip.csv` (Eurostat
//! electrical-equipment index, 257 months, public domain).
//!
//! - Point forecasts and textbook intervals equal statsmodels' OLS within 1e-6
//!   (`tests/fixtures/elec_equip_reference.py` wrote the reference JSON).
//! - In the rolling-origin backtest, calibrated 95 % intervals cover ≥ 90 % of actuals at 3, 6
//!   and 12 months ahead; the test prints textbook vs calibrated coverage and error vs naive.

use chrono::{Datelike, NaiveDate};
use crmcore::CrmError;
use crmcore::analytics::forecast::{self, ForecastOptions, MonthlyPoint, YearMonth};

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn elec_equip() -> Vec<MonthlyPoint> {
    fixture("elec_equip.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (date, value) = line.split_once(',').expect("two columns");
            let date = NaiveDate::parse_from_str(date, "%b-%d-%Y").expect("date");
            MonthlyPoint {
                month: YearMonth::new(date.year(), date.month()),
                value: value.trim().parse().expect("value"),
            }
        })
        .collect()
}

#[test]
fn point_forecasts_and_textbook_intervals_match_statsmodels() {
    let series = elec_equip();
    assert_eq!(series.len(), 257);
    let reference: serde_json::Value = serde_json::from_str(&fixture("elec_equip_reference.json")).expect("json");
    let cases = reference["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let options = ForecastOptions {
            seasonal: case["seasonal"].as_bool().expect("seasonal"),
            window: case["window"].as_u64().map(|w| w as usize),
            level: case["level"].as_f64().expect("level"),
            horizon: 12,
            backtest: false,
        };
        let got = forecast::forecast(&series, &options).expect("forecast");
        assert_eq!(got.observations as u64, case["n"].as_u64().unwrap());
        assert_eq!(got.parameters as u64, case["params"].as_u64().unwrap());
        let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-6, "{what}: {a} vs {b} ({options:?})");
        close(got.residual_std, case["residual_std"].as_f64().unwrap(), "residual std");
        for (point, want) in got.points.iter().zip(case["points"].as_array().unwrap()) {
            assert_eq!(
                point.month,
                YearMonth::new(want["year"].as_i64().unwrap() as i32, want["month"].as_u64().unwrap() as u32)
            );
            close(point.mean, want["mean"].as_f64().unwrap(), "mean");
            close(point.textbook.lower, want["lower"].as_f64().unwrap(), "lower");
            close(point.textbook.upper, want["upper"].as_f64().unwrap(), "upper");
        }
    }
}

fn report(options: &ForecastOptions, got: &forecast::Forecast) {
    let backtest = got.backtest.as_ref().expect("backtest ran");
    println!(
        "elec_equip, {} window {:?} (level 95%, {} origins, first trained on {} months):",
        got.model, options.window, backtest.origins, backtest.min_train
    );
    println!("  h  evaluated  textbook  calibrated    MAE  naive MAE   MAPE  naive MAPE   MASE  naive MASE");
    for h in &backtest.horizons {
        println!(
            "{:>3}  {:>9}  {:>7.1}%  {:>9.1}%  {:>5.2}  {:>9.2}  {:>5.1}%  {:>9.1}%  {:>5.2}  {:>10.2}",
            h.horizon,
            h.coverage_evaluated,
            h.textbook_coverage.unwrap_or(f64::NAN) * 100.0,
            h.calibrated_coverage.unwrap_or(f64::NAN) * 100.0,
            h.mae,
            h.naive_mae,
            h.mape.unwrap_or(f64::NAN) * 100.0,
            h.naive_mape.unwrap_or(f64::NAN) * 100.0,
            h.mase.unwrap_or(f64::NAN),
            h.naive_mase.unwrap_or(f64::NAN),
        );
    }
    println!("  beats naive over all horizons: {}", backtest.beats_naive);
}

/// The configuration crmcore uses for deal revenue by default (seasonal, 60-month window).
#[test]
fn calibrated_intervals_cover_at_least_90_percent_in_the_backtest() {
    let series = elec_equip();
    let options = ForecastOptions { seasonal: true, window: Some(60), ..ForecastOptions::default() };
    let got = forecast::forecast(&series, &options).expect("forecast");
    report(&options, &got);
    let backtest = got.backtest.as_ref().expect("backtest ran");
    for h in [3, 6, 12] {
        let acc = &backtest.horizons[h - 1];
        let coverage = acc.calibrated_coverage.expect("calibrated coverage");
        assert!(acc.coverage_evaluated >= 100, "h={h}: only {} evaluated", acc.coverage_evaluated);
        assert!(coverage >= 0.90, "h={h}: calibrated coverage {coverage}");
        assert!(coverage > acc.textbook_coverage.expect("textbook coverage"), "h={h}: calibration helps");
    }
    assert!(backtest.beats_naive);
    assert!(got.points.iter().all(|p| p.calibrated.is_some()));
}

/// Not a check: prints how the other configurations fare (`-- --nocapture`), for the README.
#[test]
fn other_configurations_for_the_record() {
    let series = elec_equip();
    for seasonal in [true, false] {
        for window in [None, Some(48), Some(84), Some(120)] {
            let options = ForecastOptions { seasonal, window, ..ForecastOptions::default() };
            let got = forecast::forecast(&series, &options).expect("forecast");
            let b = got.backtest.as_ref().expect("backtest");
            let cells: Vec<String> = [3, 6, 12]
                .iter()
                .map(|&h| {
                    let a = &b.horizons[h - 1];
                    format!(
                        "h{h}: textbook {:.1}% calibrated {:.1}%",
                        a.textbook_coverage.unwrap_or(f64::NAN) * 100.0,
                        a.calibrated_coverage.unwrap_or(f64::NAN) * 100.0
                    )
                })
                .collect();
            println!("{} window {window:?}: {} | beats naive {}", got.model, cells.join(" | "), b.beats_naive);
        }
    }
}

#[test]
fn bad_series_are_typed_errors() {
    let series = elec_equip();
    let code = |result: crmcore::Result<forecast::Forecast>| match result {
        Err(CrmError::Validation(errors)) => errors[0].code.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    };
    let trend = ForecastOptions::default();
    let seasonal = ForecastOptions { seasonal: true, ..trend };
    assert_eq!(code(forecast::forecast(&series[..5], &trend)), "too_few_points");
    assert_eq!(code(forecast::forecast(&series[..23], &seasonal)), "too_few_points");
    let mut gap = series[..30].to_vec();
    gap.remove(10);
    assert_eq!(code(forecast::forecast(&gap, &trend)), "gap");
    let flat: Vec<_> = series[..30].iter().map(|p| MonthlyPoint { value: 7.0, ..*p }).collect();
    assert_eq!(code(forecast::forecast(&flat, &trend)), "constant_series");
    let mut nan = series[..30].to_vec();
    nan[3].value = f64::NAN;
    assert_eq!(code(forecast::forecast(&nan, &trend)), "not_finite");
    assert_eq!(code(forecast::forecast(&series, &ForecastOptions { level: 1.0, ..trend })), "out_of_range");
    // Short but valid: a forecast without calibration, and a note saying why.
    let short = forecast::forecast(&series[..10], &trend).expect("short forecast");
    assert!(short.backtest.is_none() && short.calibration_note.is_some());
    assert!(short.points.iter().all(|p| p.calibrated.is_none()));
}
