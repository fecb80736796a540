//! Webhooks on the in-memory store: an endpoint subscribed to `deal.*`, a receiver on 127.0.0.1
//! that verifies every Standard Webhooks signature, a second endpoint that keeps answering 503
//! (its delivery waits for a retry, every attempt logged), and a replay.
//!
//! `cargo run --example webhooks`

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use crmcore::deal::NewDeal;
use crmcore::page::PageRequest;
use crmcore::tenant::NewOwner;
use crmcore::webhook::{DeliveryFilter, NewEndpoint, SigningSecret, WebhookConfig, verify};
use crmcore::{Actor, Crm};
use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};
use crmcore_memory::MemoryStore;

type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1: `/ok` answers 204, anything else 503. Returns its base URL.
async fn receiver(received: Received) -> std::io::Result<String> {
    let app = axum::Router::new().fallback(axum::routing::post(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                received.lock().unwrap_or_else(|e| e.into_inner()).push((uri.path().to_owned(), headers, body));
                if uri.path() == "/ok" { StatusCode::NO_CONTENT } else { StatusCode::SERVICE_UNAVAILABLE }
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let received: Received = Arc::default();
    let hooks = receiver(received.clone()).await?;
    // The SSRF guard refuses private addresses; this receiver's is allowed explicitly.
    let transport = HttpWebhookTransport::new(SsrfPolicy::allowing(["127.0.0.1".parse()?]))?;
    let crm = Crm::builder()
        .store(MemoryStore::new())
        .webhook_transport(Arc::new(transport))
        .webhook_config(WebhookConfig { allow_http: true, ..WebhookConfig::default() })
        .build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let ada = Actor::member(tenant.id, ada.id, ada.role);

    let subscribe = |path: &str| NewEndpoint {
        url: format!("{hooks}{path}"),
        description: format!("receiver {path}"),
        event_types: vec!["deal.*".into()],
        ..NewEndpoint::default()
    };
    let ok = crm.webhooks().create_endpoint(&ada, subscribe("/ok")).await?;
    let down = crm.webhooks().create_endpoint(&ada, subscribe("/down")).await?;
    println!("endpoint {} signs with {}…", ok.endpoint.id, &ok.secret[..12]);

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
    // The worker dispatches the outbox (creating one delivery per matching endpoint) and sends.
    crm.worker().run_until_idle().await?;

    let secrets = [("/ok", SigningSecret::parse(&ok.secret)?), ("/down", SigningSecret::parse(&down.secret)?)];
    let now = chrono::Utc::now().timestamp();
    for (path, headers, body) in received.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let secret = &secrets.iter().find(|(p, _)| p == path).ok_or("unknown path")?.1;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let event: serde_json::Value = serde_json::from_slice(body)?;
        let verified =
            verify(secret, header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), body, now);
        let verdict = match verified {
            Ok(()) => "verified".to_owned(),
            Err(e) => format!("REJECTED ({e})"),
        };
        let kind = event["type"].as_str().unwrap_or("?");
        println!("{path:<5} received {kind:<18} {} signature {verdict}", header("webhook-id"));
    }

    let filter = DeliveryFilter { endpoint_id: Some(down.endpoint.id), ..DeliveryFilter::default() };
    for delivery in crm.webhooks().list_deliveries(&ada, filter, PageRequest::first(10)).await?.items {
        let attempts = crm.webhooks().list_attempts(&ada, delivery.id).await?;
        let next = delivery.next_attempt_at.map(|at| (at - chrono::Utc::now()).num_seconds());
        println!(
            "/down {:<18} {:?} after {} attempt(s), last status {:?}, next in ~{}s",
            delivery.event_type.as_str(),
            delivery.status,
            attempts.len(),
            delivery.last_status,
            next.unwrap_or_default()
        );
    }

    let filter = DeliveryFilter { endpoint_id: Some(ok.endpoint.id), ..DeliveryFilter::default() };
    let first = crm.webhooks().list_deliveries(&ada, filter, PageRequest::first(1)).await?.items.remove(0);
    crm.webhooks().replay(&ada, first.id).await?;
    crm.worker().run_until_idle().await?;
    let again = crm.webhooks().get_delivery(&ada, first.id).await?;
    println!(
        "replayed {}: {:?}, {} attempts, same webhook-id {}",
        first.id,
        again.status,
        again.attempts,
        again.message_id()
    );
    Ok(())
}
