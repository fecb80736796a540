//! Integrations on the in-memory store, against a tiny OAuth 2.0 provider started on 127.0.0.1:
//! a Slack connector posting deal events as Block Kit messages, then an OAuth connection
//! (authorization code with PKCE), a sync that imports the provider's contacts, and its log.
//!
//! `cargo run --example integrations`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use crmcore::deal::NewDeal;
use crmcore::integration::{NewProvider, PayloadFormat, pkce_challenge};
use crmcore::page::PageRequest;
use crmcore::tenant::NewOwner;
use crmcore::webhook::{NewEndpoint, WebhookConfig};
use crmcore::{Actor, Crm};
use crmcore_http::oauth_http::HttpOAuthClient;
use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};
use crmcore_memory::MemoryStore;
use serde_json::{Value, json};

/// The provider's state: the PKCE challenge per code, and the messages the "Slack" URL got.
#[derive(Default)]
struct Provider {
    challenges: HashMap<String, String>,
    slack: Vec<Value>,
}

type Shared = Arc<Mutex<Provider>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Provider> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let code = format!("code-{}", lock(&p).challenges.len() + 1);
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    lock(&p).challenges.insert(code.clone(), challenge);
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let mut to = url::Url::parse(&redirect).expect("redirect URI");
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
    Redirect::to(to.as_str()).into_response()
}

async fn token(State(p): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let verified = f.get("code").and_then(|c| lock(&p).challenges.remove(c)).is_some_and(|challenge| {
        pkce_challenge(f.get("code_verifier").map(String::as_str).unwrap_or_default()) == challenge
    });
    if !verified {
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    axum::Json(json!({"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600, "token_type": "Bearer"}))
        .into_response()
}

async fn contacts() -> axum::Json<Value> {
    axum::Json(json!([
        {"email": "ana@partner.example", "first_name": "Ana", "company": "Partner"},
        {"email": "ben@partner.example", "first_name": "Ben"},
    ]))
}

async fn slack(State(p): State<Shared>, axum::Json(message): axum::Json<Value>) -> &'static str {
    lock(&p).slack.push(message);
    "ok"
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shared: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/contacts", axum::routing::get(contacts))
        .route("/slack", axum::routing::post(slack))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The SSRF guard refuses private addresses; this local provider's is allowed explicitly.
    let local = || SsrfPolicy::allowing(["127.0.0.1".parse().expect("an address")]);
    let crm = Crm::builder()
        .store(MemoryStore::new())
        .webhook_transport(Arc::new(HttpWebhookTransport::new(local())?))
        .oauth(Arc::new(HttpOAuthClient::new(local(), std::time::Duration::from_secs(5))?))
        .webhook_config(WebhookConfig { allow_http: true, ..WebhookConfig::default() })
        .build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let ada = Actor::member(tenant.id, ada.id, ada.role);

    // A Slack connector: deal events become Block Kit messages.
    let connector = NewEndpoint {
        url: format!("{base}/slack"),
        event_types: vec!["deal.won".into()],
        format: PayloadFormat::Slack,
        ..NewEndpoint::default()
    };
    crm.webhooks().create_endpoint(&ada, connector).await?;
    let deal = NewDeal {
        title: "Analytical engine".into(),
        contact_id: None,
        owner_id: None,
        amount_minor: 1_250_000,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let deal = crm.deals().create(&ada, deal).await?;
    crm.deals().move_stage(&ada, deal.id, "won", None).await?;
    crm.worker().run_until_idle().await?;
    for message in &lock(&shared).slack {
        println!("slack: {}", message["text"]);
    }

    // OAuth 2.0: register, authorize with PKCE, complete, sync.
    let provider = NewProvider {
        name: "Partner CRM".into(),
        authorize_url: format!("{base}/authorize"),
        token_url: format!("{base}/token"),
        revoke_url: None,
        sync_url: Some(format!("{base}/contacts")),
        scopes: vec!["contacts.read".into()],
        client_id: "client".into(),
        client_secret: "client-secret".into(),
    };
    let provider = crm.integrations().create_provider(&ada, provider).await?;
    let start = crm.integrations().start_authorization(&ada, provider.id, "https://app.example/callback").await?;
    // The person's browser: consent at the provider, which redirects back with code and state.
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let back = browser.get(&start.authorize_url).send().await?;
    let location = url::Url::parse(back.headers()["location"].to_str()?)?;
    let param = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (code, state) = (param("code").ok_or("no code")?, param("state").ok_or("no state")?);
    let connection = crm.integrations().complete_authorization(&ada, &state, &code).await?;
    println!("connected {} ({:?}), token expires {:?}", connection.id, connection.status, connection.expires_at);

    crm.integrations().sync_now(&ada, connection.id).await?;
    crm.worker().run_until_idle().await?;
    for log in crm.integrations().sync_logs(&ada, connection.id, PageRequest::first(5)).await?.items {
        println!(
            "sync {:?}: {} records, {} created, {} updated, errors {:?}",
            log.status, log.records, log.created, log.updated, log.errors
        );
    }
    Ok(())
}
