//! API keys: creation rules, authentication, listing and revocation.

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestServer};

async fn api_key_lifecycle(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let created = server.post("/api/v1/api-keys", &token, json!({"name": "sync job", "role": "member"})).await;
    let key = created.ok(201).clone();
    let secret = key["secret"].as_str().unwrap();
    assert!(secret.starts_with("crm_"));

    // The key acts as a member of its tenant.
    let contact = server.post("/api/v1/contacts", secret, json!({"email": "bob@example.com"})).await;
    assert_eq!(contact.ok(201)["tenant_id"], tenant.id.to_string());
    server.get("/api/v1/me", secret).await.problem(404);
    // …with no more than its role: members cannot delete or manage keys.
    let id = contact.body["id"].as_str().unwrap();
    server.delete(&format!("/api/v1/contacts/{id}"), secret).await.problem(403);
    server.get("/api/v1/api-keys", secret).await.problem(403);

    let listed = server.get("/api/v1/api-keys", &token).await;
    let items = listed.ok(200).as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("secret").is_none() && items[0].get("secret_hash").is_none());
    assert_eq!(items[0]["prefix"], secret[..12]);

    server.delete(&format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()), &token).await.ok(204);
    server.get("/api/v1/contacts", secret).await.problem(401);
    server.get("/api/v1/contacts", "crm_not-a-real-key").await.problem(401);
    server.stop().await;
}

async fn keys_need_permission_and_cannot_outrank_their_creator(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let member = json!({"email": "mia@acme.test", "role": "admin", "password": PASSWORD});
    server.post("/api/v1/members", &token, member).await.ok(201);
    let admin = server.login("mia@acme.test", None).await;
    server.post("/api/v1/api-keys", &admin, json!({"name": "too strong", "role": "owner"})).await.problem(403);
    server.post("/api/v1/api-keys", &admin, json!({"name": "ok", "role": "admin"})).await.ok(201);
    let bad_role = server.post("/api/v1/api-keys", &admin, json!({"name": "x", "role": "root"})).await;
    assert!(bad_role.problem(422).to_string().contains("role"));
    server.post("/api/v1/api-keys", &admin, json!({"name": " ", "role": "viewer"})).await.problem(422);
    server.stop().await;
}

crate::e2e!(api_key_lifecycle, keys_need_permission_and_cannot_outrank_their_creator);
