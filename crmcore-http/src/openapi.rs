//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use crmcore::campaign::segment::{ContactField, DateField, DateOp, EngagementKind, TextOp, ValueOp};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::api_key::{ApiKeyView, CreatedApiKey, NewApiKeyRequest};
use crate::auth::session::{LoginRequest, RefreshRequest, TokenResponse};
use crate::error::{Problem, ProblemField};
use crate::routes::{
    activity, analytics, api_keys, approvals, auth, campaigns, contacts, deals, documents, integrations, members, ops,
    stream, tracking, webhooks,
};

/// The API description served at `/api/v1/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "crmcore", description = "The crmcore reference HTTP API. Errors are RFC 9457 problem documents."),
    paths(
        auth::login, auth::refresh,
        api_keys::create, api_keys::list, api_keys::revoke,
        members::list, members::create, members::get, members::update, members::me,
        contacts::list, contacts::create, contacts::get, contacts::update, contacts::delete,
        deals::list, deals::create, deals::get, deals::update, deals::delete, deals::move_stage, deals::history,
        deals::pipeline,
        analytics::stage_metrics, analytics::funnel, analytics::velocity, analytics::pipeline, analytics::forecast,
        analytics::health, analytics::insights, analytics::report, analytics::forecast_chart, analytics::funnel_chart,
        campaigns::list_templates, campaigns::create_template, campaigns::get_template, campaigns::update_template,
        campaigns::preview_template, campaigns::preview_segment,
        campaigns::list, campaigns::create, campaigns::get, campaigns::update, campaigns::schedule,
        campaigns::unschedule, campaigns::launch, campaigns::pause, campaigns::resume, campaigns::cancel,
        campaigns::retry_failed, campaigns::counts, campaigns::recipients, campaigns::attempts,
        campaigns::suppressions, campaigns::suppress, campaigns::unsuppress,
        campaigns::stats, campaigns::convert, campaigns::ingest_report,
        tracking::confirm, tracking::unsubscribe, tracking::open, tracking::click,
        activity::create_comment, activity::list_comments, activity::get_comment, activity::edit_comment,
        activity::delete_comment, activity::threads, activity::follow, activity::following, activity::unfollow,
        activity::my_feed, activity::tenant_feed, activity::entity_feed, activity::inbox, activity::unread_count,
        activity::mark_all_read, activity::mark_read, activity::mark_unread, activity::preferences,
        activity::set_preferences, stream::stream,
        webhooks::list_endpoints, webhooks::create_endpoint, webhooks::get_endpoint, webhooks::update_endpoint,
        webhooks::delete_endpoint, webhooks::disable_endpoint, webhooks::enable_endpoint, webhooks::reveal_secret,
        webhooks::rotate_secret, webhooks::send_test, webhooks::recover, webhooks::list_deliveries,
        webhooks::get_delivery, webhooks::list_attempts, webhooks::replay, webhooks::event_types,
        integrations::list_providers, integrations::create_provider, integrations::get_provider,
        integrations::delete_provider, integrations::authorize, integrations::complete,
        integrations::list_connections, integrations::get_connection, integrations::disconnect,
        integrations::set_schedule, integrations::sync_now, integrations::sync_logs,
        documents::upload, documents::list, documents::get, documents::update, documents::trash, documents::untrash,
        documents::purge, documents::versions, documents::upload_version, documents::restore_version,
        documents::download, documents::audit, documents::document_audit, documents::verify, documents::share, documents::share_links,
        documents::revoke_share_link, documents::open_share, documents::open_share_with_password, documents::search,
        documents::grants, documents::put_grant, documents::delete_grant, documents::version_text,
        documents::templates, documents::create_template, documents::template, documents::update_template,
        documents::delete_template, documents::render_template, documents::generate,
        approvals::request, approvals::list, approvals::get, approvals::approve, approvals::reject, approvals::cancel,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    components(schemas(
        Problem, ProblemField, LoginRequest, RefreshRequest, TokenResponse, NewApiKeyRequest, ApiKeyView,
        CreatedApiKey, members::NewMemberRequest, deals::MoveStageRequest, analytics::InsightView,
        campaigns::TemplatePreviewRequest, campaigns::RenderedEmail, campaigns::SegmentPreviewRequest,
        campaigns::ScheduleRequest, campaigns::RetryFailedResponse, campaigns::SuppressionList,
        campaigns::SuppressRequest, campaigns::SuppressResponse, campaigns::ConversionRequest,
        // The rule tree's schema is not recursed into (it refers to itself), so its leaves are
        // listed here.
        ContactField, TextOp, ValueOp, DateField, DateOp, EngagementKind,
        activity::CommentView, activity::EditComment, activity::FollowRequest, activity::InboxPage,
        activity::UnreadCount, activity::Marked,
        webhooks::RotateRequest, webhooks::SecretResponse, webhooks::TestRequest, webhooks::RecoverRequest,
        webhooks::RecoverResponse, integrations::AuthorizeRequest, integrations::CompleteRequest,
        integrations::ScheduleRequest, integrations::SyncQueued, documents::UploadedDocument,
        documents::SharePassword,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or API key").build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crmcore::contact::NewContact;
    use crmcore::deal::NewDeal;
    use crmcore::tenant::NewOwner;
    use crmcore::{Actor, Crm};
    use serde_json::Value;
    use utoipa::OpenApi;

    use super::ApiDoc;

    fn schema_properties(doc: &Value, name: &str) -> BTreeSet<String> {
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn json_keys(value: &impl serde::Serialize) -> BTreeSet<String> {
        serde_json::to_value(value).unwrap().as_object().unwrap().keys().cloned().collect()
    }

    /// The published schemas name exactly the fields the API really sends.
    #[tokio::test]
    async fn schemas_match_the_json_the_api_sends() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).build().unwrap();
        let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
        let (tenant, member) = crm.tenants().create("Acme", owner).await.unwrap();
        let me = Actor::member(tenant.id, member.id, member.role);
        let contact = NewContact { email: Some("c@acme.test".into()), ..Default::default() };
        let contact = crm.contacts().create(&me, contact).await.unwrap();
        let deal = NewDeal {
            title: "t".into(),
            contact_id: Some(contact.id),
            owner_id: None,
            amount_minor: 1,
            currency: "EUR".into(),
            stage: None,
            probability: None,
            expected_close: None,
        };
        let deal = crm.deals().create(&me, deal).await.unwrap();
        let history = crm.deals().stage_history(&me, deal.id).await.unwrap();
        assert_eq!(schema_properties(&doc, "Contact"), json_keys(&contact));
        assert_eq!(schema_properties(&doc, "Deal"), json_keys(&deal));
        assert_eq!(schema_properties(&doc, "Member"), json_keys(&member));
        assert_eq!(schema_properties(&doc, "StageChange"), json_keys(&history[0]));
        assert_eq!(schema_properties(&doc, "Money"), json_keys(&deal.amount));
        assert_eq!(doc["openapi"], "3.1.0");
    }

    /// Every `$ref` in `value`, as the schema names it points to.
    fn refs(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.insert(target.trim_start_matches("#/components/schemas/").to_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// No path or schema points at a schema the document does not define.
    #[test]
    fn every_referenced_schema_is_defined() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut referenced = BTreeSet::new();
        refs(&doc, &mut referenced);
        let defined: BTreeSet<String> = doc["components"]["schemas"].as_object().unwrap().keys().cloned().collect();
        let missing: Vec<_> = referenced.difference(&defined).collect();
        assert!(missing.is_empty(), "undefined schemas: {missing:?}");
    }

    /// Every campaign route is documented, and the campaign schemas name exactly the fields the
    /// API sends.
    #[tokio::test]
    async fn campaign_routes_and_schemas_are_documented() {
        use std::sync::Arc;

        use crmcore::campaign::{
            NewCampaign, NewEmailTemplate, RecipientStatus, SegmentRule, SuppressionReason, Variant,
        };
        use crmcore::page::PageRequest;

        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let routes = [
            ("get", "/email-templates"),
            ("post", "/email-templates"),
            ("get", "/email-templates/{id}"),
            ("patch", "/email-templates/{id}"),
            ("post", "/email-templates/{id}/preview"),
            ("post", "/segments/preview"),
            ("get", "/campaigns"),
            ("post", "/campaigns"),
            ("get", "/campaigns/{id}"),
            ("patch", "/campaigns/{id}"),
            ("post", "/campaigns/{id}/schedule"),
            ("post", "/campaigns/{id}/unschedule"),
            ("post", "/campaigns/{id}/launch"),
            ("post", "/campaigns/{id}/pause"),
            ("post", "/campaigns/{id}/resume"),
            ("post", "/campaigns/{id}/cancel"),
            ("post", "/campaigns/{id}/retry-failed"),
            ("get", "/campaigns/{id}/counts"),
            ("get", "/campaigns/{id}/recipients"),
            ("get", "/campaign-recipients/{id}/attempts"),
            ("get", "/suppressions"),
            ("post", "/suppressions"),
            ("delete", "/suppressions/{email}"),
        ];
        for (method, path) in routes {
            let operation = &doc["paths"][format!("/api/v1{path}")][method];
            assert!(operation["responses"].is_object(), "{method} {path} is not documented");
            assert_eq!(operation["tags"][0], "campaigns", "{method} {path}");
        }
        let recipients = &doc["paths"]["/api/v1/campaigns/{id}/recipients"]["get"]["parameters"];
        let params: BTreeSet<&str> = recipients.as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(params, BTreeSet::from(["id", "status", "limit", "cursor"]));
        assert!(doc["components"]["schemas"]["SegmentRule"]["oneOf"].is_array(), "the rule tree has a schema");

        let mailer = Arc::new(crmcore_memory::CapturingMailer::new());
        let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).mailer(mailer).build().unwrap();
        let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
        let (tenant, member) = crm.tenants().create("Acme", owner).await.unwrap();
        let me = Actor::member(tenant.id, member.id, member.role);
        let contact = NewContact { email: Some("c@acme.test".into()), tags: vec!["vip".into()], ..Default::default() };
        crm.contacts().create(&me, contact).await.unwrap();
        let campaigns = crm.campaigns();
        let template =
            NewEmailTemplate { name: "t".into(), subject: "Hi".into(), html: "<p>Hi</p>".into(), text: None };
        let template = campaigns.create_template(&me, template).await.unwrap();
        let rule = SegmentRule::Tag { tag: "vip".into() };
        let preview = campaigns.preview_segment(&me, &rule, 1).await.unwrap();
        let variant = Variant { name: "A".into(), weight: 1, template_id: template.id, subject: None };
        let campaign = NewCampaign {
            name: "c".into(),
            from_email: "news@acme.test".into(),
            from_name: None,
            reply_to: None,
            segment: rule,
            variants: vec![variant],
            ab_test: None,
            rate_limit_per_second: None,
        };
        let campaign = campaigns.create(&me, campaign).await.unwrap();
        campaigns.launch(&me, campaign.id).await.unwrap();
        crm.worker().run_until_idle().await.unwrap();
        let counts = campaigns.counts(&me, campaign.id).await.unwrap();
        let page = campaigns.recipients(&me, campaign.id, Some(RecipientStatus::Sent), PageRequest::first(1)).await;
        let recipient = page.unwrap().items.remove(0);
        let attempts = campaigns.attempts(&me, recipient.id).await.unwrap();
        campaigns.suppress(&me, "x@acme.test", SuppressionReason::Manual).await.unwrap();
        let suppressions = campaigns.suppressions(&me, None, 10).await.unwrap();

        assert_eq!(schema_properties(&doc, "EmailTemplate"), json_keys(&template));
        assert_eq!(schema_properties(&doc, "Campaign"), json_keys(&campaign));
        assert_eq!(schema_properties(&doc, "SegmentPreview"), json_keys(&preview));
        assert_eq!(schema_properties(&doc, "RecipientCounts"), json_keys(&counts));
        assert_eq!(schema_properties(&doc, "Recipient"), json_keys(&recipient));
        assert_eq!(schema_properties(&doc, "Attempt"), json_keys(&attempts[0]));
        assert_eq!(schema_properties(&doc, "Suppression"), json_keys(&suppressions[0]));
    }

    /// The analytics endpoints are listed with their query parameters, and their response schemas
    /// name exactly the fields a report sends.
    #[tokio::test]
    async fn analytics_schemas_match_the_json_the_api_sends() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).build().unwrap();
        let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: None };
        let (tenant, member) = crm.tenants().create("Acme", owner).await.unwrap();
        let me = Actor::member(tenant.id, member.id, member.role);
        let deal = NewDeal {
            title: "t".into(),
            contact_id: None,
            owner_id: None,
            amount_minor: 100,
            currency: "EUR".into(),
            stage: None,
            probability: None,
            expected_close: None,
        };
        crm.deals().create(&me, deal).await.unwrap();
        let params = crmcore::analytics::AnalyticsParams { target_minor: Some(1_000), ..Default::default() };
        let report = crm.analytics().report(&me, &params).await.unwrap();
        assert_eq!(schema_properties(&doc, "AnalyticsReport"), json_keys(&report));
        assert_eq!(schema_properties(&doc, "StageMetrics"), json_keys(&report.stage_metrics));
        assert_eq!(schema_properties(&doc, "StageMetric"), json_keys(&report.stage_metrics.stages[0]));
        assert_eq!(schema_properties(&doc, "Funnel"), json_keys(&report.funnel));
        assert_eq!(schema_properties(&doc, "FunnelStep"), json_keys(&report.funnel.steps[0]));
        assert_eq!(schema_properties(&doc, "Velocity"), json_keys(&report.velocity));
        assert_eq!(schema_properties(&doc, "VelocityComponents"), json_keys(&report.velocity.current));
        assert_eq!(schema_properties(&doc, "WeightedPipeline"), json_keys(&report.pipeline));
        assert_eq!(schema_properties(&doc, "MonthRollup"), json_keys(&report.pipeline.months[0]));
        assert_eq!(schema_properties(&doc, "CategoryTotal"), json_keys(&report.pipeline.categories[0]));
        assert_eq!(schema_properties(&doc, "HealthScore"), json_keys(&report.health));
        assert_eq!(schema_properties(&doc, "HealthComponent"), json_keys(&report.health.components[0]));
        assert_eq!(schema_properties(&doc, "Insight"), json_keys(&report.insights[0]));
        let paths = doc["paths"].as_object().unwrap();
        for path in ["stage-metrics", "funnel", "velocity", "pipeline", "forecast", "health", "insights", "report"] {
            let get = &paths[&format!("/api/v1/analytics/{path}")]["get"];
            let params: BTreeSet<&str> =
                get["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
            assert!(params.contains("target_minor") && params.len() == 13, "{path}: {params:?}");
            assert!(get["responses"]["200"]["content"]["application/json"]["schema"].is_object(), "{path}");
        }
        for path in ["forecast.svg", "funnel.svg"] {
            assert!(
                paths[&format!("/api/v1/analytics/{path}")]["get"]["responses"]["200"]["content"]["image/svg+xml"]
                    .is_object()
            );
        }
    }

    /// The collaboration routes and the live stream are listed, and the schemas of what they send
    /// name exactly the fields the API sends.
    #[tokio::test]
    async fn activity_routes_and_schemas_match_the_json_the_api_sends() {
        use crmcore::activity::{FeedFilter, FeedScope, InboxFilter, NewComment};
        use crmcore::event::{EntityKind, EntityRef};
        use crmcore::member::NewMember;
        use crmcore::page::PageRequest;

        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).build().unwrap();
        let owner = NewOwner { email: "o@acme.test".into(), display_name: None, handle: Some("ada".into()) };
        let (tenant, member) = crm.tenants().create("Acme", owner).await.unwrap();
        let me = Actor::member(tenant.id, member.id, member.role);
        let bob = NewMember {
            email: "b@acme.test".into(),
            display_name: None,
            handle: Some("bob".into()),
            role: crmcore::Role::Member,
        };
        let bob = crm.members().create(&me, bob).await.unwrap();
        let bob = Actor::member(tenant.id, bob.id, bob.role);
        let contact = NewContact { email: Some("c@acme.test".into()), ..Default::default() };
        let contact = crm.contacts().create(&me, contact).await.unwrap();
        let entity = EntityRef { kind: EntityKind::Contact, id: contact.id.0 };
        let follow = crm.activity().follow(&bob, entity).await.unwrap();
        let body = "hello @bob".to_owned();
        let comment = crm.activity().comment(&me, NewComment { entity, in_reply_to: None, body }).await.unwrap();
        crm.worker().run_until_idle().await.unwrap();
        let feed = crm.activity().feed(&me, FeedScope::Tenant, &FeedFilter::default(), PageRequest::first(10)).await;
        let activity = feed.unwrap().items.remove(0);
        let inbox = crm.activity().inbox(&bob, InboxFilter::default(), PageRequest::first(10)).await.unwrap();
        let notification = inbox.items.first().expect("bob was mentioned");
        let prefs = crm.activity().preferences(&bob).await.unwrap();
        let thread = crm.activity().thread(&me, entity).await.unwrap();
        assert_eq!(schema_properties(&doc, "Activity"), json_keys(&activity));
        assert_eq!(schema_properties(&doc, "Comment"), json_keys(&comment));
        assert_eq!(schema_properties(&doc, "CommentNode"), json_keys(&thread[0]));
        assert_eq!(schema_properties(&doc, "Notification"), json_keys(notification));
        assert_eq!(schema_properties(&doc, "Follow"), json_keys(&follow));
        assert_eq!(schema_properties(&doc, "EntityRef"), json_keys(&entity));
        assert_eq!(schema_properties(&doc, "NotificationPreferences"), json_keys(&prefs));
        let inbox_keys: BTreeSet<String> = ["items", "next_cursor", "unread_count"].map(String::from).into();
        assert_eq!(schema_properties(&doc, "InboxPage"), inbox_keys);

        let paths = doc["paths"].as_object().unwrap();
        let operations = [
            ("/api/v1/comments", "get"),
            ("/api/v1/comments", "post"),
            ("/api/v1/comments/{id}", "get"),
            ("/api/v1/comments/{id}", "patch"),
            ("/api/v1/comments/{id}", "delete"),
            ("/api/v1/threads", "get"),
            ("/api/v1/follows", "get"),
            ("/api/v1/follows", "post"),
            ("/api/v1/follows/{kind}/{id}", "delete"),
            ("/api/v1/feed", "get"),
            ("/api/v1/activity", "get"),
            ("/api/v1/entities/{kind}/{id}/activity", "get"),
            ("/api/v1/notifications", "get"),
            ("/api/v1/notifications/unread-count", "get"),
            ("/api/v1/notifications/read-all", "post"),
            ("/api/v1/notifications/{id}/read", "post"),
            ("/api/v1/notifications/{id}/read", "delete"),
            ("/api/v1/notification-preferences", "get"),
            ("/api/v1/notification-preferences", "patch"),
            ("/api/v1/stream", "get"),
        ];
        for (path, method) in operations {
            let op = &paths[path][method];
            assert!(op["responses"].is_object(), "{method} {path}");
            assert_eq!(op["tags"][0], "activity", "{method} {path}");
        }
        let feed_params: BTreeSet<&str> = paths["/api/v1/feed"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(feed_params, ["actor", "cursor", "format", "kind", "limit", "verb"].into());
        let feed_content = &paths["/api/v1/feed"]["get"]["responses"]["200"]["content"];
        assert!(feed_content["application/json"].is_object() && feed_content["application/activity+json"].is_object());
        assert!(paths["/api/v1/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"].is_object());
    }
}
