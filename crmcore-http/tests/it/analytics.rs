//! `/api/v1/analytics/…` end to end: generated deal histories, every endpoint, charts, errors,
//! permissions and tenancy.

use std::sync::Arc;

use crmcore::analytics::AnalyticsParams;
use crmcore::ports::{ManualClock, Store};
use crmcore::testing::{Fixture, generate_history};
use crmcore::{Actor, Crm, Role};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::support::{Backend, TestServer, postgres_url};

/// A server on `backend` whose store also backs a second `Crm` on a manual clock, used to write
/// a deal history spread over the past ~17 months.
pub(crate) async fn server_with_history(backend: Backend) -> (TestServer, String, Crm, Option<tempfile::TempDir>) {
    let (store, dir): (Arc<dyn Store>, _) = match backend {
        Backend::Memory => (Arc::new(crmcore_memory::MemoryStore::new()), None),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
            (crmcore_http::backend::open_store(&url).await.expect("sqlite"), Some(dir))
        }
        Backend::Postgres => {
            let schema = format!("crm_http_test_{}", uuid::Uuid::now_v7().simple());
            let url = postgres_url().expect("CRM_TEST_POSTGRES_URL");
            (Arc::new(crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("pg")), None)
        }
    };
    let crm = Crm::builder().shared_store(store.clone()).build().expect("crm");
    let server = TestServer::start_crm(crm.clone(), |_| {}).await;
    let (tenant, owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let writer = Crm::builder().shared_store(store).clock(clock.clone()).build().expect("writer");
    let actor = Actor::member(tenant.id, owner.id, Role::Owner);
    let fixture = Fixture { crm: writer, tenant, owner, actor };
    generate_history(&fixture, &clock, 60, 7).await;
    (server, token, crm, dir)
}

async fn every_endpoint_answers(backend: Backend) {
    let (server, token, crm, _dir) = server_with_history(backend).await;

    let stages = server.get("/api/v1/analytics/stage-metrics", &token).await;
    let stages = stages.ok(200);
    assert_eq!(stages["deals"], 60);
    assert_eq!(stages["stages"].as_array().unwrap().len(), 4);
    for s in stages["stages"].as_array().unwrap() {
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(n("reached"), n("advanced") + n("dropped") + n("still_open"), "{s}");
    }

    let funnel = server.get("/api/v1/analytics/funnel", &token).await;
    let funnel = funnel.ok(200);
    assert_eq!(funnel["cohort"], 60);
    let counts: Vec<u64> = funnel["steps"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).collect();
    assert_eq!(counts.len(), 5);
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert_eq!(counts[4], funnel["won"].as_u64().unwrap());

    let velocity = server.get("/api/v1/analytics/velocity?from=2025-01-01&to=2026-12-31", &token).await;
    let velocity = velocity.ok(200);
    assert!(velocity["current"]["won"].as_u64().unwrap() > 0);
    assert!(velocity["current"]["velocity_minor_per_day"].is_number());

    let pipeline = server.get("/api/v1/analytics/pipeline?commit_min=70", &token).await;
    let pipeline = pipeline.ok(200);
    assert_eq!(pipeline["categories"].as_array().unwrap().len(), 5);
    let total: u64 = pipeline["categories"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 60);

    let forecast = server.get("/api/v1/analytics/forecast?level=0.9&horizon=6", &token).await;
    let forecast = forecast.ok(200);
    assert_eq!(forecast["points"].as_array().unwrap().len(), 6);
    assert_eq!(forecast["level"], 0.9);
    let p = &forecast["points"][0];
    assert!(p["textbook"]["lower"].as_f64().unwrap() <= p["mean"].as_f64().unwrap());

    let health = server.get("/api/v1/analytics/health?target_minor=50000000&stale_days=45", &token).await;
    let health = health.ok(200);
    let score = health["score"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&score));
    assert_eq!(health["components"][0]["name"], "coverage");
    assert!(health["components"][0]["score"].is_number());

    let insights = server.get("/api/v1/analytics/insights?stuck_days=10&target_minor=900000000", &token).await;
    let insights = insights.ok(200).as_array().unwrap().clone();
    assert!(insights.iter().any(|i| i["code"] == "low_coverage"), "{insights:?}");
    let stuck = insights.iter().find(|i| i["code"] == "stuck_in_stage").expect("stuck deals");
    let link = stuck["links"][0].as_str().unwrap();
    server.get(link, &token).await.ok(200);

    let report = server.get("/api/v1/analytics/report", &token).await;
    assert_eq!(report.ok(200)["funnel"]["cohort"], 60);

    // The service and the endpoint agree.
    let me = Actor::member(
        crm.store().tenants().find_by_slug("acme").await.unwrap().unwrap().id,
        crmcore::id::MemberId::new(),
        Role::Viewer,
    );
    let direct = crm.analytics().funnel(&me, &AnalyticsParams::default()).await.unwrap();
    let direct_counts: Vec<u64> = direct.steps.iter().map(|s| s.count).collect();
    assert_eq!(direct_counts, counts);
    assert_eq!(funnel["won"].as_u64(), Some(direct.won));
    assert_eq!(funnel["lost"].as_u64(), Some(direct.lost));

    // Charts.
    for path in ["/api/v1/analytics/forecast.svg", "/api/v1/analytics/funnel.svg"] {
        let response = server.client.get(format!("{}{path}", server.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "image/svg+xml");
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<svg") && body.ends_with("</svg>"), "{path}");
    }
    server.stop().await;
}

async fn bad_requests_are_problems(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, _, token) = server.tenant("Acme", "ada@acme.test").await;
    // Unknown or malformed parameters: 400 naming the parameter.
    let reply = server.get("/api/v1/analytics/funnel?bogus=1", &token).await;
    reply.problem(400);
    let reply = server.get("/api/v1/analytics/health?target_minor=lots", &token).await;
    reply.problem(400);
    assert!(reply.has_field_error("target_minor"));
    // Out of range: 422 naming the field.
    let reply = server.get("/api/v1/analytics/forecast?level=1.5&horizon=0", &token).await;
    reply.problem(422);
    assert!(reply.has_field_error("level") && reply.has_field_error("horizon"));
    let reply = server.get("/api/v1/analytics/funnel?from=2026-02-01&to=2026-01-01", &token).await;
    reply.problem(422);
    // No history: the forecast refuses with a typed error, the other metrics answer honestly.
    let reply = server.get("/api/v1/analytics/forecast", &token).await;
    reply.problem(422);
    assert!(reply.has_field_error("series"), "{}", reply.body);
    let reply = server.get("/api/v1/analytics/forecast.svg", &token).await;
    reply.problem(422);
    let health = server.get("/api/v1/analytics/health", &token).await;
    assert!(health.ok(200)["score"].is_null());
    let funnel = server.get("/api/v1/analytics/funnel", &token).await;
    assert_eq!(funnel.ok(200)["overall_conversion"], serde_json::Value::Null);
    // Mixed currencies need a choice.
    for currency in ["EUR", "USD"] {
        let deal = json!({"title": "x", "amount_minor": 100, "currency": currency});
        server.post("/api/v1/deals", &token, deal).await.ok(201);
    }
    let reply = server.get("/api/v1/analytics/pipeline", &token).await;
    reply.problem(422);
    assert!(reply.has_field_error("currency"));
    let usd = server.get("/api/v1/analytics/pipeline?currency=USD", &token).await;
    assert_eq!(usd.ok(200)["open_count"], 1);
    // Unauthenticated.
    server.call(reqwest::Method::GET, "/api/v1/analytics/funnel", None, None).await.problem(401);
    // Another tenant sees only its own deals.
    let (_, _, other) = server.tenant("Globex", "hank@globex.test").await;
    let theirs = server.get("/api/v1/analytics/pipeline", &other).await;
    assert_eq!(theirs.ok(200)["open_count"], 0);
    server.stop().await;
}

crate::e2e!(every_endpoint_answers, bad_requests_are_problems);
