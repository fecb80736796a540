//! `/api/v1/members` and `/api/v1/me`.

use axum::extract::State;
use axum::http::StatusCode;
use crmcore::id::MemberId;
use crmcore::member::{Member, MemberPatch, NewMember};
use crmcore::page::{Page, PageRequest};
use crmcore::{CrmError, Role};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::auth::password::PasswordHasher;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// Page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `POST /api/v1/members` body: a new member, optionally with a password to sign in with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMemberRequest {
    /// E-mail address, unique in the tenant.
    email: String,
    /// Name shown to others (default: the e-mail's local part).
    display_name: Option<String>,
    /// @handle, unique in the tenant (default: derived from the e-mail).
    handle: Option<String>,
    /// Role granted; not above the caller's.
    #[schema(value_type = String, example = "member")]
    role: Role,
    /// Initial password (at least 8 characters); without one the member cannot sign in yet.
    password: Option<String>,
}

impl NewMemberRequest {
    fn into_parts(self) -> (NewMember, Option<String>) {
        let member =
            NewMember { email: self.email, display_name: self.display_name, handle: self.handle, role: self.role };
        (member, self.password)
    }
}

/// Lists the tenant's members.
#[utoipa::path(get, path = "/api/v1/members", tag = "members", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of members, newest first", body = Page<Member>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Member>>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.crm().members().list(&actor, page).await?))
}

/// Adds a member (needs `manage_members`).
#[utoipa::path(post, path = "/api/v1/members", tag = "members", request_body = NewMemberRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the member", body = Member), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(request): Json<NewMemberRequest>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let (new, password) = request.into_parts();
    if let Some(password) = &password {
        PasswordHasher::check_policy(password)?;
    }
    let member = state.crm().members().create(&actor, new).await?;
    if let Some(password) = password {
        let hash = state.passwords().hash(&password).await?;
        let now = state.crm().clock().now();
        state.crm().store().credentials().set_password(actor.tenant_id, member.id, &hash, now).await?;
    }
    Ok((StatusCode::CREATED, Json(member)))
}

/// One member.
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Member), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<MemberId>,
) -> Result<Json<Member>, ApiError> {
    Ok(Json(state.crm().members().get(&actor, id).await?))
}

/// Updates a member (name and handle for oneself; role and activation need `manage_members`).
#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = MemberPatch,
    responses((status = 200, body = Member), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<MemberId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<MemberPatch>,
) -> Result<Json<Member>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().members().update(&actor, id, patch).await?))
}

/// The signed-in member (API keys have none: 404).
#[utoipa::path(get, path = "/api/v1/me", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = Member), (status = 404, body = Problem)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Member>, ApiError> {
    let id = actor.member_id().ok_or_else(|| CrmError::not_found("member", "me (API keys have no member)"))?;
    Ok(Json(state.crm().members().get(&actor, id).await?))
}
