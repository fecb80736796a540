//! Sealing secrets at rest: AES-256-GCM with a key from configuration, so a store (and its
//! backups) never holds a webhook signing secret or an OAuth token in plaintext.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::secret::random_bytes;

/// Version tag of the sealed format: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
const FORMAT: &str = "v1:";
const NONCE_BYTES: usize = 12;

/// A sealed secret as stored. Its `Debug` shows only that it is sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps a stored value (as read back from a store).
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// Seals and opens secrets with one AES-256-GCM key. Each value is bound to a context string
/// (e.g. the endpoint id) as associated data, so a sealed value copied onto another record does
/// not open.
#[derive(Clone)]
pub struct SecretSealer {
    cipher: Aes256Gcm,
}

impl SecretSealer {
    /// A sealer whose key is derived from configured key material of any length (at least 32
    /// bytes), for one purpose.
    pub fn derived(material: &[u8], purpose: &str) -> Result<Self> {
        if material.len() < 32 {
            return Err(CrmError::invalid("token_encryption_key", "too_short", "the key needs at least 32 bytes"));
        }
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(material)
            .map_err(|e| CrmError::Internal(format!("key derivation failed: {e}")))?;
        mac.update(purpose.as_bytes());
        Ok(Self::from_key(&mac.finalize().into_bytes().into()))
    }

    /// A sealer with a fresh random key: what it seals cannot be opened after a restart, so it
    /// suits tests and in-memory demos only.
    pub fn ephemeral() -> Result<Self> {
        let key = random_bytes(32)?;
        let mut array = [0u8; 32];
        array.copy_from_slice(&key);
        Ok(Self::from_key(&array))
    }

    fn from_key(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    /// Seals `plaintext` for `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<SealedSecret> {
        let nonce_bytes = random_bytes(NONCE_BYTES)?;
        let nonce = Nonce::from_slice(&nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(nonce, Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| CrmError::Internal("sealing failed".into()))?;
        let mut out = nonce_bytes;
        out.extend_from_slice(&sealed);
        Ok(SealedSecret(format!("{FORMAT}{}", STANDARD.encode(out))))
    }

    /// Opens a value sealed for `context`; `Internal` when the key or the context differ or the
    /// value was altered.
    pub fn open(&self, sealed: &SealedSecret, context: &str) -> Result<String> {
        let fail = || CrmError::Internal("a sealed secret does not open with the configured key".into());
        let raw = sealed.0.strip_prefix(FORMAT).ok_or_else(fail)?;
        let bytes = STANDARD.decode(raw).map_err(|_| fail())?;
        if bytes.len() < NONCE_BYTES {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

impl fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSealer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_the_same_key_and_context() {
        let sealer = SecretSealer::derived(&[7u8; 32], "webhook").unwrap();
        let sealed = sealer.seal("whsec_abc", "endpoint-1").unwrap();
        assert!(!sealed.as_str().contains("whsec_abc"));
        assert_ne!(sealed, sealer.seal("whsec_abc", "endpoint-1").unwrap(), "fresh nonce each time");
        assert_eq!(sealer.open(&sealed, "endpoint-1").unwrap(), "whsec_abc");
        assert!(sealer.open(&sealed, "endpoint-2").is_err(), "bound to its record");
        let other = SecretSealer::derived(&[8u8; 32], "webhook").unwrap();
        assert!(other.open(&sealed, "endpoint-1").is_err());
        let mut tampered = sealed.as_str().to_owned();
        tampered.replace_range(10..11, if &tampered[10..11] == "A" { "B" } else { "A" });
        assert!(sealer.open(&SealedSecret::from_stored(tampered), "endpoint-1").is_err());
        assert!(SecretSealer::derived(b"short", "webhook").is_err());
        assert_eq!(format!("{sealed:?}"), "SealedSecret(..)");
    }
}
