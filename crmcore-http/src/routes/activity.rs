//! Collaboration: `/api/v1/comments`, `/api/v1/threads`, `/api/v1/follows`, the feeds
//! (`/api/v1/feed`, `/api/v1/activity`, `/api/v1/entities/{kind}/{id}/activity`), the inbox
//! (`/api/v1/notifications…`) and `/api/v1/notification-preferences`. Feeds answer W3C Activity
//! Streams 2.0 with `?format=as2`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crmcore::activity::{
    Activity, Comment, CommentId, CommentNode, Delivery, FeedFilter, FeedScope, Follow, InboxFilter, NewComment,
    Notification, NotificationId, NotificationKind, NotificationPreferences, streams,
};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::MemberId;
use crmcore::page::{Page, PageRequest};
use crmcore::{Actor, CrmError, Result};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// A comment as sent: the stored comment plus its rendered HTML.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CommentView {
    #[serde(flatten)]
    comment: Comment,
    /// The body rendered as escaped HTML.
    html: String,
}

impl From<Comment> for CommentView {
    fn from(comment: Comment) -> Self {
        Self { html: comment.html(), comment }
    }
}

fn parse_kind(kind: &str) -> Result<EntityKind> {
    kind.parse::<EntityKind>()
        .map_err(|_| CrmError::invalid("kind", "unknown", format!("unknown entity kind `{kind}`")))
}

/// Posts a comment: `{entity: {kind, id}, in_reply_to?, body}`.
#[utoipa::path(post, path = "/api/v1/comments", tag = "activity", security(("bearer" = [])), request_body = NewComment,
    responses((status = 201, body = CommentView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn create_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewComment>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().activity().comment(&actor, input).await?.into())))
}

/// One comment.
#[utoipa::path(get, path = "/api/v1/comments/{id}", tag = "activity", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = CommentView), (status = 404, body = Problem)))]
pub(crate) async fn get_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CommentId>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(state.crm().activity().get_comment(&actor, id).await?.into()))
}

/// `PATCH /api/v1/comments/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditComment {
    /// The new Markdown text.
    body: String,
    /// Fail with 409 unless the stored version equals this (or use `If-Match`).
    expected_version: Option<i64>,
}

/// Edits a comment (its author only); `If-Match` makes it conditional.
#[utoipa::path(patch, path = "/api/v1/comments/{id}", tag = "activity", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = EditComment,
    responses((status = 200, body = CommentView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn edit_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CommentId>,
    IfMatch(version): IfMatch,
    Json(input): Json<EditComment>,
) -> Result<Json<CommentView>, ApiError> {
    let version = input.expected_version.or(version);
    Ok(Json(state.crm().activity().edit_comment(&actor, id, &input.body, version).await?.into()))
}

/// Deletes a comment, leaving a tombstone; answers the tombstone.
#[utoipa::path(delete, path = "/api/v1/comments/{id}", tag = "activity", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The tombstone", body = CommentView), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub(crate) async fn delete_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CommentId>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(state.crm().activity().delete_comment(&actor, id).await?.into()))
}

/// Which entity, and which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntityPageQuery {
    /// The entity's kind (`contact`, `deal`, …).
    entity_kind: String,
    /// The entity's id.
    entity_id: uuid::Uuid,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl EntityPageQuery {
    fn entity(&self) -> Result<EntityRef> {
        Ok(EntityRef { kind: parse_kind(&self.entity_kind)?, id: self.entity_id })
    }
}

/// The comments on an entity, newest first.
#[utoipa::path(get, path = "/api/v1/comments", tag = "activity", security(("bearer" = [])), params(EntityPageQuery),
    responses((status = 200, body = Page<CommentView>), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list_comments(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<EntityPageQuery>,
) -> Result<Json<Page<CommentView>>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let comments = state.crm().activity().comments(&actor, query.entity()?, page).await?;
    Ok(Json(comments.map(CommentView::from)))
}

/// The comments on an entity as threads.
#[utoipa::path(get, path = "/api/v1/threads", tag = "activity", security(("bearer" = [])), params(EntityPageQuery),
    responses((status = 200, body = Vec<CommentNode>), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn threads(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<EntityPageQuery>,
) -> Result<Json<Vec<CommentNode>>, ApiError> {
    Ok(Json(state.crm().activity().thread(&actor, query.entity()?).await?))
}

/// `POST /api/v1/follows` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FollowRequest {
    /// What to follow.
    entity: EntityRef,
}

/// Follows an entity.
#[utoipa::path(post, path = "/api/v1/follows", tag = "activity", security(("bearer" = [])), request_body = FollowRequest,
    responses((status = 201, body = Follow), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn follow(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<FollowRequest>,
) -> Result<(StatusCode, Json<Follow>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().activity().follow(&actor, input.entity).await?)))
}

/// What the caller follows, newest first.
#[utoipa::path(get, path = "/api/v1/follows", tag = "activity", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = Vec<Follow>), (status = 403, body = Problem)))]
pub(crate) async fn following(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<LimitQuery>,
) -> Result<Json<Vec<Follow>>, ApiError> {
    Ok(Json(state.crm().activity().following(&actor, query.limit.unwrap_or(200)).await?))
}

/// A limit.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// At most this many (1–1000, default 200).
    limit: Option<u32>,
}

/// Stops following an entity; 404 when the caller did not follow it.
#[utoipa::path(delete, path = "/api/v1/follows/{kind}/{id}", tag = "activity", security(("bearer" = [])),
    params(("kind" = String, Path, description = "entity kind"), ("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn unfollow(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path((kind, id)): Path<(String, uuid::Uuid)>,
) -> Result<StatusCode, ApiError> {
    let entity = EntityRef { kind: parse_kind(&kind)?, id };
    if state.crm().activity().unfollow(&actor, entity).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::not_found("follow", format!("{kind}/{id}")).into())
    }
}

/// Feed filters and page; `format=as2` answers Activity Streams 2.0.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedQuery {
    /// Only this verb (`created`, `updated`, `commented`, …).
    verb: Option<String>,
    /// Only activities whose object is of this kind.
    kind: Option<String>,
    /// Only activities of this member.
    #[param(value_type = Option<uuid::Uuid>)]
    actor: Option<MemberId>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default) or `as2` (W3C Activity Streams 2.0, `application/activity+json`).
    format: Option<String>,
}

impl FeedQuery {
    fn parse(&self) -> Result<(FeedFilter, PageRequest)> {
        let object_kind = self.kind.as_deref().map(parse_kind).transpose()?;
        let filter = FeedFilter { verb: self.verb.clone().filter(|v| !v.is_empty()), object_kind, actor: self.actor };
        Ok((filter, PageRequest::parse(self.limit, self.cursor.as_deref())?))
    }
}

async fn feed(state: &AppState, actor: &Actor, scope: FeedScope, query: &FeedQuery) -> Result<Response, ApiError> {
    let (filter, page) = query.parse()?;
    let page: Page<Activity> = state.crm().activity().feed(actor, scope, &filter, page).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(page).into_response()),
        Some("as2") => {
            let body = Json(streams::collection(&page)).into_response();
            let mut response = body;
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/activity+json"),
            );
            Ok(response)
        }
        Some(other) => Err(ApiError::bad_parameter("format", format!("unknown format `{other}`; use json or as2"))),
    }
}

/// The caller's feed: their activity and that of what they follow.
#[utoipa::path(get, path = "/api/v1/feed", tag = "activity", security(("bearer" = [])), params(FeedQuery),
    responses((status = 200, description = "A page of activities, newest first (`format=as2`: an Activity Streams 2.0 `OrderedCollectionPage`)",
                content((Page<Activity> = "application/json"), (serde_json::Value = "application/activity+json"))),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn my_feed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let me = actor.member_id().ok_or_else(|| CrmError::Forbidden("only members have a feed".into()))?;
    feed(&state, &actor, FeedScope::Member(me), &query).await
}

/// The tenant-wide feed (admins).
#[utoipa::path(get, path = "/api/v1/activity", tag = "activity", security(("bearer" = [])), params(FeedQuery),
    responses((status = 200, description = "A page of activities, newest first (`format=as2`: an Activity Streams 2.0 `OrderedCollectionPage`)",
                content((Page<Activity> = "application/json"), (serde_json::Value = "application/activity+json"))),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn tenant_feed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    feed(&state, &actor, FeedScope::Tenant, &query).await
}

/// One entity's activity and comments.
#[utoipa::path(get, path = "/api/v1/entities/{kind}/{id}/activity", tag = "activity", security(("bearer" = [])),
    params(("kind" = String, Path, description = "entity kind"), ("id" = uuid::Uuid, Path), FeedQuery),
    responses((status = 200, description = "A page of activities, newest first (`format=as2`: an Activity Streams 2.0 `OrderedCollectionPage`)",
                content((Page<Activity> = "application/json"), (serde_json::Value = "application/activity+json"))),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn entity_feed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path((kind, id)): Path<(String, uuid::Uuid)>,
    Query(query): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let entity = EntityRef { kind: parse_kind(&kind)?, id };
    feed(&state, &actor, FeedScope::Entity(entity), &query).await
}

/// Inbox page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InboxQuery {
    /// Only unread notifications.
    unread: Option<bool>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// An inbox page with the unread count (read just before it).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InboxPage {
    /// The notifications, newest first.
    items: Vec<Notification>,
    /// The cursor of the next page, if any.
    next_cursor: Option<String>,
    /// How many of the caller's notifications are unread.
    unread_count: u64,
}

/// `{unread_count}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnreadCount {
    /// How many of the caller's notifications are unread.
    unread_count: u64,
}

/// `{marked}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Marked {
    /// How many notifications changed.
    marked: u64,
}

/// The caller's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "activity", security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn inbox(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let filter = InboxFilter { unread_only: query.unread.unwrap_or(false) };
    let activity = state.crm().activity();
    // Count first: notifications are only ever added, so a page read afterwards holds every
    // notification the count saw, even when the dispatcher commits between the two reads.
    let unread_count = activity.unread_count(&actor).await?;
    let page = activity.inbox(&actor, filter, page).await?;
    Ok(Json(InboxPage { items: page.items, next_cursor: page.next_cursor, unread_count }))
}

/// `{unread_count}`.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 403, body = Problem)))]
pub(crate) async fn unread_count(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<UnreadCount>, ApiError> {
    Ok(Json(UnreadCount { unread_count: state.crm().activity().unread_count(&actor).await? }))
}

/// Marks a notification read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "activity", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn mark_read(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<NotificationId>,
) -> Result<StatusCode, ApiError> {
    state.crm().activity().mark_read(&actor, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks a notification unread.
#[utoipa::path(delete, path = "/api/v1/notifications/{id}/read", tag = "activity", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn mark_unread(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<NotificationId>,
) -> Result<StatusCode, ApiError> {
    state.crm().activity().mark_read(&actor, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks every notification read: `{marked}`.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = Marked), (status = 403, body = Problem)))]
pub(crate) async fn mark_all_read(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Marked>, ApiError> {
    Ok(Json(Marked { marked: state.crm().activity().mark_all_read(&actor).await? }))
}

/// The caller's delivery preferences.
#[utoipa::path(get, path = "/api/v1/notification-preferences", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = NotificationPreferences), (status = 403, body = Problem)))]
pub(crate) async fn preferences(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<NotificationPreferences>, ApiError> {
    Ok(Json(state.crm().activity().preferences(&actor).await?))
}

/// Sets delivery per kind: `{"mention": "email_digest", "activity": "off"}`.
#[utoipa::path(patch, path = "/api/v1/notification-preferences", tag = "activity", security(("bearer" = [])),
    request_body(content = BTreeMap<NotificationKind, Delivery>, description = "delivery per notification kind"),
    responses((status = 200, body = NotificationPreferences), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn set_preferences(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<BTreeMap<NotificationKind, Delivery>>,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let activity = state.crm().activity();
    for (kind, delivery) in input {
        activity.set_preference(&actor, kind, delivery).await?;
    }
    Ok(Json(activity.preferences(&actor).await?))
}
