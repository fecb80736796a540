//! Share links: a document (or one pinned version) reachable without an account through
//! `/s/{token}`. The token carries 256 bits from the OS RNG and is stored only as its SHA-256;
//! links expire (7 days by default), may need a password (argon2id) and may allow a limited
//! number of downloads; they can be revoked; every use is counted atomically and audited.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Principal;
use crate::error::{CrmError, Result};
use crate::id::{DocumentId, ShareLinkId, TenantId};

/// Prefix of share tokens.
pub const TOKEN_PREFIX: &str = "shr_";
/// Default lifetime of a link, in hours (7 days).
pub const DEFAULT_EXPIRY_HOURS: u32 = 168;
/// Longest lifetime of a link, in hours (a year).
pub const MAX_EXPIRY_HOURS: u32 = 8760;

/// A share link as stored: the token only as its hash, the password only as its argon2 hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareLink {
    /// Its id.
    pub id: ShareLinkId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The shared document.
    pub document_id: DocumentId,
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    /// A pinned version; `None` serves the latest.
    pub version: Option<u32>,
    /// After this the link is dead.
    pub expires_at: DateTime<Utc>,
    /// The password's argon2id PHC string, when one is required.
    pub password_hash: Option<String>,
    /// Most downloads allowed.
    pub max_downloads: Option<u32>,
    /// Downloads so far.
    pub downloads: u32,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: Principal,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

impl ShareLink {
    /// Why the link cannot be used at `now`, if it cannot.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("revoked")
        } else if self.expires_at <= now {
            Some("expired")
        } else if self.max_downloads.is_some_and(|max| self.downloads >= max) {
            Some("exhausted")
        } else {
            None
        }
    }
}

/// A share link as shown to members: never its token or password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareLinkView {
    /// Its id.
    pub id: ShareLinkId,
    /// The shared document.
    pub document_id: DocumentId,
    /// A pinned version, or the latest.
    pub version: Option<u32>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// Whether a password is required.
    pub password_protected: bool,
    /// Most downloads allowed.
    pub max_downloads: Option<u32>,
    /// Downloads so far.
    pub downloads: u32,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

impl From<&ShareLink> for ShareLinkView {
    fn from(l: &ShareLink) -> Self {
        Self {
            id: l.id,
            document_id: l.document_id,
            version: l.version,
            expires_at: l.expires_at,
            password_protected: l.password_hash.is_some(),
            max_downloads: l.max_downloads,
            downloads: l.downloads,
            revoked_at: l.revoked_at,
            created_at: l.created_at,
        }
    }
}

/// Input for a new share link.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewShareLink {
    /// Lifetime in hours (default 168, at most 8760).
    pub expires_in_hours: Option<u32>,
    /// A password the recipient must give (8 to 200 characters).
    pub password: Option<String>,
    /// Most downloads allowed.
    pub max_downloads: Option<u32>,
    /// Pin a version (default: always the latest).
    pub version: Option<u32>,
}

/// A created link and its token (shown once: only its hash is stored).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedShareLink {
    /// The link.
    pub link: ShareLinkView,
    /// `shr_…`: the `/s/{token}` path segment.
    pub token: String,
}

impl std::fmt::Debug for NewShareLinkSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A password on its way to being hashed; `Debug` never shows it.
pub(crate) struct NewShareLinkSecret<'a>(pub &'a str);

/// The argon2id PHC string of a link password.
pub(crate) fn hash_password(password: NewShareLinkSecret<'_>) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CrmError::Internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches the stored PHC string (constant-time inside argon2).
pub(crate) fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// The expiry of a link created at `now` for `hours` (validated).
pub(crate) fn expiry(now: DateTime<Utc>, hours: Option<u32>) -> Result<DateTime<Utc>> {
    let hours = hours.unwrap_or(DEFAULT_EXPIRY_HOURS);
    if hours == 0 || hours > MAX_EXPIRY_HOURS {
        return Err(CrmError::invalid("expires_in_hours", "out_of_range", "links live 1 to 8760 hours"));
    }
    Ok(now + Duration::hours(i64::from(hours)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify_and_links_refuse_when_dead() {
        let phc = hash_password(NewShareLinkSecret("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("correct horse", &phc));
        assert!(!password_matches("wrong horse", &phc));
        assert!(!password_matches("correct horse", "not a hash"));
        let now = Utc::now();
        let link = ShareLink {
            id: ShareLinkId::new(),
            tenant_id: TenantId::new(),
            document_id: DocumentId::new(),
            token_hash: String::new(),
            version: None,
            expires_at: now + Duration::hours(1),
            password_hash: None,
            max_downloads: Some(2),
            downloads: 1,
            revoked_at: None,
            created_by: Principal::System,
            created_at: now,
        };
        assert_eq!(link.refusal(now), None);
        assert_eq!(ShareLink { downloads: 2, ..link.clone() }.refusal(now), Some("exhausted"));
        assert_eq!(link.refusal(now + Duration::hours(2)), Some("expired"));
        assert_eq!(ShareLink { revoked_at: Some(now), ..link }.refusal(now), Some("revoked"));
        assert!(expiry(now, Some(0)).is_err() && expiry(now, Some(9000)).is_err());
        assert_eq!(expiry(now, None).unwrap(), now + Duration::days(7));
    }
}
