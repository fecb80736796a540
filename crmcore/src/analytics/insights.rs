//! Insights: findings generated from the metrics, each with its severity, the metric and the
//! threshold that triggered it, and the deals concerned.

use chrono::{DateTime, Days, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::dataset::Facts;
use super::{Dataset, Velocity};
use crate::deal::DealStatus;
use crate::id::DealId;

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth acting on.
    Warning,
    /// Act now.
    Critical,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Insight {
    /// Stable code, e.g. `stuck_in_stage`, `overdue_close_date`, `low_coverage`.
    pub code: String,
    /// How urgent.
    pub severity: Severity,
    /// One sentence, e.g. "4 deals worth 82,000.00 EUR in Negotiation for > 30 days".
    pub message: String,
    /// The metric that triggered it.
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// Total amount of the deals concerned, minor units.
    pub amount_minor: i64,
    /// The deals concerned (largest amount first).
    pub deal_ids: Vec<DealId>,
}

/// The ids of the deals, largest amount first, then by id (the order a stable sort of the
/// id-ordered facts gives). Sorts copied keys, not pointers to the facts: tens of thousands of
/// deals sort without a cache miss per comparison.
fn largest_first(deals: &[&Facts<'_>]) -> Vec<DealId> {
    let mut keys: Vec<_> = deals.iter().map(|f| (std::cmp::Reverse(f.deal.amount.amount_minor), f.deal.id)).collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, id)| id).collect()
}

/// `12345678` minor units → `123,456.78`.
pub(crate) fn format_minor(minor: i64) -> String {
    let major = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in major.chars().enumerate() {
        if i > 0 && (major.len() - i).is_multiple_of(3) && c != '-' {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", (minor % 100).abs())
}

impl<'a> Dataset<'a> {
    /// Findings, most severe first.
    pub fn insights(&self) -> Vec<Insight> {
        self.insights_with(&self.without_stale(), &self.velocity())
    }

    /// Findings, given this dataset without its stale deals and its velocity (shared with the
    /// health score and the velocity in a report).
    pub(crate) fn insights_with(&self, live: &Dataset<'a>, velocity: &Velocity) -> Vec<Insight> {
        let currency = self.currency.map(|c| c.to_string()).unwrap_or_default();
        let money = |minor: i64| format!("{} {currency}", format_minor(minor)).trim_end().to_owned();
        let mut out = Vec::new();
        let open: Vec<_> = self.facts.iter().filter(|f| f.deal.status == DealStatus::Open).collect();
        let total_open: i64 = open.iter().map(|f| f.deal.amount.amount_minor).sum();

        // Deals stuck in one stage.
        let stuck_days = self.params.stuck_days();
        // One pass: stuck open deals, bucketed by the stage they are stuck in.
        let mut stuck_in: Vec<Vec<&Facts<'_>>> = vec![Vec::new(); self.pipeline.stages().len()];
        // `days_between(entered, now) > stuck_days` (days from whole milliseconds), as one
        // comparison of instants.
        let stuck_before = self
            .now
            .checked_sub_signed(Duration::days(i64::from(stuck_days)) + Duration::milliseconds(1))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for &f in &open {
            if let Some(pos) = self.current_stage(f)
                && self.entered_current(f) <= stuck_before
            {
                stuck_in[pos].push(f);
            }
        }
        for &pos in &self.open_stages() {
            let stuck = &stuck_in[pos];
            if stuck.is_empty() {
                continue;
            }
            let amount: i64 = stuck.iter().map(|f| f.deal.amount.amount_minor).sum();
            let share = if total_open > 0 { amount as f64 / total_open as f64 } else { 0.0 };
            let name = &self.pipeline.stages()[pos].name;
            out.push(Insight {
                code: "stuck_in_stage".into(),
                severity: if share >= 0.25 { Severity::Critical } else { Severity::Warning },
                message: format!(
                    "{} deal{} worth {} in {name} for > {stuck_days} days",
                    stuck.len(),
                    if stuck.len() == 1 { "" } else { "s" },
                    money(amount)
                ),
                metric: format!("days_in_stage.{}", self.pipeline.stages()[pos].key),
                value: stuck.len() as f64,
                threshold: f64::from(stuck_days),
                amount_minor: amount,
                deal_ids: largest_first(stuck),
            });
        }

        // Expected close dates in the past.
        let today = self.now.date_naive();
        let overdue: Vec<_> =
            open.iter().copied().filter(|f| f.deal.expected_close.is_some_and(|d| d < today)).collect();
        if !overdue.is_empty() {
            let amount: i64 = overdue.iter().map(|f| f.deal.amount.amount_minor).sum();
            out.push(Insight {
                code: "overdue_close_date".into(),
                severity: Severity::Warning,
                message: format!("{} open deals worth {} have a close date in the past", overdue.len(), money(amount)),
                metric: "overdue_open_deals".into(),
                value: overdue.len() as f64,
                threshold: 0.0,
                amount_minor: amount,
                deal_ids: largest_first(&overdue),
            });
        }

        // Missing data.
        let missing: Vec<_> =
            open.iter().filter(|f| f.deal.amount.amount_minor == 0 || f.deal.expected_close.is_none()).collect();
        if !missing.is_empty() {
            out.push(Insight {
                code: "missing_data".into(),
                severity: Severity::Info,
                message: format!("{} open deals lack an amount or an expected close date", missing.len()),
                metric: "open_deals_missing_data".into(),
                value: missing.len() as f64,
                threshold: 0.0,
                amount_minor: missing.iter().map(|f| f.deal.amount.amount_minor).sum(),
                deal_ids: missing.iter().map(|f| f.deal.id).collect(),
            });
        }

        // Stale deals.
        let stale_days = self.params.stale_days();
        let stale: Vec<_> = open.iter().filter(|f| self.is_stale(f)).collect();
        if !stale.is_empty() && !open.is_empty() {
            let share = stale.len() as f64 / open.len() as f64;
            out.push(Insight {
                code: "stale_deals".into(),
                severity: if share >= 0.3 { Severity::Critical } else { Severity::Warning },
                message: format!(
                    "{} of {} open deals ({:.0}%) untouched for {stale_days} days",
                    stale.len(),
                    open.len(),
                    share * 100.0
                ),
                metric: "stale_share".into(),
                value: share,
                threshold: 0.0,
                amount_minor: stale.iter().map(|f| f.deal.amount.amount_minor).sum(),
                deal_ids: stale.iter().map(|f| f.deal.id).collect(),
            });
        }

        // Coverage against the target, stale deals excluded.
        if let Some(target) = self.params.target_minor.filter(|t| *t > 0) {
            let weighted = live.open_weighted();
            let cover = weighted / target as f64;
            if cover < 1.0 {
                out.push(Insight {
                    code: "low_coverage".into(),
                    severity: if cover < 0.5 { Severity::Critical } else { Severity::Warning },
                    message: format!(
                        "weighted pipeline of {} covers {:.0}% of the {} target",
                        money(weighted.round() as i64),
                        cover * 100.0,
                        money(target)
                    ),
                    metric: "coverage".into(),
                    value: cover,
                    threshold: 1.0,
                    amount_minor: weighted.round() as i64,
                    deal_ids: Vec::new(),
                });
            }
        }

        // Win rate falling.
        let (period, cur, prev) = (velocity.current.period, &velocity.current, &velocity.previous);
        if let (Some(c), Some(p)) = (cur.win_rate, prev.win_rate)
            && p - c >= 0.10
        {
            out.push(Insight {
                code: "win_rate_drop".into(),
                severity: if p - c >= 0.2 { Severity::Critical } else { Severity::Warning },
                message: format!(
                    "win rate fell from {:.0}% to {:.0}% over the last {} days",
                    p * 100.0,
                    c * 100.0,
                    period.days()
                ),
                metric: "win_rate_change".into(),
                value: c - p,
                threshold: -0.10,
                amount_minor: 0,
                deal_ids: Vec::new(),
            });
        }

        // Closing soon: commit deals expected this month's remaining days.
        let horizon = today + Days::new(14);
        let soon: Vec<_> = open
            .iter()
            .copied()
            .filter(|f| f.deal.expected_close.is_some_and(|d| d >= today && d <= horizon))
            .filter(|f| f.deal.probability >= self.params.commit_min.unwrap_or(80))
            .collect();
        if !soon.is_empty() {
            let amount: i64 = soon.iter().map(|f| f.deal.amount.amount_minor).sum();
            out.push(Insight {
                code: "commit_closing_soon".into(),
                severity: Severity::Info,
                message: format!("{} commit deals worth {} expected to close in 14 days", soon.len(), money(amount)),
                metric: "commit_deals_closing_14d".into(),
                value: soon.len() as f64,
                threshold: 14.0,
                amount_minor: amount,
                deal_ids: largest_first(&soon),
            });
        }

        out.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.amount_minor.cmp(&a.amount_minor)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::format_minor;

    #[test]
    fn money_is_grouped() {
        assert_eq!(format_minor(8_200_000), "82,000.00");
        assert_eq!(format_minor(12_345_678_901), "123,456,789.01");
        assert_eq!(format_minor(5), "0.05");
    }
}
