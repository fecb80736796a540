use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use crmcore::ports::{EmailMessage, MailError, Mailer, SendReceipt};

/// A mailer that keeps every message it is asked to send, for tests and demos. Failures can be
/// scripted: each queued failure is returned by one `send` call, in order.
#[derive(Debug, Default)]
pub struct CapturingMailer {
    sent: Mutex<Vec<EmailMessage>>,
    failures: Mutex<VecDeque<MailError>>,
}

impl CapturingMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages sent so far.
    pub fn sent(&self) -> Vec<EmailMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes the next `send` fail with `error` (queued after earlier scripted failures).
    pub fn fail_next(&self, error: MailError) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).push_back(error);
    }
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        if let Some(failure) = self.failures.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
            return Err(failure);
        }
        for (name, value) in &message.headers {
            if [name, value].iter().any(|s| s.contains(['\r', '\n'])) {
                return Err(MailError::Permanent(format!("header `{name}` contains a line break")));
            }
        }
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push(message.clone());
        Ok(SendReceipt { message_id: message.message_id.clone(), response: "250 2.0.0 OK (captured)".into() })
    }
}
