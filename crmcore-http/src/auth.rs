//! Authentication: who is calling, as a [`crmcore::Actor`] built by the [`CurrentActor`] extractor.
//!
//! - People sign in with e-mail and password ([`session`]) and get a short-lived JWT access token
//!   ([`jwt`]) plus a single-use refresh token; replaying a spent refresh token revokes its family.
//! - Machines send an API key (`crm_…`, [`api_key`]), stored only as its SHA-256.
//!
//! - The web console signs people in with a session cookie ([`cookie`]); state-changing
//!   requests made with it must carry the session's CSRF token.
//!
//! Tokens arrive as `Authorization: Bearer …`, which wins over a cookie; the credential's tenant
//! scopes every request.

pub mod api_key;
pub mod cookie;
pub mod jwt;
pub mod password;
pub mod session;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use crmcore::{Actor, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of API key secrets; how the extractor tells them from JWTs.
pub const API_KEY_PREFIX: &str = "crm_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "crmr_";

/// The authenticated caller of a request. Rejects with 401 (missing, bad or expired
/// credentials, deactivated member, revoked key) or 429 (rate limit of the principal).
#[derive(Debug, Clone, Copy)]
pub struct CurrentActor(pub Actor);

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing `Authorization: Bearer` credentials"))?;
    let value = value.to_str().map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::unauthenticated("expected `Authorization: Bearer <token>`")),
    }
}

/// The rate-limit key of a principal.
fn principal_key(actor: &Actor) -> String {
    match actor.principal {
        Principal::Member(id) => format!("member:{id}"),
        Principal::ApiKey(id) => format!("key:{id}"),
        Principal::System => format!("system:{}", actor.tenant_id),
    }
}

impl FromRequestParts<AppState> for CurrentActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cookie_token = if parts.headers.contains_key(header::AUTHORIZATION) {
            None
        } else {
            cookie::session_token(&parts.headers)
        };
        let actor = if let Some(token) = cookie_token {
            let session = cookie::resume(state, token).await?;
            if !parts.method.is_safe() {
                let presented = parts.headers.get(cookie::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                if !session.csrf_matches(presented) {
                    return Err(crmcore::CrmError::Forbidden(
                        "a request signed in by cookie must carry the session's X-CSRF-Token header".into(),
                    )
                    .into());
                }
            }
            session.actor
        } else {
            let token = bearer(parts)?;
            if token.starts_with(API_KEY_PREFIX) {
                api_key::authenticate(state, token).await?
            } else {
                session::authenticate(state, token).await?
            }
        };
        state.rate_limit(&principal_key(&actor))?;
        Ok(CurrentActor(actor))
    }
}

/// The client's IP address as a rate-limit key, when the server recorded it (`unknown` when
/// the router is embedded without connect info).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(addr)| addr.ip().to_string());
        Ok(ClientIp(ip))
    }
}
