//! End-to-end webhook delivery figures (a bench binary, not criterion): CRM mutations through the
//! services, the worker's dispatcher and sender, the SSRF-guarded HTTP transport, and a receiver
//! on 127.0.0.1 that verifies every signature.
//!
//! - throughput: 20,000 committed `contact.created` events drained to one endpoint, deliveries/s;
//! - fan-out: 2,000 events to 10 endpoints (20,000 deliveries), deliveries/s;
//! - latency: events committed at 1,000/s for 10 s with the worker running; event committed →
//!   first attempt received, p50/p99;
//! - isolation: the throughput run again beside a second endpoint, first one that answers at once
//!   (the baseline), then one that answers after 10 s; the first endpoint's deliveries/s.
//!
//! `cargo bench --bench webhook_delivery` (PostgreSQL when `CRM_TEST_POSTGRES_URL` is set,
//! SQLite otherwise; `-- sqlite` or `-- postgres` picks one; then `throughput`, `fanout`,
//! `latency` or `isolation` runs only those cases, e.g. `-- postgres isolation`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::Utc;
use crmcore::contact::NewContact;
use crmcore::ports::Store;
use crmcore::tenant::NewOwner;
use crmcore::webhook::{NewEndpoint, SigningSecret, WebhookConfig, verify};
use crmcore::{Actor, Crm};
use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};

/// What the receiver counts: verified deliveries per path, and per message the first arrival's
/// delay after the event's timestamp.
#[derive(Default)]
struct Receiver {
    secrets: Mutex<HashMap<String, SigningSecret>>,
    verified: AtomicU64,
    rejected: AtomicU64,
    per_path: Mutex<HashMap<String, u64>>,
    first_seen: Mutex<HashMap<String, f64>>,
}

async fn start_receiver(receiver: Arc<Receiver>) -> String {
    async fn handle(
        axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let arrived = Utc::now();
        let path = uri.path().to_owned();
        if path == "/slow" {
            tokio::time::sleep(Duration::from_secs(10)).await;
            return StatusCode::NO_CONTENT;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let ok = {
            let secrets = r.secrets.lock().unwrap();
            secrets.get(&path).is_some_and(|secret| {
                verify(
                    secret,
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    &body,
                    arrived.timestamp(),
                )
                .is_ok()
            })
        };
        if !ok {
            r.rejected.fetch_add(1, Ordering::Relaxed);
            return StatusCode::UNAUTHORIZED;
        }
        r.verified.fetch_add(1, Ordering::Relaxed);
        *r.per_path.lock().unwrap().entry(path).or_default() += 1;
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(at) = event["timestamp"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
            let delay = (arrived - at.with_timezone(&Utc)).num_microseconds().unwrap_or_default() as f64 / 1000.0;
            r.first_seen.lock().unwrap().entry(header("webhook-id").to_owned()).or_insert(delay);
        }
        StatusCode::NO_CONTENT
    }
    let app = axum::Router::new().fallback(axum::routing::post(handle)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn open(backend: &str) -> (Arc<dyn Store>, Option<(crmcore_sqlx::PgStore, String)>, Option<tempfile::TempDir>) {
    if backend == "postgres" {
        let url = std::env::var("CRM_TEST_POSTGRES_URL").expect("CRM_TEST_POSTGRES_URL");
        let schema = format!("bench_webhooks_{}", uuid::Uuid::now_v7().simple());
        let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
        return (Arc::new(store.clone()), Some((store, schema)), None);
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    (crmcore_sqlx::open(&url).await.expect("sqlite"), None, Some(dir))
}

struct Bench {
    crm: Crm,
    actor: Actor,
    receiver: Arc<Receiver>,
    hooks: String,
}

impl Bench {
    async fn endpoint(&self, path: &str) {
        let input = NewEndpoint {
            url: format!("{}{path}", self.hooks),
            event_types: vec!["contact.created".into()],
            ..NewEndpoint::default()
        };
        let created = self.crm.webhooks().create_endpoint(&self.actor, input).await.unwrap();
        self.receiver.secrets.lock().unwrap().insert(path.to_owned(), SigningSecret::parse(&created.secret).unwrap());
    }

    async fn contacts(&self, count: usize, tag: &str) {
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = count.div_ceil(8);
        for t in 0..8 {
            let crm = self.crm.clone();
            let actor = self.actor;
            let tag = tag.to_owned();
            tasks.spawn(async move {
                for i in (t * per_task)..((t + 1) * per_task).min(count) {
                    let input = NewContact { email: Some(format!("{tag}{i}@example.com")), ..NewContact::default() };
                    crm.contacts().create(&actor, input).await.unwrap();
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    fn delivered(&self, path: &str) -> u64 {
        self.receiver.per_path.lock().unwrap().get(path).copied().unwrap_or_default()
    }

    /// Runs the worker until `path` has received `want` deliveries; returns the seconds taken.
    async fn drain(&self, path: &str, want: u64) -> f64 {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = self.crm.worker();
        let running = tokio::spawn(async move {
            worker
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        let started = Instant::now();
        while self.delivered(path) < want && started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let _ = stop.send(());
        let _ = running.await;
        seconds
    }
}

async fn tenant(crm: &Crm, name: &str) -> Actor {
    let owner = NewOwner { email: format!("owner@{name}.test"), display_name: None, handle: None };
    let (tenant, member) = crm.tenants().create(name, owner).await.unwrap();
    Actor::member(tenant.id, member.id, member.role)
}

async fn bench(backend: &str, cases: &[String]) {
    let run = |case: &str| cases.is_empty() || cases.iter().any(|c| c == case);
    let (store, pg, _dir) = open(backend).await;
    let receiver = Arc::new(Receiver::default());
    let hooks = start_receiver(receiver.clone()).await;
    let transport = HttpWebhookTransport::new(SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()])).unwrap();
    let config = WebhookConfig { allow_http: true, ..WebhookConfig::default() };
    let crm = Crm::builder()
        .shared_store(store.clone())
        .webhook_transport(Arc::new(transport))
        .webhook_config(config)
        .build()
        .unwrap();

    // Throughput: a backlog of 20,000 events to one endpoint.
    if run("throughput") {
        throughput(backend, &crm, &receiver, &hooks).await;
    }
    if run("fanout") {
        fanout(backend, &crm, &receiver, &hooks).await;
    }
    if run("latency") {
        latency(backend, &crm, &receiver, &hooks).await;
    }
    if run("isolation") {
        isolation(backend, &crm, &receiver, &hooks).await;
    }
    println!(
        "{backend} signatures: {} verified, {} rejected",
        receiver.verified.load(Ordering::Relaxed),
        receiver.rejected.load(Ordering::Relaxed)
    );

    if let Some((store, schema)) = pg {
        let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
        let _ = sqlx::query(&drop).execute(store.pool()).await;
    }
}

/// A backlog of 20,000 events to one endpoint.
async fn throughput(backend: &str, crm: &Crm, receiver: &Arc<Receiver>, hooks: &str) {
    let b = Bench {
        actor: tenant(crm, "throughput").await,
        crm: crm.clone(),
        receiver: receiver.clone(),
        hooks: hooks.to_owned(),
    };
    b.endpoint("/one").await;
    b.contacts(20_000, "t").await;
    let seconds = b.drain("/one", 20_000).await;
    println!("{backend} throughput: 20000 deliveries in {seconds:.2} s = {:.0}/s", 20_000.0 / seconds);
}

/// 2,000 events to 10 endpoints.
async fn fanout(backend: &str, crm: &Crm, receiver: &Arc<Receiver>, hooks: &str) {
    let b = Bench {
        actor: tenant(crm, "fanout").await,
        crm: crm.clone(),
        receiver: receiver.clone(),
        hooks: hooks.to_owned(),
    };
    for i in 0..10 {
        b.endpoint(&format!("/fan{i}")).await;
    }
    b.contacts(2_000, "f").await;
    let started = Instant::now();
    let seconds = b.drain("/fan9", 2_000).await;
    while (0..10).map(|i| b.delivered(&format!("/fan{i}"))).sum::<u64>() < 20_000 && started.elapsed().as_secs() < 600 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("{backend} fan-out x10: 20000 deliveries in {seconds:.2} s = {:.0}/s", 20_000.0 / seconds);
}

/// 1,000 events/s for 10 s, worker running: committed -> first attempt received.
async fn latency(backend: &str, crm: &Crm, receiver: &Arc<Receiver>, hooks: &str) {
    let b = Bench {
        actor: tenant(crm, "latency").await,
        crm: crm.clone(),
        receiver: receiver.clone(),
        hooks: hooks.to_owned(),
    };
    b.endpoint("/latency").await;
    receiver.first_seen.lock().unwrap().clear();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = crm.worker();
    let running = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    let mut produced = 0;
    while produced < 10_000 {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * 1000.0) as usize).min(10_000);
        let mut tasks = tokio::task::JoinSet::new();
        for i in produced..due {
            let crm = crm.clone();
            let actor = b.actor;
            tasks.spawn(async move {
                let input = NewContact { email: Some(format!("l{i}@example.com")), ..NewContact::default() };
                crm.contacts().create(&actor, input).await.unwrap();
            });
        }
        while tasks.join_next().await.is_some() {}
        produced = due;
    }
    let rate = produced as f64 / started.elapsed().as_secs_f64();
    while b.delivered("/latency") < 10_000 && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    let _ = running.await;
    let mut delays: Vec<f64> = receiver.first_seen.lock().unwrap().values().copied().collect();
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays.get(((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1))).copied();
    println!(
        "{backend} latency at {rate:.0} events/s: committed -> first attempt p50 {:.1} ms, p99 {:.1} ms ({} deliveries)",
        pct(0.50).unwrap_or_default(),
        pct(0.99).unwrap_or_default(),
        delays.len()
    );
}

/// The throughput drain beside a second endpoint that answers at once (the baseline), then beside
/// one that answers after 10 s.
async fn isolation(backend: &str, crm: &Crm, receiver: &Arc<Receiver>, hooks: &str) {
    let b = Bench {
        actor: tenant(crm, "pair").await,
        crm: crm.clone(),
        receiver: receiver.clone(),
        hooks: hooks.to_owned(),
    };
    b.endpoint("/pair-a").await;
    b.endpoint("/pair-b").await;
    b.contacts(20_000, "p").await;
    let seconds = b.drain("/pair-a", 20_000).await;
    println!(
        "{backend} beside a fast endpoint: 20000 deliveries to the first in {seconds:.2} s = {:.0}/s",
        20_000.0 / seconds
    );

    // Isolation: the throughput run beside an endpoint that answers after 10 s.
    let b = Bench {
        actor: tenant(crm, "isolation").await,
        crm: crm.clone(),
        receiver: receiver.clone(),
        hooks: hooks.to_owned(),
    };
    b.endpoint("/healthy").await;
    b.endpoint("/slow").await;
    b.contacts(20_000, "i").await;
    let seconds = b.drain("/healthy", 20_000).await;
    println!(
        "{backend} beside a 10 s endpoint: 20000 healthy deliveries in {seconds:.2} s = {:.0}/s",
        20_000.0 / seconds
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let backends: Vec<&str> = match args.first().map(String::as_str) {
        Some("sqlite") => vec!["sqlite"],
        Some("postgres") => vec!["postgres"],
        _ if std::env::var("CRM_TEST_POSTGRES_URL").is_ok() => vec!["postgres", "sqlite"],
        _ => vec!["sqlite"],
    };
    let cases: Vec<String> = args.iter().filter(|a| !matches!(a.as_str(), "sqlite" | "postgres")).cloned().collect();
    for backend in backends {
        bench(backend, &cases).await;
    }
}
