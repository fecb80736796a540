//! `/api/v1/documents` and `/api/v1/audit`: document management. Uploads are
//! `multipart/form-data` with a `file` part (and an optional `metadata` JSON part); the size cap
//! answers 413 as soon as it is crossed — from `Content-Length` before anything is read, or
//! while the file streams in. Downloads carry a sanitised `Content-Disposition: attachment`,
//! `X-Content-Type-Options: nosniff` and a sandboxing CSP.

use axum::body::Body;
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use crmcore::CrmError;
use crmcore::document::{
    Access, AuditEntry, Category, ChainReport, CreatedShareLink, Document, DocumentFilter, DocumentPatch,
    DocumentTemplate, DocumentVersion, GenerateRequest, MemberGrant, NewDocument, NewShareLink, RenderedDocument,
    SearchQuery, SearchRequest, SearchResults, ShareLinkView, Source, StagedFile, TemplateInput, TextStatus,
};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::{DocumentId, DocumentTemplateId, MemberId, ShareLinkId};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::BlobReader;
use crmcore::value::Tag;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// Bytes of a download's body frame.
const FRAME: usize = 64 * 1024;

/// Bytes of multipart framing and metadata allowed beyond the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// A created document with its first version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadedDocument {
    /// The document.
    document: Document,
    /// Its first version.
    version: DocumentVersion,
}

/// Filters and page of `GET /api/v1/documents`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DocumentQuery {
    /// `true` lists the trash.
    trashed: Option<bool>,
    /// Only this category.
    category: Option<String>,
    /// Only with this tag.
    tag: Option<String>,
    /// Only owned by this member.
    owner_id: Option<MemberId>,
    /// Only linked to a record of this kind (`contact`, `deal`, `campaign`), with `linked_id`.
    linked_kind: Option<String>,
    /// The linked record's id.
    linked_id: Option<uuid::Uuid>,
    /// Only created at or after (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Only created before (RFC 3339).
    created_before: Option<DateTime<Utc>>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl DocumentQuery {
    fn parse(&self) -> crmcore::Result<(DocumentFilter, PageRequest)> {
        let filter = filter_of(
            self.trashed.unwrap_or(false),
            self.category.as_deref(),
            self.tag.as_deref(),
            self.owner_id,
            (self.linked_kind.as_deref(), self.linked_id),
            (self.created_from, self.created_before),
        )?;
        Ok((filter, PageRequest::parse(self.limit, self.cursor.as_deref())?))
    }
}

/// A document filter from query parameters.
fn filter_of(
    trashed: bool,
    category: Option<&str>,
    tag: Option<&str>,
    owner_id: Option<MemberId>,
    (linked_kind, linked_id): (Option<&str>, Option<uuid::Uuid>),
    (created_from, created_before): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> crmcore::Result<DocumentFilter> {
    let linked = match (linked_kind, linked_id) {
        (Some(kind), Some(id)) => Some(EntityRef { kind: kind.parse::<EntityKind>()?, id }),
        (None, None) => None,
        _ => {
            return Err(crmcore::CrmError::invalid("linked_id", "required", "give linked_kind and linked_id together"));
        }
    };
    Ok(DocumentFilter {
        trashed,
        category: category.map(Category::parse).transpose()?,
        tag: tag.map(Tag::parse).transpose()?,
        owner_id,
        linked,
        created_from,
        created_before,
    })
}

/// `GET /api/v1/documents/search`: the query, the list filters and offset paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// Words that must all occur (title, tags or text), `"exact phrases"`, `prefix*`, `-excluded`.
    q: String,
    /// Only this category.
    category: Option<String>,
    /// Only with this tag.
    tag: Option<String>,
    /// Only owned by this member.
    owner_id: Option<MemberId>,
    /// Only linked to a record of this kind, with `linked_id`.
    linked_kind: Option<String>,
    /// The linked record's id.
    linked_id: Option<uuid::Uuid>,
    /// Only created at or after (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Only created before (RFC 3339).
    created_before: Option<DateTime<Utc>>,
    /// Hits per page (1–100, default 20).
    limit: Option<u32>,
    /// `next_offset` of the previous page.
    offset: Option<u32>,
}

/// Full-text search over the documents the caller may see, best first, with highlighted titles
/// and snippets.
#[utoipa::path(get, path = "/api/v1/documents/search", tag = "documents", params(SearchParams),
    security(("bearer" = [])),
    responses((status = 200, body = SearchResults), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let filter = filter_of(
        false,
        params.category.as_deref(),
        params.tag.as_deref(),
        params.owner_id,
        (params.linked_kind.as_deref(), params.linked_id),
        (params.created_from, params.created_before),
    )?;
    let offset = params.offset.unwrap_or(0);
    if offset > 10_000 {
        return Err(crmcore::CrmError::invalid("offset", "out_of_range", "at most 10000; narrow the query").into());
    }
    let request =
        SearchRequest { query: SearchQuery::parse(&params.q)?, filter, offset, limit: params.limit.unwrap_or(20) };
    Ok(Json(state.crm().documents().search(&actor, &request).await?))
}

/// The members a document is shared with.
#[utoipa::path(get, path = "/api/v1/documents/{id}/grants", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<MemberGrant>), (status = 404, body = Problem)))]
pub(crate) async fn grants(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentId>,
) -> Result<Json<Vec<MemberGrant>>, ApiError> {
    Ok(Json(state.crm().documents().grants(&actor, id).await?))
}

/// Body of `PUT /api/v1/documents/{id}/grants/{member_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    /// `view`, `comment` or `edit`.
    access: Access,
}

/// Shares a document with a member, or changes their access (needs edit access).
#[utoipa::path(put, path = "/api/v1/documents/{id}/grants/{member_id}", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("member_id" = uuid::Uuid, Path)),
    request_body = GrantRequest,
    responses((status = 200, body = MemberGrant), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn put_grant(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path((id, member)): Path<(DocumentId, MemberId)>,
    Json(body): Json<GrantRequest>,
) -> Result<Json<MemberGrant>, ApiError> {
    Ok(Json(state.crm().documents().share_with(&actor, id, member, body.access, &source(connect)).await?))
}

/// Takes a member's access away (needs edit access).
#[utoipa::path(delete, path = "/api/v1/documents/{id}/grants/{member_id}", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("member_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_grant(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path((id, member)): Path<(DocumentId, MemberId)>,
) -> Result<StatusCode, ApiError> {
    state.crm().documents().unshare_with(&actor, id, member, &source(connect)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A version's extracted text and where its extraction stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionText {
    /// `pending`, `done` or `failed`.
    status: TextStatus,
    /// Why extraction failed.
    error: Option<String>,
    /// The text, once done.
    text: Option<String>,
}

/// A version's extracted text.
#[utoipa::path(get, path = "/api/v1/documents/{id}/versions/{number}/text", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("number" = u32, Path)),
    responses((status = 200, body = VersionText), (status = 404, body = Problem)))]
pub(crate) async fn version_text(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path((id, number)): Path<(DocumentId, u32)>,
) -> Result<Json<VersionText>, ApiError> {
    let (version, text) = state.crm().documents().version_text(&actor, id, number).await?;
    Ok(Json(VersionText { status: version.text_status, error: version.text_error, text }))
}

/// `?version=` of a download.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// The version number (default: the latest).
    version: Option<u32>,
}

/// Page of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Entries after this sequence number (default 0).
    after: Option<i64>,
    /// At most this many (1–1000, default 100).
    limit: Option<u32>,
}

fn source(connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>) -> Source {
    Source(connect.map(|axum::Extension(ConnectInfo(addr))| addr.ip().to_string()))
}

/// What an upload adds to.
enum UploadTarget {
    /// A new document; its metadata part is a JSON `NewDocument`.
    NewDocument,
    /// A new version of a document; its note part is plain text.
    Version(DocumentId),
}

/// Why the body of an upload was cut off.
enum Cut {
    TooLarge,
    Interrupted(String),
}

/// Reads a multipart upload: the `file` part streams into the blob store as it arrives (checked
/// on the way, never held whole), the `metadata` or `note` part may come before or after it.
/// Metadata sent first is checked before any byte of the file is stored; a refused request
/// gives back what it staged. 413 past the size cap, from `Content-Length` before anything is
/// read or as soon as the file crosses it.
async fn receive_upload(
    state: &AppState,
    actor: &crmcore::actor::Actor,
    headers: &HeaderMap,
    mut multipart: Multipart,
    target: &UploadTarget,
) -> Result<(StagedFile, Option<String>), ApiError> {
    let documents = state.crm().documents();
    let max = state.crm().document_config().max_upload_bytes;
    let declared_length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > max + MULTIPART_OVERHEAD) {
        return Err(ApiError::payload_too_large());
    }
    let mut staged: Option<StagedFile> = None;
    let mut metadata: Option<String> = None;
    let read = async {
        while let Some(field) =
            multipart.next_field().await.map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
        {
            match field.name().unwrap_or_default() {
                "file" if staged.is_some() => {
                    return Err(ApiError::invalid_field("file", "duplicate", "an upload has one `file` part"));
                }
                "file" => {
                    if let UploadTarget::Version(id) = target {
                        documents.authorize(actor, *id, Access::Edit).await?;
                    }
                    let filename = field.file_name().unwrap_or("file").to_owned();
                    let declared_type = field.content_type().map(str::to_owned);
                    let cut = std::sync::Mutex::new(None);
                    let mut received = 0u64;
                    let chunks = field.map(|chunk| match chunk {
                        Ok(bytes) if received + bytes.len() as u64 > max => {
                            *cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::TooLarge);
                            Err(CrmError::invalid("file", "too_large", "the file is too large"))
                        }
                        Ok(bytes) => {
                            received += bytes.len() as u64;
                            Ok(bytes)
                        }
                        Err(e) => {
                            *cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::Interrupted(e.to_string()));
                            Err(CrmError::invalid("file", "interrupted", "the upload was interrupted"))
                        }
                    });
                    let file = documents.stage(actor, &filename, declared_type.as_deref(), chunks).await;
                    match (file, cut.into_inner().unwrap_or_else(|e| e.into_inner())) {
                        (Ok(file), _) => staged = Some(file),
                        (Err(_), Some(Cut::TooLarge)) => return Err(ApiError::payload_too_large()),
                        (Err(_), Some(Cut::Interrupted(e))) => {
                            return Err(ApiError::bad_request(format!("upload interrupted: {e}")));
                        }
                        (Err(e), None) => return Err(e.into()),
                    }
                }
                name @ ("metadata" | "note") => {
                    let name = name.to_owned();
                    let text =
                        field.text().await.map_err(|e| ApiError::bad_request(format!("unreadable {name}: {e}")))?;
                    if text.len() as u64 > MULTIPART_OVERHEAD {
                        return Err(ApiError::payload_too_large());
                    }
                    if matches!(target, UploadTarget::NewDocument) && staged.is_none() {
                        documents.check_new(actor, &new_document(Some(&text))?).await?;
                    }
                    metadata = Some(text);
                }
                other => {
                    return Err(ApiError::invalid_field(other.to_owned(), "unknown", "expected `file` and `metadata`"));
                }
            }
        }
        Ok(())
    };
    let read = read.await;
    match (read, staged) {
        (Ok(()), Some(file)) => Ok((file, metadata)),
        (Ok(()), None) => Err(ApiError::invalid_field("file", "required", "the upload has no `file` part")),
        (Err(error), staged) => {
            if let Some(file) = staged {
                documents.discard(file).await;
            }
            Err(error)
        }
    }
}

/// A new document's metadata from its part (none: the file name is the title).
fn new_document(text: Option<&str>) -> Result<NewDocument, ApiError> {
    match text {
        Some(text) => serde_json::from_str::<NewDocument>(text)
            .map_err(|e| ApiError::invalid_field("metadata", "invalid", format!("not a document's metadata: {e}"))),
        None => Ok(NewDocument { title: None, ..NewDocument::default_with_title("") }),
    }
}

/// Uploads a document (multipart: `file`, and optionally `metadata` as JSON `NewDocument`).
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`file` and optional `metadata` (JSON)"),
    responses((status = 201, body = UploadedDocument), (status = 403, body = Problem), (status = 413, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<(StatusCode, Json<UploadedDocument>), ApiError> {
    let (file, metadata) = receive_upload(&state, &actor, &headers, multipart, &UploadTarget::NewDocument).await?;
    let documents = state.crm().documents();
    let input = match new_document(metadata.as_deref()) {
        Ok(input) => input,
        Err(error) => {
            documents.discard(file).await;
            return Err(error);
        }
    };
    let (document, version) = documents.upload_staged(&actor, input, file, &source(connect)).await?;
    Ok((StatusCode::CREATED, Json(UploadedDocument { document, version })))
}

/// Lists documents, newest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", params(DocumentQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<Document>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<DocumentQuery>,
) -> Result<Json<Page<Document>>, ApiError> {
    let (filter, page) = query.parse()?;
    Ok(Json(state.crm().documents().list(&actor, &filter, page).await?))
}

/// One document (the view is audited).
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Document), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.crm().documents().get(&actor, id, &source(connect)).await?))
}

/// Changes a document's metadata.
#[utoipa::path(patch, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = DocumentPatch,
    responses((status = 200, body = Document), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
    Json(patch): Json<DocumentPatch>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.crm().documents().update(&actor, id, patch, &source(connect)).await?))
}

/// Moves a document to the trash.
#[utoipa::path(post, path = "/api/v1/documents/{id}/trash", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Document), (status = 404, body = Problem)))]
pub(crate) async fn trash(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.crm().documents().trash(&actor, id, &source(connect)).await?))
}

/// Takes a document out of the trash.
#[utoipa::path(post, path = "/api/v1/documents/{id}/untrash", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Document), (status = 409, body = Problem)))]
pub(crate) async fn untrash(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.crm().documents().untrash(&actor, id, &source(connect)).await?))
}

/// Deletes a trashed document for good.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn purge(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
) -> Result<StatusCode, ApiError> {
    state.crm().documents().purge(&actor, id, &source(connect)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A document's versions, oldest first.
#[utoipa::path(get, path = "/api/v1/documents/{id}/versions", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<DocumentVersion>), (status = 404, body = Problem)))]
pub(crate) async fn versions(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentId>,
) -> Result<Json<Vec<DocumentVersion>>, ApiError> {
    Ok(Json(state.crm().documents().versions(&actor, id).await?))
}

/// Uploads a new version (multipart: `file`, and optionally `note`).
#[utoipa::path(post, path = "/api/v1/documents/{id}/versions", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "`file` and optional `note`"),
    responses((status = 201, body = DocumentVersion), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn upload_version(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<(StatusCode, Json<DocumentVersion>), ApiError> {
    let (file, note) = receive_upload(&state, &actor, &headers, multipart, &UploadTarget::Version(id)).await?;
    let version = state.crm().documents().upload_version_staged(&actor, id, file, note, &source(connect)).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Restores an old version as a new one.
#[utoipa::path(post, path = "/api/v1/documents/{id}/versions/{number}/restore", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("number" = u32, Path)),
    responses((status = 201, body = DocumentVersion), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn restore_version(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path((id, number)): Path<(DocumentId, u32)>,
) -> Result<(StatusCode, Json<DocumentVersion>), ApiError> {
    let version = state.crm().documents().restore_version(&actor, id, number, &source(connect)).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Downloads a version's content (the latest by default); the download is audited.
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), VersionQuery),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 404, body = Problem)))]
pub(crate) async fn download(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let (version, content) = state.crm().documents().download(&actor, id, query.version, &source(connect)).await?;
    Ok(attachment(&version, content))
}

/// The file as an attachment, streamed a piece at a time, with the headers every download
/// carries.
fn attachment(version: &DocumentVersion, content: BlobReader) -> Response {
    let content_type =
        HeaderValue::from_str(&version.mime).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let size = content.size();
    let pieces = futures::stream::try_unfold(content, |mut content| async move {
        Ok::<_, CrmError>(content.next_piece().await?.map(|piece| (axum::body::Bytes::from(piece), content)))
    });
    // hyper queues up to 16 frames per connection before it stops polling the body: frames of
    // 64 KiB (slices of a piece, not copies) keep what a slow reader holds to about a MiB.
    let frames = pieces
        .map_ok(|piece| {
            let frames = (0..piece.len())
                .step_by(FRAME)
                .map(move |at| Ok::<_, CrmError>(piece.slice(at..(at + FRAME).min(piece.len()))));
            futures::stream::iter(frames.collect::<Vec<_>>())
        })
        .try_flatten();
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(&version.filename));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// Creates a share link; the token is shown once.
#[utoipa::path(post, path = "/api/v1/documents/{id}/share-links", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = NewShareLink,
    responses((status = 201, body = CreatedShareLink), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn share(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentId>,
    Json(input): Json<NewShareLink>,
) -> Result<(StatusCode, Json<CreatedShareLink>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().documents().share(&actor, id, input, &source(connect)).await?)))
}

/// A document's share links, newest first (never their tokens).
#[utoipa::path(get, path = "/api/v1/documents/{id}/share-links", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<ShareLinkView>), (status = 404, body = Problem)))]
pub(crate) async fn share_links(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentId>,
) -> Result<Json<Vec<ShareLinkView>>, ApiError> {
    Ok(Json(state.crm().documents().share_links(&actor, id).await?))
}

/// Revokes a share link.
#[utoipa::path(delete, path = "/api/v1/share-links/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ShareLinkView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn revoke_share_link(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<ShareLinkId>,
) -> Result<Json<ShareLinkView>, ApiError> {
    Ok(Json(state.crm().documents().revoke_share_link(&actor, id, &source(connect)).await?))
}

/// `POST /s/{token}` form: the link's password.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SharePassword {
    /// The password the link was created with.
    password: String,
}

/// Public: downloads through a share link. A password-protected link answers 401 here; post the
/// password to the same address instead.
#[utoipa::path(get, path = "/s/{token}", tag = "documents", params(("token" = String, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn open_share(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let (_, _, version, content) = state.crm().documents().open_share_link(&token, None, &source(connect)).await?;
    Ok(attachment(&version, content))
}

/// Public: downloads through a password-protected share link.
#[utoipa::path(post, path = "/s/{token}", tag = "documents", params(("token" = String, Path)),
    request_body(content = SharePassword, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn open_share_with_password(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    axum::Form(form): axum::Form<SharePassword>,
) -> Result<Response, ApiError> {
    let (_, _, version, content) =
        state.crm().documents().open_share_link(&token, Some(&form.password), &source(connect)).await?;
    Ok(attachment(&version, content))
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266).
fn content_disposition(filename: &str) -> HeaderValue {
    let ascii: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or(HeaderValue::from_static("attachment"))
}

/// The tenant's audit trail, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "documents", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = Problem)))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let entries =
        state.crm().documents().audit_trail(&actor, query.after.unwrap_or(0), query.limit.unwrap_or(100)).await?;
    Ok(Json(entries))
}

/// Page of `GET /api/v1/documents/{id}/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DocumentAuditQuery {
    /// Entries before this sequence number (default: from the newest).
    before: Option<i64>,
    /// At most this many (1–1000, default 100).
    limit: Option<u32>,
}

/// One document's audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/documents/{id}/audit", tag = "documents", params(("id" = uuid::Uuid, Path), DocumentAuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn document_audit(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentId>,
    Query(query): Query<DocumentAuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let entries = state.crm().documents().document_audit(&actor, id, query.before, query.limit.unwrap_or(100)).await?;
    Ok(Json(entries))
}

/// Checks every link and hash of the tenant's audit chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = ChainReport), (status = 403, body = Problem)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<ChainReport>, ApiError> {
    Ok(Json(state.crm().documents().verify_audit_trail(&actor).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_quoted_safely() {
        let value = content_disposition("Q3 \"final\"\r\n\u{e9}t\u{e9}.pdf");
        let text = value.to_str().unwrap();
        assert!(text.starts_with("attachment; filename=\"Q3 _final___"), "{text}");
        assert!(text.contains("filename*=UTF-8''Q3%20%22final%22%0D%0A%C3%A9t%C3%A9.pdf"), "{text}");
    }
}

/// The tenant's document templates, by name.
#[utoipa::path(get, path = "/api/v1/document-templates", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = Vec<DocumentTemplate>), (status = 403, body = Problem)))]
pub(crate) async fn templates(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Vec<DocumentTemplate>>, ApiError> {
    Ok(Json(state.crm().documents().templates(&actor).await?))
}

/// Creates a document template; syntax errors and unknown variables answer 422 with line numbers.
#[utoipa::path(post, path = "/api/v1/document-templates", tag = "documents", security(("bearer" = [])),
    request_body = TemplateInput,
    responses((status = 201, body = DocumentTemplate), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<TemplateInput>,
) -> Result<(StatusCode, Json<DocumentTemplate>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().documents().create_template(&actor, input).await?)))
}

/// One document template.
#[utoipa::path(get, path = "/api/v1/document-templates/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = DocumentTemplate), (status = 404, body = Problem)))]
pub(crate) async fn template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentTemplateId>,
) -> Result<Json<DocumentTemplate>, ApiError> {
    Ok(Json(state.crm().documents().template(&actor, id).await?))
}

/// Replaces a document template.
#[utoipa::path(put, path = "/api/v1/document-templates/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = TemplateInput,
    responses((status = 200, body = DocumentTemplate), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn update_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentTemplateId>,
    Json(input): Json<TemplateInput>,
) -> Result<Json<DocumentTemplate>, ApiError> {
    Ok(Json(state.crm().documents().update_template(&actor, id, input).await?))
}

/// Deletes a document template (documents made from it stay).
#[utoipa::path(delete, path = "/api/v1/document-templates/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn delete_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentTemplateId>,
) -> Result<StatusCode, ApiError> {
    state.crm().documents().delete_template(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/v1/document-templates/{id}/render`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenderRequest {
    /// The contact or deal whose fields fill the template.
    subject: EntityRef,
}

/// Renders a template for a contact or a deal (a preview: nothing is stored).
#[utoipa::path(post, path = "/api/v1/document-templates/{id}/render", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = RenderRequest,
    responses((status = 200, body = RenderedDocument), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn render_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<DocumentTemplateId>,
    Json(body): Json<RenderRequest>,
) -> Result<Json<RenderedDocument>, ApiError> {
    Ok(Json(state.crm().documents().render_template(&actor, id, body.subject).await?))
}

/// Generates a document (PDF by default, or HTML) from a template for a contact or a deal.
#[utoipa::path(post, path = "/api/v1/document-templates/{id}/generate", tag = "documents",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = GenerateRequest,
    responses((status = 201, body = UploadedDocument), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
pub(crate) async fn generate(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<DocumentTemplateId>,
    Json(request): Json<GenerateRequest>,
) -> Result<(StatusCode, Json<UploadedDocument>), ApiError> {
    let (document, version) = state.crm().documents().generate(&actor, id, request, &source(connect)).await?;
    Ok((StatusCode::CREATED, Json(UploadedDocument { document, version })))
}
