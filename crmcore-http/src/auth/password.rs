//! Argon2id password hashes. Hashing is slow on purpose, so it runs on the blocking pool; a
//! dummy hash is verified when an e-mail is unknown, so both paths take comparable time.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use crmcore::{CrmError, Result};

use crate::settings::PasswordHashing;

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password (bounds hashing work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.params).finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> CrmError {
    CrmError::Internal(format!("password hashing failed: {e}"))
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(params: &Params, password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params.clone()).hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(internal)
}

impl PasswordHasher {
    /// A hasher with the given cost; computes the dummy hash once (blocking).
    pub fn new(cost: PasswordHashing) -> Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, 1, None).map_err(internal)?;
        let dummy = crmcore::secret::random_token("", 24)?;
        let dummy_hash = hash_now(&params, &dummy)?.into();
        Ok(Self { params, dummy_hash })
    }

    /// Checks the password policy: `Validation` on field `password`.
    pub fn check_policy(password: &str) -> Result<()> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(CrmError::invalid(
                "password",
                "too_short",
                format!("password needs at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(CrmError::invalid("password", "too_long", "password is too long"));
        }
        Ok(())
    }

    /// Hashes a password (after checking the policy) to a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String> {
        Self::check_policy(password)?;
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_now(&params, &password)).await.map_err(internal)?
    }

    /// Whether `password` matches `hash`. With no hash (unknown user) a dummy is verified, so
    /// the answer (`false`) takes as long as a real check.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_dummies_never_match() {
        let hasher = PasswordHasher::new(PasswordHashing { memory_kib: 1024, iterations: 1 }).unwrap();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await);
        assert!(!hasher.verify("wrong horse", Some(&hash)).await);
        assert!(!hasher.verify("correct horse", None).await);
        assert!(hasher.hash("short").await.is_err());
    }
}
