use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One signed webhook POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRequest {
    /// Target URL (already validated against the SSRF policy by the domain).
    pub url: String,
    /// Headers, including the signature headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// HTTP status.
    pub status: u16,
    /// Time to the response.
    pub latency: Duration,
    /// Response headers (bounded).
    pub headers: Vec<(String, String)>,
    /// The first bytes of the body, lossily decoded.
    pub body_excerpt: String,
}

/// Why no response was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// DNS, TCP or TLS failure.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The address is not allowed (private ranges, loopback) by the SSRF guard.
    #[error("blocked by SSRF policy: {0}")]
    Blocked(String),
    /// Anything else.
    #[error("request failed: {0}")]
    Other(String),
}

/// Performs webhook HTTP calls.
#[async_trait]
pub trait WebhookTransport: Send + Sync + Debug {
    /// Sends one POST and reports the response, whatever its status.
    async fn post(&self, request: &WebhookRequest) -> Result<WebhookResponse, TransportError>;
}
