//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use crmcore::campaign::segment::{ContactField, DateField, DateOp, EngagementKind, TextOp, ValueOp};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::api_key::{ApiKeyView, CreatedApiKey, NewApiKeyRequest};
use crate::auth::session::{LoginRequest, RefreshRequest, TokenResponse};
use crate::error::{Problem, ProblemField};
use crate::routes::{analytics, api_keys, auth, campaigns, contacts, deals, members, ops, tracking};

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
}
