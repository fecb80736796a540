use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One e-mail to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// `From` mailbox, e.g. `Acme <news@acme.test>`.
    pub from: String,
    /// `To` mailbox.
    pub to: String,
    /// `Reply-To`, if any.
    pub reply_to: Option<String>,
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// The `Message-ID`, without angle brackets; deterministic per recipient.
    pub message_id: String,
    /// Extra headers (e.g. `List-Unsubscribe`); names and values MUST NOT contain CR or LF.
    pub headers: Vec<(String, String)>,
}

/// What the mail server said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The Message-ID sent.
    pub message_id: String,
    /// The server's response line(s).
    pub response: String,
}

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Try again later (4xx, connection trouble).
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Never retry (5xx, invalid address).
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync + Debug {
    /// Sends one message; the error says whether a retry may succeed.
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError>;
}
