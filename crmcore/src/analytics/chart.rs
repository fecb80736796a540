//! SVG charts of a forecast and a funnel: self-contained documents, no fonts or scripts.
//!
//! Hand-written rather than drawn with a plotting crate: two charts do not justify the
//! dependency tree, and the output stays byte-for-byte deterministic.

use std::fmt::Write;

use super::{Forecast, Funnel};

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Escapes text for XML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Compact number: 1234567 → 1.23M.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\"><title>{t}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{x}\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">{t}</text>",
        t = esc(title),
        x = WIDTH / 2.0
    );
}

fn points(coords: impl Iterator<Item = (f64, f64)>) -> String {
    coords.map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
}

/// The forecast: history, point forecast, textbook band and (when known) calibrated band.
pub fn forecast_svg(forecast: &Forecast, title: &str) -> String {
    let mut out = String::with_capacity(8192);
    header(&mut out, title);
    let history = &forecast.history;
    let total = history.len() + forecast.points.len();
    if total < 2 {
        out.push_str("<text x=\"400\" y=\"210\" text-anchor=\"middle\">no data</text></svg>");
        return out;
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut see = |v: f64| {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    };
    history.iter().for_each(|p| see(p.value));
    for p in &forecast.points {
        see(p.textbook.lower);
        see(p.textbook.upper);
        if let Some(c) = p.calibrated {
            see(c.lower);
            see(c.upper);
        }
    }
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (total - 1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - (v - lo) / (hi - lo));
    // Axes and grid.
    for k in 0..=5 {
        let v = lo + (hi - lo) * k as f64 / 5.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eee\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            x2 = WIDTH - RIGHT,
            yy = y(v),
            tx = LEFT - 6.0,
            ty = y(v) + 4.0,
            label = compact(v)
        );
    }
    let months: Vec<String> = history
        .iter()
        .map(|p| p.month.to_string())
        .chain(forecast.points.iter().map(|p| p.month.to_string()))
        .collect();
    let step = (total / 8).max(1);
    for (i, m) in months.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            HEIGHT - BOTTOM + 18.0,
            esc(m)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{b}\" stroke=\"#333\"/>\
         <line x1=\"{LEFT}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\" stroke=\"#333\"/>",
        b = HEIGHT - BOTTOM,
        r = WIDTH - RIGHT
    );
    let first = history.len();
    let band = |lower: &dyn Fn(usize) -> Option<f64>, upper: &dyn Fn(usize) -> Option<f64>| {
        let n = forecast.points.len();
        let (Some(_), Some(_)) = (lower(0), upper(0)) else { return String::new() };
        let top = (0..n).filter_map(|i| upper(i).map(|v| (x(first + i), y(v))));
        let bottom = (0..n).rev().filter_map(|i| lower(i).map(|v| (x(first + i), y(v))));
        points(top.chain(bottom))
    };
    let textbook = band(&|i| Some(forecast.points[i].textbook.lower).filter(|v| v.is_finite()), &|i| {
        Some(forecast.points[i].textbook.upper).filter(|v| v.is_finite())
    });
    let calibrated =
        band(&|i| forecast.points[i].calibrated.map(|c| c.lower), &|i| forecast.points[i].calibrated.map(|c| c.upper));
    if !calibrated.is_empty() {
        let _ = write!(
            out,
            "<polygon class=\"calibrated\" points=\"{calibrated}\" fill=\"#f4a261\" fill-opacity=\"0.35\"/>"
        );
    }
    if !textbook.is_empty() {
        let _ = write!(
            out,
            "<polygon class=\"textbook\" points=\"{textbook}\" fill=\"#2a9d8f\" fill-opacity=\"0.25\" stroke=\"#2a9d8f\" stroke-dasharray=\"3 3\"/>"
        );
    }
    let hist = points(history.iter().enumerate().map(|(i, p)| (x(i), y(p.value))));
    let _ = write!(
        out,
        "<polyline class=\"history\" points=\"{hist}\" fill=\"none\" stroke=\"#264653\" stroke-width=\"1.5\"/>"
    );
    let last = history.last().map(|p| (x(first - 1), y(p.value)));
    let mean =
        points(last.into_iter().chain(forecast.points.iter().enumerate().map(|(i, p)| (x(first + i), y(p.mean)))));
    let _ = write!(
        out,
        "<polyline class=\"forecast\" points=\"{mean}\" fill=\"none\" stroke=\"#e76f51\" stroke-width=\"2\"/>"
    );
    let level = (forecast.level * 100.0).round();
    let _ = write!(
        out,
        "<g class=\"legend\" transform=\"translate({lx},{ly})\">\
         <rect width=\"12\" height=\"3\" y=\"-5\" fill=\"#264653\"/><text x=\"16\">history</text>\
         <rect x=\"80\" width=\"12\" height=\"3\" y=\"-5\" fill=\"#e76f51\"/><text x=\"96\">forecast</text>\
         <rect x=\"170\" width=\"12\" height=\"10\" y=\"-9\" fill=\"#2a9d8f\" fill-opacity=\"0.4\"/><text x=\"186\">{level}% textbook</text>\
         <rect x=\"300\" width=\"12\" height=\"10\" y=\"-9\" fill=\"#f4a261\" fill-opacity=\"0.5\"/><text x=\"316\">{level}% calibrated</text>\
         </g></svg>",
        lx = LEFT + 10.0,
        ly = HEIGHT - 10.0
    );
    out
}

/// The funnel: one bar per step, with its count and conversion from the previous step.
pub fn funnel_svg(funnel: &Funnel, title: &str) -> String {
    let mut out = String::with_capacity(4096);
    header(&mut out, title);
    let steps = &funnel.steps;
    let max = steps.iter().map(|s| s.count).max().unwrap_or(0).max(1) as f64;
    let row_h = ((HEIGHT - TOP - BOTTOM) / steps.len().max(1) as f64).min(60.0);
    let label_w = 140.0;
    let bar_w = WIDTH - LEFT - RIGHT - label_w - 120.0;
    for (i, step) in steps.iter().enumerate() {
        let top = TOP + 10.0 + row_h * i as f64;
        let w = bar_w * step.count as f64 / max;
        let cx = LEFT + label_w + bar_w / 2.0;
        let conversion =
            step.conversion_from_previous.map(|c| format!(" ({:.0}% of previous)", c * 100.0)).unwrap_or_default();
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{name}</text>\
             <rect class=\"step\" x=\"{bx:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#2a9d8f\"/>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{count}{conversion}</text>",
            lx = LEFT + label_w - 8.0,
            ty = top + row_h * 0.5,
            name = esc(&step.name),
            bx = cx - w / 2.0,
            h = row_h * 0.75,
            vx = LEFT + label_w + bar_w + 8.0,
            count = step.count,
        );
    }
    out.push_str("</svg>");
    out
}
