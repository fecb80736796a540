//! When to try a failed delivery again: a fixed schedule with jitter, `Retry-After` honoured
//! within bounds, and the classification of responses into success, retry, throttle or gone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a delivery attempt's outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver asks to stop; the endpoint is disabled.
    Gone,
    /// 429, 502, 503, 504: the receiver is overloaded; back off (and honour `Retry-After`).
    Throttled,
    /// Any other status, a timeout or a connection failure: retry on the schedule.
    Failed,
}

impl AttemptOutcome {
    /// Classifies an HTTP status (`None` when no response arrived).
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => AttemptOutcome::Delivered,
            Some(410) => AttemptOutcome::Gone,
            Some(429 | 502 | 503 | 504) => AttemptOutcome::Throttled,
            _ => AttemptOutcome::Failed,
        }
    }
}

/// Delays before each retry; after the last one the delivery fails for good (kept for replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySchedule {
    /// Delay before attempt `i + 2` (the first attempt is immediate).
    pub delays: Vec<Duration>,
    /// Jitter as a fraction of each delay in per-mille (default 200 = ±20 %), so retries of many
    /// deliveries after an outage do not arrive in one burst.
    pub jitter_permille: u16,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetrySchedule {
    /// Attempts immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: 8 in all.
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            delays: vec![s(5), s(300), s(1800), s(7200), s(18_000), s(36_000), s(36_000)],
            jitter_permille: 200,
            max_retry_after: s(6 * 3600),
        }
    }
}

impl RetrySchedule {
    /// Attempts in all: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The wait after failed attempt `attempt` (1-based), or `None` when attempts are exhausted.
    /// `retry_after` (from a throttling response) is honoured up to `max_retry_after`, never
    /// below the schedule. `entropy` is any value that differs between deliveries (their id's
    /// bits): jitter is derived from it, so it is reproducible.
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>, entropy: u64) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)? as usize)?;
        let jittered = if base.is_zero() || self.jitter_permille == 0 {
            base
        } else {
            let span = base.as_millis() as u64 * u64::from(self.jitter_permille) / 1000;
            let offset = splitmix(entropy ^ u64::from(attempt)) % (2 * span + 1);
            Duration::from_millis((base.as_millis() as u64 + offset).saturating_sub(span))
        };
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        })
    }
}

/// Parses `Retry-After` given in delay-seconds (HTTP dates are rare from webhook receivers and are
/// ignored, falling back to the schedule).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A well-mixed 64-bit hash (SplitMix64 finaliser).
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(AttemptOutcome::from_status(Some(204)), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::from_status(Some(410)), AttemptOutcome::Gone);
        for s in [429, 502, 503, 504] {
            assert_eq!(AttemptOutcome::from_status(Some(s)), AttemptOutcome::Throttled);
        }
        for s in [Some(500), Some(404), Some(301), None] {
            assert_eq!(AttemptOutcome::from_status(s), AttemptOutcome::Failed);
        }
    }

    #[test]
    fn schedule_has_jitter_within_bounds_and_ends() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 8);
        let first = schedule.next_delay(1, None, 42).unwrap();
        assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6), "{first:?}");
        let mut seen = std::collections::HashSet::new();
        for entropy in 0..200u64 {
            let d = schedule.next_delay(3, None, entropy).unwrap();
            assert!(d >= Duration::from_secs(1440) && d <= Duration::from_secs(2160), "{d:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 100, "jitter spreads retries");
        assert_eq!(schedule.next_delay(3, None, 7), schedule.next_delay(3, None, 7), "reproducible");
        assert_eq!(schedule.next_delay(8, None, 1), None);
        assert_eq!(schedule.next_delay(0, None, 1), None);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let schedule = RetrySchedule { jitter_permille: 0, ..RetrySchedule::default() };
        assert_eq!(schedule.next_delay(1, Some(Duration::from_secs(60)), 0), Some(Duration::from_secs(60)));
        assert_eq!(
            schedule.next_delay(3, Some(Duration::from_secs(1)), 0),
            Some(Duration::from_secs(1800)),
            "never below the schedule"
        );
        assert_eq!(
            schedule.next_delay(2, Some(Duration::from_secs(86_400 * 30)), 0),
            Some(Duration::from_secs(6 * 3600))
        );
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
