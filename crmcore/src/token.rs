//! Signed, optionally expiring tokens for URLs: open pixels, click redirects, unsubscribe links,
//! signed downloads, OAuth state.
//!
//! A token is the URL-safe base64 (no padding) of
//! `version | flags | purpose tag (2) | [expiry (5, seconds since the epoch)] | payload | MAC (16)`.
//! The MAC is HMAC-SHA256, truncated to 128 bits, over a domain prefix, the length-prefixed
//! *purpose* and every byte before it: a token minted for one purpose (say `campaign.open`) never
//! verifies for another (`campaign.unsubscribe`), even with the same key and payload. The 2-byte
//! purpose tag only lets a mismatch be reported as [`TokenError::WrongPurpose`]; the MAC is what
//! binds the purpose. Tags are checked in constant time (`hmac`'s `verify_truncated_left`), and
//! the expiry only once the MAC holds, so a forged token never learns more than "invalid".
//!
//! Payloads are raw bytes (a recipient id and a link index fit in 18) or, where size matters
//! less, JSON ([`TokenSigner::sign_json`]).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::{CrmError, Result};
use crate::secret::{random_bytes, sha256};

/// Purposes used by crmcore itself; any other non-empty string works too.
pub mod purpose {
    /// Campaign open-tracking pixel.
    pub const OPEN: &str = "campaign.open";
    /// Campaign click redirect (recipient + link index).
    pub const CLICK: &str = "campaign.click";
    /// One-click unsubscribe.
    pub const UNSUBSCRIBE: &str = "campaign.unsubscribe";
    /// Time-limited document download.
    pub const DOWNLOAD: &str = "document.download";
    /// OAuth 2.0 `state` parameter.
    pub const OAUTH_STATE: &str = "oauth.state";
}

/// Smallest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Largest payload a token carries, in bytes (tokens go in URLs).
pub const MAX_PAYLOAD_BYTES: usize = 1024;

const VERSION: u8 = 1;
const FLAG_EXPIRES: u8 = 0b0000_0001;
const TAG_BYTES: usize = 16;
const PURPOSE_TAG_BYTES: usize = 2;
const EXPIRY_BYTES: usize = 5;
const HEADER_BYTES: usize = 2 + PURPOSE_TAG_BYTES;
const DOMAIN: &[u8] = b"crmcore.token.v1";
/// Largest expiry the 5-byte field holds.
const MAX_EXPIRY: i64 = (1 << 40) - 1;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all: bad base64, too short, unknown version.
    #[error("malformed token")]
    Malformed,
    /// The MAC does not match: the token was altered or signed with another key.
    #[error("invalid token signature")]
    Invalid,
    /// The token was issued for another purpose.
    #[error("token issued for another purpose")]
    WrongPurpose,
    /// The token is genuine but expired at this time (seconds since the epoch).
    #[error("token expired")]
    Expired {
        /// When it expired, seconds since the epoch.
        at: i64,
    },
}

impl TokenError {
    /// Stable machine code: `malformed`, `invalid`, `wrong_purpose`, `expired`.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Invalid => "invalid",
            TokenError::WrongPurpose => "wrong_purpose",
            TokenError::Expired { .. } => "expired",
        }
    }
}

impl From<TokenError> for CrmError {
    fn from(e: TokenError) -> Self {
        CrmError::invalid("token", e.code(), e.to_string())
    }
}

/// Mints and checks tokens with one current key and, during a rotation, older keys that are
/// still accepted. Its `Debug` never shows a key.
#[derive(Clone)]
pub struct TokenSigner {
    /// The signing key first, then keys still accepted.
    keys: Vec<Hmac<Sha256>>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSigner({} key(s), [redacted])", self.keys.len())
    }
}

fn keyed_mac(key: &[u8]) -> Result<Hmac<Sha256>> {
    if key.len() < MIN_KEY_BYTES {
        return Err(CrmError::invalid(
            "token_key",
            "too_short",
            format!("a token key needs at least {MIN_KEY_BYTES} bytes"),
        ));
    }
    Hmac::<Sha256>::new_from_slice(key).map_err(|e| CrmError::Internal(e.to_string()))
}

/// The 2-byte tag naming a purpose inside a token.
fn purpose_tag(purpose: &str) -> [u8; PURPOSE_TAG_BYTES] {
    let digest = sha256(purpose.as_bytes());
    [digest[0], digest[1]]
}

impl TokenSigner {
    /// A signer with `key` (at least [`MIN_KEY_BYTES`] bytes, e.g. from [`crate::secret::random_bytes`]).
    pub fn new(key: &[u8]) -> Result<Self> {
        Ok(Self { keys: vec![keyed_mac(key)?] })
    }

    /// A signer whose key is derived from `secret` for one `context` (HMAC-SHA256 of the
    /// context under the secret), so one configured secret can key several independent signers.
    pub fn derived(secret: &[u8], context: &str) -> Result<Self> {
        let mut mac = keyed_mac(secret)?;
        mac.update(context.as_bytes());
        Self::new(&mac.finalize().into_bytes())
    }

    /// A signer with a fresh random key (for tests and single-process use).
    pub fn generate() -> Result<Self> {
        Self::new(&random_bytes(MIN_KEY_BYTES)?)
    }

    /// Also accepts tokens signed with `key` (a previous key during a rotation); new tokens
    /// are still signed with the first key.
    pub fn with_previous_key(mut self, key: &[u8]) -> Result<Self> {
        self.keys.push(keyed_mac(key)?);
        Ok(self)
    }

    fn tag(key: &Hmac<Sha256>, purpose: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = key.clone();
        mac.update(DOMAIN);
        // Length-prefixed, so no purpose/body split can collide with another.
        mac.update(&(purpose.len() as u64).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(body);
        mac
    }

    /// A token carrying `payload` for `purpose`, valid until `expires_at` (if given).
    /// Fails on an empty purpose, a payload over [`MAX_PAYLOAD_BYTES`] or an expiry before 1970
    /// or after year 36812.
    pub fn sign(&self, purpose: &str, payload: &[u8], expires_at: Option<DateTime<Utc>>) -> Result<String> {
        if purpose.is_empty() {
            return Err(CrmError::invalid("purpose", "required", "a token needs a purpose"));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(CrmError::invalid(
                "payload",
                "too_long",
                format!("a token payload holds at most {MAX_PAYLOAD_BYTES} bytes"),
            ));
        }
        let mut body = Vec::with_capacity(HEADER_BYTES + EXPIRY_BYTES + payload.len() + TAG_BYTES);
        body.push(VERSION);
        body.push(if expires_at.is_some() { FLAG_EXPIRES } else { 0 });
        body.extend_from_slice(&purpose_tag(purpose));
        if let Some(at) = expires_at {
            let secs = at.timestamp();
            if !(0..=MAX_EXPIRY).contains(&secs) {
                return Err(CrmError::invalid("expires_at", "out_of_range", "expiry out of range"));
            }
            body.extend_from_slice(&secs.to_be_bytes()[8 - EXPIRY_BYTES..]);
        }
        body.extend_from_slice(payload);
        let tag = Self::tag(&self.keys[0], purpose, &body).finalize().into_bytes();
        body.extend_from_slice(&tag[..TAG_BYTES]);
        Ok(URL_SAFE_NO_PAD.encode(body))
    }

    /// The payload of a genuine, unexpired `token` issued for `purpose`, at time `now`.
    pub fn verify(&self, purpose: &str, token: &str, now: DateTime<Utc>) -> Result<Vec<u8>, TokenError> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| TokenError::Malformed)?;
        if raw.len() < HEADER_BYTES + TAG_BYTES || raw[0] != VERSION || raw[1] & !FLAG_EXPIRES != 0 {
            return Err(TokenError::Malformed);
        }
        let expires = raw[1] & FLAG_EXPIRES != 0;
        let payload_start = HEADER_BYTES + if expires { EXPIRY_BYTES } else { 0 };
        if raw.len() < payload_start + TAG_BYTES {
            return Err(TokenError::Malformed);
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_BYTES);
        let genuine = self.keys.iter().any(|key| Self::tag(key, purpose, body).verify_truncated_left(tag).is_ok());
        if !genuine {
            return Err(if body[2..HEADER_BYTES] != purpose_tag(purpose) {
                TokenError::WrongPurpose
            } else {
                TokenError::Invalid
            });
        }
        if expires {
            let mut secs = [0u8; 8];
            secs[8 - EXPIRY_BYTES..].copy_from_slice(&body[HEADER_BYTES..payload_start]);
            let at = i64::from_be_bytes(secs);
            if now.timestamp() >= at {
                return Err(TokenError::Expired { at });
            }
        }
        Ok(body[payload_start..].to_vec())
    }

    /// [`TokenSigner::sign`] with a JSON-serialised payload.
    pub fn sign_json<T: Serialize>(
        &self,
        purpose: &str,
        payload: &T,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String> {
        let bytes = serde_json::to_vec(payload).map_err(|e| CrmError::Internal(e.to_string()))?;
        self.sign(purpose, &bytes, expires_at)
    }

    /// [`TokenSigner::verify`], then decodes the JSON payload; a genuine payload of another
    /// shape is [`TokenError::Malformed`].
    pub fn verify_json<T: DeserializeOwned>(
        &self,
        purpose: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<T, TokenError> {
        let bytes = self.verify(purpose, token, now)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(&[7u8; 32]).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn round_trip_is_short_and_url_safe() {
        let s = signer();
        // A recipient id (16 bytes) and a link index: what a click token carries.
        let mut payload = [0xabu8; 16].to_vec();
        payload.push(3);
        let token = s.sign(purpose::CLICK, &payload, Some(now() + Duration::days(365))).unwrap();
        assert!(token.len() <= 56, "{} chars: {token}", token.len());
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(s.verify(purpose::CLICK, &token, now()).unwrap(), payload);
        let forever = s.sign(purpose::OPEN, b"", None).unwrap();
        assert_eq!(s.verify(purpose::OPEN, &forever, now() + Duration::days(36_500)).unwrap(), b"");
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let s = signer();
        let token = s.sign(purpose::UNSUBSCRIBE, b"recipient-42", Some(now() + Duration::hours(1))).unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..token.len() {
            for c in alphabet.chars() {
                let mut altered: Vec<char> = token.chars().collect();
                if altered[i] == c {
                    continue;
                }
                altered[i] = c;
                let altered: String = altered.into_iter().collect();
                // The last character carries spare bits that base64 decoding may ignore; any
                // decoding to the same bytes is the same token, everything else must fail.
                match s.verify(purpose::UNSUBSCRIBE, &altered, now()) {
                    Ok(p) => {
                        assert_eq!(URL_SAFE_NO_PAD.decode(&altered).ok(), URL_SAFE_NO_PAD.decode(&token).ok());
                        assert_eq!(p, b"recipient-42");
                    }
                    Err(e) => assert!(
                        matches!(e, TokenError::Invalid | TokenError::Malformed | TokenError::WrongPurpose),
                        "{e:?}"
                    ),
                }
            }
        }
        for cut in [0, 1, token.len() / 2, token.len() - 1] {
            assert!(s.verify(purpose::UNSUBSCRIBE, &token[..cut], now()).is_err());
        }
        assert_eq!(s.verify(purpose::UNSUBSCRIBE, &format!("{token}AA"), now()), Err(TokenError::Invalid));
        assert_eq!(s.verify(purpose::UNSUBSCRIBE, "not a token!", now()), Err(TokenError::Malformed));
    }

    #[test]
    fn expired_tokens_are_refused_only_when_genuine() {
        let s = signer();
        let at = now() + Duration::minutes(10);
        let token = s.sign(purpose::DOWNLOAD, b"doc", Some(at)).unwrap();
        assert!(s.verify(purpose::DOWNLOAD, &token, at - Duration::seconds(1)).is_ok());
        assert_eq!(s.verify(purpose::DOWNLOAD, &token, at), Err(TokenError::Expired { at: at.timestamp() }));
        // Another key's token is invalid, expired or not.
        let other = TokenSigner::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(purpose::DOWNLOAD, &token, at + Duration::days(1)), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_for_one_purpose_never_serves_another() {
        let s = signer();
        let open = s.sign(purpose::OPEN, b"recipient-1", None).unwrap();
        assert_eq!(s.verify(purpose::UNSUBSCRIBE, &open, now()), Err(TokenError::WrongPurpose));
        assert_eq!(s.verify(purpose::CLICK, &open, now()), Err(TokenError::WrongPurpose));
        assert!(s.verify(purpose::OPEN, &open, now()).is_ok());
    }

    #[test]
    fn wrong_keys_and_rotation() {
        let old = TokenSigner::new(&[1u8; 32]).unwrap();
        let token = old.sign(purpose::OAUTH_STATE, b"state", None).unwrap();
        let new = TokenSigner::new(&[2u8; 32]).unwrap();
        assert_eq!(new.verify(purpose::OAUTH_STATE, &token, now()), Err(TokenError::Invalid));
        let rotating = new.clone().with_previous_key(&[1u8; 32]).unwrap();
        assert_eq!(rotating.verify(purpose::OAUTH_STATE, &token, now()).unwrap(), b"state");
        let fresh = rotating.sign(purpose::OAUTH_STATE, b"state", None).unwrap();
        assert!(new.verify(purpose::OAUTH_STATE, &fresh, now()).is_ok());
        assert!(old.verify(purpose::OAUTH_STATE, &fresh, now()).is_err());
        assert!(TokenSigner::new(&[0u8; 16]).is_err());
        assert!(!format!("{rotating:?}").contains("[1, 1"));
    }

    #[test]
    fn json_payloads_and_limits() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct State {
            provider: String,
            nonce: u64,
        }
        let s = signer();
        let state = State { provider: "slack".into(), nonce: 42 };
        let token = s.sign_json(purpose::OAUTH_STATE, &state, Some(now() + Duration::minutes(5))).unwrap();
        assert_eq!(s.verify_json::<State>(purpose::OAUTH_STATE, &token, now()).unwrap(), state);
        assert_eq!(s.verify_json::<u32>(purpose::OAUTH_STATE, &token, now()), Err(TokenError::Malformed));
        assert!(s.sign("", b"x", None).is_err());
        assert!(s.sign(purpose::OPEN, &[0u8; MAX_PAYLOAD_BYTES + 1], None).is_err());
        let err: CrmError = TokenError::Expired { at: 0 }.into();
        assert!(matches!(err, CrmError::Validation(ref e) if e[0].code == "expired"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_verifies_or_panics(s in "\\PC{0,120}") {
            proptest::prop_assert!(signer().verify(purpose::OPEN, &s, now()).is_err());
        }
    }
}
