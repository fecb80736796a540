use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A request to an OAuth 2.0 token endpoint. Its `Debug` hides every secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OAuthTokenRequest {
    /// Authorization-code grant with PKCE.
    AuthorizationCode {
        /// Token endpoint URL.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// The code from the callback.
        code: String,
        /// The redirect URI used in the authorization request.
        redirect_uri: String,
        /// The PKCE verifier.
        code_verifier: String,
    },
    /// Refresh-token grant.
    Refresh {
        /// Token endpoint URL.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// The refresh token.
        refresh_token: String,
    },
}

impl std::fmt::Debug for OAuthTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuthTokenRequest::AuthorizationCode { token_url, client_id, .. } => f
                .debug_struct("AuthorizationCode")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            OAuthTokenRequest::Refresh { token_url, client_id, .. } => f
                .debug_struct("Refresh")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// Tokens returned by a provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokens {
    /// Access token.
    pub access_token: String,
    /// Refresh token, when issued.
    pub refresh_token: Option<String>,
    /// Expiry of the access token.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scope: Option<String>,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Talks to OAuth 2.0 token endpoints.
#[async_trait]
pub trait OAuthClient: Send + Sync + Debug {
    /// Exchanges a code or refresh token for tokens. MUST return `Unauthenticated` when the
    /// provider rejects the grant and `Unavailable` when it cannot be reached.
    async fn token(&self, request: &OAuthTokenRequest) -> Result<OAuthTokens>;
    /// Revokes a token at a revocation endpoint (RFC 7009), authenticating as the client.
    async fn revoke(
        &self,
        revoke_url: &str,
        client_id: &str,
        client_secret: &str,
        token: &str,
        token_type_hint: &str,
    ) -> Result<()>;
    /// `GET url` with the bearer `access_token`, answering its JSON body. MUST return
    /// `Unauthenticated` on 401, so the caller refreshes the token and tries once more.
    async fn get_json(&self, url: &str, access_token: &str) -> Result<serde_json::Value>;
}
