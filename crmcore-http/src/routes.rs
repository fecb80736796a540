//! The router: every route, and the layers around them (request ids, tracing, security
//! headers, CORS, body limit, panics, metrics). One file per resource under `routes/`.

pub(crate) mod activity;
pub(crate) mod analytics;
pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod auth;
pub(crate) mod campaigns;
pub(crate) mod contacts;
pub(crate) mod deals;
pub(crate) mod documents;
pub(crate) mod integrations;
pub(crate) mod members;
pub(crate) mod ops;
pub(crate) mod stream;
pub(crate) mod tracking;
pub(crate) mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ApiError;
use crate::metrics;
use crate::settings::Settings;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The crmcore HTTP API as an axum router, ready to serve or to nest in a host application.
pub fn router(state: AppState) -> Router {
    // Uploads get their own body limit: the document cap plus multipart framing.
    let upload_limit = DefaultBodyLimit::max(
        usize::try_from(state.crm().document_config().max_upload_bytes).unwrap_or(usize::MAX).saturating_add(64 * 1024),
    );
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/me", get(members::me))
        .route("/members", get(members::list).post(members::create))
        .route("/members/{id}", get(members::get).patch(members::update))
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/{id}", get(contacts::get).patch(contacts::update).delete(contacts::delete))
        .route("/deals", get(deals::list).post(deals::create))
        .route("/deals/{id}", get(deals::get).patch(deals::update).delete(deals::delete))
        .route("/deals/{id}/stage", post(deals::move_stage))
        .route("/deals/{id}/history", get(deals::history))
        .route("/pipeline", get(deals::pipeline))
        .route("/analytics/stage-metrics", get(analytics::stage_metrics))
        .route("/analytics/funnel", get(analytics::funnel))
        .route("/analytics/velocity", get(analytics::velocity))
        .route("/analytics/pipeline", get(analytics::pipeline))
        .route("/analytics/forecast", get(analytics::forecast))
        .route("/analytics/health", get(analytics::health))
        .route("/analytics/insights", get(analytics::insights))
        .route("/analytics/report", get(analytics::report))
        .route("/analytics/forecast.svg", get(analytics::forecast_chart))
        .route("/analytics/funnel.svg", get(analytics::funnel_chart))
        .route("/email-templates", get(campaigns::list_templates).post(campaigns::create_template))
        .route("/email-templates/{id}", get(campaigns::get_template).patch(campaigns::update_template))
        .route("/email-templates/{id}/preview", post(campaigns::preview_template))
        .route("/segments/preview", post(campaigns::preview_segment))
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/{id}", get(campaigns::get).patch(campaigns::update))
        .route("/campaigns/{id}/schedule", post(campaigns::schedule))
        .route("/campaigns/{id}/unschedule", post(campaigns::unschedule))
        .route("/campaigns/{id}/launch", post(campaigns::launch))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/campaigns/{id}/retry-failed", post(campaigns::retry_failed))
        .route("/campaigns/{id}/counts", get(campaigns::counts))
        .route("/campaigns/{id}/stats", get(campaigns::stats))
        .route("/campaigns/{id}/conversions", post(campaigns::convert))
        .route("/email-reports", post(campaigns::ingest_report))
        .route("/campaigns/{id}/recipients", get(campaigns::recipients))
        .route("/campaign-recipients/{id}/attempts", get(campaigns::attempts))
        .route("/suppressions", get(campaigns::suppressions).post(campaigns::suppress))
        .route("/suppressions/{email}", axum::routing::delete(campaigns::unsuppress))
        .route("/openapi.json", get(ops::openapi))
        .route("/comments", get(activity::list_comments).post(activity::create_comment))
        .route(
            "/comments/{id}",
            get(activity::get_comment).patch(activity::edit_comment).delete(activity::delete_comment),
        )
        .route("/threads", get(activity::threads))
        .route("/follows", get(activity::following).post(activity::follow))
        .route("/follows/{kind}/{id}", axum::routing::delete(activity::unfollow))
        .route("/feed", get(activity::my_feed))
        .route("/activity", get(activity::tenant_feed))
        .route("/entities/{kind}/{id}/activity", get(activity::entity_feed))
        .route("/notifications", get(activity::inbox))
        .route("/notifications/unread-count", get(activity::unread_count))
        .route("/notifications/read-all", post(activity::mark_all_read))
        .route("/notifications/{id}/read", post(activity::mark_read).delete(activity::mark_unread))
        .route("/notification-preferences", get(activity::preferences).patch(activity::set_preferences))
        .route("/stream", get(stream::stream))
        .route("/event-types", get(webhooks::event_types))
        .route("/webhook-endpoints", get(webhooks::list_endpoints).post(webhooks::create_endpoint))
        .route(
            "/webhook-endpoints/{id}",
            get(webhooks::get_endpoint).patch(webhooks::update_endpoint).delete(webhooks::delete_endpoint),
        )
        .route("/webhook-endpoints/{id}/disable", post(webhooks::disable_endpoint))
        .route("/webhook-endpoints/{id}/enable", post(webhooks::enable_endpoint))
        .route("/webhook-endpoints/{id}/secret", get(webhooks::reveal_secret))
        .route("/webhook-endpoints/{id}/secret/rotate", post(webhooks::rotate_secret))
        .route("/webhook-endpoints/{id}/test", post(webhooks::send_test))
        .route("/webhook-endpoints/{id}/recover", post(webhooks::recover))
        .route("/webhook-deliveries", get(webhooks::list_deliveries))
        .route("/webhook-deliveries/{id}", get(webhooks::get_delivery))
        .route("/webhook-deliveries/{id}/attempts", get(webhooks::list_attempts))
        .route("/webhook-deliveries/{id}/replay", post(webhooks::replay))
        .route("/oauth-providers", get(integrations::list_providers).post(integrations::create_provider))
        .route("/oauth-providers/{id}", get(integrations::get_provider).delete(integrations::delete_provider))
        .route("/oauth-providers/{id}/authorize", post(integrations::authorize))
        .route("/oauth/complete", post(integrations::complete))
        .route("/integrations", get(integrations::list_connections))
        .route("/integrations/{id}", get(integrations::get_connection).delete(integrations::disconnect))
        .route("/integrations/{id}/schedule", axum::routing::put(integrations::set_schedule))
        .route("/integrations/{id}/sync", post(integrations::sync_now))
        .route("/integrations/{id}/sync-logs", get(integrations::sync_logs))
        .route("/documents", get(documents::list).post(documents::upload).layer(upload_limit))
        .route("/documents/search", get(documents::search))
        .route("/document-templates", get(documents::templates).post(documents::create_template))
        .route(
            "/document-templates/{id}",
            get(documents::template).put(documents::update_template).delete(documents::delete_template),
        )
        .route("/document-templates/{id}/render", post(documents::render_template))
        .route("/document-templates/{id}/generate", post(documents::generate))
        .route("/documents/{id}", get(documents::get).patch(documents::update).delete(documents::purge))
        .route("/documents/{id}/trash", post(documents::trash))
        .route("/documents/{id}/untrash", post(documents::untrash))
        .route("/documents/{id}/versions", get(documents::versions).post(documents::upload_version).layer(upload_limit))
        .route("/documents/{id}/versions/{number}/restore", post(documents::restore_version))
        .route("/documents/{id}/content", get(documents::download))
        .route("/documents/{id}/versions/{number}/text", get(documents::version_text))
        .route("/documents/{id}/grants", get(documents::grants))
        .route(
            "/documents/{id}/grants/{member_id}",
            axum::routing::put(documents::put_grant).delete(documents::delete_grant),
        )
        .route("/documents/{id}/share-links", get(documents::share_links).post(documents::share))
        .route("/share-links/{id}", axum::routing::delete(documents::revoke_share_link))
        .route("/documents/{id}/approvals", get(approvals::list).post(approvals::request))
        .route("/approvals/{id}", get(approvals::get))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/approvals/{id}/cancel", post(approvals::cancel))
        .route("/documents/{id}/audit", get(documents::document_audit))
        .route("/audit", get(documents::audit))
        .route("/audit/verify", get(documents::verify));
    let settings = state.settings().clone();
    let router = Router::new();
    #[cfg(feature = "console")]
    let router = router.merge(crate::console::routes());
    router
        .nest("/api/v1", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/t/u/{token}", get(tracking::confirm).post(tracking::unsubscribe))
        .route("/t/o/{token}", get(tracking::open))
        .route("/t/c/{token}", get(tracking::click))
        .route("/s/{token}", get(documents::open_share).post(documents::open_share_with_password))
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a handler panicked").into_response()))
        .layer(cors(&settings))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Console pages set a fuller policy of their own.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// One span per request carrying its id; the path only, since query strings may hold secrets,
/// and public link paths (`/t/…`, signed tokens) cut before the token.
fn request_span(request: &Request) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let path = request.uri().path();
    let path = match path.strip_prefix("/t/").and_then(|rest| rest.split_once('/')) {
        Some((kind, _)) => format!("/t/{kind}/…"),
        None if path.starts_with("/s/") => "/s/…".to_owned(),
        None => path.to_owned(),
    };
    tracing::info_span!("request", method = %request.method(), path = %path, request_id = %id)
}

/// CORS for the configured origins only; with none configured, no origin is allowed.
fn cors(settings: &Settings) -> CorsLayer {
    let origins = settings
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| match HeaderValue::from_str(origin) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(%origin, "ignoring invalid CORS origin");
                None
            }
        })
        .collect::<Vec<_>>();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}
