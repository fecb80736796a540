//! Weighted pipeline and forecast categories, rolled up by close month.
//!
//! Weighted amount = amount × the deal's probability (which starts as its stage's and may be
//! overridden per deal). Categories: **closed** (won), **omitted** (lost, or open at 0 %),
//! **commit** (open at ≥ `commit_min`, default 80 %), **best case** (≥ `best_case_min`, default
//! 50 %), **pipeline** (the other open deals). Won deals roll up by the month they closed, open
//! ones by their expected close month (or `unscheduled`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DealFacts;
use super::{Dataset, YearMonth, month_of};
use crate::deal::DealStatus;

/// A forecast category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    /// Open, below best case.
    Pipeline,
    /// Open, likely.
    BestCase,
    /// Open, expected to close.
    Commit,
    /// Won.
    Closed,
    /// Lost, or open at 0 %.
    Omitted,
}

impl ForecastCategory {
    /// All categories, in reporting order.
    pub const ALL: [ForecastCategory; 5] = [
        ForecastCategory::Pipeline,
        ForecastCategory::BestCase,
        ForecastCategory::Commit,
        ForecastCategory::Closed,
        ForecastCategory::Omitted,
    ];
}

/// Count, amount and weighted amount of a set of deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryTotal {
    /// The category.
    pub category: ForecastCategory,
    /// Deals.
    pub count: u64,
    /// Total amount, minor units.
    pub amount_minor: i64,
    /// Total of amount × probability, minor units (rounded once, at the end).
    pub weighted_minor: i64,
}

/// The categories of one close month (`month = None`: open deals without an expected close).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthRollup {
    /// The close month.
    pub month: Option<YearMonth>,
    /// One total per category, in [`ForecastCategory::ALL`] order.
    pub categories: Vec<CategoryTotal>,
}

/// Weighted pipeline of the deals in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeightedPipeline {
    /// Open deals.
    pub open_count: u64,
    /// Their total amount, minor units.
    pub open_amount_minor: i64,
    /// Their total weighted amount, minor units.
    pub weighted_minor: i64,
    /// Totals per category.
    pub categories: Vec<CategoryTotal>,
    /// Totals per close month, oldest first, then `unscheduled`.
    pub months: Vec<MonthRollup>,
}

/// Sums of amount and amount × probability (in percent-minor units, divided once at the end).
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    count: u64,
    amount: i64,
    weighted_percent: i128,
}

impl Acc {
    fn add(&mut self, deal: &DealFacts) {
        self.count += 1;
        self.amount += deal.amount.amount_minor;
        self.weighted_percent += i128::from(deal.amount.amount_minor) * i128::from(deal.probability);
    }

    fn total(&self, category: ForecastCategory) -> CategoryTotal {
        CategoryTotal {
            category,
            count: self.count,
            amount_minor: self.amount,
            weighted_minor: round_percent(self.weighted_percent),
        }
    }
}

/// `x ÷ 100`, rounded half away from zero.
fn round_percent(x: i128) -> i64 {
    let q = (x + if x >= 0 { 50 } else { -50 }) / 100;
    i64::try_from(q).unwrap_or(i64::MAX)
}

impl Dataset<'_> {
    /// The category of one deal under the thresholds in the parameters.
    pub fn category(&self, deal: &DealFacts) -> ForecastCategory {
        let best_case = self.params.best_case_min.unwrap_or(50);
        let commit = self.params.commit_min.unwrap_or(80);
        match deal.status {
            DealStatus::Won => ForecastCategory::Closed,
            DealStatus::Lost => ForecastCategory::Omitted,
            DealStatus::Open if deal.probability == 0 => ForecastCategory::Omitted,
            DealStatus::Open if deal.probability >= commit => ForecastCategory::Commit,
            DealStatus::Open if deal.probability >= best_case => ForecastCategory::BestCase,
            DealStatus::Open => ForecastCategory::Pipeline,
        }
    }

    /// Weighted pipeline, forecast categories and their roll-up by close month.
    pub fn weighted_pipeline(&self) -> WeightedPipeline {
        let index = |c: ForecastCategory| ForecastCategory::ALL.iter().position(|&x| x == c).unwrap_or(0);
        let mut totals = [Acc::default(); 5];
        let mut open = Acc::default();
        let mut months: BTreeMap<Option<YearMonth>, [Acc; 5]> = BTreeMap::new();
        for f in &self.facts {
            let deal = f.deal;
            let category = self.category(deal);
            totals[index(category)].add(deal);
            if deal.status == DealStatus::Open {
                open.add(deal);
            }
            let month = match deal.status {
                DealStatus::Open => deal.expected_close.map(YearMonth::from_date),
                _ => deal.closed_at.map(month_of),
            };
            months.entry(month).or_default()[index(category)].add(deal);
        }
        let rollup = |accs: &[Acc; 5]| ForecastCategory::ALL.iter().map(|&c| accs[index(c)].total(c)).collect();
        // `None` sorts first in a BTreeMap; report it last.
        let mut months: Vec<MonthRollup> =
            months.iter().map(|(month, accs)| MonthRollup { month: *month, categories: rollup(accs) }).collect();
        if months.first().is_some_and(|m| m.month.is_none()) {
            months.rotate_left(1);
        }
        WeightedPipeline {
            open_count: open.count,
            open_amount_minor: open.amount,
            weighted_minor: round_percent(open.weighted_percent),
            categories: rollup(&totals),
            months,
        }
    }

    /// Weighted amount of the open deals, minor units (exact, before rounding).
    pub(crate) fn open_weighted(&self) -> f64 {
        self.facts
            .iter()
            .filter(|f| f.deal.status == DealStatus::Open)
            .map(|f| f.deal.amount.amount_minor as f64 * f64::from(f.deal.probability) / 100.0)
            .sum()
    }
}
