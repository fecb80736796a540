//! The console's integrations pages: over plain HTTP on every backend (the pages render what the
//! services hold, another tenant's endpoint is a 404 page, secrets stay out of the HTML), and in
//! headless Chromium against a local webhook receiver and a local OAuth provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use crmcore::webhook::WebhookConfig;
use crmcore_http::oauth_http::HttpOAuthClient;
use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{Value, json};

use crate::browser::{Browser, browser};
use crate::support::{Backend, PASSWORD, TestServer, plain_client};
use crate::webhooks::verify;

type Inbox = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on 127.0.0.1 answering 200 to every POST and keeping what it got.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let kept = inbox.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |headers: HeaderMap, body: Bytes| {
        let kept = kept.clone();
        async move {
            kept.lock().unwrap().push((headers, body));
            (StatusCode::OK, "thanks")
        }
    }));
    (serve(app).await, inbox)
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// An OAuth 2.0 provider on 127.0.0.1 that approves every request at once: `/authorize`
/// redirects back with a code, `/token` issues tokens, `/contacts` answers two contacts.
async fn provider() -> String {
    async fn authorize(Query(q): Query<HashMap<String, String>>) -> Response {
        let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
        back.query_pairs_mut().append_pair("code", "code-1").append_pair("state", &q["state"]);
        Redirect::to(back.as_str()).into_response()
    }
    async fn token() -> Response {
        axum::Json(json!({"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600,
                          "refresh_token": "refresh-1", "scope": "contacts.read"}))
        .into_response()
    }
    async fn contacts() -> Response {
        axum::Json(json!([{"email": "ana@partner.example", "first_name": "Ana"}, {"email": "ben@partner.example"}]))
            .into_response()
    }
    serve(
        axum::Router::new()
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/contacts", axum::routing::get(contacts)),
    )
    .await
}

/// A server whose webhooks and OAuth client may reach 127.0.0.1 over plain http; its in-process
/// worker delivers and syncs.
async fn server(backend: Backend) -> TestServer {
    let local = || SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()]);
    let transport = HttpWebhookTransport::new(local()).unwrap();
    let oauth = HttpOAuthClient::new(local(), Duration::from_secs(5)).unwrap();
    let config = WebhookConfig { allow_http: true, ..WebhookConfig::default() };
    TestServer::start_built(
        backend,
        |b| b.webhook_transport(Arc::new(transport)).oauth(Arc::new(oauth)).webhook_config(config),
        |_| {},
    )
    .await
}

/// A console page: status and HTML.
async fn page(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let response =
        plain_client().get(format!("{}{path}", server.base)).header(COOKIE, cookie).send().await.expect("page");
    (response.status(), response.text().await.expect("html"))
}

/// The CSRF token a page carries for its scripts.
fn csrf_of(html: &str) -> String {
    let start = html.find("data-csrf=\"").expect("page carries a CSRF token") + "data-csrf=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Polls `check` until it holds (10 s at most).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {what}");
}

async fn integrations_pages(backend: Backend) {
    let server = server(backend).await;
    let (_tenant, _owner, token) = server.tenant("Hooks Co", "ada@hooks.test").await;
    let (_other, _owner_b, other_token) = server.tenant("Other Co", "bob@other.test").await;
    let cookie = server.console_cookie("ada@hooks.test").await;

    // Empty, the page says what to do in each section.
    let (status, html) = page(&server, &cookie, "/integrations").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for empty in ["No webhook endpoints yet", "No chat connectors yet", "No connected apps", "No OAuth providers yet"] {
        assert!(html.contains(empty), "{empty}");
    }
    assert!(html.contains("deal.stage_changed"), "the catalogue picker lists the event types");

    // An endpoint, a Slack connector and a provider show in their sections.
    let (hook_base, _inbox) = receiver().await;
    let created = server
        .post(
            "/api/v1/webhook-endpoints",
            &token,
            json!({"url": format!("{hook_base}/crm"), "description": "Warehouse sync", "event_types": ["deal.*", "contact.created"],
                   "headers": {"X-Api-Key": "header-value-never-shown"}, "rate_limit_per_second": 5}),
        )
        .await
        .ok(201)
        .clone();
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    server
        .post(
            "/api/v1/webhook-endpoints",
            &token,
            json!({"url": "https://hooks.slack.example/services/T1", "description": "#sales", "format": "slack",
                   "event_types": ["deal.won"]}),
        )
        .await
        .ok(201);
    let oauth_base = provider().await;
    let new_provider = json!({"name": "Partner CRM", "authorize_url": format!("{oauth_base}/authorize"),
        "token_url": format!("{oauth_base}/token"), "sync_url": format!("{oauth_base}/contacts"),
        "scopes": ["contacts.read"], "client_id": "crm-client", "client_secret": "client-secret-never-shown"});
    let provider_id = server.post("/api/v1/oauth-providers", &token, new_provider).await.ok(201)["id"].clone();

    let (_, html) = page(&server, &cookie, "/integrations").await;
    let connectors = &html[html.find("id=\"connectors\"").unwrap()..html.find("id=\"connections\"").unwrap()];
    assert!(connectors.contains("#sales") && !connectors.contains("Warehouse sync"), "chat connectors are apart");
    let webhooks = &html[html.find("id=\"webhooks\"").unwrap()..html.find("id=\"connectors\"").unwrap()];
    assert!(webhooks.contains("Warehouse sync") && webhooks.contains(&format!("/integrations/webhooks/{id}")));
    assert!(webhooks.contains("deal.*") && webhooks.contains("healthy"));
    assert!(
        html.contains("Partner CRM") && html.contains(&format!("data-authorize=\"{}\"", provider_id.as_str().unwrap()))
    );
    for hidden in [secret.as_str(), "header-value-never-shown", "client-secret-never-shown"] {
        assert!(!html.contains(hidden), "{hidden} must not be in the page");
    }

    // Connecting: the provider sends the browser back to the callback page, whose script
    // completes the flow through the API.
    let csrf = csrf_of(&html);
    let client = plain_client();
    let redirect_uri = format!("{}/integrations/oauth/callback", server.base);
    let start: Value = client
        .post(format!("{}/api/v1/oauth-providers/{}/authorize", server.base, provider_id.as_str().unwrap()))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"redirect_uri": redirect_uri}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consent = client.get(start["authorize_url"].as_str().unwrap()).send().await.unwrap();
    let back = consent.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(back.starts_with(&redirect_uri), "{back}");
    let (status, callback) = page(&server, &cookie, back.strip_prefix(&server.base).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(callback.contains("data-code=\"code-1\"") && callback.contains("Connecting"));
    let completed = client
        .post(format!("{}/api/v1/oauth/complete", server.base))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"state": start["state"], "code": "code-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::CREATED);
    let connection: Value = completed.json().await.unwrap();
    let connection_id = connection["id"].as_str().unwrap().to_owned();
    let (_, refused) = page(&server, &cookie, "/integrations/oauth/callback?error=access_denied").await;
    assert!(refused.contains("The connection was not made") && refused.contains("access_denied"));
    let (_, bare) = page(&server, &cookie, "/integrations/oauth/callback").await;
    assert!(bare.contains("Nothing to connect"));

    // A schedule and a sync: the connection shows both, and the log its run.
    server
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/integrations/{connection_id}/schedule"),
            Some(&token),
            Some(json!({"cron": "0 */6 * * *"})),
        )
        .await
        .ok(200);
    server.post(&format!("/api/v1/integrations/{connection_id}/sync"), &token, json!({})).await.ok(202);
    eventually("the sync finished", || async {
        let logs = server.get(&format!("/api/v1/integrations/{connection_id}/sync-logs"), &token).await;
        logs.body["items"].as_array().is_some_and(|l| l.iter().any(|l| l["status"] == "succeeded"))
    })
    .await;
    let (_, html) = page(&server, &cookie, "/integrations?connected=1").await;
    assert!(html.contains("Connected."));
    let connections = &html[html.find("id=\"connections\"").unwrap()..html.find("id=\"providers\"").unwrap()];
    for shown in ["Partner CRM", "active", "0 */6 * * *", "contacts.read", "succeeded", "manual"] {
        assert!(connections.contains(shown), "{shown} in {connections}");
    }

    // One endpoint: its settings and log, never its secret until the API reveals it.
    let (status, html) = page(&server, &cookie, &format!("/integrations/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["Warehouse sync", "Delivery log", "X-Api-Key", "5 per second", "Reveal secret", "Rotate secret"] {
        assert!(html.contains(shown), "{shown}");
    }
    assert!(!html.contains(&secret) && !html.contains("header-value-never-shown"));
    let revealed: Value = client
        .get(format!("{}/api/v1/webhook-endpoints/{id}/secret", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["secret"], secret.as_str());

    // A test send shows in the log with its attempt.
    server.post(&format!("/api/v1/webhook-endpoints/{id}/test"), &token, json!({})).await.ok(202);
    eventually("the test delivery succeeded", || async {
        let page = server.get(&format!("/api/v1/webhook-deliveries?endpoint_id={id}"), &token).await;
        page.body["items"].as_array().is_some_and(|d| d.iter().any(|d| d["status"] == "succeeded"))
    })
    .await;
    let (_, html) = page(&server, &cookie, &format!("/integrations/webhooks/{id}?status=succeeded")).await;
    assert!(html.contains("webhook.endpoint.updated") && html.contains("HTTP 200") && html.contains("thanks"));
    assert!(html.contains("/replay"));
    let (_, none) = page(&server, &cookie, &format!("/integrations/webhooks/{id}?status=failed")).await;
    assert!(none.contains("No failed deliveries"));

    // Another tenant's endpoint, a malformed id and an unknown status are error pages.
    let theirs = server
        .post("/api/v1/webhook-endpoints", &other_token, json!({"url": "https://other.example/hook"}))
        .await
        .ok(201)["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, html) = page(&server, &cookie, &format!("/integrations/webhooks/{theirs}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("does not exist") && !html.contains("other.example"));
    let (status, _) = page(&server, &cookie, "/integrations/webhooks/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&server, &cookie, &format!("/integrations/webhooks/{id}?status=lost")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A member without the permission is told so.
    let member =
        json!({"email": "cy@hooks.test", "handle": "cy", "display_name": "Cy", "role": "member", "password": PASSWORD});
    server.post("/api/v1/members", &token, member).await.ok(201);
    let member_cookie = server.console_cookie("cy@hooks.test").await;
    let (status, html) = page(&server, &member_cookie, "/integrations").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Ask an owner or admin"));
    server.stop().await;
}

crate::e2e!(integrations_pages);

// ---- In a real browser ------------------------------------------------------------------------

/// Accepts the confirmation dialog a click opened.
async fn confirm(browser: &Browser) {
    for _ in 0..50 {
        if browser.client.accept_alert().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no confirmation dialog opened");
}

#[tokio::test]
async fn console_integrations_in_a_browser() {
    let Some(browser) = browser().await else { return };
    let server = server(Backend::Sqlite).await;
    let (tenant, _owner) = server.admin("Browser Hooks", "ada@browser-hooks.test").await;
    let token = server.login("ada@browser-hooks.test", Some(&tenant.slug)).await;
    let (hook_base, inbox) = receiver().await;
    let oauth_base = provider().await;
    let base = &server.base;

    browser.go(&format!("{base}/integrations")).await;
    browser.wait_url("/login").await;
    browser.fill("#email", "ada@browser-hooks.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_url("/integrations").await;
    browser.wait_text("#webhooks", "No webhook endpoints yet").await;

    // A new endpoint through the form: the catalogue picker fills the filter; a bad header line
    // is shown next to its field.
    browser.fill("#new-url", &format!("{hook_base}/crm")).await;
    browser.fill("#new-description", "Order system").await;
    browser.click("#new-webhook .event-picker summary").await;
    browser.click("#new-webhook input[data-event][value='deal.*']").await;
    browser.click("#new-webhook input[data-event][value='contact.created']").await;
    let filter = browser.find("#new-events").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(filter, "contact.created, deal.*", "in catalogue order");
    browser.fill("#new-rate", "20").await;
    browser.fill("#new-headers", "no colon here").await;
    browser.click("#new-webhook button[type=submit]").await;
    browser.wait_text("#new-webhook .field-error", "Name: value").await;
    browser.fill("#new-headers", "X-Shop: north").await;
    browser.click("#new-webhook button[type=submit]").await;
    let url = browser.wait_url("/integrations/webhooks/").await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    browser.wait_text("h1", "Order system").await;
    browser.wait_text("#deliveries", "No deliveries yet").await;
    let endpoint = server.get(&format!("/api/v1/webhook-endpoints/{id}"), &token).await.ok(200).clone();
    assert_eq!(endpoint["event_types"], json!(["contact.created", "deal.*"]));
    assert_eq!(endpoint["header_names"], json!(["X-Shop"]));
    assert_eq!(endpoint["rate_limit_per_second"], 20);

    // Settings: the description and the headers change; the filter stays as it was.
    browser.fill("#edit-description", "Order system EU").await;
    browser.fill("#edit-headers", "X-Region: eu").await;
    browser.click("form[data-method='PATCH'] button[type=submit]").await;
    browser.wait_text("h1", "Order system EU").await;
    let endpoint = server.get(&format!("/api/v1/webhook-endpoints/{id}"), &token).await.ok(200).clone();
    assert_eq!(endpoint["header_names"], json!(["X-Region"]));
    assert_eq!(endpoint["event_types"], json!(["contact.created", "deal.*"]));

    // A test event: the in-process worker delivers it and the log shows the attempt.
    browser.click("#test-form button[type=submit]").await;
    browser.wait_text("#test-status", "Delivered").await;
    browser.wait_text("#deliveries", "HTTP 200").await;
    browser.wait_text("#deliveries .delivery", "succeeded").await;
    assert_eq!(inbox.lock().unwrap().len(), 1);

    // The secret: absent until revealed, then the API's; rotation shows the new one.
    let page_source = browser.client.source().await.unwrap();
    let first_secret = server.get(&format!("/api/v1/webhook-endpoints/{id}/secret"), &token).await.ok(200)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!page_source.contains(&first_secret), "the secret is not in the page before it is revealed");
    assert!(!browser.find("#secret-box").await.is_displayed().await.unwrap(), "the secret box is hidden");
    browser.click("#secret-reveal").await;
    browser.wait_text("#secret-status", "Keep it private").await;
    let shown = browser.find("#secret-value").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(shown, first_secret);
    browser.click("#rotate-form button[type=submit]").await;
    confirm(&browser).await;
    browser.wait_text("#secret-status", "Rotated").await;
    let rotated = browser.find("#secret-value").await.prop("value").await.unwrap().unwrap_or_default();
    let second_secret = server.get(&format!("/api/v1/webhook-endpoints/{id}/secret"), &token).await.ok(200)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rotated, second_secret);
    assert_ne!(rotated, first_secret);

    // Replay: the same delivery again, signed with both secrets during the overlap (once the
    // sender's endpoint cache, two seconds, has seen the rotation).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    browser.click("#deliveries button[data-call$='/replay']").await;
    confirm(&browser).await;
    browser.wait_text("#deliveries .attempts", "#2").await;
    browser.wait_text("#deliveries .delivery", "succeeded").await;
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].0["webhook-id"], received[1].0["webhook-id"], "a replay keeps its webhook-id");
    assert!(verify(&second_secret, &received[1].0, &received[1].1));
    assert!(verify(&first_secret, &received[1].0, &received[1].1), "the old secret signs during the overlap");
    browser.find("#deliveries .delivery details summary").await.click().await.unwrap();
    browser.shoot("webhook-endpoint").await;

    // OAuth: a provider through the form; "Connect" goes to its authorization URL, which comes
    // back to the callback page and on to the connection.
    browser.go(&format!("{base}/integrations")).await;
    browser.wait_text("#webhooks", "Order system EU").await;
    browser.fill("#provider-name", "Partner CRM").await;
    browser.fill("#provider-authorize", &format!("{oauth_base}/authorize")).await;
    browser.fill("#provider-token", &format!("{oauth_base}/token")).await;
    browser.fill("#provider-sync", &format!("{oauth_base}/contacts")).await;
    browser.fill("#provider-scopes", "contacts.read").await;
    browser.fill("#provider-client", "crm-client").await;
    browser.fill("#provider-secret", "client-secret").await;
    browser.click("form[data-api='/api/v1/oauth-providers'] button[type=submit]").await;
    browser.wait_text("#providers", "Partner CRM").await;
    browser.click("#providers button[data-authorize]").await;
    browser.wait_url("connected=").await;
    browser.wait_text("#connections", "active").await;
    browser.fill("#connections input[name=cron]", "0 */6 * * *").await;
    browser.click("#connections form button[type=submit]").await;
    eventually("the schedule was saved", || async {
        let connections = server.get("/api/v1/integrations", &token).await;
        connections.body["items"][0]["sync_schedule"] == "0 */6 * * *"
    })
    .await;
    browser.go(&format!("{base}/integrations")).await;
    let cron = browser.find("#connections input[name=cron]").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(cron, "0 */6 * * *");
    browser.click("#connections button[data-call$='/sync']").await;
    let mut synced = false;
    for _ in 0..50 {
        browser.go(&format!("{base}/integrations")).await;
        if browser.find("#connections").await.text().await.unwrap().contains("succeeded") {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(synced, "the sync log shows the run");
    browser.shoot("integrations").await;
    browser.client.clone().close().await.expect("close the browser");
    server.stop().await;
}
