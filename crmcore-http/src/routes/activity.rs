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
use serde_json::json;

use crate::auth::CurrentActor;
use crate::error::ApiError;
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// A comment as sent: the stored comment plus its rendered HTML.
#[derive(Debug, Serialize)]
pub(crate) struct CommentView {
    #[serde(flatten)]
    comment: Comment,
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
pub(crate) async fn create_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewComment>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().activity().comment(&actor, input).await?.into())))
}

/// One comment.
pub(crate) async fn get_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CommentId>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(state.crm().activity().get_comment(&actor, id).await?.into()))
}

/// `PATCH /api/v1/comments/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditComment {
    body: String,
    expected_version: Option<i64>,
}

/// Edits a comment (its author only); `If-Match` makes it conditional.
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
pub(crate) async fn delete_comment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CommentId>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(state.crm().activity().delete_comment(&actor, id).await?.into()))
}

/// Which entity, and which page.
#[derive(Debug, Deserialize)]
pub(crate) struct EntityPageQuery {
    entity_kind: String,
    entity_id: uuid::Uuid,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl EntityPageQuery {
    fn entity(&self) -> Result<EntityRef> {
        Ok(EntityRef { kind: parse_kind(&self.entity_kind)?, id: self.entity_id })
    }
}

/// The comments on an entity, newest first.
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
pub(crate) async fn threads(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<EntityPageQuery>,
) -> Result<Json<Vec<CommentNode>>, ApiError> {
    Ok(Json(state.crm().activity().thread(&actor, query.entity()?).await?))
}

/// `POST /api/v1/follows` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FollowRequest {
    entity: EntityRef,
}

/// Follows an entity.
pub(crate) async fn follow(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<FollowRequest>,
) -> Result<(StatusCode, Json<Follow>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().activity().follow(&actor, input.entity).await?)))
}

/// What the caller follows, newest first.
pub(crate) async fn following(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<LimitQuery>,
) -> Result<Json<Vec<Follow>>, ApiError> {
    Ok(Json(state.crm().activity().following(&actor, query.limit.unwrap_or(200)).await?))
}

/// A limit.
#[derive(Debug, Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<u32>,
}

/// Stops following an entity; 404 when the caller did not follow it.
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
#[derive(Debug, Deserialize)]
pub(crate) struct FeedQuery {
    verb: Option<String>,
    kind: Option<String>,
    actor: Option<MemberId>,
    limit: Option<u32>,
    cursor: Option<String>,
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
pub(crate) async fn my_feed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let me = actor.member_id().ok_or_else(|| CrmError::Forbidden("only members have a feed".into()))?;
    feed(&state, &actor, FeedScope::Member(me), &query).await
}

/// The tenant-wide feed (admins).
pub(crate) async fn tenant_feed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    feed(&state, &actor, FeedScope::Tenant, &query).await
}

/// One entity's activity and comments.
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
#[derive(Debug, Deserialize)]
pub(crate) struct InboxQuery {
    unread: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// An inbox page with the unread count (read just before it).
#[derive(Debug, Serialize)]
pub(crate) struct InboxPage {
    items: Vec<Notification>,
    next_cursor: Option<String>,
    unread_count: u64,
}

/// The caller's notifications, newest first, with the unread count.
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
pub(crate) async fn unread_count(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "unread_count": state.crm().activity().unread_count(&actor).await? })))
}

/// Marks a notification read.
pub(crate) async fn mark_read(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<NotificationId>,
) -> Result<StatusCode, ApiError> {
    state.crm().activity().mark_read(&actor, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks a notification unread.
pub(crate) async fn mark_unread(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<NotificationId>,
) -> Result<StatusCode, ApiError> {
    state.crm().activity().mark_read(&actor, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks every notification read: `{marked}`.
pub(crate) async fn mark_all_read(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "marked": state.crm().activity().mark_all_read(&actor).await? })))
}

/// The caller's delivery preferences.
pub(crate) async fn preferences(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<NotificationPreferences>, ApiError> {
    Ok(Json(state.crm().activity().preferences(&actor).await?))
}

/// Sets delivery per kind: `{"mention": "email_digest", "activity": "off"}`.
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
