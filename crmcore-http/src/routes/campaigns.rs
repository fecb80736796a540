//! `/api/v1/email-templates`, `/api/v1/segments/preview`, `/api/v1/campaigns`,
//! `/api/v1/campaign-recipients` and `/api/v1/suppressions`: e-mail campaigns.
//!
//! The lifecycle rules (who may launch, which transition is allowed from which status) live in
//! `crmcore::campaign`; a refused transition is a 409 problem like any other conflict.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use crmcore::Result;
use crmcore::campaign::{
    Attempt, Campaign, CampaignPatch, CampaignStats, EmailTemplate, IngestOutcome, NewCampaign, NewEmailTemplate,
    Recipient, RecipientCounts, RecipientStatus, SegmentPreview, SegmentRule, Suppression, SuppressionReason,
    TemplatePatch,
};
use crmcore::id::{CampaignId, ContactId, EmailTemplateId, RecipientId};
use crmcore::page::{Page, PageRequest};
use crmcore::template::Rendered;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentActor;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, Json, Path, Query};
use crate::state::AppState;

/// Samples a segment preview returns when the request names none.
const DEFAULT_SAMPLE: u32 = 10;
/// Suppressions per page when the request names no limit.
const DEFAULT_SUPPRESSIONS: u32 = 100;

/// Page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    pub(crate) fn parse(&self) -> Result<PageRequest> {
        PageRequest::parse(self.limit, self.cursor.as_deref())
    }
}

/// `POST /api/v1/email-templates/{id}/preview` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplatePreviewRequest {
    /// The contact whose fields fill the template.
    #[schema(value_type = uuid::Uuid)]
    contact_id: ContactId,
}

/// A template rendered for one contact, as it would be sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RenderedEmail {
    /// Subject line.
    subject: String,
    /// HTML body.
    html: String,
    /// Plain-text body.
    text: String,
}

impl From<Rendered> for RenderedEmail {
    fn from(r: Rendered) -> Self {
        Self { subject: r.subject, html: r.html, text: r.text }
    }
}

/// `POST /api/v1/segments/preview` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SegmentPreviewRequest {
    /// The rule to evaluate.
    rule: SegmentRule,
    /// How many matching contacts to return (0–100, default 10).
    sample: Option<u32>,
}

/// `POST /api/v1/campaigns/{id}/schedule` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleRequest {
    /// When to start sending (RFC 3339, in the future).
    send_at: DateTime<Utc>,
}

/// What `POST /api/v1/campaigns/{id}/retry-failed` did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetryFailedResponse {
    /// The campaign, sending again.
    campaign: Campaign,
    /// How many failed recipients were queued again.
    requeued: u64,
}

/// Filters and page of `GET /api/v1/campaigns/{id}/recipients`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecipientQuery {
    /// Only recipients in this status: `pending`, `sending`, `sent`, `failed`, `suppressed` or
    /// `cancelled`.
    status: Option<String>,
    /// Items per page (1–200, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl RecipientQuery {
    fn parse(&self) -> Result<(Option<RecipientStatus>, PageRequest)> {
        let status = self.status.as_deref().filter(|s| !s.is_empty()).map(RecipientStatus::parse).transpose()?;
        Ok((status, PageRequest::parse(self.limit, self.cursor.as_deref())?))
    }
}

/// Page of `GET /api/v1/suppressions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuppressionQuery {
    /// `next_after` of the previous page: the list continues after this address.
    after: Option<String>,
    /// Items per page (1–500, default 100).
    limit: Option<u32>,
}

/// A page of the suppression list, in address order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SuppressionList {
    /// The suppressed addresses.
    items: Vec<Suppression>,
    /// Pass as `after` for the next page; absent on the last one.
    next_after: Option<String>,
}

/// `POST /api/v1/suppressions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuppressRequest {
    /// The address that must not receive campaign mail.
    email: String,
    /// Why (default `manual`).
    reason: Option<SuppressionReason>,
}

/// What `POST /api/v1/suppressions` did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SuppressResponse {
    /// The address, as given.
    email: String,
    /// `true` when it was added, `false` when it was already on the list.
    added: bool,
}

// ----- templates -------------------------------------------------------------------------------

/// Lists the template library, newest first.
#[utoipa::path(get, path = "/api/v1/email-templates", tag = "campaigns", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of templates, newest first", body = Page<EmailTemplate>),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list_templates(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<EmailTemplate>>, ApiError> {
    Ok(Json(state.crm().campaigns().list_templates(&actor, query.parse()?).await?))
}

/// Adds a template; syntax errors and unknown variables are field errors with line numbers.
#[utoipa::path(post, path = "/api/v1/email-templates", tag = "campaigns", security(("bearer" = [])),
    request_body = NewEmailTemplate,
    responses((status = 201, body = EmailTemplate), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewEmailTemplate>,
) -> Result<(StatusCode, Json<EmailTemplate>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().campaigns().create_template(&actor, input).await?)))
}

/// One template.
#[utoipa::path(get, path = "/api/v1/email-templates/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = EmailTemplate), (status = 404, body = Problem)))]
pub(crate) async fn get_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<EmailTemplateId>,
) -> Result<Json<EmailTemplate>, ApiError> {
    Ok(Json(state.crm().campaigns().get_template(&actor, id).await?))
}

/// Updates a template; `text: null` derives the text part from the HTML.
#[utoipa::path(patch, path = "/api/v1/email-templates/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = TemplatePatch,
    responses((status = 200, body = EmailTemplate), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn update_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<EmailTemplateId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<TemplatePatch>,
) -> Result<Json<EmailTemplate>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().campaigns().update_template(&actor, id, patch).await?))
}

/// Renders a template for one contact, as it would be sent.
#[utoipa::path(post, path = "/api/v1/email-templates/{id}/preview", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = TemplatePreviewRequest,
    responses((status = 200, body = RenderedEmail), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn preview_template(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<EmailTemplateId>,
    Json(input): Json<TemplatePreviewRequest>,
) -> Result<Json<RenderedEmail>, ApiError> {
    Ok(Json(state.crm().campaigns().preview_template(&actor, id, input.contact_id).await?.into()))
}

// ----- segments --------------------------------------------------------------------------------

/// How many contacts a segment rule selects now, and the first few of them.
#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "campaigns", security(("bearer" = [])),
    request_body = SegmentPreviewRequest,
    responses((status = 200, body = SegmentPreview), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn preview_segment(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<SegmentPreviewRequest>,
) -> Result<Json<SegmentPreview>, ApiError> {
    let sample = input.sample.unwrap_or(DEFAULT_SAMPLE);
    Ok(Json(state.crm().campaigns().preview_segment(&actor, &input.rule, sample).await?))
}

// ----- campaigns -------------------------------------------------------------------------------

/// Lists campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of campaigns, newest first", body = Page<Campaign>),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Campaign>>, ApiError> {
    Ok(Json(state.crm().campaigns().list(&actor, query.parse()?).await?))
}

/// Creates a draft campaign.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])),
    request_body = NewCampaign,
    responses((status = 201, body = Campaign), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<NewCampaign>,
) -> Result<(StatusCode, Json<Campaign>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.crm().campaigns().create(&actor, input).await?)))
}

/// One campaign.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().get(&actor, id).await?))
}

/// Updates a draft; `null` clears an optional field. 409 once the campaign left draft.
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "expected version")),
    request_body = CampaignPatch,
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
    IfMatch(version): IfMatch,
    Json(mut patch): Json<CampaignPatch>,
) -> Result<Json<Campaign>, ApiError> {
    patch.expected_version = patch.expected_version.or(version);
    Ok(Json(state.crm().campaigns().update(&actor, id, patch).await?))
}

/// Schedules a draft to start at `send_at`.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/schedule", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ScheduleRequest,
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn schedule(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
    Json(input): Json<ScheduleRequest>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().schedule(&actor, id, input.send_at).await?))
}

/// Takes a scheduled campaign back to draft.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/unschedule", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub(crate) async fn unschedule(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().unschedule(&actor, id).await?))
}

/// Starts sending now: the worker freezes the audience, then sends in batches.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/launch", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn launch(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().launch(&actor, id).await?))
}

/// Stops claiming recipients; messages in flight finish.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().pause(&actor, id).await?))
}

/// Continues a paused campaign where it stopped.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().resume(&actor, id).await?))
}

/// Stops for good; recipients not yet sent become `cancelled`.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Campaign), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(state.crm().campaigns().cancel(&actor, id).await?))
}

/// Sends again to the recipients whose delivery failed; 409 when none failed.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/retry-failed", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = RetryFailedResponse), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn retry_failed(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<RetryFailedResponse>, ApiError> {
    let (campaign, requeued) = state.crm().campaigns().retry_failed(&actor, id).await?;
    Ok(Json(RetryFailedResponse { campaign, requeued }))
}

/// Recipient counts by status.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/counts", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = RecipientCounts), (status = 404, body = Problem)))]
pub(crate) async fn counts(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<RecipientCounts>, ApiError> {
    Ok(Json(state.crm().campaigns().counts(&actor, id).await?))
}

/// The campaign's recipients, newest first, optionally in one status.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/recipients", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), RecipientQuery),
    responses((status = 200, description = "A page of recipients", body = Page<Recipient>),
              (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn recipients(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
    Query(query): Query<RecipientQuery>,
) -> Result<Json<Page<Recipient>>, ApiError> {
    let (status, page) = query.parse()?;
    Ok(Json(state.crm().campaigns().recipients(&actor, id, status, page).await?))
}

/// One recipient's ledger of delivery attempts, oldest first.
#[utoipa::path(get, path = "/api/v1/campaign-recipients/{id}/attempts", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Attempt>), (status = 404, body = Problem)))]
pub(crate) async fn attempts(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<RecipientId>,
) -> Result<Json<Vec<Attempt>>, ApiError> {
    Ok(Json(state.crm().campaigns().attempts(&actor, id).await?))
}

// ----- suppressions ----------------------------------------------------------------------------

/// The suppression list in address order.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "campaigns", params(SuppressionQuery), security(("bearer" = [])),
    responses((status = 200, body = SuppressionList), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn suppressions(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Query(query): Query<SuppressionQuery>,
) -> Result<Json<SuppressionList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_SUPPRESSIONS).clamp(1, 500);
    let items = state.crm().campaigns().suppressions(&actor, query.after.as_deref(), limit).await?;
    let full = items.len() >= limit as usize;
    let next_after = items.last().filter(|_| full).map(|s| s.email.as_str().to_owned());
    Ok(Json(SuppressionList { items, next_after }))
}

/// Adds an address to the suppression list: 201 when added, 200 when it was already there.
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "campaigns", security(("bearer" = [])),
    request_body = SuppressRequest,
    responses((status = 201, description = "Added", body = SuppressResponse),
              (status = 200, description = "Already on the list", body = SuppressResponse),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn suppress(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Json(input): Json<SuppressRequest>,
) -> Result<(StatusCode, Json<SuppressResponse>), ApiError> {
    let reason = input.reason.unwrap_or(SuppressionReason::Manual);
    let added = state.crm().campaigns().suppress(&actor, &input.email, reason).await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(SuppressResponse { email: input.email, added })))
}

/// Removes an address from the suppression list.
#[utoipa::path(delete, path = "/api/v1/suppressions/{email}", tag = "campaigns", security(("bearer" = [])),
    params(("email" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub(crate) async fn unsuppress(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(email): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.crm().campaigns().unsuppress(&actor, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A campaign's statistics: opens, clicks per link, conversions, rates, per variant.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/stats", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = CampaignStats), (status = 404, body = Problem)))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
) -> Result<Json<CampaignStats>, ApiError> {
    Ok(Json(state.crm().campaigns().stats(&actor, id).await?))
}

/// `POST /api/v1/campaigns/{id}/conversions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConversionRequest {
    /// The contact who converted; it must have been sent the campaign within the attribution
    /// window.
    #[schema(value_type = uuid::Uuid)]
    contact_id: ContactId,
    /// The conversion's value in minor units.
    value_minor: Option<i64>,
}

/// Attributes a conversion to the campaign.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/conversions", tag = "campaigns", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ConversionRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn convert(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<CampaignId>,
    Json(body): Json<ConversionRequest>,
) -> Result<StatusCode, ApiError> {
    state.crm().campaigns().record_conversion(&actor, id, body.contact_id, body.value_minor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ingests a bounce (RFC 3464 delivery status notification) or complaint (RFC 5965 abuse
/// report): the raw message is the request body.
#[utoipa::path(post, path = "/api/v1/email-reports", tag = "campaigns", security(("bearer" = [])),
    request_body(content = String, content_type = "message/rfc822"),
    responses((status = 200, body = IngestOutcome), (status = 422, body = Problem)))]
pub(crate) async fn ingest_report(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    body: axum::body::Bytes,
) -> Result<Json<IngestOutcome>, ApiError> {
    Ok(Json(state.crm().campaigns().ingest_report(&actor, &body).await?))
}
