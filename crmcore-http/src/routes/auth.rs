//! `/api/v1/auth/…`: sign-in and token refresh (rate-limited per client IP).

use axum::extract::State;

use crate::auth::ClientIp;
use crate::auth::session::{self, LoginRequest, RefreshRequest, TokenResponse};
use crate::error::{ApiError, Problem};
use crate::extract::Json;
use crate::state::AppState;

/// Signs in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem),
              (status = 422, description = "invalid body, or the tenant must be named", body = Problem)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    state.auth_rate_limit(&format!("login:{ip}"))?;
    Ok(Json(session::login(&state, request).await?))
}

/// Exchanges a refresh token for a new token pair (the old one is spent).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem)))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    state.auth_rate_limit(&format!("refresh:{ip}"))?;
    Ok(Json(session::refresh(&state, request).await?))
}
