//! Public unsubscribe links (`/t/u/{token}`): `GET` shows a confirmation page and changes
//! nothing (mail scanners prefetch links); `POST` — the form on that page, or a mail client's
//! RFC 8058 one-click request — unsubscribes at once. The token is verified by the domain.

use axum::extract::{Path, State};
use axum::response::Html;

use crate::error::ApiError;
use crate::state::AppState;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

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
