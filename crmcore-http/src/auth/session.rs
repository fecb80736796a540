//! Sign-in and refresh: e-mail + password for a token pair, and single-use refresh tokens that
//! rotate. A refresh token presented twice means it leaked: its whole family is revoked.

use chrono::{DateTime, Utc};
use crmcore::id::{RefreshTokenId, TenantId};
use crmcore::member::Member;
use crmcore::ports::{RefreshToken, RefreshTokenUse};
use crmcore::secret::{hash_token, random_token};
use crmcore::value::EmailAddress;
use crmcore::{Actor, CrmError, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::REFRESH_TOKEN_PREFIX;
use crate::state::AppState;

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The member's e-mail address.
    pub email: String,
    /// The password.
    pub password: String,
    /// The tenant's slug; required when the e-mail signs in to several tenants.
    pub tenant: Option<String>,
}

/// `POST /api/v1/auth/refresh` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; usable once.
    pub refresh_token: String,
}

/// A token pair.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT to send as `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

fn bad_credentials() -> CrmError {
    CrmError::Unauthenticated("invalid e-mail or password".into())
}

/// Verifies e-mail and password and issues a token pair.
pub async fn login(state: &AppState, request: LoginRequest) -> Result<TokenResponse> {
    let (tenant, member) = verify_password(state, &request).await?;
    issue(state, tenant, &member, Uuid::now_v7()).await
}

/// The tenant and active member that e-mail and password sign in to: the check behind both
/// API and console sign-in. Unknown e-mails take as long as wrong passwords.
pub async fn verify_password(state: &AppState, request: &LoginRequest) -> Result<(TenantId, Member)> {
    let email = EmailAddress::parse(&request.email)
        .map_err(|_| CrmError::invalid("email", "invalid", "not a valid e-mail address"))?;
    let mut candidates = state.crm().store().credentials().login_candidates(&email).await?;
    if let Some(slug) = request.tenant.as_deref().filter(|slug| !slug.is_empty()) {
        candidates.retain(|c| c.tenant.slug == slug);
    }
    candidates.retain(|c| c.member.active);
    if candidates.is_empty() {
        // Spend the time a real check takes, so unknown e-mails cannot be told apart.
        state.passwords().verify(&request.password, None).await;
        return Err(bad_credentials());
    }
    let mut matched = Vec::new();
    for candidate in candidates {
        if state.passwords().verify(&request.password, Some(&candidate.password_hash)).await {
            matched.push(candidate);
        }
    }
    match matched.as_slice() {
        [] => Err(bad_credentials()),
        [one] => Ok((one.tenant.id, one.member.clone())),
        _ => Err(CrmError::invalid(
            "tenant",
            "required",
            "this e-mail signs in to several tenants: give the tenant's slug as `tenant`",
        )),
    }
}

/// Exchanges a refresh token for a new pair; a replayed token revokes its family.
pub async fn refresh(state: &AppState, request: RefreshRequest) -> Result<TokenResponse> {
    let credentials = state.crm().store().credentials();
    let now = state.crm().clock().now();
    let invalid = || CrmError::Unauthenticated("invalid refresh token".into());
    // Console session tokens share the table but are never exchanged for API tokens.
    if !request.refresh_token.starts_with(REFRESH_TOKEN_PREFIX) {
        return Err(invalid());
    }
    let token = match credentials.use_refresh_token(&hash_token(&request.refresh_token), now).await? {
        RefreshTokenUse::Fresh(token) => token,
        RefreshTokenUse::AlreadyUsed(token) => {
            tracing::warn!(family = %token.family_id, member = %token.member_id, "refresh token replayed; revoking its family");
            credentials.revoke_refresh_family(token.family_id, now).await?;
            return Err(CrmError::Unauthenticated("refresh token already used; the session was revoked".into()));
        }
        RefreshTokenUse::Unknown => return Err(invalid()),
    };
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(invalid());
    }
    let member = match state.crm().store().members().get(token.tenant_id, token.member_id).await {
        Ok(member) if member.active => member,
        Ok(_) | Err(CrmError::NotFound { .. }) => {
            credentials.revoke_refresh_family(token.family_id, now).await?;
            return Err(CrmError::Unauthenticated("the member is deactivated".into()));
        }
        Err(other) => return Err(other),
    };
    issue(state, token.tenant_id, &member, token.family_id).await
}

async fn issue(state: &AppState, tenant: TenantId, member: &Member, family_id: Uuid) -> Result<TokenResponse> {
    let now: DateTime<Utc> = state.crm().clock().now();
    let settings = state.settings();
    let access_token = state.jwt().issue(tenant, member.id, member.role, now, settings.access_token_ttl)?;
    let refresh_token = random_token(REFRESH_TOKEN_PREFIX, 32)?;
    let ttl = chrono::Duration::from_std(settings.refresh_token_ttl).unwrap_or(chrono::Duration::days(30));
    let record = RefreshToken {
        id: RefreshTokenId::new(),
        family_id,
        tenant_id: tenant,
        member_id: member.id,
        token_hash: hash_token(&refresh_token),
        issued_at: now,
        expires_at: now + ttl,
        used_at: None,
        revoked_at: None,
    };
    state.crm().store().credentials().insert_refresh_token(&record).await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        expires_in: settings.access_token_ttl.as_secs(),
        token_type: "Bearer",
    })
}

/// The actor behind an access token. The member is read on every request, so deactivation and
/// role changes apply at once rather than when the token expires.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Actor> {
    let claims = state.jwt().verify(token, state.crm().clock().now())?;
    match state.crm().store().members().get(claims.tid, claims.sub).await {
        Ok(member) if member.active => Ok(Actor::member(claims.tid, member.id, member.role)),
        Ok(_) => Err(CrmError::Unauthenticated("the member is deactivated".into())),
        Err(CrmError::NotFound { .. }) => Err(CrmError::Unauthenticated("invalid access token".into())),
        Err(other) => Err(other),
    }
}
