//! Stage metrics: per open stage, what sits there now, how long deals stay, and where they go.

use serde::{Deserialize, Serialize};

use super::{Dataset, Period, days_between, median, ratio};
use crate::deal::DealStatus;

/// Metrics of one open stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageMetric {
    /// Stage key.
    pub stage: String,
    /// Display name.
    pub name: String,
    /// Open deals in the stage now.
    pub open_count: u64,
    /// Their total amount, minor units.
    pub open_amount_minor: i64,
    /// Average days of a completed visit to the stage (entered, then left); `None` without one.
    pub avg_days_in_stage: Option<f64>,
    /// Median days of a completed visit.
    pub median_days_in_stage: Option<f64>,
    /// Completed visits measured.
    pub completed_visits: u64,
    /// Deals that reached the stage (entered it, a later open stage, or won).
    pub reached: u64,
    /// Of those, deals that went on to a later open stage or won.
    pub advanced: u64,
    /// Of those, deals lost with this as their furthest stage.
    pub dropped: u64,
    /// Of those, deals still open with this as their furthest stage.
    pub still_open: u64,
    /// `advanced ÷ reached`.
    pub conversion_to_next: Option<f64>,
    /// `dropped ÷ reached`.
    pub drop_off: Option<f64>,
}

/// Stage metrics of the deals in scope (and created in the period, when one is given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageMetrics {
    /// Cohort period (deals created in it), when filtered.
    pub period: Option<Period>,
    /// Deals measured.
    pub deals: u64,
    /// One entry per open stage, in pipeline order.
    pub stages: Vec<StageMetric>,
}

impl Dataset<'_> {
    /// Stage metrics: `reached = advanced + dropped + still_open` for every stage.
    pub fn stage_metrics(&self) -> StageMetrics {
        let period = self.params.cohort();
        let open = self.open_stages();
        let stages = self.pipeline.stages();
        let mut durations: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
        let mut m: Vec<StageMetric> = open
            .iter()
            .map(|&p| StageMetric {
                stage: stages[p].key.clone(),
                name: stages[p].name.clone(),
                open_count: 0,
                open_amount_minor: 0,
                avg_days_in_stage: None,
                median_days_in_stage: None,
                completed_visits: 0,
                reached: 0,
                advanced: 0,
                dropped: 0,
                still_open: 0,
                conversion_to_next: None,
                drop_off: None,
            })
            .collect();
        // Position in the pipeline → index among open stages.
        let mut rank = vec![usize::MAX; stages.len()];
        for (i, &p) in open.iter().enumerate() {
            rank[p] = i;
        }
        let mut deals = 0;
        for f in self.facts.iter().filter(|f| period.is_none_or(|p| p.contains(f.deal.created_at))) {
            deals += 1;
            for pair in self.visits(f).windows(2) {
                if rank[pair[0].0] != usize::MAX {
                    durations[pair[0].0].push(days_between(pair[0].1, pair[1].1));
                }
            }
            let status = f.deal.status;
            if status == DealStatus::Open
                && let Some(pos) = self.current_stage(f)
                && rank[pos] != usize::MAX
            {
                m[rank[pos]].open_count += 1;
                m[rank[pos]].open_amount_minor += f.deal.amount.amount_minor;
            }
            let furthest = match (status, f.furthest_open) {
                (DealStatus::Won, _) => m.len(),
                (_, Some(pos)) => rank[pos],
                (_, None) => continue,
            };
            let last = furthest.min(m.len() - 1);
            for (i, metric) in m.iter_mut().enumerate().take(last + 1) {
                metric.reached += 1;
                if i < furthest {
                    metric.advanced += 1;
                } else if status == DealStatus::Lost {
                    metric.dropped += 1;
                } else {
                    metric.still_open += 1;
                }
            }
        }
        for metric in &mut m {
            metric.conversion_to_next = ratio(metric.advanced, metric.reached);
            metric.drop_off = ratio(metric.dropped, metric.reached);
        }
        for (&p, metric) in open.iter().zip(m.iter_mut()) {
            let d = &mut durations[p];
            metric.completed_visits = d.len() as u64;
            metric.avg_days_in_stage = (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64);
            metric.median_days_in_stage = median(d);
        }
        StageMetrics { period, deals, stages: m }
    }
}
