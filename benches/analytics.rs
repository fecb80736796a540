//! Full pipeline analytics (stage metrics, funnel, velocity, weighted pipeline, health, insights
//! and the forecast with its rolling-origin backtest) over 100,000 deals with 1–5 stage
//! changes spread over three years: from the in-memory store, SQLite, and PostgreSQL when
//! `CRM_TEST_POSTGRES_URL` is set (fresh schema). Also the computation alone, on a loaded snapshot.
//!
//! `cargo bench --bench analytics` (add `-- --quick` for a short run).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_main};
use crmcore::actor::Principal;
use crmcore::analytics::{AnalyticsParams, Dataset};
use crmcore::deal::{Deal, DealStatus, Pipeline, StageChange};
use crmcore::id::{DealId, MemberId, TenantId};
use crmcore::ports::{ManualClock, Store};
use crmcore::tenant::NewOwner;
use crmcore::value::{Currency, Money};
use crmcore::{Actor, Crm};

const DEALS: usize = 100_000;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).single().expect("valid")
}

/// xorshift: the same data on every store.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// Deals as the services would have written them: (first state, later states with their change).
/// A generated deal: its creation, then each later stage move.
type GeneratedDeal = (Deal, StageChange, Vec<(Deal, StageChange)>);

fn generate(tenant: TenantId, owner: MemberId) -> Vec<GeneratedDeal> {
    let pipeline = Pipeline::default();
    let stages = pipeline.stages();
    let eur = Currency::parse("EUR").expect("EUR");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = now() - Duration::days(3 * 365);
    (0..DEALS)
        .map(|i| {
            let created = start + Duration::minutes((i as i64) * 3 * 365 * 24 * 60 / DEALS as i64 - 60 * 24 * 30);
            let mut deal = Deal {
                id: DealId::new(),
                tenant_id: tenant,
                title: format!("Deal {i}"),
                contact_id: None,
                owner_id: Some(owner),
                amount: Money::new(100 * (1 + rng.next(50_000) as i64), eur).expect("amount"),
                stage: stages[0].key.clone(),
                probability: stages[0].probability,
                expected_close: Some((created + Duration::days(30 + rng.next(120) as i64)).date_naive()),
                status: DealStatus::Open,
                closed_at: None,
                lost_reason: None,
                created_at: created,
                updated_at: created,
                version: 1,
            };
            let change = |deal: &Deal, from: Option<&str>, at| StageChange {
                deal_id: deal.id,
                tenant_id: tenant,
                from_stage: from.map(str::to_owned),
                to_stage: deal.stage.clone(),
                changed_at: at,
                changed_by: Principal::System,
            };
            let first = change(&deal, None, created);
            let mut later = Vec::new();
            let mut at = created;
            let target = match rng.next(3) {
                0 => 4, // won
                1 => 5, // lost
                _ => rng.next(4) as usize,
            };
            let path: Vec<usize> =
                if target >= 4 { (1..=rng.next(4) as usize).chain([target]).collect() } else { (1..=target).collect() };
            for pos in path {
                at += Duration::hours(1 + rng.next(24 * 25) as i64);
                if at >= now() {
                    break;
                }
                let from = deal.stage.clone();
                deal.stage = stages[pos].key.clone();
                deal.probability = stages[pos].probability;
                deal.status = stages[pos].kind.status();
                deal.closed_at = (deal.status != DealStatus::Open).then_some(at);
                deal.updated_at = at;
                deal.version += 1;
                let c = change(&deal, Some(&from), at);
                later.push((deal.clone(), c));
            }
            let first_deal = Deal {
                stage: stages[0].key.clone(),
                probability: stages[0].probability,
                status: DealStatus::Open,
                closed_at: None,
                updated_at: created,
                version: 1,
                ..deal
            };
            (first_deal, first, later)
        })
        .collect()
}

async fn load(store: Arc<dyn Store>) -> (Crm, Actor) {
    let clock = Arc::new(ManualClock::new(now()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock).build().expect("crm");
    let owner = NewOwner { email: "bench@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Bench", owner).await.expect("tenant");
    let data = generate(tenant.id, owner.id);
    let repo = store.deals();
    for (deal, first, later) in &data {
        repo.insert(deal, first, &[]).await.expect("insert");
        for (next, change) in later {
            repo.update(next, Some(change), &[]).await.expect("update");
        }
    }
    (crm, Actor::member(tenant.id, owner.id, owner.role))
}

fn params() -> AnalyticsParams {
    AnalyticsParams { target_minor: Some(5_000_000_000), ..Default::default() }
}

async fn stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(crmcore_memory::MemoryStore::new()))];
    let path = std::env::temp_dir().join(format!("crmcore-analytics-bench-{}.db", uuid::Uuid::now_v7()));
    let sqlite =
        crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite");
    stores.push(("sqlite", Arc::new(sqlite)));
    if let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") {
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let pg = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
        stores.push(("postgres", Arc::new(pg)));
    }
    stores
}

fn analytics_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for (name, store) in rt.block_on(stores()) {
        let started = std::time::Instant::now();
        let (crm, me) = rt.block_on(load(store));
        let report = rt.block_on(crm.analytics().report(&me, &params())).expect("report");
        eprintln!(
            "{name}: loaded {DEALS} deals in {:.1?}; forecast on {} months, backtest {} origins, health {:.1}",
            started.elapsed(),
            report.forecast.as_ref().map_or(0, |f| f.history.len()),
            report.forecast.as_ref().and_then(|f| f.backtest.as_ref()).map_or(0, |b| b.origins),
            report.health.score.unwrap_or(f64::NAN)
        );
        let mut group = c.benchmark_group(format!("analytics/{name}"));
        group.sample_size(10).measurement_time(StdDuration::from_secs(if name == "memory" { 5 } else { 15 }));
        group.bench_function("full_report_100k_deals", |b| {
            b.to_async(&rt).iter(|| async { crm.analytics().report(&me, &params()).await.expect("report") })
        });
        if name == "memory" {
            let (deals, history) = rt.block_on(crm.analytics().snapshot(&me)).expect("snapshot");
            group.bench_function("compute_only_100k_deals", |b| {
                b.iter(|| {
                    let dataset = Dataset::new(crm.pipeline(), &deals, &history, now(), &params()).expect("dataset");
                    dataset.report()
                })
            });
        }
        group.finish();
    }
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::analytics_benches);
}
criterion_main!(harness::benches);
