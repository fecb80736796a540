//! Access tokens: short-lived HS256 JWTs naming the member, tenant and role.
//!
//! Expiry is checked against the CRM's clock (not the JWT library's), with no leeway, so tests
//! that move a manual clock see tokens expire.

use chrono::{DateTime, Utc};
use crmcore::id::{MemberId, TenantId};
use crmcore::{CrmError, Result, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The member.
    pub sub: MemberId,
    /// The tenant.
    pub tid: TenantId,
    /// The member's role when the token was issued.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
}

/// Signs and checks access tokens with one HS256 key.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

/// Shortest accepted signing key.
pub const MIN_KEY_BYTES: usize = 32;

impl JwtKeys {
    /// Keys from a secret of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(CrmError::invalid(
                "jwt_secret",
                "too_short",
                format!("the JWT secret needs at least {MIN_KEY_BYTES} bytes"),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation })
    }

    /// Signs an access token for a member, valid from `now` for `ttl`.
    pub fn issue(
        &self,
        tenant: TenantId,
        member: MemberId,
        role: Role,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<String> {
        let claims = Claims {
            sub: member,
            tid: tenant,
            role,
            iat: now.timestamp(),
            exp: now.timestamp().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| CrmError::Internal(format!("signing a token failed: {e}")))
    }

    /// Checks signature and expiry: `Unauthenticated` for a bad or expired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| CrmError::Unauthenticated("invalid access token".into()))?;
        if data.claims.exp <= now.timestamp() {
            return Err(CrmError::Unauthenticated("access token expired".into()));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_expire() {
        let keys = JwtKeys::new(&[7u8; 32]).unwrap();
        let now = Utc::now();
        let (t, m) = (TenantId::new(), MemberId::new());
        let token = keys.issue(t, m, Role::Member, now, std::time::Duration::from_secs(60)).unwrap();
        let claims = keys.verify(&token, now).unwrap();
        assert_eq!((claims.tid, claims.sub, claims.role), (t, m, Role::Member));
        assert!(keys.verify(&token, now + chrono::Duration::seconds(60)).is_err());
        assert!(JwtKeys::new(&[7u8; 32]).unwrap().verify("x.y.z", now).is_err());
        assert!(JwtKeys::new(&[8u8; 32]).unwrap().verify(&token, now).is_err());
        assert!(JwtKeys::new(b"short").is_err());
    }
}
