//! Endpoint health: a circuit breaker per endpoint, so one slow or dead receiver never holds the
//! workers that serve the others, and the auto-disable rule for endpoints failing for too long.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Circuit breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitPolicy {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open at first; doubles on each failed probe.
    pub open_for: Duration,
    /// The longest open period.
    pub max_open_for: Duration,
    /// Failing without a success for this long disables the endpoint.
    pub disable_after: Duration,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::seconds(30),
            max_open_for: Duration::minutes(30),
            disable_after: Duration::days(5),
        }
    }
}

/// The breaker's state for one endpoint, stored with the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CircuitState {
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// While set and in the future, deliveries wait instead of being attempted.
    pub open_until: Option<DateTime<Utc>>,
    /// How many times in a row the circuit opened (drives the backoff).
    pub openings: u32,
    /// The first failure since the last success.
    pub failing_since: Option<DateTime<Utc>>,
}

/// What the breaker says about sending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send.
    Send,
    /// Do not send before this time; reschedule the delivery (it does not count as an attempt).
    WaitUntil(DateTime<Utc>),
}

impl CircuitState {
    /// Whether a delivery may be attempted at `now`. Once the open period ends, one probe is let
    /// through (half-open): its result closes or reopens the circuit.
    pub fn admit(&self, now: DateTime<Utc>) -> Admission {
        match self.open_until {
            Some(until) if until > now => Admission::WaitUntil(until),
            _ => Admission::Send,
        }
    }

    /// Records a success: the circuit closes and the failure streak ends.
    pub fn record_success(&mut self) {
        *self = CircuitState::default();
    }

    /// Records a failure at `now`. Returns `true` when the endpoint has now been failing for
    /// longer than `disable_after` and must be disabled.
    pub fn record_failure(&mut self, policy: &CircuitPolicy, now: DateTime<Utc>) -> bool {
        self.consecutive_failures += 1;
        let since = *self.failing_since.get_or_insert(now);
        // Failures of requests sent before the circuit opened do not lengthen the open period;
        // only reaching the threshold while closed, or a failed probe once it has run out, do.
        let open = self.open_until.is_some_and(|until| until > now);
        if self.consecutive_failures >= policy.failure_threshold && !open {
            let factor = 1i32.checked_shl(self.openings.min(20)).unwrap_or(i32::MAX);
            let open_for =
                policy.open_for.checked_mul(factor).map_or(policy.max_open_for, |d| d.min(policy.max_open_for));
            self.open_until = Some(now + open_for);
            self.openings += 1;
        }
        now - since >= policy.disable_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_backs_off_and_closes_on_success() {
        let policy = CircuitPolicy::default();
        let t0 = Utc::now();
        let mut state = CircuitState::default();
        for i in 0..4 {
            assert!(!state.record_failure(&policy, t0 + Duration::seconds(i)));
            assert_eq!(state.admit(t0 + Duration::seconds(i)), Admission::Send);
        }
        state.record_failure(&policy, t0 + Duration::seconds(4));
        assert_eq!(state.admit(t0 + Duration::seconds(5)), Admission::WaitUntil(t0 + Duration::seconds(34)));
        assert_eq!(state.admit(t0 + Duration::seconds(34)), Admission::Send, "half-open probe");
        state.record_failure(&policy, t0 + Duration::seconds(34));
        assert_eq!(state.open_until, Some(t0 + Duration::seconds(94)), "the open period doubles");
        state.record_success();
        assert_eq!(state, CircuitState::default());
        assert_eq!(state.admit(t0), Admission::Send);
    }

    #[test]
    fn failures_already_in_flight_do_not_lengthen_the_open_period() {
        let policy = CircuitPolicy::default();
        let t0 = Utc::now();
        let mut state = CircuitState::default();
        for _ in 0..20 {
            state.record_failure(&policy, t0);
        }
        assert_eq!(state.open_until, Some(t0 + Duration::seconds(30)), "twenty at once open it once");
        assert_eq!(state.openings, 1);
        state.record_failure(&policy, t0 + Duration::seconds(31));
        assert_eq!(state.open_until, Some(t0 + Duration::seconds(91)), "a failed probe doubles it");
    }

    #[test]
    fn open_period_is_capped_and_long_failure_disables() {
        let policy = CircuitPolicy::default();
        let t0 = Utc::now();
        let mut state = CircuitState::default();
        let mut disabled = false;
        for hour in 0..(5 * 24) {
            disabled = state.record_failure(&policy, t0 + Duration::hours(hour));
            if let Some(until) = state.open_until {
                assert!(until - (t0 + Duration::hours(hour)) <= policy.max_open_for);
            }
        }
        assert!(!disabled, "119 hours is under five days");
        assert!(state.record_failure(&policy, t0 + Duration::days(5)));
    }
}
