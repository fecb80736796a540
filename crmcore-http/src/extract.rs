//! Request extractors that wrap axum's own, turning every rejection into an [`ApiError`]
//! problem document instead of axum's plain-text bodies.
//!
//! - [`Json`]: 415 without a JSON content type, 413 over the body limit, 400 for malformed JSON,
//!   422 naming the field for well-formed JSON of the wrong shape (missing field, wrong type).
//! - [`Path`]: 400 for path segments that do not parse (e.g. a bad UUID).
//! - [`Query`]: 400 naming the parameter that does not parse.
//! - [`IfMatch`]: the optional `If-Match` header as an expected version.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body (as an extractor) or response body (as a response).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large()
    } else {
        ApiError::bad_request("the request body could not be read")
    }
}

/// Maps a serde error to 400 (not JSON at all) or 422 (JSON of the wrong shape), naming the field.
fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return ApiError::bad_request(format!("malformed JSON: {inner}"));
    }
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or_default().to_owned();
    // Serde reports a missing field at its parent's path; name the field itself.
    let quoted = message.split('`').nth(1).unwrap_or_default();
    let (field, code) = if message.starts_with("missing field") {
        (join_path(&path, quoted), "required")
    } else if message.starts_with("unknown field") {
        (path, "unknown")
    } else {
        (if path == "." { String::new() } else { path }, "invalid")
    };
    ApiError::invalid_field(field, code, message)
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() { field.to_owned() } else { format!("{parent}.{field}") }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
        deserializer.end().map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
        Ok(Json(value))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => ApiError::internal(format!("response serialization failed: {e}")).into_response(),
        }
    }
}

/// Typed path parameters.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) if rejection.status().is_client_error() => {
                Err(ApiError::bad_parameter("path", format!("invalid path parameter: {}", rejection.body_text())))
            }
            Err(rejection) => Err(ApiError::internal(rejection.body_text())),
        }
    }
}

/// Typed query parameters; absent query strings deserialize like empty ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(Query).map_err(|e| {
            let field = e.path().to_string();
            let message = e.into_inner().to_string();
            if field == "." {
                ApiError::bad_request(format!("invalid query string: {message}"))
            } else {
                ApiError::bad_parameter(field.clone(), format!("invalid query parameter `{field}`: {message}"))
            }
        })
    }
}

/// The version a client expects, from `If-Match: "3"` (weak tags and bare numbers accepted).
#[derive(Debug, Clone, Copy, Default)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let tag = text.trim_start_matches("W/").trim_matches('"');
        tag.parse::<i64>()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| ApiError::bad_parameter("If-Match", "If-Match must carry a version such as \"3\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        n: u8,
    }

    fn parse(text: &str) -> Result<Body, ApiError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(json_error)
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(parse("{\"n\": 1}").unwrap_err().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(parse("{\"title\": \"x\", \"n\": 300}").unwrap_err().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(parse("{\"title\": ").unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
