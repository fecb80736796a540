//! `/api/v1/contacts`.

use axum::extract::State;
use axum::http::StatusCode;
use crmcore::contact::{Contact, ContactFilter, ContactPatch, NewContact};
use crmcore::id::{ContactId, MemberId};
use crmcore::page::{Page, PageRequest};
use crmcore::value::Tag;
use crmcore::{CrmError, Result};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// Filters and page of `GET /api/v1/contacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContactQuery {
    /// Only contacts with this tag.
    tag: Option<String>,
    /// Only contacts owned by this member.
    #[param(value_type = Option<uuid::Uuid>)]
    owner_id: Option<MemberId>,
    /// Case-insensitive search over names, e-mail and company.
    q: Option<String>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl ContactQuery {
    fn parse(self) -> Result<(ContactFilter, PageRequest)> {
        let tag = self
            .tag
            .as_deref()
            .map(Tag::parse)
            .transpose()
            .map_err(|_| CrmError::invalid("tag", "invalid", "not a valid tag"))?;
        let page = PageRequest::parse(self.limit, self.cursor.as_deref())?;
        Ok((ContactFilter { tag, owner_id: self.owner_id, search: self.q.filter(|q| !q.is_empty()) }, page))
    }
}

/// Lists contacts, newest first.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of contacts, newest first", body = Page<Contact>),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<ContactQuery>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let (filter, page) = query.parse()?;
    Ok(Json(state.crm().contacts().list(&actor, &filter, page).await?))
}

/// Creates a contact.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", security(("bearer" = [])),
    request_body = NewContact,
    responses((status = 201, body = Contact), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewContact>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().contacts().create(&actor, input).await?)))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Contact), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ContactId>,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(state.crm().contacts().get(&actor, id).await?))
}

/// Updates a contact; `null` clears a field.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = ContactPatch,
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ContactId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<ContactPatch>,
) -> Result<Json<Contact>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().contacts().update(&actor, id, patch).await?))
}

/// Deletes a contact.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<ContactId>,
) -> Result<StatusCode, ApiError> {
    state.crm().contacts().delete(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
