//! [`ApiError`]: the one HTTP error type. Every failure, whether a [`CrmError`] from a service, a
//! rejected request body or an unknown route, becomes an RFC 9457 `application/problem+json`
//! response here, so no handler builds an error body by hand.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crmcore::{CrmError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document, as sent to clients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI identifying the kind of problem, e.g. `urn:crmcore:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One entry per invalid field, when fields are at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// Path of the field, e.g. `email`.
    pub field: String,
    /// Stable machine code, e.g. `required`, `invalid`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self { field: e.field, code: e.code, message: e.message }
    }
}

/// An error response. Built from a [`CrmError`] (with `?`) or by the constructors below.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    retry_after_secs: Option<u64>,
    /// Logged on 5xx, never sent: the cause behind a generic detail.
    internal: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self { status, kind, detail: Some(detail.into()), errors: Vec::new(), retry_after_secs: None, internal: None }
    }

    /// 400: the request cannot be read (malformed JSON, bad path or query parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 400 naming the parameter at fault.
    pub fn bad_parameter(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut error = Self::bad_request(detail.clone());
        error.errors.push(FieldError::new(field, "invalid", detail));
        error
    }

    /// 401 with a reason; the response carries `WWW-Authenticate: Bearer`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        CrmError::Unauthenticated(detail.into()).into()
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
    }

    /// 405 for a known path with a method it does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "method not allowed on this resource")
    }

    /// 413 for a body over the configured limit.
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "the request body exceeds the size limit")
    }

    /// 415 for a body that is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "expected a body with `Content-Type: application/json`",
        )
    }

    /// 422 on one field of a body that does not match the expected shape.
    pub fn invalid_field(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        CrmError::Validation(vec![FieldError::new(field, code, message)]).into()
    }

    /// 500 whose cause is logged, never sent.
    pub fn internal(cause: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred");
        error.internal = Some(cause.into());
        error
    }

    /// The status this error responds with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<CrmError> for ApiError {
    fn from(error: CrmError) -> Self {
        match error {
            CrmError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not-found", error.to_string()),
            CrmError::Validation(errors) => Self {
                errors,
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "the request has invalid fields")
            },
            CrmError::Conflict { field, message } => Self {
                errors: field.map(|f| FieldError::new(f, "conflict", message.clone())).into_iter().collect(),
                ..Self::new(StatusCode::CONFLICT, "conflict", message)
            },
            CrmError::Unauthenticated(reason) => Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", reason),
            CrmError::Forbidden(reason) => Self::new(StatusCode::FORBIDDEN, "forbidden", reason),
            CrmError::RateLimited { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "too many requests; retry later")
            },
            CrmError::Unavailable { port, message } => Self {
                internal: Some(message),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("the {port} is unavailable"))
            },
            other => Self::internal(other.to_string()),
        }
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.internal
            && self.status.is_server_error()
        {
            tracing::error!(status = self.status.as_u16(), %cause, "request failed");
        }
        let problem = Problem {
            kind: format!("urn:crmcore:problem:{}", self.kind),
            title: title(self.status).to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors.into_iter().map(ProblemField::from).collect(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"crmcore\""));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_are_not_sent() {
        let response = ApiError::from(CrmError::Internal("db password is hunter2".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn statuses_follow_the_error_kind() {
        let cases = [
            (CrmError::not_found("contact", "x"), 404),
            (CrmError::invalid("email", "invalid", "bad"), 422),
            (CrmError::conflict(Some("email"), "taken"), 409),
            (CrmError::Unauthenticated("no".into()), 401),
            (CrmError::Forbidden("no".into()), 403),
            (CrmError::RateLimited { retry_after_secs: 3 }, 429),
            (CrmError::store_unavailable("down"), 503),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status().as_u16(), status);
        }
    }
}
