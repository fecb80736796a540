//! Sales velocity: open deals × average won amount × win rate ÷ average cycle days.

use serde::{Deserialize, Serialize};

use super::{Dataset, Period, days_between, ratio};
use crate::deal::DealStatus;

/// Velocity and its components over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Velocity {
    /// The requested period.
    pub current: VelocityComponents,
    /// The period of equal length right before it.
    pub previous: VelocityComponents,
    /// `current ÷ previous − 1`, when both are known and the previous is not zero.
    pub change: Option<f64>,
}

impl Velocity {
    fn new(current: VelocityComponents, previous: VelocityComponents) -> Self {
        let change = match (current.velocity_minor_per_day, previous.velocity_minor_per_day) {
            (Some(c), Some(p)) if p > 0.0 => Some(c / p - 1.0),
            _ => None,
        };
        Velocity { current, previous, change }
    }
}

/// Running sums of one period's velocity.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    open_deals: u64,
    won: u64,
    lost: u64,
    won_amount: f64,
    cycle_days: f64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.open_deals += other.open_deals;
        self.won += other.won;
        self.lost += other.lost;
        self.won_amount += other.won_amount;
        self.cycle_days += other.cycle_days;
    }

    fn components(self, period: Period) -> VelocityComponents {
        let Sums { open_deals, won, lost, won_amount, cycle_days } = self;
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

impl Dataset<'_> {
    /// Velocity in the period (`from`/`to`, default the 90 days up to today) and the one before.
    pub fn velocity(&self) -> Velocity {
        self.velocities().0
    }

    /// Velocity of all deals and of the live ones (stale open deals excluded, for the health
    /// score), in the period and the one before: one pass over the deals for all four.
    pub(crate) fn velocities(&self) -> (Velocity, Velocity) {
        let period = self.params.window_period(self.now);
        let periods = [period, period.previous()];
        let bounds = periods.map(|p| {
            let (start, stop) = (p.start(), p.end());
            (start, stop, stop.min(self.now))
        });
        let (mut all, mut live) = ([Sums::default(); 2], [Sums::default(); 2]);
        for f in &self.facts {
            let is_live = !self.is_stale(f);
            for (i, &(start, stop, end)) in bounds.iter().enumerate() {
                let mut sums = Sums { open_deals: u64::from(self.open_at(f, end)), ..Sums::default() };
                // `period.contains(closed_at)`, as two comparisons of instants.
                if let Some(closed_at) = f.deal.closed_at.filter(|&c| start <= c && c < stop) {
                    match f.deal.status {
                        DealStatus::Won => {
                            sums.won = 1;
                            sums.won_amount = f.deal.amount.amount_minor as f64;
                            sums.cycle_days = days_between(f.deal.created_at, closed_at).max(0.0);
                        }
                        DealStatus::Lost => sums.lost = 1,
                        DealStatus::Open => {}
                    }
                }
                all[i].add(&sums);
                if is_live {
                    live[i].add(&sums);
                }
            }
        }
        let velocity = |sums: [Sums; 2]| Velocity::new(sums[0].components(periods[0]), sums[1].components(periods[1]));
        (velocity(all), velocity(live))
    }
}
