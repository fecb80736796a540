//! The console's stylesheet and script, compiled into the binary.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("assets/console.js")),
    ("campaigns.js", "text/javascript; charset=utf-8", include_str!("assets/campaigns.js")),
    ("integrations.js", "text/javascript; charset=utf-8", include_str!("assets/integrations.js")),
    ("documents.js", "text/javascript; charset=utf-8", include_str!("assets/documents.js")),
];

/// `GET /assets/{name}`: the stylesheet and scripts.
pub(super) async fn serve(Path(name): Path<String>) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(asset, _, _)| *asset == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let (content_type, body) = (*content_type, *body);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: the names carry no version, and a new binary may change them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
