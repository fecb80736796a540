//! Secrets: random tokens from the OS RNG, stored only as hashes, compared in constant time.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{CrmError, Result};

/// `bytes` random bytes from the operating system's RNG.
pub fn random_bytes(bytes: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| CrmError::Internal(format!("OS random source failed: {e}")))?;
    Ok(buf)
}

/// A random URL-safe token of `bytes` bytes of entropy, prefixed (e.g. `crm_` for API keys).
pub fn random_token(prefix: &str, bytes: usize) -> Result<String> {
    Ok(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(bytes)?)))
}

/// Lowercase hex SHA-256 of a secret: what is stored in place of API keys and refresh tokens.
/// Those secrets carry ≥ 256 bits of entropy, so a fast hash is enough (no password stretching).
pub fn hash_token(token: &str) -> String {
    crate::ports::BlobKey::of(token.as_bytes()).as_str().to_owned()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 digest of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = random_token("crm_", 32).unwrap();
        let b = random_token("crm_", 32).unwrap();
        assert!(a.starts_with("crm_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
