//! Deals: create, filters, patch, stage moves with history, the pipeline, delete.

use serde_json::json;

use crate::support::{Backend, TestServer};

async fn deals_move_through_stages_with_history(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let pipeline = server.get("/api/v1/pipeline", &token).await.ok(200).clone();
    let stages = pipeline["stages"].as_array().unwrap();
    let open: Vec<&str> = stages.iter().filter(|s| s["kind"] == "open").map(|s| s["key"].as_str().unwrap()).collect();
    let won = stages.iter().find(|s| s["kind"] == "won").unwrap()["key"].as_str().unwrap();
    let lost = stages.iter().find(|s| s["kind"] == "lost").unwrap()["key"].as_str().unwrap();

    let contact = server.post("/api/v1/contacts", &token, json!({"company": "Initech"})).await.ok(201).clone();
    let deal = json!({"title": "Big sale", "amount_minor": 125_000, "currency": "EUR", "contact_id": contact["id"]});
    let deal = server.post("/api/v1/deals", &token, deal).await.ok(201).clone();
    assert_eq!(deal["stage"], open[0]);
    assert_eq!(deal["owner_id"], owner.id.to_string());
    let other = json!({"title": "Small sale", "amount_minor": 100, "currency": "EUR"});
    let other = server.post("/api/v1/deals", &token, other).await.ok(201).clone();

    let path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap());
    let patched = server.patch(&path, &token, json!({"title": "Bigger sale", "probability": 40})).await;
    assert_eq!(patched.ok(200)["title"], "Bigger sale");

    if let Some(next) = open.get(1) {
        let moved = server.post(&format!("{path}/stage"), &token, json!({"stage": next})).await;
        assert_eq!(moved.ok(200)["stage"], *next);
    }
    let moved = server.post(&format!("{path}/stage"), &token, json!({"stage": won})).await;
    assert_eq!(moved.ok(200)["status"], "won");
    let history = server.get(&format!("{path}/history"), &token).await.ok(200).clone();
    let history = history.as_array().unwrap();
    assert_eq!(history.first().unwrap()["to_stage"], open[0]);
    assert_eq!(history.last().unwrap()["to_stage"], won);
    assert_eq!(history.len(), if open.len() > 1 { 3 } else { 2 });

    let other_path = format!("/api/v1/deals/{}", other["id"].as_str().unwrap());
    let lost_move = json!({"stage": lost, "lost_reason": "budget"});
    assert_eq!(server.post(&format!("{other_path}/stage"), &token, lost_move).await.ok(200)["lost_reason"], "budget");
    let unknown_stage = server.post(&format!("{other_path}/stage"), &token, json!({"stage": "nirvana"})).await;
    unknown_stage.problem(422);

    let wins = server.get("/api/v1/deals?status=won", &token).await;
    assert_eq!(wins.ok(200)["items"][0]["id"], deal["id"]);
    let by_contact = format!("/api/v1/deals?contact_id={}", contact["id"].as_str().unwrap());
    assert_eq!(server.get(&by_contact, &token).await.ok(200)["items"].as_array().unwrap().len(), 1);
    let in_stage = server.get(&format!("/api/v1/deals?stage={lost}"), &token).await;
    assert_eq!(in_stage.ok(200)["items"][0]["id"], other["id"]);
    let by_owner = server.get(&format!("/api/v1/deals?owner_id={}&q=small", owner.id), &token).await;
    assert_eq!(by_owner.ok(200)["items"].as_array().unwrap().len(), 1);
    server.get("/api/v1/deals?status=maybe", &token).await.problem(422);

    server.delete(&path, &token).await.ok(204);
    server.get(&path, &token).await.problem(404);
    server.stop().await;
}

crate::e2e!(deals_move_through_stages_with_history);
