//! Pipeline health score, 0 to 100, from named weighted components.
//!
//! Each component scores 0–100 and carries its raw value, weight and explanation. The score is
//! the weighted mean of the components that can be computed (a missing target, or no closed
//! deals, leaves a component out rather than inventing a value).
//!
//! **Stale deals are out of play**: an open deal without a stage change or update for
//! `stale_days` counts against the stale-share component only; every other component is computed
//! on the remaining deals. So adding a stale deal can only lower the score, and a stale pipeline
//! cannot pass for coverage.

use serde::{Deserialize, Serialize};

use super::{Dataset, Period, ratio};
use crate::deal::DealStatus;

/// One component of the health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthComponent {
    /// Stable name: `coverage`, `stale_share`, `stage_balance`, `win_rate_trend`,
    /// `velocity_trend`, `data_hygiene`.
    pub name: String,
    /// The measured value (its unit depends on the component; see the explanation).
    pub value: Option<f64>,
    /// The component's score, 0–100; `None` when it cannot be computed.
    pub score: Option<f64>,
    /// Its weight in the total (weights of computed components are renormalised).
    pub weight: f64,
    /// What was measured and why it scores as it does.
    pub explanation: String,
}

/// The health score and its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthScore {
    /// 0–100; `None` when no component can be computed (no deals).
    pub score: Option<f64>,
    /// Every component, computed or not.
    pub components: Vec<HealthComponent>,
}

/// Component weights.
const WEIGHTS: [(&str, f64); 6] = [
    ("coverage", 0.25),
    ("stale_share", 0.20),
    ("stage_balance", 0.10),
    ("win_rate_trend", 0.15),
    ("velocity_trend", 0.10),
    ("data_hygiene", 0.20),
];

fn component(name: &str, value: Option<f64>, score: Option<f64>, explanation: String) -> HealthComponent {
    let weight = WEIGHTS.iter().find(|w| w.0 == name).map_or(0.0, |w| w.1);
    HealthComponent { name: name.to_owned(), value, score: score.map(|s| s.clamp(0.0, 100.0)), weight, explanation }
}

impl Dataset<'_> {
    /// The health score (uses `target_minor`, `stale_days` and the trend period `from`/`to`).
    pub fn health(&self) -> HealthScore {
        let stale_days = self.params.stale_days();
        let open = self.facts.iter().filter(|f| f.deal.status == DealStatus::Open).count() as u64;
        let stale = self.facts.iter().filter(|f| self.is_stale(f)).count() as u64;
        let live = self.without_stale();
        let mut components = Vec::with_capacity(6);

        // Coverage: live weighted pipeline ÷ target.
        let weighted = live.open_weighted();
        components.push(match self.params.target_minor {
            Some(target) if target > 0 => {
                let cover = weighted / target as f64;
                component(
                    "coverage",
                    Some(cover),
                    Some(100.0 * cover.min(1.0)),
                    format!("weighted open pipeline (stale deals excluded) is {:.0}% of the target", cover * 100.0),
                )
            }
            _ => component("coverage", None, None, "no target given (`target_minor`)".into()),
        });

        // Stale share.
        let share = ratio(stale, open);
        components.push(component(
            "stale_share",
            share,
            share.map(|s| 100.0 * (1.0 - s)),
            match share {
                Some(s) => format!(
                    "{stale} of {open} open deals ({:.0}%) had no stage change or update for {stale_days} days",
                    s * 100.0
                ),
                None => "no open deals".into(),
            },
        ));

        // Stage balance: normalised entropy of live open deals across open stages.
        let stages = self.open_stages();
        let mut counts = vec![0u64; self.pipeline.stages().len()];
        for f in live.facts.iter().filter(|f| f.deal.status == DealStatus::Open) {
            if let Some(&(pos, _)) = f.visits.last() {
                counts[pos] += 1;
            }
        }
        let total: u64 = stages.iter().map(|&p| counts[p]).sum();
        let balance = (total > 0 && stages.len() > 1).then(|| {
            let h: f64 =
                stages.iter().map(|&p| counts[p] as f64 / total as f64).filter(|&q| q > 0.0).map(|q| -q * q.ln()).sum();
            h / (stages.len() as f64).ln()
        });
        components.push(component(
            "stage_balance",
            balance,
            balance.map(|b| 100.0 * b),
            match balance {
                Some(b) => {
                    format!("live open deals spread over the open stages at {:.0}% of an even spread", b * 100.0)
                }
                None => "no live open deals".into(),
            },
        ));

        // Trends: this period against the previous one.
        let period = self.params.window_period(self.now);
        let (cur, prev) = (live.velocity_in(period), live.velocity_in(period.previous()));
        let win_delta = cur.win_rate.zip(prev.win_rate).map(|(c, p)| c - p);
        components.push(component(
            "win_rate_trend",
            win_delta,
            win_delta.map(|d| 50.0 + 100.0 * d),
            match (cur.win_rate, prev.win_rate) {
                (Some(c), Some(p)) => format!(
                    "win rate {:.0}% in {} vs {:.0}% in the period before (50 = unchanged; ±50 points = 0 or 100)",
                    c * 100.0,
                    describe(period),
                    p * 100.0
                ),
                _ => "no deals closed in this or the previous period".into(),
            },
        ));
        let velocity_change = match (cur.velocity_minor_per_day, prev.velocity_minor_per_day) {
            (Some(c), Some(p)) if p > 0.0 => Some(c / p - 1.0),
            _ => None,
        };
        components.push(component(
            "velocity_trend",
            velocity_change,
            velocity_change.map(|r| 50.0 + 50.0 * r),
            match velocity_change {
                Some(r) => format!(
                    "sales velocity changed by {:+.0}% against the previous period (50 = unchanged, +100% = 100)",
                    r * 100.0
                ),
                None => "velocity is unknown in this or the previous period".into(),
            },
        ));

        // Data hygiene of live open deals.
        let today = self.now.date_naive();
        let live_open: Vec<_> = live.facts.iter().filter(|f| f.deal.status == DealStatus::Open).collect();
        let dirty = live_open
            .iter()
            .filter(|f| f.deal.amount.amount_minor == 0 || f.deal.expected_close.is_none_or(|d| d < today))
            .count() as u64;
        let dirty_share = ratio(dirty, live_open.len() as u64);
        components.push(component(
            "data_hygiene",
            dirty_share,
            dirty_share.map(|s| 100.0 * (1.0 - s)),
            match dirty_share {
                Some(_) => format!(
                    "{dirty} of {} live open deals lack an amount or a close date, or their close date has passed",
                    live_open.len()
                ),
                None => "no live open deals".into(),
            },
        ));

        let (sum, weights) = components
            .iter()
            .filter_map(|c| c.score.map(|s| (s * c.weight, c.weight)))
            .fold((0.0, 0.0), |(a, b), (s, w)| (a + s, b + w));
        let score = (weights > 0.0).then(|| (sum / weights).clamp(0.0, 100.0));
        HealthScore { score, components }
    }
}

fn describe(period: Period) -> String {
    format!("{} – {}", period.from, period.to)
}
