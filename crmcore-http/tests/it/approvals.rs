//! Document approvals over HTTP on every backend: a two-step workflow to approval, field errors,
//! permissions (403) and stale or finished approvals (409) as problem documents, voiding by a new
//! version, withdrawal, tenancy, the audit trail, the approvers' notifications, and two approvers
//! deciding at the same moment.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

/// Adds a member with `role` and signs them in: (member id, token).
async fn member(server: &TestServer, admin: &str, slug: &str, handle: &str, role: &str) -> (String, String) {
    let email = format!("{handle}@{slug}.test");
    let body = json!({"email": email, "handle": handle, "role": role, "password": PASSWORD});
    let created = server.post("/api/v1/members", admin, body).await.ok(201).clone();
    (created["id"].as_str().unwrap().to_owned(), server.login(&email, Some(slug)).await)
}

/// Uploads a text document or a new version of one; the JSON answer.
async fn upload(server: &TestServer, token: &str, path: &str, text: &str) -> Value {
    let form = Form::new().part("file", Part::bytes(text.as_bytes().to_vec()).file_name("terms.txt"));
    let request = server.client.post(format!("{}{path}", server.base)).bearer_auth(token).multipart(form);
    server.send(request).await.ok(201).clone()
}

/// Polls until the member has `want` approval requests in their inbox (the worker dispatches).
async fn wait_asked(server: &TestServer, token: &str, want: usize) {
    for _ in 0..200 {
        let inbox = server.get("/api/v1/notifications", token).await.ok(200).clone();
        let asked = inbox["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "approval_requested").count();
        if asked == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never saw {want} approval requests");
}

async fn approvals_over_http(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let (_other, _o, other_token) = server.tenant("Other", "bob@other.test").await;
    let (legal, legal_token) = member(&server, &token, &tenant.slug, "legal", "member").await;
    let (cfo, cfo_token) = member(&server, &token, &tenant.slug, "cfo", "viewer").await;
    let document = upload(&server, &token, "/api/v1/documents", "Terms v1").await;
    let doc = document["document"]["id"].as_str().unwrap().to_owned();
    let approvals = format!("/api/v1/documents/{doc}/approvals");

    // Field errors, as problem documents.
    let empty = server.post(&approvals, &token, json!({"steps": []})).await;
    assert!(empty.problem(422).to_string().contains("steps"), "{}", empty.body);
    let bad = json!({"steps": [
        {"approvers": [legal], "rule": {"kind": "at_least", "n": 3}, "due_at": "2001-01-01T00:00:00Z"},
        {"approvers": [uuid::Uuid::now_v7()], "rule": {"kind": "any"}},
    ]});
    let bad = server.post(&approvals, &token, bad).await;
    bad.problem(422);
    assert!(bad.has_field_error("steps[0].rule") && bad.has_field_error("steps[0].due_at"), "{}", bad.body);
    let unknown = json!({"steps": [{"approvers": [uuid::Uuid::now_v7()], "rule": {"kind": "any"}}]});
    let unknown = server.post(&approvals, &token, unknown).await;
    unknown.problem(422);
    assert!(unknown.has_field_error("steps[0].approvers[0]"), "{}", unknown.body);
    server.post(&approvals, &token, json!({"steps": [], "surprise": 1})).await.problem(422);
    let one = json!({"steps": [{"approvers": [legal], "rule": {"kind": "all"}}]});
    server.post(&approvals, &cfo_token, one.clone()).await.problem(403);

    // Two steps: legal, then the CFO (a viewer may approve).
    let due = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let body = json!({"document_version": 1, "steps": [
        {"name": "Legal", "approvers": [legal], "rule": {"kind": "all"}, "due_at": due},
        {"name": "Finance", "approvers": [cfo], "rule": {"kind": "any"}},
    ]});
    let created = server.post(&approvals, &token, body).await.ok(201).clone();
    assert_eq!((created["state"].as_str(), created["current_step"].as_u64()), (Some("pending"), Some(0)));
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/approvals/{id}");
    server.post(&approvals, &token, one.clone()).await.problem(409);
    wait_asked(&server, &legal_token, 1).await;

    server.post(&format!("{path}/approve"), &cfo_token, json!({})).await.problem(403);
    let no_reason = server.post(&format!("{path}/reject"), &legal_token, json!({"comment": " "})).await;
    no_reason.problem(422);
    assert!(no_reason.has_field_error("comment"));
    server.post(&format!("{path}/approve"), &legal_token, json!({"expected_version": 9})).await.problem(409);
    let step =
        server.post(&format!("{path}/approve"), &legal_token, json!({"comment": "ok", "expected_version": 1})).await;
    let step = step.ok(200).clone();
    assert_eq!((step["current_step"].as_u64(), step["steps"][0]["state"].as_str()), (Some(1), Some("approved")));
    wait_asked(&server, &cfo_token, 1).await;
    assert_eq!(server.get(&path, &cfo_token).await.ok(200)["version"], 2);
    let approved = server.post(&format!("{path}/approve"), &cfo_token, json!({})).await.ok(200).clone();
    assert_eq!(approved["state"], "approved");
    assert!(approved["decided_at"].is_string());
    server.post(&format!("{path}/approve"), &cfo_token, json!({})).await.problem(409);
    server.get(&path, &other_token).await.problem(404);
    server.get(&approvals, &other_token).await.problem(404);
    server.post(&format!("{path}/cancel"), &other_token, json!({})).await.problem(404);

    // A new version voids the pending approval.
    let second = server.post(&approvals, &token, one.clone()).await.ok(201).clone();
    upload(&server, &token, &format!("/api/v1/documents/{doc}/versions"), "Terms v2").await;
    let voided = server.get(&format!("/api/v1/approvals/{}", second["id"].as_str().unwrap()), &token).await;
    let voided = voided.ok(200).clone();
    assert_eq!((voided["state"].as_str(), voided["cancel_reason"].as_str()), (Some("cancelled"), Some("new_version")));

    // Withdrawal: by the requester or an admin.
    let third = server.post(&approvals, &legal_token, one.clone()).await.ok(201).clone();
    let third_path = format!("/api/v1/approvals/{}", third["id"].as_str().unwrap());
    assert_eq!(third["document_version"], 2);
    server.post(&format!("{third_path}/cancel"), &cfo_token, json!({})).await.problem(403);
    let withdrawn = server.post(&format!("{third_path}/cancel"), &token, json!({"comment": "not yet"})).await;
    assert_eq!(withdrawn.ok(200)["cancel_comment"], "not yet");
    let listed = server.get(&approvals, &cfo_token).await.ok(200).clone();
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [third["id"].as_str().unwrap(), second["id"].as_str().unwrap(), id.as_str()]);

    // Two approvers at the same moment: both decisions are kept.
    let pair = json!({"steps": [{"approvers": [legal, cfo], "rule": {"kind": "all"}}]});
    let pair = server.post(&approvals, &token, pair).await.ok(201).clone();
    let pair_path = format!("/api/v1/approvals/{}/approve", pair["id"].as_str().unwrap());
    let (a, b) =
        tokio::join!(server.post(&pair_path, &legal_token, json!({})), server.post(&pair_path, &cfo_token, json!({})));
    a.ok(200);
    b.ok(200);
    let pair = server.get(&format!("/api/v1/approvals/{}", pair["id"].as_str().unwrap()), &token).await;
    let pair = pair.ok(200).clone();
    assert_eq!(
        (pair["state"].as_str(), pair["steps"][0]["decisions"].as_array().unwrap().len()),
        (Some("approved"), 2)
    );

    // Audited in the chain; documented in the OpenAPI document.
    let trail = server.get("/api/v1/audit?limit=1000", &token).await.ok(200).clone();
    let actions: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["request_approval", "approve", "cancel_approval"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    assert_eq!(server.get("/api/v1/audit/verify", &token).await.ok(200)["valid"], true);
    let doc = server.call(reqwest::Method::GET, "/api/v1/openapi.json", None, None).await.ok(200).clone();
    for path in ["/api/v1/documents/{id}/approvals", "/api/v1/approvals/{id}", "/api/v1/approvals/{id}/reject"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        keys(&doc["components"]["schemas"]["Approval"]["properties"]),
        keys(&approved),
        "the schema is the JSON"
    );
    server.stop().await;
}

crate::e2e!(approvals_over_http);
