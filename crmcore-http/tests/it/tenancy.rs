//! A second tenant's token sees none of the first tenant's data.

use serde_json::json;

use crate::support::{Backend, TestServer};

async fn tenants_are_isolated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_a, _ada, ada) = server.tenant("Acme", "ada@acme.test").await;
    let (_g, _gus, gus) = server.tenant("Globex", "gus@globex.test").await;
    let contact = server.post("/api/v1/contacts", &ada, json!({"email": "bob@example.com"})).await.ok(201).clone();
    let deal = json!({"title": "Acme deal", "amount_minor": 1, "currency": "USD"});
    let deal = server.post("/api/v1/deals", &ada, deal).await.ok(201).clone();
    let contact_path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap());
    let deal_path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap());

    for path in [&contact_path, &deal_path] {
        server.get(path, &gus).await.problem(404);
        server.patch(path, &gus, json!({})).await.problem(404);
        server.delete(path, &gus).await.problem(404);
    }
    let moved = server.post(&format!("{deal_path}/stage"), &gus, json!({"stage": deal["stage"]})).await;
    moved.problem(404);
    let history = server.get(&format!("{deal_path}/history"), &gus).await;
    assert!(history.status == 404 || history.body == json!([]), "{}", history.body);
    for list in ["/api/v1/contacts", "/api/v1/deals"] {
        assert_eq!(server.get(list, &gus).await.ok(200)["items"], json!([]));
    }
    let members = server.get("/api/v1/members", &gus).await.ok(200).clone();
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    // Same e-mail in the second tenant is no conflict.
    server.post("/api/v1/contacts", &gus, json!({"email": "bob@example.com"})).await.ok(201);
    // The first tenant's data is intact.
    assert_eq!(server.get(&deal_path, &ada).await.ok(200)["stage"], deal["stage"]);
    server.get(&contact_path, &ada).await.ok(200);
    server.stop().await;
}

crate::e2e!(tenants_are_isolated);
