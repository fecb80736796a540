//! The [Standard Webhooks](https://www.standardwebhooks.com/) signature scheme, exactly:
//! headers `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`; secrets `whsec_` + base64 of 24–64 random bytes. During a secret
//! rotation several space-separated signatures are sent and a receiver accepts any of them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{CrmError, Result};
use crate::secret::{constant_time_eq, random_bytes};

/// Seconds a timestamp may differ from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The prefix of serialized secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing key. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    /// A fresh secret of 32 random bytes from the OS RNG.
    pub fn generate() -> Result<Self> {
        Ok(Self(random_bytes(32)?))
    }

    /// Parses `whsec_<base64>` (the prefix is optional on input); the key must be 24 to 64 bytes.
    pub fn parse(raw: &str) -> Result<Self> {
        let encoded = raw.trim().strip_prefix(SECRET_PREFIX).unwrap_or(raw.trim());
        let invalid = |why: &str| CrmError::invalid("secret", "invalid", format!("not a webhook secret: {why}"));
        let key = STANDARD.decode(encoded).map_err(|_| invalid("not base64"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(invalid("the key must be 24 to 64 bytes"));
        }
        Ok(Self(key))
    }

    /// The serialized form, `whsec_<base64>`: show it to the endpoint's owner once, store it sealed.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// The `webhook-signature` header value for one message: one `v1,<sig>` per secret, space-separated
/// (several secrets while a rotation overlaps).
pub fn sign(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| format!("v1,{}", STANDARD.encode(s.mac(id, timestamp, body)))).collect::<Vec<_>>().join(" ")
}

/// Why a webhook failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is not an integer.
    #[error("malformed webhook-timestamp")]
    MalformedTimestamp,
    /// The timestamp is more than [`TOLERANCE_SECS`] in the past.
    #[error("webhook-timestamp too old")]
    TooOld,
    /// The timestamp is more than [`TOLERANCE_SECS`] in the future.
    #[error("webhook-timestamp too far in the future")]
    TooNew,
    /// No `v1` signature matches.
    #[error("no matching signature")]
    NoMatch,
}

/// Verifies a received webhook: the timestamp within ±[`TOLERANCE_SECS`] of `now_unix`, and at
/// least one `v1,` signature in `signature_header` matching, compared in constant time.
pub fn verify(
    secret: &SigningSecret,
    id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp: i64 = timestamp_header.trim().parse().map_err(|_| SignatureError::MalformedTimestamp)?;
    if timestamp < now_unix - TOLERANCE_SECS {
        return Err(SignatureError::TooOld);
    }
    if timestamp > now_unix + TOLERANCE_SECS {
        return Err(SignatureError::TooNew);
    }
    let expected = secret.mac(id, timestamp, body);
    let matched = signature_header
        .split_whitespace()
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .any(|sig| constant_time_eq(&sig, &expected));
    if matched { Ok(()) } else { Err(SignatureError::NoMatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's published test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> SigningSecret {
        SigningSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn signs_the_published_vector() {
        assert_eq!(sign(&[&secret()], ID, TS, BODY), SIGNATURE);
        assert_eq!(secret().expose(), SECRET);
    }

    #[test]
    fn verifies_the_published_vector() {
        assert_eq!(verify(&secret(), ID, "1614265330", SIGNATURE, BODY, TS), Ok(()));
        assert_eq!(verify(&secret(), ID, "1614265330", SIGNATURE, BODY, TS + TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn rejects_tampering_and_bad_headers() {
        let s = secret();
        let mut changed_body = BODY.to_vec();
        changed_body[3] = b'X';
        assert_eq!(verify(&s, ID, "1614265330", SIGNATURE, &changed_body, TS), Err(SignatureError::NoMatch));
        assert_eq!(
            verify(&s, "msg_p5jXN8AQM9LWM0D4loKWxJeK", "1614265330", SIGNATURE, BODY, TS),
            Err(SignatureError::NoMatch)
        );
        let one_char_off = SIGNATURE.replace("g0hM", "g0hN");
        assert_eq!(verify(&s, ID, "1614265330", &one_char_off, BODY, TS), Err(SignatureError::NoMatch));
        assert_eq!(verify(&s, ID, "1614265330", "v1,", BODY, TS), Err(SignatureError::NoMatch));
        assert_eq!(verify(&s, ID, "1614265330", "", BODY, TS), Err(SignatureError::NoMatch));
        assert_eq!(
            verify(&s, ID, "1614265330", &SIGNATURE.replace("v1,", "v2,"), BODY, TS),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&s, ID, "1614265329", SIGNATURE, BODY, TS),
            Err(SignatureError::NoMatch),
            "timestamp is signed"
        );
        assert_eq!(verify(&s, ID, "soon", SIGNATURE, BODY, TS), Err(SignatureError::MalformedTimestamp));
        assert_eq!(verify(&s, ID, "1614265330", SIGNATURE, BODY, TS + TOLERANCE_SECS + 1), Err(SignatureError::TooOld));
        assert_eq!(verify(&s, ID, "1614265330", SIGNATURE, BODY, TS - TOLERANCE_SECS - 1), Err(SignatureError::TooNew));
    }

    #[test]
    fn rotation_sends_both_signatures_and_either_verifies() {
        let old = secret();
        let new = SigningSecret::generate().unwrap();
        let header = sign(&[&new, &old], ID, TS, BODY);
        assert_eq!(header.split(' ').count(), 2);
        assert_eq!(verify(&old, ID, "1614265330", &header, BODY, TS), Ok(()));
        assert_eq!(verify(&new, ID, "1614265330", &header, BODY, TS), Ok(()));
        let stranger = SigningSecret::generate().unwrap();
        assert_eq!(verify(&stranger, ID, "1614265330", &header, BODY, TS), Err(SignatureError::NoMatch));
    }

    /// Interoperability: the reference implementation (crates.io `standardwebhooks`) accepts our
    /// signatures, and we accept its.
    #[test]
    fn agrees_with_the_reference_implementation() {
        let secret = SigningSecret::generate().unwrap();
        let reference = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let body = br#"{"type":"deal.won","data":{"amount_minor":4900}}"#;
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_interop".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", sign(&[&secret], "msg_interop", now, body).parse().unwrap());
        reference.verify(body, &headers).expect("the reference verifies our signature");
        let theirs = reference.sign("msg_interop", now, body).unwrap();
        assert_eq!(verify(&secret, "msg_interop", &now.to_string(), &theirs, body, now), Ok(()));
        headers.insert(
            "webhook-signature",
            sign(&[&SigningSecret::generate().unwrap()], "msg_interop", now, body).parse().unwrap(),
        );
        assert!(reference.verify(body, &headers).is_err());
    }

    #[test]
    fn secrets_parse_strictly_and_hide_in_debug() {
        assert!(SigningSecret::parse("whsec_short").is_err());
        assert!(SigningSecret::parse("whsec_***").is_err());
        let generated = SigningSecret::generate().unwrap();
        assert_eq!(SigningSecret::parse(&generated.expose()).unwrap(), generated);
        assert!(!format!("{generated:?}").contains(&generated.expose()[6..]));
    }
}
