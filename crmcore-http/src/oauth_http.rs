//! [`HttpOAuthClient`]: the `OAuthClient` port over reqwest, behind the same SSRF guard as
//! outgoing webhooks (provider URLs come from tenants too). Token requests authenticate with
//! HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1) and send the form body of RFC 6749 §4.1.3
//! and §6 with the PKCE verifier (RFC 7636); revocation follows RFC 7009.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use crmcore::error::Port;
use crmcore::ports::{OAuthClient, OAuthTokenRequest, OAuthTokens};
use crmcore::{CrmError, Result};
use serde::Deserialize;

use crate::webhook_http::{SsrfPolicy, blocked_reason, check_url, guarded_client};

/// Largest response body read from a provider.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Talks to OAuth 2.0 providers over HTTP(S) with the SSRF guard and a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpOAuthClient {
    client: reqwest::Client,
    policy: Arc<SsrfPolicy>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    error_description: Option<String>,
}

fn unavailable(message: impl Into<String>) -> CrmError {
    CrmError::Unavailable { port: Port::OAuth, message: message.into() }
}

impl HttpOAuthClient {
    /// A client enforcing `policy`, giving up on a request after `timeout`.
    pub fn new(policy: SsrfPolicy, timeout: Duration) -> Result<Self> {
        let policy = Arc::new(policy);
        let client = guarded_client(policy.clone(), concat!("crmcore-oauth/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| CrmError::Internal(e.to_string()))?;
        Ok(Self { client, policy, timeout })
    }

    fn url(&self, raw: &str) -> Result<reqwest::Url> {
        check_url(&self.policy, raw).map_err(|e| unavailable(e.to_string()))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>)> {
        let exchange = async {
            let mut response = request.send().await.map_err(|e| match blocked_reason(&e) {
                Some(reason) => unavailable(format!("blocked by SSRF policy: {reason}")),
                None => unavailable(format!("request failed: {}", e.without_url())),
            })?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.without_url().to_string()))? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(unavailable("the provider's response is too large"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| unavailable("the provider timed out"))?
    }
}

/// `Unauthenticated` for a refused grant (400/401 with an OAuth error), `Unavailable` otherwise.
fn refusal(status: u16, body: &[u8]) -> CrmError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) if matches!(status, 400 | 401) => {
            let detail = e.error_description.map(|d| format!(": {d}")).unwrap_or_default();
            CrmError::Unauthenticated(format!("the provider refused the grant ({}){detail}", e.error))
        }
        _ if status == 401 => CrmError::Unauthenticated("the provider refused the credentials".into()),
        _ => unavailable(format!("the provider answered {status}")),
    }
}

#[async_trait]
impl OAuthClient for HttpOAuthClient {
    async fn token(&self, request: &OAuthTokenRequest) -> Result<OAuthTokens> {
        let (url, client_id, client_secret, form): (_, _, _, Vec<(&str, &str)>) = match request {
            OAuthTokenRequest::AuthorizationCode {
                token_url,
                client_id,
                client_secret,
                code,
                redirect_uri,
                code_verifier,
            } => (
                token_url,
                client_id,
                client_secret,
                vec![
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", code_verifier),
                    ("client_id", client_id),
                ],
            ),
            OAuthTokenRequest::Refresh { token_url, client_id, client_secret, refresh_token } => (
                token_url,
                client_id,
                client_secret,
                vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)],
            ),
        };
        let builder = self
            .client
            .post(self.url(url)?)
            .basic_auth(client_id, Some(client_secret))
            .header("accept", "application/json")
            .form(&form);
        let (status, body) = self.send(builder).await?;
        if !(200..300).contains(&status) {
            return Err(refusal(status, &body));
        }
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("the token response is not OAuth 2.0 JSON: {e}")))?;
        Ok(OAuthTokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s.max(0))),
            scope: tokens.scope,
        })
    }

    async fn revoke(
        &self,
        revoke_url: &str,
        client_id: &str,
        client_secret: &str,
        token: &str,
        token_type_hint: &str,
    ) -> Result<()> {
        let builder = self
            .client
            .post(self.url(revoke_url)?)
            .basic_auth(client_id, Some(client_secret))
            .form(&[("token", token), ("token_type_hint", token_type_hint)]);
        let (status, body) = self.send(builder).await?;
        if (200..300).contains(&status) { Ok(()) } else { Err(refusal(status, &body)) }
    }

    async fn get_json(&self, url: &str, access_token: &str) -> Result<serde_json::Value> {
        let builder = self.client.get(self.url(url)?).bearer_auth(access_token).header("accept", "application/json");
        let (status, body) = self.send(builder).await?;
        match status {
            200..=299 => {
                serde_json::from_slice(&body).map_err(|e| unavailable(format!("the provider sent invalid JSON: {e}")))
            }
            401 => Err(CrmError::Unauthenticated("the provider refused the access token".into())),
            _ => Err(unavailable(format!("the provider answered {status}"))),
        }
    }
}
