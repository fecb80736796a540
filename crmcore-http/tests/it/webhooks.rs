//! Webhooks over HTTP on every backend: endpoint settings and their field errors, permissions
//! and tenancy, the event catalogue, secret reveal and rotation (both secrets sign during the
//! overlap), test sends to a real local receiver through the SSRF-guarded transport, the delivery
//! log, replay and recovery.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use crmcore::webhook::{RetrySchedule, WebhookConfig};
use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};
use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

type Inbox = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver answering `status` to every POST and keeping what it got.
async fn receiver(status: Arc<Mutex<u16>>) -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let kept = inbox.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |headers: HeaderMap, body: Bytes| {
        let kept = kept.clone();
        let status = status.clone();
        async move {
            kept.lock().unwrap().push((headers, body));
            StatusCode::from_u16(*status.lock().unwrap()).unwrap()
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, inbox)
}

async fn server(backend: Backend) -> TestServer {
    let transport = HttpWebhookTransport::new(SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()])).unwrap();
    // One immediate retry, then the delivery fails: the schedule's path within one worker run.
    let schedule = RetrySchedule { delays: vec![std::time::Duration::ZERO], ..RetrySchedule::default() };
    let config = WebhookConfig { allow_http: true, schedule, ..WebhookConfig::default() };
    // The test runs the worker itself, so deliveries are done when it checks.
    TestServer::start_built(
        backend,
        |b| b.webhook_transport(Arc::new(transport)).webhook_config(config),
        |s| s.run_worker = false,
    )
    .await
}

/// Whether a delivery's signature verifies with the crates.io `standardwebhooks` verifier.
pub(crate) fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let mut converted = http::HeaderMap::new();
    for (name, value) in headers {
        converted.insert(
            http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(secret).unwrap().verify(body, &converted).is_ok()
}

async fn endpoints_are_managed_by_admins_in_their_tenant(backend: Backend) {
    let server = server(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let (_other, _owner_b, other_token) = server.tenant("Other", "bob@other.test").await;

    let catalogue = server.get("/api/v1/event-types", &token).await.ok(200).clone();
    let names: Vec<&str> = catalogue.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.len() >= 12 && names.contains(&"deal.won") && names.contains(&"delivery.failed"), "{names:?}");
    let won = catalogue.as_array().unwrap().iter().find(|t| t["name"] == "deal.won").unwrap();
    assert_eq!(won["example"]["type"], "deal.won");
    assert!(won["description"].as_str().is_some_and(|d| !d.is_empty()));

    let bad = json!({"url": "http://", "event_types": ["deal.*", "nope.*"], "headers": {"X-Evil": "a\r\nb: c"},
                     "payload_filter": [{"pointer": "stage", "op": "eq", "value": 1}]});
    let reply = server.post("/api/v1/webhook-endpoints", &token, bad).await;
    reply.problem(422);
    for field in ["url", "event_types[1]", "headers.X-Evil", "payload_filter[0].pointer"] {
        assert!(reply.has_field_error(field), "{field}: {}", reply.body);
    }
    let https_only = TestServer::start(backend).await;
    let (_t, _o, plain_token) = https_only.tenant("Plain", "p@plain.test").await;
    let reply =
        https_only.post("/api/v1/webhook-endpoints", &plain_token, json!({"url": "http://hooks.example.com"})).await;
    assert!(reply.problem(422)["errors"][0]["code"] == "https_required", "{}", reply.body);

    let body = json!({"url": "https://hooks.example.com/crm", "description": "Sync", "event_types": ["deal.*"],
                      "headers": {"X-Api-Key": "k"}, "rate_limit_per_second": 5});
    let created = server.post("/api/v1/webhook-endpoints", &token, body).await.ok(201).clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let view = server.get(&path, &token).await.ok(200).clone();
    assert_eq!(view["header_names"], json!(["X-Api-Key"]), "header values are not shown");
    assert!(!view.to_string().contains(&secret), "the view never carries the secret");
    assert_eq!(server.get(&format!("{path}/secret"), &token).await.ok(200)["secret"], secret.as_str());
    server.get(&path, &other_token).await.problem(404);
    server.patch(&path, &other_token, json!({"description": "x"})).await.problem(404);

    let body = json!({"email": "mia@acme.test", "handle": "mia", "role": "manager", "password": PASSWORD});
    server.post("/api/v1/members", &token, body).await.ok(201);
    let manager = server.login("mia@acme.test", Some(&tenant.slug)).await;
    server.get("/api/v1/webhook-endpoints", &manager).await.problem(403);
    server.get(&format!("{path}/secret"), &manager).await.problem(403);

    let updated = server.patch(&path, &token, json!({"description": "Renamed", "expected_version": 1})).await;
    assert_eq!(updated.ok(200)["version"], 2);
    server.patch(&path, &token, json!({"description": "Stale", "expected_version": 1})).await.problem(409);
    assert_eq!(server.post(&format!("{path}/disable"), &token, json!({})).await.ok(200)["enabled"], false);
    assert_eq!(server.post(&format!("{path}/enable"), &token, json!({})).await.ok(200)["enabled"], true);
    let list = server.get("/api/v1/webhook-endpoints?limit=10", &token).await.ok(200).clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(
        server.get("/api/v1/webhook-endpoints", &other_token).await.ok(200)["items"].as_array().unwrap().is_empty()
    );
    assert_eq!(server.delete(&path, &token).await.status, 204);
    server.get(&path, &token).await.problem(404);
}

async fn deliveries_are_signed_logged_replayed_and_recovered(backend: Backend) {
    let server = server(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let status = Arc::new(Mutex::new(204u16));
    let (hooks, inbox) = receiver(status.clone()).await;
    let body = json!({"url": format!("{hooks}/crm"), "event_types": ["contact.created"]});
    let created = server.post("/api/v1/webhook-endpoints", &token, body).await.ok(201).clone();
    let old_secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/webhook-endpoints/{id}");

    let contact = server.post("/api/v1/contacts", &token, json!({"email": "a@example.com"})).await.ok(201).clone();
    server.crm.worker().run_until_idle().await.unwrap();
    {
        let got = inbox.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (headers, body) = &got[0];
        assert!(verify(&old_secret, headers, body), "the reference implementation verifies it");
        let parsed: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(parsed["type"], "contact.created");
        assert_eq!(parsed["data"]["object"]["id"], contact["id"]);
    }

    // Rotation: during the overlap both secrets verify every delivery.
    let rotated = server.post(&format!("{path}/secret/rotate"), &token, json!({"overlap_seconds": 3600})).await;
    let new_secret = rotated.ok(200)["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    let bad = server.post(&format!("{path}/secret/rotate"), &token, json!({"secret": "whsec_short"})).await;
    bad.problem(422);
    let test = server.post(&format!("{path}/test"), &token, json!({"event_type": "deal.won"})).await;
    let test_delivery = test.ok(202).clone();
    server.crm.worker().run_until_idle().await.unwrap();
    {
        let got = inbox.lock().unwrap();
        assert_eq!(got.len(), 2, "the test send arrives whatever the filter");
        let (headers, body) = &got[1];
        assert!(verify(&old_secret, headers, body) && verify(&new_secret, headers, body));
        assert_eq!(serde_json::from_slice::<Value>(body).unwrap()["type"], "deal.won");
    }

    // A failing receiver: retried on schedule, then failed and kept, every attempt logged.
    *status.lock().unwrap() = 500;
    server.post("/api/v1/contacts", &token, json!({"email": "b@example.com"})).await.ok(201);
    server.crm.worker().run_until_idle().await.unwrap();
    let failed = server.get(&format!("/api/v1/webhook-deliveries?endpoint_id={id}&status=failed"), &token).await;
    let failing = failed.ok(200)["items"][0].clone();
    assert_eq!(failing["attempts"], 2, "{failing}");
    let delivery_path = format!("/api/v1/webhook-deliveries/{}", failing["id"].as_str().unwrap());
    let attempts = server.get(&format!("{delivery_path}/attempts"), &token).await.ok(200).clone();
    assert_eq!(attempts.as_array().unwrap().len(), 2);
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[0]["error_class"], "http_status");
    assert!(attempts[0]["request_headers"].to_string().contains("webhook-signature"));
    assert!(!attempts[0]["request_headers"].to_string().contains(&new_secret));
    server.get("/api/v1/webhook-deliveries?status=nope", &token).await.problem(422);
    server.get("/api/v1/webhook-deliveries/0190d3f0-0000-7000-8000-000000000009", &token).await.problem(404);

    // Replay a finished delivery: same webhook-id, new attempt.
    *status.lock().unwrap() = 204;
    let first = server.get(&format!("/api/v1/webhook-deliveries?endpoint_id={id}&status=succeeded"), &token).await;
    let done = first.ok(200)["items"].as_array().unwrap().last().unwrap().clone();
    let replay_path = format!("/api/v1/webhook-deliveries/{}/replay", done["id"].as_str().unwrap());
    assert_eq!(server.post(&replay_path, &token, json!({})).await.ok(202)["status"], "pending");
    server.post(&replay_path, &token, json!({})).await.problem(409);
    server.crm.worker().run_until_idle().await.unwrap();
    let message = format!("msg_{}", done["id"].as_str().unwrap().replace('-', ""));
    let same_id = inbox.lock().unwrap().iter().filter(|(h, _)| h["webhook-id"] == message.as_str()).count();
    assert_eq!(same_id, 2, "the replay reuses the webhook-id");

    // Recovery requeues failed deliveries since a time.
    let since = json!({"since": "2000-01-01T00:00:00Z"});
    assert_eq!(server.post(&format!("{path}/recover"), &token, since).await.ok(202)["requeued"], 1);
    server.crm.worker().run_until_idle().await.unwrap();
    let recovered = server.get(&delivery_path, &token).await.ok(200).clone();
    assert_eq!((recovered["status"].as_str(), recovered["attempts"].as_u64()), (Some("succeeded"), Some(3)));

    // A disabled endpoint gets nothing new.
    server.post(&format!("{path}/disable"), &token, json!({})).await.ok(200);
    let before = inbox.lock().unwrap().len();
    server.post("/api/v1/contacts", &token, json!({"email": "c@example.com"})).await.ok(201);
    server.crm.worker().run_until_idle().await.unwrap();
    assert_eq!(inbox.lock().unwrap().len(), before);
    let _ = test_delivery;
}

crate::e2e!(endpoints_are_managed_by_admins_in_their_tenant, deliveries_are_signed_logged_replayed_and_recovered);
