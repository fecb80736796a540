//! [`Settings`]: everything the router and server need besides the [`crmcore::Crm`]. Built by the
//! binary from flags and `CRM_*` variables (see `config`), or by host apps in code.

use std::fmt;
use std::time::Duration;

/// Secret bytes (signing keys). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes; do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Token bucket parameters: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

/// Argon2id cost parameters for password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory in KiB (OWASP: at least 19456).
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2 }
    }
}

/// Settings of the router and server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HS256 key signing access tokens; at least 32 bytes.
    pub jwt_secret: Secret,
    /// Key for sealing stored third-party tokens (integrations, later).
    pub token_encryption_key: Option<Secret>,
    /// Lifetime of access tokens (default 15 minutes).
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (default 30 days).
    pub refresh_token_ttl: Duration,
    /// Largest accepted request body in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty allows none (default).
    pub cors_allowed_origins: Vec<String>,
    /// Per-principal limit on authenticated requests; `None` disables it.
    pub rate_limit: Option<RateLimit>,
    /// Per-IP limit on sign-in and token refresh; `None` disables it.
    pub auth_rate_limit: Option<RateLimit>,
    /// Password hashing cost.
    pub password_hashing: PasswordHashing,
    /// Whether [`crate::serve`] runs the crmcore worker in-process.
    pub run_worker: bool,
    /// Lifetime of a web console session (default 12 hours).
    pub console_session_ttl: Duration,
    /// Whether the console's session cookie is `Secure` (default `true`; browsers accept secure
    /// cookies from `http://localhost` and `http://127.0.0.1`, so only plain-HTTP deployments on
    /// other hosts need `false`).
    pub secure_cookies: bool,
}

impl Settings {
    /// Defaults around a JWT signing key.
    pub fn new(jwt_secret: Secret) -> Self {
        Self {
            jwt_secret,
            token_encryption_key: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            rate_limit: Some(RateLimit { per_minute: 600, burst: 100 }),
            auth_rate_limit: Some(RateLimit { per_minute: 20, burst: 10 }),
            password_hashing: PasswordHashing::default(),
            run_worker: true,
            console_session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut settings = Settings::new(Secret::new(b"super-secret-signing-key".to_vec()));
        settings.token_encryption_key = Some(Secret::new(b"another-secret".to_vec()));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("super-secret") && !shown.contains("another-secret"), "{shown}");
    }
}
