use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::Role;
use crate::error::Result;
use crate::id::{ApiKeyId, MemberId, RefreshTokenId, TenantId};
use crate::member::Member;
use crate::tenant::Tenant;
use crate::value::EmailAddress;

/// A member who may sign in with an e-mail address, with the stored password hash.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginCandidate {
    /// The member's tenant.
    pub tenant: Tenant,
    /// The member.
    pub member: Member,
    /// The PHC-format password hash (never logged).
    pub password_hash: String,
}

/// A machine credential. Only the SHA-256 of the secret is stored; the secret is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What it is for.
    pub name: String,
    /// The first characters of the secret, to recognise it in lists.
    pub prefix: String,
    /// Hex SHA-256 of the whole secret.
    #[serde(skip_serializing)]
    pub secret_hash: String,
    /// The role requests made with it act with.
    pub role: Role,
    /// Who created it.
    pub created_by: Option<MemberId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A single-use refresh token. Tokens descending from one login share a family; reusing a spent
/// token revokes the whole family.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// Its id.
    pub id: RefreshTokenId,
    /// The login it descends from.
    pub family_id: Uuid,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its member.
    pub member_id: MemberId,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for a new one.
    pub used_at: Option<DateTime<Utc>>,
    /// When its family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshTokenUse {
    /// The token was unused and is now marked used (returned as it was before).
    Fresh(RefreshToken),
    /// The token had already been used: a replay.
    AlreadyUsed(RefreshToken),
    /// No such token.
    Unknown,
}

/// Credentials of the reference server's authentication, stored through the same store.
#[async_trait]
pub trait CredentialRepository: Send + Sync {
    /// Sets a member's password hash. MUST return `NotFound` when the member is absent from the tenant.
    async fn set_password(
        &self,
        tenant: TenantId,
        member: MemberId,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Active members with this e-mail and a password, across tenants: the one lookup made
    /// before a tenant is known (sign-in).
    async fn login_candidates(&self, email: &EmailAddress) -> Result<Vec<LoginCandidate>>;
    /// Stores a new API key.
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    /// Finds a key by the hash of its secret (pre-authentication), revoked or not.
    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>>;
    /// The tenant's keys, newest first.
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>>;
    /// Revokes a key. MUST return `NotFound` when absent from the tenant; revoking twice is `Ok`.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: DateTime<Utc>) -> Result<()>;
    /// Stores a refresh token.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Atomically marks the token with this hash used, reporting whether it was fresh. Two
    /// concurrent uses of one token MUST see exactly one `Fresh`.
    async fn use_refresh_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<RefreshTokenUse>;
    /// The token with this hash as it stands, without using it (console sessions are checked
    /// this way on every request).
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>>;
    /// Revokes every token of a family (on replay or logout).
    async fn revoke_refresh_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<()>;
}
