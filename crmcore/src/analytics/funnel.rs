//! The funnel: of the deals created in a period (the cohort), how many reached each stage.

use serde::{Deserialize, Serialize};

use super::{Dataset, Period, ratio};
use crate::deal::{DealStatus, StageKind};

/// One step of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunnelStep {
    /// Stage key.
    pub stage: String,
    /// Display name.
    pub name: String,
    /// Cohort deals that reached the stage (entered it or any later step).
    pub count: u64,
    /// `count ÷` the previous step's count (`None` for the first step or after an empty step).
    pub conversion_from_previous: Option<f64>,
    /// `count ÷` the first step's count.
    pub conversion_from_first: Option<f64>,
}

/// The funnel of a cohort: the open stages in order, then won.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Funnel {
    /// Cohort period (deals created in it); `None` for all deals.
    pub period: Option<Period>,
    /// Deals in the cohort.
    pub cohort: u64,
    /// Of those, won.
    pub won: u64,
    /// Of those, lost.
    pub lost: u64,
    /// Of those, still open.
    pub open: u64,
    /// `won ÷ cohort`.
    pub overall_conversion: Option<f64>,
    /// `won ÷ (won + lost)`: the cohort's win rate among decided deals.
    pub win_rate: Option<f64>,
    /// Steps, non-increasing counts.
    pub steps: Vec<FunnelStep>,
}

impl Dataset<'_> {
    /// The funnel of the deals created in the period (all deals without one).
    pub fn funnel(&self) -> Funnel {
        let period = self.params.cohort();
        let stages = self.pipeline.stages();
        let open = self.open_stages();
        let won_stage = stages.iter().find(|s| s.kind == StageKind::Won);
        let mut rank = vec![usize::MAX; stages.len()];
        for (i, &p) in open.iter().enumerate() {
            rank[p] = i;
        }
        // counts[i] = deals whose furthest step is exactly i; steps = open stages + won.
        let mut exact = vec![0u64; open.len() + 1];
        let (mut cohort, mut won, mut lost) = (0, 0, 0);
        for f in self.facts.iter().filter(|f| period.is_none_or(|p| p.contains(f.deal.created_at))) {
            cohort += 1;
            match f.deal.status {
                DealStatus::Won => {
                    won += 1;
                    exact[open.len()] += 1;
                }
                status => {
                    lost += u64::from(status == DealStatus::Lost);
                    if let Some(pos) = f.furthest_open {
                        exact[rank[pos]] += 1;
                    }
                }
            }
        }
        let mut reached = vec![0u64; exact.len()];
        let mut acc = 0;
        for i in (0..exact.len()).rev() {
            acc += exact[i];
            reached[i] = acc;
        }
        let mut steps: Vec<FunnelStep> = open
            .iter()
            .map(|&p| (stages[p].key.clone(), stages[p].name.clone()))
            .chain(won_stage.map(|s| (s.key.clone(), s.name.clone())))
            .zip(reached.iter())
            .map(|((stage, name), &count)| FunnelStep {
                stage,
                name,
                count,
                conversion_from_previous: None,
                conversion_from_first: None,
            })
            .collect();
        let first = reached.first().copied().unwrap_or(0);
        for i in 0..steps.len() {
            steps[i].conversion_from_first = ratio(steps[i].count, first);
            if i > 0 {
                steps[i].conversion_from_previous = ratio(steps[i].count, steps[i - 1].count);
            }
        }
        Funnel {
            period,
            cohort,
            won,
            lost,
            open: cohort - won - lost,
            overall_conversion: ratio(won, cohort),
            win_rate: ratio(won, won + lost),
            steps,
        }
    }
}
