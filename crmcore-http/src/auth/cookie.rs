//! Cookie sessions for people using the web console.
//!
//! Signing in stores a session token (`crms_…`) as the SHA-256 of its secret in the refresh-token
//! table, in a family of its own, with the console's lifetime; the secret travels only in an
//! `HttpOnly`, `SameSite=Strict` cookie. Every request looks the session up, so signing out (which
//! revokes the family) and deactivating a member end it at once. The refresh endpoint refuses
//! these tokens, so a session is never turned into API tokens.
//!
//! Cross-site request forgery: besides `SameSite=Strict`, every state-changing request made with
//! the cookie must carry the session's CSRF token (an HMAC of the session, keyed by the server's
//! secret) in the `X-CSRF-Token` header or the `_csrf` form field.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Duration;
use crmcore::id::RefreshTokenId;
use crmcore::member::Member;
use crmcore::ports::RefreshToken;
use crmcore::secret::{constant_time_eq, hash_token, random_token};
use crmcore::{Actor, CrmError, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::session::{LoginRequest, verify_password};
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "crm_session";
/// Header carrying the CSRF token on requests made by the console's scripts.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token on plain form posts.
pub const CSRF_FIELD: &str = "_csrf";
/// Prefix of console session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "crms_";

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct CookieSession {
    /// Who is acting.
    pub actor: Actor,
    /// The member, as stored now.
    pub member: Member,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
}

impl CookieSession {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), presented.as_bytes())
    }
}

fn ended() -> CrmError {
    CrmError::Unauthenticated("the console session has ended: sign in again".into())
}

/// The session token in the request's cookies, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Checks e-mail and password and opens a session; returns the token for the cookie.
pub async fn sign_in(state: &AppState, request: &LoginRequest) -> Result<String> {
    let (tenant_id, member) = verify_password(state, request).await?;
    let token = random_token(SESSION_TOKEN_PREFIX, 32)?;
    let now = state.crm().clock().now();
    let ttl = Duration::from_std(state.settings().console_session_ttl).unwrap_or(Duration::hours(12));
    let record = RefreshToken {
        id: RefreshTokenId::new(),
        family_id: Uuid::now_v7(),
        tenant_id,
        member_id: member.id,
        token_hash: hash_token(&token),
        issued_at: now,
        expires_at: now + ttl,
        used_at: None,
        revoked_at: None,
    };
    state.crm().store().credentials().insert_refresh_token(&record).await?;
    Ok(token)
}

/// The live session behind a token: unrevoked, unexpired, its member active.
pub async fn resume(state: &AppState, token: &str) -> Result<CookieSession> {
    if !token.starts_with(SESSION_TOKEN_PREFIX) {
        return Err(ended());
    }
    let token_hash = hash_token(token);
    let record = state.crm().store().credentials().find_refresh_token(&token_hash).await?.ok_or_else(ended)?;
    let now = state.crm().clock().now();
    if record.revoked_at.is_some() || record.used_at.is_some() || record.expires_at <= now {
        return Err(ended());
    }
    let member = match state.crm().store().members().get(record.tenant_id, record.member_id).await {
        Ok(member) if member.active => member,
        Ok(_) | Err(CrmError::NotFound { .. }) => return Err(ended()),
        Err(other) => return Err(other),
    };
    Ok(CookieSession {
        actor: Actor::member(record.tenant_id, member.id, member.role),
        member,
        csrf: csrf_token(state, &token_hash),
    })
}

/// Ends the session behind a token (unknown tokens are ignored).
pub async fn sign_out(state: &AppState, token: &str) -> Result<()> {
    let credentials = state.crm().store().credentials();
    if let Some(record) = credentials.find_refresh_token(&hash_token(token)).await? {
        credentials.revoke_refresh_family(record.family_id, state.crm().clock().now()).await?;
    }
    Ok(())
}

fn csrf_token(state: &AppState, token_hash: &str) -> String {
    use base64::Engine as _;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.settings().jwt_secret.expose()).expect("HMAC takes any key length");
    mac.update(b"crmcore console csrf\0");
    mac.update(token_hash.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The `Set-Cookie` value carrying a new session.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let max_age = state.settings().console_session_ttl.as_secs();
    let secure = if state.settings().secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("session tokens are URL-safe")
}

/// The `Set-Cookie` value removing the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.settings().secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"))
        .expect("static cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; crm_session=crms_abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(session_token(&headers), Some("crms_abc"));
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("crm_session=; x=y"));
        assert_eq!(session_token(&empty), None);
        assert_eq!(session_token(&HeaderMap::new()), None);
    }
}
