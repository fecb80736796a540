//! The web console: server-rendered pages at `/` over the same services as the API.
//!
//! - Pages are minijinja templates compiled into the binary (`templates/`), auto-escaped, with a
//!   small hand-written script (`assets/console.js`) for what needs interaction. No build step.
//! - People sign in with a cookie session ([`crate::auth::cookie`]). The script talks to the JSON
//!   API with that cookie and the session's CSRF token, so the console has no second API.
//! - Every page is `Content-Security-Policy: default-src 'self'`: no inline script or style.
//! - Errors render as a page that says what went wrong and what to do about it.

mod analytics;
mod assets;
mod campaigns;
mod documents;
mod integrations;
mod pages;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crmcore::CrmError;
use crmcore::member::Member;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::auth::cookie::{self, CookieSession};
use crate::error::ApiError;
use crate::state::AppState;

/// The policy of every console page: only this origin's scripts, styles and images.
const CONSOLE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The console's routes, to merge into the router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/contacts") }))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/contacts", get(pages::contacts))
        .route("/contacts/{id}", get(pages::contact))
        .route("/deals", get(pages::deals))
        .route("/deals/{id}", get(pages::deal))
        .route("/assets/{name}", get(assets::serve))
        .merge(campaigns::routes())
        .merge(analytics::routes())
        .merge(integrations::routes())
        .merge(documents::routes())
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_filter("money", money);
    env.add_filter("when", when);
    for (name, source) in TEMPLATE_SOURCES.iter().flat_map(|list| list.iter()) {
        env.add_template(name, source).expect("console templates compile");
    }
    env
});

/// Every page's templates: the shared ones and the CRM pages here, the others beside their handlers.
const TEMPLATE_SOURCES: &[&[(&str, &str)]] =
    &[BASE_TEMPLATES, campaigns::TEMPLATES, analytics::TEMPLATES, integrations::TEMPLATES, documents::TEMPLATES];

const BASE_TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("activity.html", include_str!("templates/activity.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("contacts.html", include_str!("templates/contacts.html")),
    ("contact.html", include_str!("templates/contact.html")),
    ("deals.html", include_str!("templates/deals.html")),
    ("deal.html", include_str!("templates/deal.html")),
];

/// A money value (`{amount_minor, currency}`) as `EUR 1,234.50`.
fn money(value: Value) -> String {
    let minor = value.get_attr("amount_minor").ok().and_then(|v| i64::try_from(v).ok());
    let currency = value.get_attr("currency").map(|v| v.to_string()).unwrap_or_default();
    let Some(minor) = minor else { return value.to_string() };
    let whole = (minor.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{currency} {}{grouped}.{:02}", if minor < 0 { "-" } else { "" }, minor.unsigned_abs() % 100)
}

/// An RFC 3339 time as `2026-12-06 21:14 UTC`.
fn when(value: Value) -> String {
    let text = value.to_string();
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or(text)
}

/// Renders a page of a signed-in viewer with the layout's shared context: the unread count and
/// the tenant's members (`members`, and `names`: id → display name, which the notification list
/// and the pages use).
async fn render(state: &AppState, viewer: &Viewer, template: &str, ctx: serde_json::Value) -> PageResult {
    let members = pages::members(state, viewer).await?;
    render_with_members(state, viewer, template, ctx, &members).await
}

/// [`render`] for a page that has already read the tenant's members.
async fn render_with_members(
    state: &AppState,
    viewer: &Viewer,
    template: &str,
    ctx: serde_json::Value,
    members: &[Member],
) -> PageResult {
    let unread = state.crm().activity().unread_count(viewer.actor()).await?;
    Ok(page(template, viewer.context(unread, members, ctx)))
}

/// A rendered page with the console's headers.
fn page(template: &str, ctx: Value) -> Response {
    page_with_status(StatusCode::OK, template, ctx)
}

fn page_with_status(status: StatusCode, template: &str, ctx: Value) -> Response {
    match TEMPLATES.get_template(template).and_then(|t| t.render(ctx)) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            secure_headers(response.headers_mut());
            response
        }
        Err(error) => {
            tracing::error!(%error, template, "console template failed");
            let mut response = (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>This page could not be shown. Try again, and report it if it persists.</p>")).into_response();
            secure_headers(response.headers_mut());
            response
        }
    }
}

fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONSOLE_CSP));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
}

/// The signed-in person on a console page. Without a live session the page redirects to the
/// sign-in form, which comes back here afterwards.
pub(crate) struct Viewer {
    session: CookieSession,
    /// The page's path, for the navigation and links back.
    path: String,
}

impl Viewer {
    /// The page's own context with what every page's layout needs.
    fn context(&self, unread: u64, members: &[Member], mut page: serde_json::Value) -> Value {
        if let Some(map) = page.as_object_mut() {
            map.insert("names".into(), serde_json::to_value(pages::names(members)).unwrap_or_default());
            map.insert("members".into(), serde_json::to_value(members).unwrap_or_default());
            map.insert("me".into(), serde_json::to_value(&self.session.member).unwrap_or_default());
            map.insert("csrf".into(), self.session.csrf.clone().into());
            map.insert("path".into(), self.path.clone().into());
            map.insert("unread".into(), unread.into());
        }
        Value::from(minijinja::value::Serde(&page))
    }

    fn actor(&self) -> &crmcore::Actor {
        &self.session.actor
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let path = parts.uri.path().to_owned();
        let to_login = || {
            let next: String = form_urlencoded::byte_serialize(parts.uri.to_string().as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(token) = cookie::session_token(&parts.headers) else { return Err(to_login()) };
        match cookie::resume(state, token).await {
            Ok(session) => {
                state.rate_limit(&format!("member:{}", session.member.id)).map_err(|e| PageError(e).into_response())?;
                Ok(Viewer { session, path })
            }
            Err(CrmError::Unauthenticated(_)) => Err(to_login()),
            Err(other) => Err(PageError(other).into_response()),
        }
    }
}

/// A failed page: rendered as an error page saying what to do next.
#[derive(Debug)]
pub(crate) struct PageError(CrmError);

impl From<CrmError> for PageError {
    fn from(error: CrmError) -> Self {
        Self(error)
    }
}

#[derive(Serialize)]
struct Fix {
    text: &'static str,
    href: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = ApiError::from(self.0.clone()).status();
        let (message, fix) = match &self.0 {
            CrmError::NotFound { entity, .. } => (
                format!("This {entity} does not exist, or it is not shared with you."),
                Fix { text: "Go back to the start page", href: "/" },
            ),
            CrmError::Forbidden(reason) => (
                format!("Your role does not allow this: {reason}."),
                Fix { text: "Ask an owner or admin of your workspace for access; back to the start page", href: "/" },
            ),
            CrmError::Validation(errors) => (
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
                Fix { text: "Go back to the start page", href: "/" },
            ),
            CrmError::RateLimited { .. } => (
                "Too many requests in a short time.".to_owned(),
                Fix { text: "Wait a few seconds, then reload this page", href: "" },
            ),
            CrmError::Unauthenticated(reason) => (reason.clone(), Fix { text: "Sign in", href: "/login" }),
            other => {
                if status.is_server_error() {
                    tracing::error!(error = %other, "console page failed");
                }
                (
                    "Something went wrong on the server.".to_owned(),
                    Fix { text: "Reload the page; if it persists, tell your administrator", href: "" },
                )
            }
        };
        page_with_status(
            status,
            "error.html",
            context! { status => status.as_u16(), message, fix => minijinja::value::Serde(&fix) },
        )
    }
}

/// Result of a console page handler.
type PageResult = Result<Response, PageError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATE_SOURCES.iter().flat_map(|list| list.iter()) {
            TEMPLATES.get_template(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn money_is_grouped_with_its_currency() {
        let value = |minor: i64| {
            Value::from(minijinja::value::Serde(serde_json::json!({"amount_minor": minor, "currency": "EUR"})))
        };
        assert_eq!(money(value(1_250_000)), "EUR 12,500.00");
        assert_eq!(money(value(-5)), "EUR -0.05");
        assert_eq!(money(value(99_999)), "EUR 999.99");
    }
}
