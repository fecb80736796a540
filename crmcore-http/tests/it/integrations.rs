//! Integrations over HTTP on every backend, against a real OAuth 2.0 provider started by the
//! test on 127.0.0.1 (authorization endpoint with PKCE, token endpoint, revocation, and a
//! contacts API behind bearer tokens): the authorization-code flow, sealed state, syncs that
//! import contacts, refresh before expiry and on 401, schedules, no overlapping syncs,
//! disconnect with revocation, and permissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use crmcore::webhook::WebhookConfig;
use crmcore_http::oauth_http::HttpOAuthClient;
use crmcore_http::webhook_http::SsrfPolicy;
use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

const CLIENT_ID: &str = "crm-client";
const CLIENT_SECRET: &str = "crm-client-secret-value";

/// The provider's memory: codes waiting for exchange, live tokens, what it saw.
#[derive(Default)]
struct Provider {
    /// code → (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    access: Vec<String>,
    refresh: Vec<String>,
    revoked: Vec<String>,
    refresh_grants: usize,
    /// 401s the contacts API answered.
    unauthorized: usize,
    /// Seconds until issued access tokens expire.
    expires_in: i64,
    counter: u64,
}

type Shared = Arc<Mutex<Provider>>;

fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let mut p = p.lock().unwrap();
    p.counter += 1;
    let code = format!("code-{}", p.counter);
    p.codes.insert(code.clone(), (q["code_challenge"].clone(), q["redirect_uri"].clone()));
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", &q["state"]);
    Redirect::to(to.as_str()).into_response()
}

fn issue(p: &mut Provider) -> Value {
    p.counter += 1;
    let access = format!("access-{}", p.counter);
    let refresh = format!("refresh-{}", p.counter);
    p.access.push(access.clone());
    p.refresh.push(refresh.clone());
    json!({"access_token": access, "token_type": "Bearer", "expires_in": p.expires_in, "refresh_token": refresh,
           "scope": "contacts.read"})
}

async fn token(State(p): State<Shared>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    if !client_authenticated(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut p = p.lock().unwrap();
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = p.codes.remove(&f["code"]) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            if crmcore::integration::pkce_challenge(&verifier) != challenge || f.get("redirect_uri") != Some(&redirect)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            axum::Json(issue(&mut p)).into_response()
        }
        Some("refresh_token") => {
            let presented = f.get("refresh_token").cloned().unwrap_or_default();
            if !p.refresh.contains(&presented) || p.revoked.contains(&presented) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            p.refresh.retain(|r| *r != presented);
            p.refresh_grants += 1;
            axum::Json(issue(&mut p)).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn revoke(State(p): State<Shared>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> StatusCode {
    if !client_authenticated(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut p = p.lock().unwrap();
    let token = f.get("token").cloned().unwrap_or_default();
    p.access.retain(|t| *t != token);
    p.revoked.push(token);
    StatusCode::OK
}

async fn contacts(State(p): State<Shared>, headers: HeaderMap) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let mut p = p.lock().unwrap();
    if !bearer.is_some_and(|t| p.access.iter().any(|a| a == t)) {
        p.unauthorized += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({"items": [
        {"email": "ana@partner.example", "first_name": "Ana", "company": "Partner"},
        {"email": "ben@partner.example", "first_name": "Ben"},
        {"email": "cy@partner.example", "last_name": "Young"},
        {"first_name": "No e-mail"},
    ]}))
    .into_response()
}

async fn start_provider() -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Provider { expires_in: 3600, ..Provider::default() }));
    let app = axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/revoke", axum::routing::post(revoke))
        .route("/api/contacts", axum::routing::get(contacts))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, shared)
}

async fn server(backend: Backend) -> TestServer {
    let policy = SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()]);
    let oauth = HttpOAuthClient::new(policy, std::time::Duration::from_secs(5)).unwrap();
    let config = WebhookConfig { allow_http: true, ..WebhookConfig::default() };
    TestServer::start_built(backend, |b| b.oauth(Arc::new(oauth)).webhook_config(config), |s| s.run_worker = false)
        .await
}

/// The person's browser: follows the authorization URL and returns the provider's redirect.
async fn consent(authorize_url: &str) -> url::Url {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(response.status(), 303, "the provider redirects back");
    url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn connect_sync_and_disconnect(backend: Backend) {
    let server = server(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let (provider_base, provider) = start_provider().await;

    let bad = json!({"name": "", "authorize_url": "ftp://x", "token_url": "https://id.example.com/token",
                     "client_id": "", "client_secret": "", "scopes": ["a b"]});
    let reply = server.post("/api/v1/oauth-providers", &token, bad).await;
    reply.problem(422);
    for field in ["name", "authorize_url", "client_id", "client_secret", "scopes[0]"] {
        assert!(reply.has_field_error(field), "{field}: {}", reply.body);
    }
    let body = json!({
        "name": "Partner CRM",
        "authorize_url": format!("{provider_base}/authorize"),
        "token_url": format!("{provider_base}/token"),
        "revoke_url": format!("{provider_base}/revoke"),
        "sync_url": format!("{provider_base}/api/contacts"),
        "scopes": ["contacts.read", "offline_access"],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    });
    let created = server.post("/api/v1/oauth-providers", &token, body).await.ok(201).clone();
    assert!(!created.to_string().contains(CLIENT_SECRET), "the client secret is never shown");
    let provider_path = format!("/api/v1/oauth-providers/{}", created["id"].as_str().unwrap());

    // Authorization code with PKCE.
    let redirect_uri = "https://app.example.com/oauth/callback";
    let start = server.post(&format!("{provider_path}/authorize"), &token, json!({"redirect_uri": redirect_uri})).await;
    let start = start.ok(200).clone();
    let authorize_url = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(param(&authorize_url, "code_challenge_method"), "S256");
    assert_eq!(param(&authorize_url, "scope"), "contacts.read offline_access");
    assert!(!start["authorize_url"].as_str().unwrap().contains("verifier"));
    let back = consent(authorize_url.as_str()).await;
    assert!(back.as_str().starts_with(redirect_uri));
    let (code, state) = (param(&back, "code"), param(&back, "state"));
    assert_eq!(state, start["state"].as_str().unwrap());

    let mut forged = state.clone();
    forged.replace_range(10..11, if &forged[10..11] == "A" { "B" } else { "A" });
    let refused = server.post("/api/v1/oauth/complete", &token, json!({"state": forged, "code": code})).await;
    refused.problem(401);
    let body = json!({"email": "mia@acme.test", "handle": "mia", "role": "admin", "password": PASSWORD});
    server.post("/api/v1/members", &token, body).await.ok(201);
    let other_admin = server.login("mia@acme.test", Some(&tenant.slug)).await;
    let refused = server.post("/api/v1/oauth/complete", &other_admin, json!({"state": state, "code": code})).await;
    refused.problem(401);
    let connection = server.post("/api/v1/oauth/complete", &token, json!({"state": state, "code": code})).await;
    let connection = connection.ok(201).clone();
    assert_eq!(connection["status"], "active");
    assert!(!connection.to_string().contains("access-"), "tokens are never shown");
    let path = format!("/api/v1/integrations/{}", connection["id"].as_str().unwrap());
    let reused = server.post("/api/v1/oauth/complete", &token, json!({"state": state, "code": code})).await;
    reused.problem(401);

    // Sync now: one job at a time; contacts imported and the run logged.
    assert_eq!(server.post(&format!("{path}/sync"), &token, json!({})).await.ok(202)["queued"], true);
    assert_eq!(server.post(&format!("{path}/sync"), &token, json!({})).await.ok(202)["queued"], false, "no overlap");
    server.crm.worker().run_until_idle().await.unwrap();
    let logs = server.get(&format!("{path}/sync-logs"), &token).await.ok(200).clone();
    let log = &logs["items"][0];
    assert_eq!(logs["items"].as_array().unwrap().len(), 1);
    assert_eq!((log["status"].as_str(), log["trigger"].as_str()), (Some("succeeded"), Some("manual")));
    assert_eq!(
        (log["records"].as_u64(), log["created"].as_u64(), log["updated"].as_u64()),
        (Some(4), Some(3), Some(0))
    );
    assert!(log["errors"][0].as_str().unwrap().starts_with("record 3:"), "{log}");
    let found = server.get("/api/v1/contacts?q=partner.example", &token).await.ok(200).clone();
    assert_eq!(found["items"].as_array().unwrap().len(), 3);

    // A 401 from the API: refresh, retry, succeed; the next run updates instead of creating.
    provider.lock().unwrap().access.clear();
    server.post(&format!("{path}/sync"), &token, json!({})).await.ok(202);
    server.crm.worker().run_until_idle().await.unwrap();
    let logs = server.get(&format!("{path}/sync-logs"), &token).await.ok(200).clone();
    assert_eq!(logs["items"][0]["status"], "succeeded", "{logs}");
    assert_eq!(logs["items"][0]["updated"], 3);
    assert_eq!(provider.lock().unwrap().refresh_grants, 1, "refreshed once, on the 401");

    // A token about to expire (30 s left) is refreshed before use, without a 401.
    {
        let mut p = provider.lock().unwrap();
        p.expires_in = 30;
        p.access.clear();
    }
    server.post(&format!("{path}/sync"), &token, json!({})).await.ok(202);
    server.crm.worker().run_until_idle().await.unwrap();
    let (grants, unauthorized) = {
        let p = provider.lock().unwrap();
        (p.refresh_grants, p.unauthorized)
    };
    assert_eq!(grants, 2, "the 30 s token came from the refresh after a 401");
    provider.lock().unwrap().expires_in = 3600;
    server.post(&format!("{path}/sync"), &token, json!({})).await.ok(202);
    server.crm.worker().run_until_idle().await.unwrap();
    let after = {
        let p = provider.lock().unwrap();
        (p.refresh_grants, p.unauthorized)
    };
    assert_eq!(after, (3, unauthorized), "refreshed before use, no 401");

    // Schedules: validated, and a due connection syncs by itself.
    server
        .call(reqwest::Method::PUT, &format!("{path}/schedule"), Some(&token), Some(json!({"cron": "every day"})))
        .await
        .problem(422);
    let scheduled = server
        .call(reqwest::Method::PUT, &format!("{path}/schedule"), Some(&token), Some(json!({"cron": "* * * * * *"})))
        .await;
    let scheduled = scheduled.ok(200).clone();
    assert_eq!(scheduled["sync_schedule"], "* * * * * *");
    assert!(scheduled["next_sync_at"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server.crm.worker().run_until_idle().await.unwrap();
    let logs = server.get(&format!("{path}/sync-logs"), &token).await.ok(200).clone();
    assert_eq!(logs["items"][0]["trigger"], "schedule", "{logs}");
    server
        .call(reqwest::Method::PUT, &format!("{path}/schedule"), Some(&token), Some(json!({"cron": null})))
        .await
        .ok(200);

    // Permissions and tenancy.
    let body = json!({"email": "max@acme.test", "handle": "max", "role": "manager", "password": PASSWORD});
    server.post("/api/v1/members", &token, body).await.ok(201);
    let manager = server.login("max@acme.test", Some(&tenant.slug)).await;
    server.get("/api/v1/integrations", &manager).await.problem(403);
    let (_other, _o, other_token) = server.tenant("Other", "bob@other.test").await;
    server.get(&path, &other_token).await.problem(404);
    server.get(&provider_path, &other_token).await.problem(404);

    // Disconnect revokes both tokens and removes the connection and its logs.
    assert_eq!(server.delete(&path, &token).await.status, 204);
    let revoked = provider.lock().unwrap().revoked.clone();
    assert!(revoked.iter().any(|t| t.starts_with("refresh-")) && revoked.iter().any(|t| t.starts_with("access-")));
    server.get(&path, &token).await.problem(404);
    assert!(server.get("/api/v1/integrations", &token).await.ok(200)["items"].as_array().unwrap().is_empty());
}

crate::e2e!(connect_sync_and_disconnect);
