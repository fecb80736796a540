//! Sales velocity: open deals × average won amount × win rate ÷ average cycle days.

use serde::{Deserialize, Serialize};

use super::{Dataset, Period, days_between, ratio};
use crate::deal::DealStatus;

/// Velocity and its components over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VelocityComponents {
    /// The period: deals closed in it are measured.
    pub period: Period,
    /// Deals open at the end of the period (from their stage history).
    pub open_deals: u64,
    /// Deals won in the period.
    pub won: u64,
    /// Deals lost in the period.
    pub lost: u64,
    /// `won ÷ (won + lost)`.
    pub win_rate: Option<f64>,
    /// Average amount of the deals won, minor units.
    pub avg_won_amount_minor: Option<f64>,
    /// Average days from creation to winning, over the deals won.
    pub avg_cycle_days: Option<f64>,
    /// `open_deals × avg_won_amount × win_rate ÷ avg_cycle_days`: expected revenue per day,
    /// minor units. `None` when a component is missing or the cycle is zero days.
    pub velocity_minor_per_day: Option<f64>,
}

/// Velocity now and in the previous period of equal length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Velocity {
    /// The requested period.
    pub current: VelocityComponents,
    /// The period of equal length right before it.
    pub previous: VelocityComponents,
    /// `current ÷ previous − 1`, when both are known and the previous is not zero.
    pub change: Option<f64>,
}

impl Dataset<'_> {
    /// Velocity in the period (`from`/`to`, default the 90 days up to today) and the one before.
    pub fn velocity(&self) -> Velocity {
        let period = self.params.window_period(self.now);
        let current = self.velocity_in(period);
        let previous = self.velocity_in(period.previous());
        let change = match (current.velocity_minor_per_day, previous.velocity_minor_per_day) {
            (Some(c), Some(p)) if p > 0.0 => Some(c / p - 1.0),
            _ => None,
        };
        Velocity { current, previous, change }
    }

    pub(crate) fn velocity_in(&self, period: Period) -> VelocityComponents {
        let end = period.end().min(self.now);
        let (mut open_deals, mut won, mut lost) = (0u64, 0u64, 0u64);
        let (mut won_amount, mut cycle_days) = (0f64, 0f64);
        for f in &self.facts {
            if f.open_at(end, self.pipeline) {
                open_deals += 1;
            }
            let Some(closed_at) = f.deal.closed_at else { continue };
            if !period.contains(closed_at) {
                continue;
            }
            match f.deal.status {
                DealStatus::Won => {
                    won += 1;
                    won_amount += f.deal.amount.amount_minor as f64;
                    cycle_days += days_between(f.deal.created_at, closed_at).max(0.0);
                }
                DealStatus::Lost => lost += 1,
                DealStatus::Open => {}
            }
        }
        let win_rate = ratio(won, won + lost);
        let avg_won_amount_minor = (won > 0).then(|| won_amount / won as f64);
        let avg_cycle_days = (won > 0).then(|| cycle_days / won as f64);
        let velocity_minor_per_day = match (win_rate, avg_won_amount_minor, avg_cycle_days) {
            (Some(rate), Some(amount), Some(days)) if days > 0.0 => Some(open_deals as f64 * amount * rate / days),
            _ => None,
        };
        VelocityComponents {
            period,
            open_deals,
            won,
            lost,
            win_rate,
            avg_won_amount_minor,
            avg_cycle_days,
            velocity_minor_per_day,
        }
    }
}
