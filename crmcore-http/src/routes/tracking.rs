//! Public campaign links, each carrying a signed token the domain verifies (a tampered or
//! foreign token is a 4xx problem):
//! - `/t/u/{token}` unsubscribe: `GET` shows a confirmation page and changes nothing (mail
//!   scanners prefetch links); `POST` — that page's form, or a mail client's RFC 8058 one-click
//!   request — unsubscribes at once;
//! - `/t/o/{token}` the open pixel (a 1×1 transparent GIF);
//! - `/t/c/{token}` the click redirect, to the link the campaign froze at launch.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crmcore::activity::markdown::escape;

use crate::error::ApiError;
use crate::state::AppState;

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;\
         line-height:1.5;color:#1a1a1a}}button{{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;\
         border:1px solid #1a1a1a;background:#1a1a1a;color:#fff;cursor:pointer}}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    ))
}

/// The confirmation page.
#[utoipa::path(get, path = "/t/u/{token}", tag = "campaigns",
    params(("token" = String, Path, description = "Signed unsubscribe token from the message")),
    responses((status = 200, content_type = "text/html"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, ApiError> {
    let target = state.crm().campaigns().unsubscribe_target(&token).await?;
    let email = escape(target.email.as_str());
    if target.already_unsubscribed {
        return Ok(page("You are unsubscribed", &format!("<p>{email} receives no more campaign e-mail from us.</p>")));
    }
    Ok(page(
        "Unsubscribe",
        &format!(
            "<p>Stop campaign e-mail to <strong>{email}</strong>? You were sent “{}”.</p>\
             <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
            escape(&target.campaign_name)
        ),
    ))
}

/// Unsubscribes at once (RFC 8058 one-click, or the confirmation form).
#[utoipa::path(post, path = "/t/u/{token}", tag = "campaigns",
    params(("token" = String, Path, description = "Signed unsubscribe token from the message")),
    responses((status = 200, content_type = "text/html"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, ApiError> {
    let target = state.crm().campaigns().unsubscribe(&token).await?;
    Ok(page(
        "You are unsubscribed",
        &format!("<p>{} receives no more campaign e-mail from us.</p>", escape(target.email.as_str())),
    ))
}

/// The smallest transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// The open pixel: records an open (bots flagged by the domain) and answers a 1×1 GIF.
#[utoipa::path(get, path = "/t/o/{token}", tag = "campaigns",
    params(("token" = String, Path, description = "Signed open token from the message")),
    responses((status = 200, content_type = "image/gif"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.crm().campaigns().record_open(&token, user_agent(&headers)).await?;
    let mut response = PIXEL.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, max-age=0"));
    Ok(response)
}

/// The click redirect: records the click (which also counts as an open) and redirects to the
/// link the campaign froze at launch — never to a URL taken from the request.
#[utoipa::path(get, path = "/t/c/{token}", tag = "campaigns",
    params(("token" = String, Path, description = "Signed click token from the message")),
    responses((status = 302, description = "To the campaign's link"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn click(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = state.crm().campaigns().record_click(&token, user_agent(&headers)).await?;
    let mut response = Redirect::to(&target).into_response();
    *response.status_mut() = axum::http::StatusCode::FOUND;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
