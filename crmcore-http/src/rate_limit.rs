//! A keyed token bucket: each key (a principal, or an IP before sign-in) holds up to `burst`
//! tokens, refilled continuously at `per_minute`. Small on purpose: one mutex-guarded map,
//! pruned of idle (full) buckets when it grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crmcore::{CrmError, Result};

use crate::settings::RateLimit;

/// Buckets kept before idle ones are pruned.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets with the given limit.
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit.per_minute.max(1)) / 60.0
    }

    /// Takes one token from `key`'s bucket, or `RateLimited` with the seconds until one is back.
    pub fn check(&self, key: &str) -> Result<()> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<()> {
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.per_second();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil();
            // `wait` is positive and bounded by 60 / per_minute; the cast cannot truncate meaningfully.
            Err(CrmError::RateLimited { retry_after_secs: wait.max(1.0) as u64 })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::new(RateLimit { per_minute: 60, burst: 2 });
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).is_ok());
        assert!(limiter.check_at("a", t0).is_ok());
        assert_eq!(limiter.check_at("a", t0), Err(CrmError::RateLimited { retry_after_secs: 1 }));
        assert!(limiter.check_at("b", t0).is_ok(), "keys are independent");
        assert!(limiter.check_at("a", t0 + Duration::from_secs(1)).is_ok());
    }
}
