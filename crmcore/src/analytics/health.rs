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

use super::{Dataset, Period, Velocity, ratio};
use crate::deal::DealStatus;

/// One component of the health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl<'a> Dataset<'a> {
    /// The health score (uses `target_minor`, `stale_days` and the trend period `from`/`to`).
    pub fn health(&self) -> HealthScore {
        self.health_with(&self.without_stale(), &self.velocities().1)
    }

    /// The health score, given this dataset without its stale deals and their velocity (shared
    /// with the insights and the velocity in a report).
    pub(crate) fn health_with(&self, live: &Dataset<'a>, live_velocity: &Velocity) -> HealthScore {
        let stale_days = self.params.stale_days();
        let open = self.facts.iter().filter(|f| f.deal.status == DealStatus::Open).count() as u64;
        let stale = open - live.facts.iter().filter(|f| f.deal.status == DealStatus::Open).count() as u64;
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
            if let Some(pos) = live.current_stage(f) {
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
        let (cur, prev) = (&live_velocity.current, &live_velocity.previous);
        let period = cur.period;
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::actor::Principal;
    use crate::analytics::{AnalyticsParams, DealSnapshot};
    use crate::deal::{Deal, Pipeline, StageChange};
    use crate::id::{DealId, TenantId};
    use crate::value::{Currency, Money};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
    }

    /// (stage position, amount, probability, created days ago, days in current stage, close offset days)
    type Spec = (usize, i64, u8, i64, i64, Option<i64>);

    fn spec() -> impl Strategy<Value = Spec> {
        (0usize..6, 0i64..1_000_000, 0u8..=100, 1i64..400, 0i64..400, proptest::option::of(-60i64..200))
    }

    fn build(specs: &[Spec], tenant: TenantId) -> (Vec<Deal>, Vec<StageChange>) {
        let pipeline = Pipeline::default();
        let mut deals = Vec::new();
        let mut history = Vec::new();
        for &(pos, amount, probability, created_ago, in_stage, close) in specs {
            let stage = &pipeline.stages()[pos];
            let created = now() - Duration::days(created_ago);
            let entered = (now() - Duration::days(in_stage)).max(created);
            let status = stage.kind.status();
            let deal = Deal {
                id: DealId::new(),
                tenant_id: tenant,
                title: "d".into(),
                contact_id: None,
                owner_id: None,
                amount: Money::new(amount, Currency::parse("EUR").unwrap()).unwrap(),
                stage: stage.key.clone(),
                probability,
                expected_close: close.map(|c| (now() + Duration::days(c)).date_naive()),
                status,
                closed_at: (status != DealStatus::Open).then_some(entered),
                lost_reason: None,
                created_at: created,
                updated_at: entered,
                version: 1,
            };
            let change = |from: Option<&str>, to: &str, at| StageChange {
                deal_id: deal.id,
                tenant_id: tenant,
                from_stage: from.map(str::to_owned),
                to_stage: to.to_owned(),
                changed_at: at,
                changed_by: Principal::System,
            };
            history.push(change(None, "lead", created));
            if stage.key != "lead" && entered > created {
                history.push(change(Some("lead"), &stage.key, entered));
            }
            deals.push(deal);
        }
        (deals, history)
    }

    fn score(deals: &[Deal], history: &[StageChange], params: &AnalyticsParams) -> Option<f64> {
        let pipeline = Pipeline::default();
        let snapshot = DealSnapshot::from_deals(deals, history);
        Dataset::new(&pipeline, &snapshot, now(), params).unwrap().health().score
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn score_stays_within_0_and_100(specs in proptest::collection::vec(spec(), 0..40), target in 1i64..100_000_000) {
            let (deals, history) = build(&specs, TenantId::new());
            let params = AnalyticsParams { target_minor: Some(target), ..Default::default() };
            if let Some(s) = score(&deals, &history, &params) {
                prop_assert!((0.0..=100.0).contains(&s), "{s}");
            }
            let snapshot = DealSnapshot::from_deals(&deals, &history);
            let health = Dataset::new(&Pipeline::default(), &snapshot, now(), &params).unwrap().health();
            for c in health.components {
                prop_assert!(c.score.is_none_or(|s| (0.0..=100.0).contains(&s)));
            }
        }

        #[test]
        fn a_new_stale_deal_never_raises_it(
            specs in proptest::collection::vec(spec(), 0..40),
            stale in (0usize..4, 0i64..1_000_000, 0u8..=100, 31i64..400, proptest::option::of(-60i64..200)),
            target in 1i64..100_000_000,
        ) {
            let params = AnalyticsParams { target_minor: Some(target), ..Default::default() };
            let tenant = TenantId::new();
            let (deals, history) = build(&specs, tenant);
            let before = score(&deals, &history, &params);
            // Open (positions 0..4), created and last moved more than 30 days ago: stale.
            let (pos, amount, probability, ago, close) = stale;
            let (extra, extra_history) = build(&[(pos, amount, probability, ago, ago, close)], tenant);
            let (mut more, mut more_history) = (deals.clone(), history.clone());
            more.extend(extra);
            more_history.extend(extra_history);
            let after = score(&more, &more_history, &params);
            if let (Some(b), Some(a)) = (before, after) {
                prop_assert!(a <= b + 1e-9, "stale deal raised the score from {b} to {a}");
            }
        }

        #[test]
        fn more_coverage_never_lowers_it(
            specs in proptest::collection::vec(spec(), 0..40),
            target in 2i64..100_000_000,
            divisor in 1i64..10,
        ) {
            let (deals, history) = build(&specs, TenantId::new());
            let low = AnalyticsParams { target_minor: Some(target), ..Default::default() };
            // A smaller target is more coverage of the same pipeline.
            let high = AnalyticsParams { target_minor: Some((target / divisor).max(1)), ..Default::default() };
            if let (Some(a), Some(b)) = (score(&deals, &history, &low), score(&deals, &history, &high)) {
                prop_assert!(b + 1e-9 >= a, "more coverage lowered the score from {a} to {b}");
            }
        }
    }

    #[test]
    fn components_are_named_weighted_and_explained() {
        let (deals, history) = build(&[(1, 500_000, 25, 10, 2, Some(30)), (3, 0, 75, 90, 60, None)], TenantId::new());
        let params = AnalyticsParams { target_minor: Some(1_000_000), ..Default::default() };
        let snapshot = DealSnapshot::from_deals(&deals, &history);
        let health = Dataset::new(&Pipeline::default(), &snapshot, now(), &params).unwrap().health();
        let names: Vec<_> = health.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["coverage", "stale_share", "stage_balance", "win_rate_trend", "velocity_trend", "data_hygiene"]
        );
        assert!((health.components.iter().map(|c| c.weight).sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(health.components.iter().all(|c| !c.explanation.is_empty()));
        // One of two open deals is stale; the live one covers 12.5 % of the target.
        assert_eq!(health.components[1].value, Some(0.5));
        assert!((health.components[0].value.unwrap() - 0.125).abs() < 1e-12);
    }
}
