//! The integrations pages: webhook endpoints and Slack/Teams connectors (both are webhook
//! endpoints; a connector's format turns each event into a chat message), OAuth providers and
//! the connections made through them with their sync schedules and logs, and one endpoint's page
//! with its secret, test sends and the delivery log.
//!
//! Secrets never go into a page: the endpoint page's script asks the API for the signing secret
//! when the person clicks "Reveal".

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use crmcore::id::{OAuthProviderId, WebhookEndpointId};
use crmcore::integration::PayloadFormat;
use crmcore::page::PageRequest;
use crmcore::webhook::{DeliveryFilter, DeliveryStatus, EndpointView};
use crmcore::{CrmError, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{PageResult, Viewer, render};
use crate::state::AppState;

/// Endpoints, providers and connections listed on the overview.
const LIST_ROWS: u32 = 100;
/// Deliveries per page of an endpoint's log.
const DELIVERY_ROWS: u32 = 20;
/// Sync runs shown per connection.
const SYNC_LOG_ROWS: u32 = 5;
/// What a test send delivers unless the person picks another example.
const DEFAULT_TEST_EVENT: &str = "webhook.endpoint.updated";

/// The integrations routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(overview))
        .route("/integrations/oauth/callback", get(oauth_callback))
        .route("/integrations/webhooks/{id}", get(endpoint))
}

/// The integrations templates.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("integrations.html", include_str!("templates/integrations.html")),
    ("integrations-endpoints.html", include_str!("templates/integrations-endpoints.html")),
    ("integrations-oauth.html", include_str!("templates/integrations-oauth.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
    ("webhook-events.html", include_str!("templates/webhook-events.html")),
];

/// Event types of one entity, for the catalogue picker.
#[derive(Debug, Serialize)]
struct EventGroup {
    /// The entity prefix, e.g. `deal`; `deal.*` selects the group.
    entity: &'static str,
    /// `(name, description)` of each type.
    types: Vec<(&'static str, &'static str)>,
}

/// The event catalogue grouped by entity, in catalogue order.
fn event_groups(state: &AppState) -> Vec<EventGroup> {
    let mut groups: Vec<EventGroup> = Vec::new();
    for info in state.crm().webhooks().event_catalogue() {
        let entity = info.name.split_once('.').map_or(info.name, |(entity, _)| entity);
        match groups.iter_mut().find(|g| g.entity == entity) {
            Some(group) => group.types.push((info.name, info.description)),
            None => groups.push(EventGroup { entity, types: vec![(info.name, info.description)] }),
        }
    }
    groups
}

/// How an endpoint is doing, in one word (for styling) and one sentence.
#[derive(Debug, Serialize)]
struct Health {
    state: &'static str,
    text: String,
}

fn health(endpoint: &EndpointView, now: DateTime<Utc>) -> Health {
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    if !endpoint.enabled {
        let why = endpoint.disabled_reason.as_deref().unwrap_or("disabled");
        return Health { state: "disabled", text: format!("Disabled: {why}. Enable it to receive deliveries again.") };
    }
    if let Some(until) = endpoint.circuit_open_until.filter(|until| *until > now) {
        return Health {
            state: "paused",
            text: format!(
                "Paused after {} failures in a row; deliveries wait until {}.",
                endpoint.consecutive_failures,
                at(until)
            ),
        };
    }
    if endpoint.consecutive_failures > 0 {
        let since = endpoint.failing_since.map(|t| format!(" since {}", at(t))).unwrap_or_default();
        return Health {
            state: "failing",
            text: format!("Failing: {} attempts in a row{since}.", endpoint.consecutive_failures),
        };
    }
    if endpoint.test_mode {
        return Health { state: "test", text: "Test mode: deliveries are signed and logged, never sent.".into() };
    }
    Health { state: "healthy", text: "Healthy.".into() }
}

/// An endpoint for a page: its view and its health.
fn endpoint_json(endpoint: &EndpointView, now: DateTime<Utc>) -> Value {
    json!({ "endpoint": endpoint, "health": health(endpoint, now) })
}

/// `?connected=` after an authorization finished.
#[derive(Debug, Deserialize)]
struct OverviewQuery {
    connected: Option<String>,
}

/// `GET /integrations`.
async fn overview(State(state): State<AppState>, viewer: Viewer, Query(query): Query<OverviewQuery>) -> PageResult {
    let actor = viewer.actor();
    let now = state.crm().clock().now();
    let endpoints = state.crm().webhooks().list_endpoints(actor, PageRequest::first(LIST_ROWS)).await?;
    let (webhooks, connectors): (Vec<_>, Vec<_>) =
        endpoints.items.iter().partition(|e| e.format == PayloadFormat::Standard);
    let integrations = state.crm().integrations();
    let providers = integrations.list_providers(actor, PageRequest::first(LIST_ROWS)).await?;
    let provider_names: BTreeMap<OAuthProviderId, &str> =
        providers.items.iter().map(|p| (p.id, p.name.as_str())).collect();
    let connections = integrations.list_connections(actor, PageRequest::first(LIST_ROWS)).await?;
    let mut rows = Vec::with_capacity(connections.items.len());
    for connection in &connections.items {
        let logs = integrations.sync_logs(actor, connection.id, PageRequest::first(SYNC_LOG_ROWS)).await?;
        rows.push(json!({
            "connection": connection,
            "provider_name": provider_names.get(&connection.provider_id).copied().unwrap_or("a removed provider"),
            "logs": logs.items,
        }));
    }
    let ctx = json!({
        "title": "Integrations",
        "webhooks": webhooks.iter().map(|e| endpoint_json(e, now)).collect::<Vec<_>>(),
        "connectors": connectors.iter().map(|e| endpoint_json(e, now)).collect::<Vec<_>>(),
        "more_endpoints": endpoints.next_cursor.is_some(),
        "providers": providers.items,
        "connections": rows,
        "groups": event_groups(&state),
        "connected": query.connected.is_some(),
    });
    render(&state, &viewer, "integrations.html", ctx).await
}

/// What the provider appended to the redirect URI.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /integrations/oauth/callback`: where a provider sends the person back. The page's
/// script posts `code` and `state` to `/api/v1/oauth/complete` and returns to the overview.
async fn oauth_callback(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CallbackQuery>,
) -> PageResult {
    let refused = query.error.map(|error| query.error_description.unwrap_or(error));
    let ctx = json!({
        "title": "Connecting",
        "code": query.code.unwrap_or_default(),
        "state": query.state.unwrap_or_default(),
        "refused": refused,
    });
    render(&state, &viewer, "integrations-oauth.html", ctx).await
}

/// Filter and cursor of an endpoint's delivery log.
#[derive(Debug, Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn parse_endpoint_id(raw: &str) -> Result<WebhookEndpointId> {
    uuid::Uuid::parse_str(raw).map(WebhookEndpointId::from).map_err(|_| CrmError::not_found("webhook endpoint", raw))
}

/// `GET /integrations/webhooks/{id}`.
async fn endpoint(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> PageResult {
    let actor = viewer.actor();
    let webhooks = state.crm().webhooks();
    let id = parse_endpoint_id(&id)?;
    let endpoint = webhooks.get_endpoint(actor, id).await?;
    let status = query.status.as_deref().filter(|s| !s.is_empty()).map(DeliveryStatus::parse).transpose()?;
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    let filter = DeliveryFilter { endpoint_id: Some(id), status, event_id: None };
    let deliveries = webhooks.list_deliveries(actor, filter, PageRequest::parse(Some(DELIVERY_ROWS), cursor)?).await?;
    let mut rows = Vec::with_capacity(deliveries.items.len());
    for delivery in &deliveries.items {
        let attempts = webhooks.list_attempts(actor, delivery.id).await?;
        // The body is the delivery's, not a secret; it is shown on demand, not in the table.
        rows.push(json!({ "delivery": delivery, "attempts": attempts }));
    }
    let now = state.crm().clock().now();
    let ctx = json!({
        "title": if endpoint.description.is_empty() { endpoint.url.clone() } else { endpoint.description.clone() },
        "endpoint": &endpoint,
        "health": health(&endpoint, now),
        "in_overlap": endpoint.previous_secret_until.is_some_and(|until| until > now),
        "overlap_hours": state.crm().webhook_config().rotation_overlap.num_hours(),
        "deliveries": rows,
        "next_cursor": deliveries.next_cursor,
        "paged": cursor.is_some(),
        "status": status.map(DeliveryStatus::as_str).unwrap_or_default(),
        "groups": event_groups(&state),
        "default_test_event": DEFAULT_TEST_EVENT,
    });
    render(&state, &viewer, "webhook.html", ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> EndpointView {
        let now = Utc::now();
        EndpointView {
            id: WebhookEndpointId::new(),
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            event_types: vec![],
            payload_filter: Default::default(),
            header_names: vec![],
            rate_limit_per_second: None,
            test_mode: false,
            format: PayloadFormat::Standard,
            enabled: true,
            disabled_reason: None,
            consecutive_failures: 0,
            failing_since: None,
            circuit_open_until: None,
            previous_secret_until: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn health_names_the_worst_condition_first() {
        let now = Utc::now();
        let mut e = view();
        assert_eq!(health(&e, now).state, "healthy");
        e.consecutive_failures = 3;
        assert_eq!(health(&e, now).state, "failing");
        e.circuit_open_until = Some(now + chrono::Duration::minutes(5));
        assert_eq!(health(&e, now).state, "paused");
        e.circuit_open_until = Some(now - chrono::Duration::minutes(5));
        assert_eq!(health(&e, now).state, "failing", "a closed circuit is no longer a pause");
        e.enabled = false;
        e.disabled_reason = Some("410 Gone".into());
        assert!(health(&e, now).text.contains("410 Gone"));
    }
}
