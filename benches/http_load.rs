//! End-to-end load: the real server (axum + worker) on loopback, driven by concurrent HTTP
//! clients that create contacts, then list them. Prints throughput and latency percentiles.
//!
//! `cargo bench --bench http_load` — SQLite by default; `CRM_BENCH_DATABASE_URL=postgres://…`
//! runs it on PostgreSQL (in a fresh schema). `CRM_BENCH_REQUESTS` (default 4000) and
//! `CRM_BENCH_CONCURRENCY` (default 32) size the run. Requests are bounded in count and go to
//! 127.0.0.1 only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crmcore::Crm;
use crmcore::actor::Role;
use crmcore::id::ApiKeyId;
use crmcore::ports::{ApiKey, Store};
use crmcore::secret::{hash_token, random_bytes, random_token};
use crmcore::tenant::NewOwner;
use crmcore_http::{Secret, Settings};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn open_store() -> (String, Arc<dyn Store>) {
    match std::env::var("CRM_BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
            ("postgres".into(), Arc::new(store))
        }
        _ => {
            let path = std::env::temp_dir().join(format!("crmcore-load-{}.db", uuid::Uuid::now_v7()));
            let store = crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("sqlite");
            ("sqlite".into(), Arc::new(store))
        }
    }
}

struct Phase {
    name: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
    failures: usize,
}

impl Phase {
    fn report(&mut self, store: &str, concurrency: usize) {
        self.latencies.sort();
        let pct = |p: f64| self.latencies[((self.latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
        println!(
            "{store:8} {:22} {:6} requests  {:8.0} req/s  p50 {:6.2} ms  p95 {:6.2} ms  p99 {:6.2} ms  failures {}  (concurrency {concurrency})",
            self.name,
            self.latencies.len(),
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            self.failures,
        );
    }
}

async fn run_phase<F, Fut>(name: &'static str, requests: usize, concurrency: usize, make: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (make, next) = (make.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        return (latencies, failures);
                    }
                    let t = Instant::now();
                    if !make(i).await {
                        failures += 1;
                    }
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut phase = Phase { name, latencies: Vec::with_capacity(requests), elapsed: Duration::ZERO, failures: 0 };
    for worker in workers {
        let (latencies, failures) = worker.await.expect("client task");
        phase.latencies.extend(latencies);
        phase.failures += failures;
    }
    phase.elapsed = started.elapsed();
    phase
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench` probes harness-less benches with --list.
    }
    let requests = env_usize("CRM_BENCH_REQUESTS", 4000);
    let concurrency = env_usize("CRM_BENCH_CONCURRENCY", 32);
    let (store_name, store) = open_store().await;
    let crm = Crm::builder().shared_store(store.clone()).build().expect("crm");
    let owner = NewOwner { email: "load@acme.test".into(), display_name: None, handle: None };
    let (tenant, _) = crm.tenants().create("Load", owner).await.expect("tenant");
    let secret = random_token("crm_", 32).expect("token");
    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: tenant.id,
        name: "load".into(),
        prefix: secret[..8].into(),
        secret_hash: hash_token(&secret),
        role: Role::Admin,
        created_by: None,
        created_at: chrono::Utc::now(),
        expires_at: None,
        revoked_at: None,
    };
    store.credentials().insert_api_key(&key).await.expect("api key");

    let mut settings = Settings::new(Secret::new(random_bytes(32).expect("secret")));
    settings.rate_limit = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crmcore_http::serve(crm, settings, listener, async {
        let _ = stop_rx.await;
    }));

    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let auth = format!("Bearer {secret}");
    let (c, a, b) = (client.clone(), auth.clone(), base.clone());
    let mut create = run_phase("POST /api/v1/contacts", requests, concurrency, move |i| {
        let (c, a, b) = (c.clone(), a.clone(), b.clone());
        async move {
            let body = json!({"email": format!("load{i}@example.com"), "first_name": format!("Load{i}"), "company": "Acme", "tags": ["load"]});
            let res = c.post(format!("{b}/api/v1/contacts")).header("authorization", a).json(&body).send().await;
            res.is_ok_and(|r| r.status() == 201)
        }
    })
    .await;
    let (c, a, b) = (client.clone(), auth.clone(), base.clone());
    let mut list = run_phase("GET /api/v1/contacts", requests, concurrency, move |i| {
        let (c, a, b) = (c.clone(), a.clone(), b.clone());
        async move {
            let url = if i % 2 == 0 {
                format!("{b}/api/v1/contacts?limit=50")
            } else {
                format!("{b}/api/v1/contacts?limit=50&tag=load&q=load1")
            };
            let res = c.get(url).header("authorization", a).send().await;
            res.is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    create.report(&store_name, concurrency);
    list.report(&store_name, concurrency);
    let _ = stop_tx.send(());
    server.await.expect("server task").expect("server");
}
