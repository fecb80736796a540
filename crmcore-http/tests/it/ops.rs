//! Health, readiness, metrics, OpenAPI, security headers, request ids, CORS and rate limits.

use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, PASSWORD, TestServer};

async fn operational_endpoints_and_headers(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.cors_allowed_origins = vec!["https://app.example".into()]).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let health = server.call(Method::GET, "/healthz", None, None).await;
    health.ok(200);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(health.headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    assert!(health.headers.get("x-request-id").is_some());
    let mine = server.client.get(format!("{}/healthz", server.base)).header("x-request-id", "req-42");
    assert_eq!(server.send(mine).await.headers["x-request-id"], "req-42");
    // Problems carry the security headers too.
    let missing = server.call(Method::GET, "/nope", None, None).await;
    assert_eq!(missing.headers["x-frame-options"], "DENY");

    server.call(Method::GET, "/readyz", None, None).await.ok(200);
    server.get("/api/v1/contacts", &token).await.ok(200);
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("crm_http_requests_total{method=\"GET\",route=\"/api/v1/contacts\",status=\"200\"} 1"));
    assert!(metrics.contains("crm_http_request_duration_seconds_bucket{"));
    assert!(metrics.contains("route=\"unmatched\",status=\"404\""));
    assert!(metrics.contains("crm_jobs_due "));
    assert!(metrics.contains("crm_jobs_oldest_due_age_seconds "));

    let doc = server.call(Method::GET, "/api/v1/openapi.json", None, None).await.ok(200).clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/api/v1/auth/login", "/api/v1/contacts/{id}", "/api/v1/deals/{id}/stage", "/api/v1/pipeline"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());

    // CORS: the configured origin is allowed, others are not.
    let preflight = |origin: &str| {
        server
            .client
            .request(Method::OPTIONS, format!("{}/api/v1/contacts", server.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    let allowed = server.send(preflight("https://app.example")).await;
    assert_eq!(allowed.headers["access-control-allow-origin"], "https://app.example");
    let denied = server.send(preflight("https://evil.example")).await;
    assert!(denied.headers.get("access-control-allow-origin").is_none());
    server.stop().await;
}

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.rate_limit = Some(crmcore_http::settings::RateLimit { per_minute: 60, burst: 3 });
        s.auth_rate_limit = Some(crmcore_http::settings::RateLimit { per_minute: 60, burst: 2 });
    })
    .await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    // One login spent by `tenant`; the next succeeds, the one after is limited.
    server.login("ada@acme.test", None).await;
    let body = json!({"email": "ada@acme.test", "password": PASSWORD});
    let limited = server.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
    limited.problem(429);
    assert!(limited.headers.get("retry-after").is_some());
    for _ in 0..3 {
        server.get("/api/v1/contacts", &token).await.ok(200);
    }
    let limited = server.get("/api/v1/contacts", &token).await;
    limited.problem(429);
    assert_eq!(limited.headers["retry-after"], "1");
    server.stop().await;
}

crate::e2e!(operational_endpoints_and_headers, rate_limits_answer_429_with_retry_after);

/// A store that is up for everything but `ping`, as when the database stops answering.
#[derive(Debug)]
struct Unreachable(crmcore_memory::MemoryStore);

#[async_trait::async_trait]
impl crmcore::ports::Store for Unreachable {
    fn tenants(&self) -> &dyn crmcore::ports::TenantRepository {
        self.0.tenants()
    }
    fn members(&self) -> &dyn crmcore::ports::MemberRepository {
        self.0.members()
    }
    fn contacts(&self) -> &dyn crmcore::ports::ContactRepository {
        self.0.contacts()
    }
    fn deals(&self) -> &dyn crmcore::ports::DealRepository {
        self.0.deals()
    }
    fn credentials(&self) -> &dyn crmcore::ports::CredentialRepository {
        self.0.credentials()
    }
    fn activities(&self) -> &dyn crmcore::ports::ActivityRepository {
        self.0.activities()
    }
    fn comments(&self) -> &dyn crmcore::ports::CommentRepository {
        self.0.comments()
    }
    fn follows(&self) -> &dyn crmcore::ports::FollowRepository {
        self.0.follows()
    }
    fn notifications(&self) -> &dyn crmcore::ports::NotificationRepository {
        self.0.notifications()
    }
    fn outbox(&self) -> &dyn crmcore::ports::Outbox {
        self.0.outbox()
    }
    fn jobs(&self) -> &dyn crmcore::ports::JobQueue {
        self.0.jobs()
    }
    fn campaigns(&self) -> &dyn crmcore::ports::CampaignRepository {
        self.0.campaigns()
    }
    fn webhooks(&self) -> &dyn crmcore::ports::WebhookRepository {
        self.0.webhooks()
    }
    fn integrations(&self) -> &dyn crmcore::ports::IntegrationRepository {
        self.0.integrations()
    }
    fn documents(&self) -> &dyn crmcore::ports::DocumentRepository {
        self.0.documents()
    }
    fn approvals(&self) -> &dyn crmcore::ports::ApprovalRepository {
        self.0.approvals()
    }
    async fn ping(&self) -> crmcore::Result<()> {
        Err(crmcore::CrmError::store_unavailable("connection refused to db.internal:5432 as admin"))
    }
}

#[tokio::test]
async fn readiness_fails_with_a_problem_when_the_store_is_down() {
    let crm = crmcore::Crm::builder().store(Unreachable(crmcore_memory::MemoryStore::new())).build().unwrap();
    let server = TestServer::start_crm(crm, |_| {}).await;
    server.call(Method::GET, "/healthz", None, None).await.ok(200);
    let ready = server.call(Method::GET, "/readyz", None, None).await;
    let problem = ready.problem(503);
    assert!(!problem.to_string().contains("db.internal"), "store details must not leak: {problem}");
    server.stop().await;
}
