//! [`AppState`]: what every handler shares — the [`Crm`], the settings, the signing keys, the
//! password hasher, the rate limiters and the metrics registry. Cheap to clone.

use std::sync::Arc;

use crmcore::{Crm, Result};

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::settings::Settings;

/// State shared by the router's handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    crm: Crm,
    settings: Settings,
    jwt: JwtKeys,
    passwords: PasswordHasher,
    limiter: Option<RateLimiter>,
    auth_limiter: Option<RateLimiter>,
    metrics: Metrics,
}

impl AppState {
    /// Builds the state; `Validation` when the JWT secret is too short or hashing costs are invalid.
    pub fn new(crm: Crm, settings: Settings) -> Result<Self> {
        let jwt = JwtKeys::new(settings.jwt_secret.expose())?;
        let passwords = PasswordHasher::new(settings.password_hashing)?;
        Ok(Self {
            inner: Arc::new(Inner {
                crm,
                jwt,
                passwords,
                limiter: settings.rate_limit.map(RateLimiter::new),
                auth_limiter: settings.auth_rate_limit.map(RateLimiter::new),
                metrics: Metrics::default(),
                settings,
            }),
        })
    }

    /// The CRM.
    pub fn crm(&self) -> &Crm {
        &self.inner.crm
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Access-token keys.
    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }

    /// The password hasher.
    pub fn passwords(&self) -> &PasswordHasher {
        &self.inner.passwords
    }

    /// Takes a token from the per-principal bucket of `key` (no-op when disabled).
    pub fn rate_limit(&self, key: &str) -> Result<()> {
        self.inner.limiter.as_ref().map_or(Ok(()), |l| l.check(key))
    }

    /// Takes a token from the per-IP sign-in bucket of `key` (no-op when disabled).
    pub fn auth_rate_limit(&self, key: &str) -> Result<()> {
        self.inner.auth_limiter.as_ref().map_or(Ok(()), |l| l.check(key))
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
