//! Campaigns over HTTP: templates (and their field errors), segment preview, the lifecycle, the
//! send run by the worker into a capturing mailer, counts, recipients and their attempts,
//! permissions, tenancy and the suppression list.

use std::sync::Arc;

use chrono::{Duration, Utc};
use crmcore_memory::CapturingMailer;
use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

const VIPS: usize = 6;

async fn server_with_mailer(backend: Backend) -> (TestServer, Arc<CapturingMailer>) {
    let mailer = Arc::new(CapturingMailer::new());
    let shared = mailer.clone();
    // The test runs the worker itself, so the send is complete when it checks.
    let server = TestServer::start_built(backend, |b| b.mailer(shared), |s| s.run_worker = false).await;
    (server, mailer)
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

async fn campaign_body(server: &TestServer, token: &str) -> Value {
    let template = json!({
        "name": "Welcome",
        "subject": "Hello {{ first_name | default('there', true) }}",
        "html": "<p>Hi {{ first_name | default('there', true) }} from {{ company }}</p>",
    });
    let template = server.post("/api/v1/email-templates", token, template).await.ok(201).clone();
    json!({
        "name": "Spring",
        "from_email": "news@acme.test",
        "from_name": "Acme News",
        "segment": {"type": "tag", "tag": "vip"},
        "variants": [{"name": "A", "weight": 1, "template_id": template["id"]}],
    })
}

async fn a_campaign_is_sent_to_its_segment(backend: Backend) {
    let (server, mailer) = server_with_mailer(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let mut first_contact = Value::Null;
    for i in 0..VIPS {
        let contact = json!({"email": format!("vip{i}@example.com"), "first_name": format!("Name{i}"),
                             "company": "Initech", "tags": ["vip"]});
        let created = server.post("/api/v1/contacts", &token, contact).await.ok(201).clone();
        if i == 0 {
            first_contact = created;
        }
    }
    server.post("/api/v1/contacts", &token, json!({"email": "other@example.com", "tags": ["other"]})).await.ok(201);

    // Suppressions: added once (201), then already there (200).
    let suppress = json!({"email": "vip3@example.com", "reason": "unsubscribed"});
    assert_eq!(server.post("/api/v1/suppressions", &token, suppress.clone()).await.ok(201)["added"], true);
    assert_eq!(server.post("/api/v1/suppressions", &token, suppress).await.ok(200)["added"], false);
    server.post("/api/v1/suppressions", &token, json!({"email": "not-an-address"})).await.problem(422);

    // A bad template is refused with field errors carrying line numbers.
    let bad = json!({"name": "Bad", "subject": "Hi {{ frist_name }}", "html": "<p>\n\n{% if %}</p>"});
    let refused = server.post("/api/v1/email-templates", &token, bad).await;
    refused.problem(422);
    let errors = refused.body["errors"].as_array().unwrap();
    let error_at = |field: &str, line: &str| {
        errors.iter().any(|e| e["field"] == field && e["message"].as_str().unwrap().starts_with(line))
    };
    assert!(error_at("subject", "line 1:") && error_at("html", "line 3:"), "{errors:?}");

    // A good one, its preview for a contact, and the library.
    let body = campaign_body(&server, &token).await;
    let template_path = format!("/api/v1/email-templates/{}", body["variants"][0]["template_id"].as_str().unwrap());
    let preview = json!({"contact_id": first_contact["id"]});
    let rendered = server.post(&format!("{template_path}/preview"), &token, preview).await.ok(200).clone();
    assert_eq!(rendered["subject"], "Hello Name0");
    assert_eq!(rendered["html"], "<p>Hi Name0 from Initech</p>");
    assert!(rendered["text"].as_str().unwrap().contains("Hi Name0"));
    let renamed = server.patch(&template_path, &token, json!({"name": "Welcome v2"})).await;
    assert_eq!(renamed.ok(200)["version"], 2);
    assert_eq!(server.get("/api/v1/email-templates", &token).await.ok(200)["items"][0]["name"], "Welcome v2");

    // The segment preview counts every VIP, suppressed or not, and samples a few.
    let rule = json!({"rule": {"type": "tag", "tag": "vip"}, "sample": 2});
    let segment = server.post("/api/v1/segments/preview", &token, rule).await.ok(200).clone();
    assert_eq!(segment["count"], VIPS);
    assert_eq!(segment["sample"].as_array().unwrap().len(), 2);
    let bad_rule = json!({"rule": {"type": "date", "field": "created_at", "op": "before"}});
    server.post("/api/v1/segments/preview", &token, bad_rule).await.problem(422);

    // A draft, edited, then launched and sent by the worker.
    let campaign = server.post("/api/v1/campaigns", &token, body).await.ok(201).clone();
    assert_eq!(campaign["status"], "draft");
    let path = format!("/api/v1/campaigns/{}", id(&campaign));
    assert_eq!(server.patch(&path, &token, json!({"name": "Spring sale"})).await.ok(200)["name"], "Spring sale");
    assert_eq!(server.get("/api/v1/campaigns", &token).await.ok(200)["items"][0]["id"], campaign["id"]);
    assert_eq!(server.post(&format!("{path}/launch"), &token, json!({})).await.ok(200)["status"], "sending");
    server.crm.worker().run_until_idle().await.expect("worker");
    assert_eq!(server.get(&path, &token).await.ok(200)["status"], "sent");

    let counts = server.get(&format!("{path}/counts"), &token).await.ok(200).clone();
    let count = |key: &str| counts[key].as_u64().unwrap();
    assert_eq!((count("targeted"), count("suppressed"), count("failed")), (VIPS as u64, 1, 0));
    assert_eq!(count("sent"), count("targeted") - count("suppressed"));
    let settled = ["pending", "sending", "sent", "failed", "suppressed", "cancelled"].map(count).iter().sum::<u64>();
    assert_eq!(settled, count("targeted"), "balanced: {counts}");
    let sent = mailer.sent();
    assert_eq!(sent.len(), VIPS - 1);
    assert!(sent.iter().all(|m| m.to != "vip3@example.com"));

    // Recipients by status, and one recipient's ledger.
    let recipients = server.get(&format!("{path}/recipients?status=sent&limit=50"), &token).await.ok(200).clone();
    let recipients = recipients["items"].as_array().unwrap();
    assert_eq!(recipients.len(), VIPS - 1);
    let suppressed = server.get(&format!("{path}/recipients?status=suppressed"), &token).await.ok(200).clone();
    assert_eq!(suppressed["items"][0]["email"], "vip3@example.com");
    let attempts = format!("/api/v1/campaign-recipients/{}/attempts", id(&recipients[0]));
    let attempts = server.get(&attempts, &token).await.ok(200).clone();
    assert_eq!(attempts.as_array().unwrap().len(), 1);
    assert_eq!(attempts[0]["outcome"], "sent");
    assert_eq!(attempts[0]["number"], 1);
    assert!(sent.iter().any(|m| m.message_id == attempts[0]["message_id"]), "{attempts}");
    server.get(&format!("{path}/recipients?status=lost"), &token).await.problem(422);
    server.get(&format!("/api/v1/campaign-recipients/{}/attempts", uuid::Uuid::now_v7()), &token).await.problem(404);

    // A sent campaign can neither be paused, edited nor retried (nothing failed).
    let paused = server.post(&format!("{path}/pause"), &token, json!({})).await;
    assert!(paused.problem(409)["detail"].is_string());
    server.patch(&path, &token, json!({"name": "Late edit"})).await.problem(409);
    server.post(&format!("{path}/retry-failed"), &token, json!({})).await.problem(409);
    server.stop().await;
}

async fn the_lifecycle_is_guarded(backend: Backend) {
    let (server, _mailer) = server_with_mailer(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let body = campaign_body(&server, &token).await;
    let campaign = server.post("/api/v1/campaigns", &token, body).await.ok(201).clone();
    let path = format!("/api/v1/campaigns/{}", id(&campaign));

    // A viewer may look but not launch; another tenant cannot even see it.
    let viewer = json!({"email": "vic@acme.test", "role": "viewer", "password": PASSWORD});
    server.post("/api/v1/members", &token, viewer).await.ok(201);
    let vic = server.login("vic@acme.test", None).await;
    server.get(&path, &vic).await.ok(200);
    server.post(&format!("{path}/launch"), &vic, json!({})).await.problem(403);
    server.post("/api/v1/suppressions", &vic, json!({"email": "x@example.com"})).await.problem(403);
    let (_globex, _gus, globex) = server.tenant("Globex", "gus@globex.test").await;
    server.get(&path, &globex).await.problem(404);
    server.post(&format!("{path}/launch"), &globex, json!({})).await.problem(404);
    server.get(&format!("{path}/counts"), &globex).await.problem(404);

    // Schedule (not in the past), unschedule, schedule again, cancel.
    let past = json!({"send_at": (Utc::now() - Duration::hours(1)).to_rfc3339()});
    server.post(&format!("{path}/schedule"), &token, past).await.problem(422);
    let later = json!({"send_at": (Utc::now() + Duration::days(1)).to_rfc3339()});
    let scheduled = server.post(&format!("{path}/schedule"), &token, later.clone()).await.ok(200).clone();
    assert_eq!(scheduled["status"], "scheduled");
    assert!(scheduled["send_at"].is_string());
    server.post(&format!("{path}/resume"), &token, json!({})).await.problem(409);
    let draft = server.post(&format!("{path}/unschedule"), &token, json!({})).await.ok(200).clone();
    assert_eq!((draft["status"].as_str(), draft["send_at"].is_null()), (Some("draft"), true));
    server.post(&format!("{path}/schedule"), &token, later).await.ok(200);
    assert_eq!(server.post(&format!("{path}/cancel"), &token, json!({})).await.ok(200)["status"], "cancelled");
    server.post(&format!("{path}/launch"), &token, json!({})).await.problem(409);
    server.stop().await;
}

async fn the_suppression_list_pages_and_shrinks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    for email in ["c@example.com", "a@example.com", "b@example.com"] {
        server.post("/api/v1/suppressions", &token, json!({"email": email})).await.ok(201);
    }
    let first = server.get("/api/v1/suppressions?limit=2", &token).await.ok(200).clone();
    let emails = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|s| s["email"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(emails(&first), ["a@example.com", "b@example.com"]);
    assert_eq!(first["items"][0]["reason"], "manual");
    assert_eq!(first["next_after"], "b@example.com");
    let rest = server.get("/api/v1/suppressions?after=b@example.com&limit=2", &token).await.ok(200).clone();
    assert_eq!(emails(&rest), ["c@example.com"]);
    assert!(rest["next_after"].is_null());

    server.delete("/api/v1/suppressions/b@example.com", &token).await.ok(204);
    server.delete("/api/v1/suppressions/b@example.com", &token).await.problem(404);
    server.delete("/api/v1/suppressions/nobody", &token).await.problem(422);
    let left = server.get("/api/v1/suppressions", &token).await.ok(200).clone();
    assert_eq!(emails(&left), ["a@example.com", "c@example.com"]);
    server.get("/api/v1/suppressions?limit=many", &token).await.problem(400);
    server.stop().await;
}

/// The part of `text` after `prefix` up to the next `"` or `>`.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.split(prefix).nth(1).unwrap_or_else(|| panic!("{prefix} in {text}")).split(['"', '>']).next().expect("value")
}

async fn tracking_unsubscribe_stats_conversions_and_bounces_over_http(backend: Backend) {
    let mailer = Arc::new(CapturingMailer::new());
    let shared = mailer.clone();
    let links = crmcore::campaign::LinkConfig {
        public_url: Some("https://crm.acme.test".into()),
        ..crmcore::campaign::LinkConfig::ephemeral().expect("a key")
    };
    let mut config = crmcore::campaign::CampaignConfig { links: Some(links), ..Default::default() };
    config.tracking.bot_window = Duration::zero();
    let server =
        TestServer::start_built(backend, |b| b.mailer(shared).campaign_config(config), |s| s.run_worker = false).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let mut contacts = Vec::new();
    for i in 0..2 {
        let contact = json!({"email": format!("t{i}@example.com"), "tags": ["vip"]});
        contacts.push(server.post("/api/v1/contacts", &token, contact).await.ok(201).clone());
    }
    let template = json!({"name": "T", "subject": "Offer",
        "html": "<html><body><a href=\"https://shop.acme.test/offer\">Buy</a> \
                 <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></body></html>"});
    let template = server.post("/api/v1/email-templates", &token, template).await.ok(201).clone();
    let body = json!({"name": "Tracked", "from_email": "news@acme.test", "segment": {"type": "tag", "tag": "vip"},
                      "variants": [{"name": "A", "weight": 1, "template_id": template["id"]}]});
    let campaign = server.post("/api/v1/campaigns", &token, body).await.ok(201).clone();
    let path = format!("/api/v1/campaigns/{}", id(&campaign));
    server.post(&format!("{path}/launch"), &token, json!({})).await.ok(200);
    server.crm.worker().run_until_idle().await.expect("worker");
    let sent = mailer.sent();
    assert_eq!(sent.len(), 2);
    // As a mail client reads it: minijinja escapes `/` in the variable-built link.
    let html = sent[0].html.clone().expect("html").replace("&#x2f;", "/");
    let click = after(&html, "https://crm.acme.test/t/c/");
    let open = after(&html, "https://crm.acme.test/t/o/");
    let unsubscribe = after(&html, "https://crm.acme.test/t/u/");

    // The click redirects to the frozen link, never to anything from the request.
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let clicked = raw.get(format!("{}/t/c/{click}", server.base)).send().await.expect("click");
    assert_eq!(clicked.status(), 302);
    assert_eq!(clicked.headers()["location"], "https://shop.acme.test/offer");
    let tampered = format!("{}{}", &click[..click.len() - 2], if click.ends_with("AA") { "BB" } else { "AA" });
    let refused = raw.get(format!("{}/t/c/{tampered}", server.base)).send().await.expect("click");
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let pixel = raw.get(format!("{}/t/o/{open}", server.base)).send().await.expect("open");
    assert_eq!((pixel.status().as_u16(), pixel.headers()["content-type"].to_str().unwrap()), (200, "image/gif"));
    let wrong_purpose = raw.get(format!("{}/t/o/{click}", server.base)).send().await.expect("open");
    assert_eq!(wrong_purpose.status(), 422);

    // Unsubscribe: GET only asks, POST (one-click) does it.
    let page = raw.get(format!("{}/t/u/{unsubscribe}", server.base)).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("<form method=\"post\">"));
    let list = server.get("/api/v1/suppressions", &token).await.ok(200).clone();
    assert!(list["items"].as_array().expect("items").is_empty(), "a GET changes nothing");
    let one_click = raw
        .post(format!("{}/t/u/{unsubscribe}", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(one_click.status(), 200);
    let list = server.get("/api/v1/suppressions", &token).await.ok(200).clone();
    assert_eq!(list["items"][0]["email"], sent[0].to.as_str());
    assert_eq!(list["items"][0]["reason"], "unsubscribed");

    // Conversions, then the statistics.
    let converted = contacts.iter().find(|c| c["email"] == sent[0].to.as_str()).expect("contact");
    let conversion = json!({"contact_id": converted["id"], "value_minor": 2500});
    server.post(&format!("{path}/conversions"), &token, conversion).await.ok(204);
    let stats = server.get(&format!("{path}/stats"), &token).await.ok(200).clone();
    assert_eq!((stats["unique_clicks"].as_u64(), stats["unique_opens"].as_u64()), (Some(1), Some(1)));
    assert_eq!((stats["conversions"].as_u64(), stats["conversion_value_minor"].as_i64()), (Some(1), Some(2500)));
    assert_eq!(stats["links"][0]["url"], "https://shop.acme.test/offer");

    // A bounce report for the other message suppresses its address.
    let other = &sent[1];
    let dsn = format!(
        "From: MAILER-DAEMON@mx.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; \
         report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n\
         Final-Recipient: rfc822; {to}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{id}>\r\n\r\n--b--\r\n",
        to = other.to,
        id = other.message_id
    );
    let ingested = server
        .client
        .post(format!("{}/api/v1/email-reports", server.base))
        .bearer_auth(&token)
        .header("content-type", "message/rfc822")
        .body(dsn)
        .send()
        .await
        .expect("report");
    assert_eq!(ingested.status(), 200);
    let outcome: Value = ingested.json().await.expect("json");
    assert_eq!(outcome["hard_bounces"], 1);
    assert_eq!(outcome["suppressed"][0], other.to.as_str());
}

crate::e2e!(
    a_campaign_is_sent_to_its_segment,
    the_lifecycle_is_guarded,
    the_suppression_list_pages_and_shrinks,
    tracking_unsubscribe_stats_conversions_and_bounces_over_http,
);
