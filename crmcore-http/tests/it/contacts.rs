//! Contacts: create, list with filters and pages, get, patch (with If-Match), delete.

use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, TestServer};

async fn contact_crud_and_filters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let bob = server
        .post("/api/v1/contacts", &token, json!({"email": "bob@example.com", "first_name": "Bob", "tags": ["vip"]}))
        .await
        .ok(201)
        .clone();
    let carol = json!({"first_name": "Carol", "company": "Initech", "owner_id": owner.id});
    server.post("/api/v1/contacts", &token, carol).await.ok(201);
    server.post("/api/v1/contacts", &token, json!({"company": "Globex"})).await.ok(201);

    let all = server.get("/api/v1/contacts", &token).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 3);
    assert!(all.body["next_cursor"].is_null());
    let vip = server.get("/api/v1/contacts?tag=vip", &token).await;
    assert_eq!(vip.ok(200)["items"][0]["id"], bob["id"]);
    let owned = server.get(&format!("/api/v1/contacts?owner_id={}", owner.id), &token).await;
    assert_eq!(owned.ok(200)["items"][0]["first_name"], "Carol");
    let search = server.get("/api/v1/contacts?q=initech", &token).await;
    assert_eq!(search.ok(200)["items"].as_array().unwrap().len(), 1);

    // Pages of two then one.
    let page1 = server.get("/api/v1/contacts?limit=2", &token).await.ok(200).clone();
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = server.get(&format!("/api/v1/contacts?limit=2&cursor={cursor}"), &token).await;
    assert_eq!(page2.ok(200)["items"].as_array().unwrap().len(), 1);

    let path = format!("/api/v1/contacts/{}", bob["id"].as_str().unwrap());
    assert_eq!(server.get(&path, &token).await.ok(200)["email"], "bob@example.com");
    let patched = server.patch(&path, &token, json!({"last_name": "Builder", "add_tags": ["lead"]})).await;
    assert_eq!(patched.ok(200)["last_name"], "Builder");
    assert_eq!(patched.body["version"], 2);

    // If-Match carries the expected version: a stale one conflicts.
    let stale = server.client.patch(format!("{}{path}", server.base)).bearer_auth(&token).header("If-Match", "\"1\"");
    server.send(stale.json(&json!({"phone": "123"}))).await.problem(409);
    let fresh = server.client.patch(format!("{}{path}", server.base)).bearer_auth(&token).header("If-Match", "\"2\"");
    server.send(fresh.json(&json!({"phone": "123"}))).await.ok(200);
    let cleared = server.patch(&path, &token, json!({"phone": null})).await;
    assert!(cleared.ok(200)["phone"].is_null());

    // Duplicate e-mails conflict.
    server.post("/api/v1/contacts", &token, json!({"email": "bob@example.com"})).await.problem(409);

    server.delete(&path, &token).await.ok(204);
    server.get(&path, &token).await.problem(404);
    server.call(Method::DELETE, &path, Some(&token), None).await.problem(404);
    server.stop().await;
}

crate::e2e!(contact_crud_and_filters);
