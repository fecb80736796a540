//! `CrmError`: the one error type every service and port returns.
//!
//! Adapters keep their own private error enums and convert into this type at the port boundary,
//! so a caller (and the HTTP layer) maps errors in exactly one place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Result alias used across crmcore.
pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// One invalid field of a request: which field, a stable machine code, and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field, e.g. `email` or `custom_fields.plan`.
    pub field: String,
    /// Stable code, e.g. `invalid`, `required`, `too_long`, `unknown`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The ports an operation may depend on; used by [`CrmError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Port {
    /// The store (repositories, queue, outbox).
    Store,
    /// Outgoing e-mail.
    Mailer,
    /// Text recognition.
    Ocr,
    /// Binary object storage.
    Blobs,
    /// Outgoing webhook HTTP.
    WebhookTransport,
    /// OAuth 2.0 token endpoint client.
    OAuth,
    /// PDF text layers and page images.
    PdfReader,
    /// PDF generation.
    PdfWriter,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Port::Store => "store",
            Port::Mailer => "mailer",
            Port::Ocr => "ocr",
            Port::Blobs => "blob store",
            Port::WebhookTransport => "webhook transport",
            Port::OAuth => "oauth client",
            Port::PdfReader => "pdf reader",
            Port::PdfWriter => "pdf writer",
        };
        f.write_str(name)
    }
}

/// Every failure a crmcore operation reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// The entity does not exist in the caller's tenant (it may exist in another: that is not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of entity, e.g. `contact`.
        entity: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The request is malformed; one entry per invalid field.
    #[error("validation failed: {}", join_fields(.0))]
    Validation(Vec<FieldError>),
    /// The request clashes with the current state: a duplicate, a stale version, a wrong state.
    #[error("conflict: {message}")]
    Conflict {
        /// The field or constraint at fault, when there is one.
        field: Option<String>,
        /// What clashed.
        message: String,
    },
    /// The caller is not identified (missing, bad or expired credentials).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The caller is identified but lacks the permission.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many requests; retry after the given number of seconds.
    #[error("rate limited, retry after {retry_after_secs}s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A port failed in a way that may pass (database down, SMTP unreachable).
    #[error("{port} unavailable: {message}")]
    Unavailable {
        /// Which port.
        port: Port,
        /// What happened (never contains secrets).
        message: String,
    },
    /// A bug or an invariant broken in storage; details are logged, not shown to callers.
    #[error("internal error: {0}")]
    Internal(String),
}

fn join_fields(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl CrmError {
    /// A validation error on one field.
    pub fn invalid(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        CrmError::Validation(vec![FieldError::new(field, code, message)])
    }

    /// A not-found error for an entity kind and id.
    pub fn not_found(entity: &'static str, id: impl fmt::Display) -> Self {
        CrmError::NotFound { entity, id: id.to_string() }
    }

    /// A conflict on a named field or constraint.
    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        CrmError::Conflict { field: field.map(str::to_owned), message: message.into() }
    }

    /// The store failed in a way that may pass.
    pub fn store_unavailable(message: impl Into<String>) -> Self {
        CrmError::Unavailable { port: Port::Store, message: message.into() }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, CrmError::Unavailable { .. } | CrmError::RateLimited { .. } | CrmError::Internal(_))
    }
}

/// Collects field errors while validating a request, then yields them all at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` (if any) and returns its value.
    pub fn check<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(CrmError::Validation(errors)) => {
                self.errors.extend(errors);
                None
            }
            Err(other) => {
                self.errors.push(FieldError::new("", "invalid", other.to_string()));
                None
            }
        }
    }

    /// Like [`Validator::check`], but files every error under `field` (the input's name for it).
    pub fn field<T>(&mut self, field: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(CrmError::Validation(errors)) => {
                for mut error in errors {
                    error.field = field.to_owned();
                    self.errors.push(error);
                }
                None
            }
            Err(other) => {
                self.errors.push(FieldError::new(field, "invalid", other.to_string()));
                None
            }
        }
    }

    /// Records one error directly.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// `Ok(())` when nothing was recorded, else every recorded error.
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(CrmError::Validation(self.errors)) }
    }
}
