//! Sign-in and the CRM base pages: contacts and deals, each with its activity panel.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use crmcore::activity::FeedScope;
use crmcore::contact::ContactFilter;
use crmcore::deal::DealFilter;
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::{ContactId, DealId, MemberId};
use crmcore::member::Member;
use crmcore::page::PageRequest;
use crmcore::value::Tag;
use crmcore::{CrmError, Result};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PageError, PageResult, Viewer, page, page_with_status, render};
use crate::auth::ClientIp;
use crate::auth::cookie;
use crate::auth::session::LoginRequest;
use crate::state::AppState;

/// Rows per list page.
pub(super) const PAGE_ROWS: u32 = 50;

/// `?next=` of the sign-in form.
#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// A local path to return to after signing in; anything else goes to the start page.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains(['\\', '\r', '\n']) => path,
        _ => "/",
    }
}

/// `GET /login`.
pub(super) async fn login_form(Query(query): Query<NextQuery>) -> Response {
    page("login.html", context! { next => safe_next(query.next.as_deref()) })
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    next: String,
}

/// Whether a form post comes from this site: browsers send `Sec-Fetch-Site` and `Origin` on
/// posts, so a cross-site form (login forgery) is told apart without a pre-session token.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, authority)| authority) == host.to_str().ok(),
        _ => true,
    }
}

/// `POST /login`: opens a session and goes back where the person was headed.
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&form.next)).to_owned();
    let again = |status: StatusCode, message: &str| {
        page_with_status(
            status,
            "login.html",
            context! { next => &next, email => &form.email, tenant => &form.tenant, error => message },
        )
    };
    if !same_origin(&headers) {
        return again(
            StatusCode::FORBIDDEN,
            "This sign-in form was sent from another site. Open this page directly and sign in here.",
        );
    }
    if let Err(error) = state.auth_rate_limit(&format!("login:{ip}")) {
        return PageError(error).into_response();
    }
    let request = LoginRequest {
        email: form.email.trim().to_owned(),
        password: form.password.clone(),
        tenant: Some(form.tenant.trim().to_owned()).filter(|t| !t.is_empty()),
    };
    match cookie::sign_in(&state, &request).await {
        Ok(token) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie::session_cookie(&state, &token));
            response
        }
        Err(CrmError::Unauthenticated(_)) => {
            again(StatusCode::UNAUTHORIZED, "Wrong e-mail or password. Check both and try again.")
        }
        Err(CrmError::Validation(errors)) if errors.iter().any(|e| e.field == "tenant") => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This e-mail belongs to several workspaces: enter the workspace's short name as well.",
        ),
        Err(CrmError::Validation(_)) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, "Enter your e-mail address as name@example.com.")
        }
        Err(other) => PageError(other).into_response(),
    }
}

/// The sign-out form's field.
#[derive(Debug, Deserialize)]
pub(super) struct LogoutForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /logout`: ends the session (server-side too) and clears the cookie.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Response {
    if let Some(token) = cookie::session_token(&headers) {
        match cookie::resume(&state, token).await {
            Ok(session) if session.csrf_matches(&form.csrf) => {
                if let Err(error) = cookie::sign_out(&state, token).await {
                    return PageError(error).into_response();
                }
            }
            Ok(_) => {
                return PageError(CrmError::Forbidden("the sign-out form has expired; reload the page".into()))
                    .into_response();
            }
            Err(_) => {}
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie::cleared_cookie(&state));
    response
}

/// The tenant's members (for names, owner pickers and @mention completion).
pub(super) async fn members(state: &AppState, viewer: &Viewer) -> Result<Vec<Member>> {
    Ok(state.crm().members().list(viewer.actor(), PageRequest::first(200)).await?.items)
}

/// Member id → display name.
pub(super) fn names(members: &[Member]) -> BTreeMap<String, String> {
    members.iter().map(|m| (m.id.to_string(), m.display_name.clone())).collect()
}

/// The activity panel of an entity: its comment threads, its feed and whether the viewer follows it.
pub(super) async fn activity_panel(state: &AppState, viewer: &Viewer, entity: EntityRef) -> Result<Value> {
    let activity = state.crm().activity();
    let thread = activity.thread(viewer.actor(), entity).await?;
    let feed =
        activity.feed(viewer.actor(), FeedScope::Entity(entity), &Default::default(), PageRequest::first(30)).await?;
    let following = activity.following(viewer.actor(), 1000).await?.iter().any(|f| f.entity == entity);
    Ok(json!({ "entity": entity, "thread": thread, "feed": feed.items, "following": following }))
}

/// Filters and cursor of the contacts list.
#[derive(Debug, Deserialize)]
pub(super) struct ContactsQuery {
    q: Option<String>,
    tag: Option<String>,
    cursor: Option<String>,
}

/// `GET /contacts`.
pub(super) async fn contacts(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ContactsQuery>,
) -> PageResult {
    let tag = query.tag.as_deref().filter(|t| !t.is_empty()).map(Tag::parse).transpose()?;
    let search = query.q.clone().filter(|q| !q.trim().is_empty());
    let filter = ContactFilter { tag, owner_id: None, search };
    let page = PageRequest::parse(Some(PAGE_ROWS), query.cursor.as_deref().filter(|c| !c.is_empty()))?;
    let contacts = state.crm().contacts().list(viewer.actor(), &filter, page).await?;
    let ctx = json!({
        "title": "Contacts",
        "contacts": contacts.items,
        "next_cursor": contacts.next_cursor,
        "q": query.q.unwrap_or_default(),
        "tag": query.tag.unwrap_or_default(),});
    render(&state, &viewer, "contacts.html", ctx).await
}

pub(super) fn parse_id<T: From<uuid::Uuid>>(raw: &str, entity: &'static str) -> Result<T> {
    uuid::Uuid::parse_str(raw).map(T::from).map_err(|_| CrmError::not_found(entity, raw))
}

/// `GET /contacts/{id}`.
pub(super) async fn contact(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let id: ContactId = parse_id(&id, "contact")?;
    let contact = state.crm().contacts().get(viewer.actor(), id).await?;
    let filter = DealFilter { contact_id: Some(id), ..Default::default() };
    let deals = state.crm().deals().list(viewer.actor(), &filter, PageRequest::first(PAGE_ROWS)).await?;
    let entity = EntityRef { kind: EntityKind::Contact, id: id.0 };
    let ctx = json!({
        "title": contact.display_name(),
        "contact": contact,
        "deals": deals.items,
        "activity": activity_panel(&state, &viewer, entity).await?,
        "stages": state.crm().pipeline().stages(),});
    render(&state, &viewer, "contact.html", ctx).await
}

/// Filters and cursor of the deals list.
#[derive(Debug, Deserialize)]
pub(super) struct DealsQuery {
    q: Option<String>,
    stage: Option<String>,
    cursor: Option<String>,
}

/// `GET /deals`.
pub(super) async fn deals(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DealsQuery>,
) -> PageResult {
    let filter = DealFilter {
        stage: query.stage.clone().filter(|s| !s.is_empty()),
        search: query.q.clone().filter(|q| !q.trim().is_empty()),
        ..Default::default()
    };
    let page = PageRequest::parse(Some(PAGE_ROWS), query.cursor.as_deref().filter(|c| !c.is_empty()))?;
    let deals = state.crm().deals().list(viewer.actor(), &filter, page).await?;
    let contacts =
        state.crm().contacts().list(viewer.actor(), &ContactFilter::default(), PageRequest::first(200)).await?;
    let contact_names: BTreeMap<String, String> =
        contacts.items.iter().map(|c| (c.id.to_string(), c.display_name())).collect();
    let ctx = json!({
        "title": "Deals",
        "deals": deals.items,
        "next_cursor": deals.next_cursor,
        "q": query.q.unwrap_or_default(),
        "stage": query.stage.unwrap_or_default(),
        "stages": state.crm().pipeline().stages(),
        "contacts": contacts.items,
        "contact_names": contact_names,});
    render(&state, &viewer, "deals.html", ctx).await
}

/// `GET /deals/{id}`.
pub(super) async fn deal(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let id: DealId = parse_id(&id, "deal")?;
    let deal = state.crm().deals().get(viewer.actor(), id).await?;
    let history = state.crm().deals().stage_history(viewer.actor(), id).await?;
    let contact = match deal.contact_id {
        Some(contact_id) => match state.crm().contacts().get(viewer.actor(), contact_id).await {
            Ok(contact) => Some(contact),
            Err(CrmError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let owner: Option<MemberId> = deal.owner_id;
    let entity = EntityRef { kind: EntityKind::Deal, id: id.0 };
    let ctx = json!({
        "title": &deal.title,
        "deal": deal,
        "owner": owner,
        "history": history,
        "contact_name": contact.as_ref().map(|c| c.display_name()),
        "activity": activity_panel(&state, &viewer, entity).await?,
        "stages": state.crm().pipeline().stages(),});
    render(&state, &viewer, "deal.html", ctx).await
}
