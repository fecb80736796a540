//! `/campaigns`: the campaign list with rates, the template library and editor with live
//! preview, the campaign editor (template picker, segment builder with a live count, A/B
//! test), and each campaign's controls and statistics.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use crmcore::Result;
use crmcore::campaign::{Campaign, CampaignStats, CampaignStatus};
use crmcore::contact::ContactFilter;
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::{CampaignId, EmailTemplateId};
use crmcore::page::PageRequest;
use serde::Deserialize;
use serde_json::json;

use super::pages::{activity_panel, parse_id};
use super::{PageResult, Viewer, render};
use crate::state::AppState;

/// The pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list))
        .route("/campaigns/new", get(new_campaign))
        .route("/campaigns/{id}", get(campaign))
        .route("/campaigns/{id}/edit", get(edit_campaign))
        .route("/campaigns/templates/{id}", get(template))
}

/// The pages' templates.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("campaigns.html", include_str!("templates/campaigns.html")),
    ("campaign.html", include_str!("templates/campaign.html")),
    ("campaign_edit.html", include_str!("templates/campaign_edit.html")),
    ("email_template.html", include_str!("templates/email_template.html")),
    ("mail_preview.html", include_str!("templates/mail_preview.html")),
];

/// Cursor of the campaign list.
#[derive(Debug, Deserialize)]
pub(super) struct CursorQuery {
    cursor: Option<String>,
}

/// Whether a campaign has sent anything whose rates mean something.
fn has_stats(campaign: &Campaign) -> bool {
    !matches!(campaign.status, CampaignStatus::Draft | CampaignStatus::Scheduled)
}

/// `GET /campaigns`.
async fn list(State(state): State<AppState>, viewer: Viewer, Query(query): Query<CursorQuery>) -> PageResult {
    let campaigns = state.crm().campaigns();
    let page = PageRequest::parse(Some(50), query.cursor.as_deref().filter(|c| !c.is_empty()))?;
    let listed = campaigns.list(viewer.actor(), page).await?;
    let mut rows = Vec::with_capacity(listed.items.len());
    for campaign in &listed.items {
        let stats: Option<CampaignStats> =
            if has_stats(campaign) { Some(campaigns.stats(viewer.actor(), campaign.id).await?) } else { None };
        rows.push(json!({ "campaign": campaign, "stats": stats }));
    }
    let templates = campaigns.list_templates(viewer.actor(), PageRequest::first(200)).await?;
    let ctx = json!({
        "title": "Campaigns",
        "rows": rows,
        "next_cursor": listed.next_cursor,
        "templates": templates.items,
    });
    render(&state, &viewer, "campaigns.html", ctx).await
}

/// What the campaign editor needs besides the campaign: templates and contacts to preview with.
async fn editor_context(state: &AppState, viewer: &Viewer, campaign: Option<&Campaign>) -> Result<serde_json::Value> {
    let templates = state.crm().campaigns().list_templates(viewer.actor(), PageRequest::first(200)).await?;
    let contacts =
        state.crm().contacts().list(viewer.actor(), &ContactFilter::default(), PageRequest::first(100)).await?;
    let stages = state.crm().pipeline().stages();
    Ok(json!({
        "title": campaign.map_or("New campaign".to_owned(), |c| format!("Edit {}", c.name)),
        "campaign": campaign,
        "templates": templates.items,
        "contacts": contacts.items,
        "stages": stages,
    }))
}

/// `GET /campaigns/new`.
async fn new_campaign(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let ctx = editor_context(&state, &viewer, None).await?;
    render(&state, &viewer, "campaign_edit.html", ctx).await
}

/// `GET /campaigns/{id}/edit` (a draft; other states show why they cannot be edited).
async fn edit_campaign(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let id: CampaignId = parse_id(&id, "campaign")?;
    let campaign = state.crm().campaigns().get(viewer.actor(), id).await?;
    let ctx = editor_context(&state, &viewer, Some(&campaign)).await?;
    render(&state, &viewer, "campaign_edit.html", ctx).await
}

/// `GET /campaigns/{id}`: controls, statistics, recent recipients and the activity panel.
async fn campaign(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let id: CampaignId = parse_id(&id, "campaign")?;
    let campaigns = state.crm().campaigns();
    let campaign = campaigns.get(viewer.actor(), id).await?;
    let stats = campaigns.stats(viewer.actor(), id).await?;
    let recipients = campaigns.recipients(viewer.actor(), id, None, PageRequest::first(20)).await?;
    let templates = campaigns.list_templates(viewer.actor(), PageRequest::first(200)).await?;
    let template_names: std::collections::BTreeMap<String, String> =
        templates.items.iter().map(|t| (t.id.to_string(), t.name.clone())).collect();
    let entity = EntityRef { kind: EntityKind::Campaign, id: id.0 };
    let ctx = json!({
        "title": &campaign.name,
        "campaign": campaign,
        "status": campaign.status.as_str(),
        "stats": stats,
        "recipients": recipients.items,
        "template_names": template_names,
        "activity": activity_panel(&state, &viewer, entity).await?,
    });
    render(&state, &viewer, "campaign.html", ctx).await
}

/// `GET /campaigns/templates/{id}`: the template editor with live preview.
async fn template(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let id: EmailTemplateId = parse_id(&id, "email template")?;
    let template = state.crm().campaigns().get_template(viewer.actor(), id).await?;
    let contacts =
        state.crm().contacts().list(viewer.actor(), &ContactFilter::default(), PageRequest::first(100)).await?;
    let ctx = json!({
        "title": &template.name,
        "template": template,
        "contacts": contacts.items,
    });
    render(&state, &viewer, "email_template.html", ctx).await
}
