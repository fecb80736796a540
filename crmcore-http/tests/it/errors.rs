//! Every malformed request gets a problem document with the right status, never a 500 or a
//! plain-text rejection.

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::support::{Backend, PASSWORD, TestServer};

async fn malformed_requests_get_problems(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.max_body_bytes = 64 * 1024).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let url = |path: &str| format!("{}{path}", server.base);

    // Malformed JSON → 400.
    let raw = server.client.post(url("/api/v1/contacts")).bearer_auth(&token).header(CONTENT_TYPE, "application/json");
    server.send(raw.body("{\"email\": ")).await.problem(400);
    // Wrong content type → 415.
    let text = server.client.post(url("/api/v1/contacts")).bearer_auth(&token).header(CONTENT_TYPE, "text/plain");
    server.send(text.body("{}")).await.problem(415);
    let none = server.client.post(url("/api/v1/contacts")).bearer_auth(&token);
    server.send(none.body("{}")).await.problem(415);
    // Missing field → 422 naming it.
    let missing = server.post("/api/v1/deals", &token, json!({"amount_minor": 1, "currency": "EUR"})).await;
    missing.problem(422);
    assert!(missing.has_field_error("title"), "{}", missing.body);
    // Wrong type → 422.
    let wrong = server.post("/api/v1/deals", &token, json!({"title": "x", "amount_minor": "lots", "currency": "EUR"}));
    assert!(wrong.await.has_field_error("amount_minor"));
    // Unknown field → 422.
    let unknown = server.post("/api/v1/contacts", &token, json!({"email": "a@b.co", "shoe_size": 44})).await;
    assert!(unknown.has_field_error("shoe_size"), "{}", unknown.body);
    // Bad e-mail → 422 from the domain's validation.
    let bad_email = server.post("/api/v1/contacts", &token, json!({"email": "not-an-email"})).await;
    bad_email.problem(422);
    assert!(bad_email.has_field_error("email"));
    // Oversized body → 413.
    let huge = json!({"email": "a@b.co", "first_name": "x".repeat(100 * 1024)});
    server.post("/api/v1/contacts", &token, huge).await.problem(413);
    // Unknown id → 404; bad UUID in the path → 400.
    server.get(&format!("/api/v1/contacts/{}", uuid::Uuid::now_v7()), &token).await.problem(404);
    server.get("/api/v1/contacts/not-a-uuid", &token).await.problem(400);
    server.patch("/api/v1/deals/123", &token, json!({})).await.problem(400);
    // Bad query parameters → 400 (unparsable) or 422 (out of range, bad cursor).
    let bad_owner = server.get("/api/v1/contacts?owner_id=nope", &token).await;
    bad_owner.problem(400);
    assert!(bad_owner.has_field_error("owner_id"));
    server.get("/api/v1/contacts?limit=abc", &token).await.problem(400);
    server.get("/api/v1/contacts?limit=0", &token).await.problem(422);
    server.get("/api/v1/deals?cursor=!!!", &token).await.problem(422);
    // Bad If-Match → 400.
    let contact = server.post("/api/v1/contacts", &token, json!({"company": "Initech"})).await.ok(201).clone();
    let path = url(&format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()));
    let if_match = server.client.patch(path).bearer_auth(&token).header("If-Match", "yesterday");
    server.send(if_match.json(&json!({}))).await.problem(400);
    // Unknown route → 404; wrong method → 405.
    server.get("/api/v1/nothing-here", &token).await.problem(404);
    server.call(Method::GET, "/nowhere", None, None).await.problem(404);
    server.call(Method::PUT, "/api/v1/contacts", Some(&token), Some(json!({}))).await.problem(405);
    server.stop().await;
}

async fn viewers_cannot_write(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let viewer = json!({"email": "vic@acme.test", "role": "viewer", "password": PASSWORD});
    server.post("/api/v1/members", &token, viewer).await.ok(201);
    let vic = server.login("vic@acme.test", None).await;
    server.get("/api/v1/contacts", &vic).await.ok(200);
    let denied = server.post("/api/v1/contacts", &vic, json!({"email": "bob@example.com"})).await;
    assert!(denied.problem(403)["detail"].as_str().unwrap().contains("edit_records"));
    let deal = json!({"title": "x", "amount_minor": 1, "currency": "EUR"});
    server.post("/api/v1/deals", &vic, deal).await.problem(403);
    server.post("/api/v1/members", &vic, json!({"email": "eve@acme.test", "role": "viewer"})).await.problem(403);
    // Short passwords are refused with a field error.
    let weak = json!({"email": "wes@acme.test", "role": "viewer", "password": "short"});
    assert!(server.post("/api/v1/members", &token, weak).await.has_field_error("password"));
    server.stop().await;
}

crate::e2e!(malformed_requests_get_problems, viewers_cannot_write);
