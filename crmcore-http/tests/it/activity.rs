//! Collaboration over HTTP, as members of two tenants: CRM changes land in the right feeds with
//! their diffs; mentions notify the right people and only them; counts equal lists; an SSE
//! client sees its unread count change after a colleague's mention.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

/// Adds a member with a password and signs them in: (member id, token).
async fn member(server: &TestServer, admin_token: &str, slug: &str, handle: &str) -> (String, String) {
    let email = format!("{handle}@{slug}.test");
    let body = json!({"email": email, "handle": handle, "role": "member", "password": PASSWORD});
    let created = server.post("/api/v1/members", admin_token, body).await.ok(201).clone();
    (created["id"].as_str().unwrap().to_owned(), server.login(&email, Some(slug)).await)
}

/// Polls until the member's unread count reaches `want` (the in-process worker dispatches).
async fn wait_unread(server: &TestServer, token: &str, want: u64) -> Value {
    for _ in 0..200 {
        let inbox = server.get("/api/v1/notifications", token).await.ok(200).clone();
        if inbox["unread_count"] == want {
            return inbox;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("unread count never reached {want}");
}

async fn collaboration_over_http(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (a, _ada, ada_token) = server.tenant("Acme", "ada@acme.test").await;
    let (b, _zed, zed_token) = server.tenant("Beta", "zed@beta.test").await;
    let (bob_id, bob_token) = member(&server, &ada_token, &a.slug, "bob").await;
    let (_carol_id, carol_token) = member(&server, &ada_token, &a.slug, "carol").await;
    // Another tenant's @bob must never hear of Acme's mentions.
    let (_other_bob, other_bob_token) = member(&server, &zed_token, &b.slug, "bob").await;

    let contact = server.post("/api/v1/contacts", &ada_token, json!({"first_name": "Dana"})).await.ok(201).clone();
    let id = contact["id"].as_str().unwrap().to_owned();
    server.patch(&format!("/api/v1/contacts/{id}"), &ada_token, json!({"company": "Initech"})).await.ok(200);

    // Bob listens live before the mention.
    let mut sse = server
        .client
        .get(format!("{}/api/v1/stream", server.base))
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("stream");
    assert_eq!(sse.status(), 200);
    assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut seen = String::new();
    let first = tokio::time::timeout(Duration::from_secs(5), sse.chunk()).await.expect("first event").unwrap();
    seen.push_str(&String::from_utf8_lossy(&first.unwrap()));
    assert!(seen.contains("event: unread_count") && seen.contains("\"unread_count\":0"), "{seen}");

    let comment = json!({"entity": {"kind": "contact", "id": id}, "body": "@bob please call, cc @carol; not `@zed`"});
    let posted = server.post("/api/v1/comments", &ada_token, comment).await.ok(201).clone();
    assert_eq!(posted["mentions"].as_array().unwrap().len(), 2);
    assert!(posted["html"].as_str().unwrap().contains("<code>@zed</code>"));

    // The SSE client sees the notification and the new count.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"unread_count\":1") {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk()).await.expect("live update in time").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
    }
    assert!(seen.contains("event: notification") && seen.contains("\"kind\":\"mention\""), "{seen}");

    // Counts equal lists; only the mentioned are notified.
    let bob_inbox = wait_unread(&server, &bob_token, 1).await;
    assert_eq!(bob_inbox["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob_inbox["items"][0]["kind"], "mention");
    wait_unread(&server, &carol_token, 1).await;
    let other = server.get("/api/v1/notifications", &other_bob_token).await.ok(200).clone();
    assert_eq!(other["unread_count"], 0);
    assert!(other["items"].as_array().unwrap().is_empty());
    let ada_inbox = server.get("/api/v1/notifications", &ada_token).await.ok(200).clone();
    assert_eq!(ada_inbox["unread_count"], 0, "no self-notification");

    // Bob replies: Ada hears of it. Bob reads his mention.
    let reply = json!({"entity": {"kind": "contact", "id": id}, "in_reply_to": posted["id"], "body": "on it"});
    server.post("/api/v1/comments", &bob_token, reply).await.ok(201);
    let ada_inbox = wait_unread(&server, &ada_token, 1).await;
    assert_eq!(ada_inbox["items"][0]["kind"], "reply");
    let nid = bob_inbox["items"][0]["id"].as_str().unwrap();
    server
        .call(reqwest::Method::POST, &format!("/api/v1/notifications/{nid}/read"), Some(&bob_token), None)
        .await
        .ok(204);
    assert_eq!(server.get("/api/v1/notifications/unread-count", &bob_token).await.ok(200)["unread_count"], 0);
    server
        .call(reqwest::Method::DELETE, &format!("/api/v1/notifications/{nid}/read"), Some(&bob_token), None)
        .await
        .ok(204);
    assert_eq!(
        server.get("/api/v1/notifications?unread=true", &bob_token).await.ok(200)["items"].as_array().unwrap().len(),
        1
    );
    assert_eq!(server.post("/api/v1/notifications/read-all", &bob_token, json!({})).await.ok(200)["marked"], 1);
    let foreign = format!("/api/v1/notifications/{nid}/read");
    server.call(reqwest::Method::POST, &foreign, Some(&zed_token), None).await.problem(404);

    // Feeds: the entity's activity with the diff, Ada's own feed, the tenant feed for admins only.
    let feed = server.get(&format!("/api/v1/entities/contact/{id}/activity"), &ada_token).await.ok(200).clone();
    let verbs: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|a| a["verb"].as_str().unwrap()).collect();
    assert_eq!(verbs, ["created", "created", "updated", "created"], "two comments, the update, the creation");
    let update = &feed["items"][2];
    assert_eq!(update["data"]["changes"]["company"], json!({"before": null, "after": "Initech"}));
    assert_eq!(update["data"]["name"], "Dana");
    let mine = server.get("/api/v1/feed?verb=updated", &ada_token).await.ok(200).clone();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let as2 =
        server.get(&format!("/api/v1/entities/contact/{id}/activity?format=as2"), &ada_token).await.ok(200).clone();
    assert_eq!(as2["type"], "OrderedCollectionPage");
    assert_eq!(as2["orderedItems"][0]["object"]["type"], "Note");
    assert_eq!(
        as2["orderedItems"][0]["object"]["inReplyTo"],
        format!("urn:crmcore:comment:{}", posted["id"].as_str().unwrap())
    );
    server.get("/api/v1/activity", &bob_token).await.problem(403);
    let tenant_feed = server.get("/api/v1/activity?kind=comment", &ada_token).await.ok(200).clone();
    assert_eq!(tenant_feed["items"].as_array().unwrap().len(), 2);
    let other_feed = server.get(&format!("/api/v1/entities/contact/{id}/activity"), &zed_token).await.ok(200).clone();
    assert!(other_feed["items"].as_array().unwrap().is_empty(), "tenant B sees nothing of A");

    // Follows and preferences.
    let follow = json!({"entity": {"kind": "contact", "id": id}});
    server.post("/api/v1/follows", &carol_token, follow.clone()).await.ok(201);
    server.post("/api/v1/follows", &zed_token, follow).await.problem(404);
    let follows = server.get("/api/v1/follows", &carol_token).await.ok(200).clone();
    assert_eq!(follows.as_array().unwrap().len(), 1);
    let prefs = server.patch("/api/v1/notification-preferences", &bob_token, json!({"activity": "off"})).await;
    assert_eq!(prefs.ok(200)["kinds"]["activity"], "off");
    server.patch("/api/v1/notification-preferences", &bob_token, json!({"activity": "loud"})).await.problem(422);
    server.delete(&format!("/api/v1/follows/contact/{id}"), &carol_token).await.ok(204);
    server.delete(&format!("/api/v1/follows/contact/{id}"), &carol_token).await.problem(404);

    // Comment edit and delete.
    let path = format!("/api/v1/comments/{}", posted["id"].as_str().unwrap());
    server.patch(&path, &bob_token, json!({"body": "hijack"})).await.problem(403);
    let edited = server.patch(&path, &ada_token, json!({"body": "<b>@bob</b> call"})).await.ok(200).clone();
    assert_eq!(edited["html"], "<p>&lt;b&gt;@bob&lt;/b&gt; call</p>");
    let tomb = server.delete(&path, &ada_token).await.ok(200).clone();
    assert_eq!(tomb["body"], "");
    let threads =
        server.get(&format!("/api/v1/threads?entity_kind=contact&entity_id={id}"), &ada_token).await.ok(200).clone();
    assert_eq!(threads[0]["replies"].as_array().unwrap().len(), 1, "the tombstone keeps its reply");
    drop(bob_id);
    server.stop().await;
}

crate::e2e!(collaboration_over_http);

/// The digest job mails each member their unread `email_digest` notifications once, through
/// the Mailer port.
#[tokio::test]
async fn digest_job_mails_unread_digest_notifications_once() {
    use std::sync::Arc;

    use crmcore::activity::{Delivery, NewComment, NotificationKind};
    use crmcore::event::{EntityKind, EntityRef};
    use crmcore::jobs::Job;
    use crmcore::member::NewMember;
    use crmcore::tenant::NewOwner;
    use crmcore::{Actor, Crm, Role};

    let mailer = Arc::new(crmcore_memory::CapturingMailer::new());
    let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).mailer(mailer.clone()).build().unwrap();
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: Some("ada".into()) };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await.unwrap();
    let ada = Actor::member(tenant.id, ada.id, ada.role);
    let bob =
        NewMember { email: "bob@acme.test".into(), display_name: None, handle: Some("bob".into()), role: Role::Member };
    let bob = crm.members().create(&ada, bob).await.unwrap();
    let bob_actor = Actor::member(tenant.id, bob.id, bob.role);
    crm.activity().set_preference(&bob_actor, NotificationKind::Mention, Delivery::EmailDigest).await.unwrap();
    let entity = EntityRef { kind: EntityKind::Member, id: bob.id.0 };
    for i in 0..3 {
        let c = NewComment { entity, in_reply_to: None, body: format!("@bob <b>{i}</b>") };
        crm.activity().comment(&ada, c).await.unwrap();
    }
    crm.worker().run_until_idle().await.unwrap();
    let now = crm.clock().now();
    for _ in 0..2 {
        crm.store().jobs().enqueue(Job::SendNotificationDigests.to_new_job(now).unwrap(), now).await.unwrap();
        crm.worker().run_until_idle().await.unwrap();
    }
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1, "one digest, sent once");
    assert_eq!(sent[0].to, "bob@acme.test");
    assert!(sent[0].subject.starts_with("3 unread"));
    assert!(!sent[0].html.as_deref().unwrap_or_default().contains("<b>"));
}

/// Reads SSE chunks until the text seen so far contains `want` (or fails after 10 s).
async fn read_until(sse: &mut reqwest::Response, seen: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk()).await;
        let chunk = chunk.unwrap_or_else(|_| panic!("`{want}` in time; saw {seen}")).expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
    }
}

async fn open_stream(server: &TestServer, token: &str) -> (reqwest::Response, String) {
    let mut sse =
        server.client.get(format!("{}/api/v1/stream", server.base)).bearer_auth(token).send().await.expect("stream");
    assert_eq!(sse.status(), 200);
    let mut seen = String::new();
    read_until(&mut sse, &mut seen, "\"unread_count\":0").await;
    (sse, seen)
}

/// Two server processes on one PostgreSQL schema share live updates through `LISTEN/NOTIFY`:
/// a member streaming from server B sees the mention written through server A (whose worker
/// alone dispatches), and a stream on A sees B mark the inbox read.
#[tokio::test]
async fn postgres_servers_share_live_updates() {
    let Some(url) = crate::support::postgres_url() else {
        eprintln!("skipped: CRM_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("crm_live_test_{}", uuid::Uuid::now_v7().simple());
    let open = || async {
        let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store");
        let opened = crmcore_http::backend::Opened::postgres(store).await.expect("live updates");
        opened.crm_builder().build().expect("crm")
    };
    let a = TestServer::start_crm(open().await, |_| {}).await;
    let b = TestServer::start_crm(open().await, |s| s.run_worker = false).await;

    let (tenant, _ada, ada_token) = a.tenant("Acme", "ada@acme.test").await;
    let (bob_id, _) = member(&a, &ada_token, &tenant.slug, "bob").await;
    let bob_on_b = b.login("bob@acme.test", Some(&tenant.slug)).await;
    let bob_on_a = a.login("bob@acme.test", Some(&tenant.slug)).await;
    let (mut sse_b, mut seen_b) = open_stream(&b, &bob_on_b).await;
    let (mut sse_a, mut seen_a) = open_stream(&a, &bob_on_a).await;

    let entity = json!({"kind": "member", "id": bob_id});
    a.post("/api/v1/comments", &ada_token, json!({"entity": entity, "body": "@bob over to you"})).await.ok(201);
    read_until(&mut sse_b, &mut seen_b, "\"unread_count\":1").await;
    assert!(seen_b.contains("event: notification") && seen_b.contains("\"kind\":\"mention\""), "{seen_b}");
    read_until(&mut sse_a, &mut seen_a, "\"unread_count\":1").await;

    // B marks the inbox read; A's stream hears it (no worker involved).
    assert_eq!(b.post("/api/v1/notifications/read-all", &bob_on_b, json!({})).await.ok(200)["marked"], 1);
    seen_a.clear();
    read_until(&mut sse_a, &mut seen_a, "\"unread_count\":0").await;

    drop((sse_a, sse_b));
    b.stop().await;
    a.stop().await;
}
