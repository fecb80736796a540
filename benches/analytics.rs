//! Full pipeline analytics (stage metrics, funnel, velocity, weighted pipeline, health, insights
//! and the forecast with its rolling-origin backtest) over 100,000 deals with 1–5 stage
//! changes spread over three years: from the in-memory store, SQLite, and PostgreSQL when
//! `CRM_TEST_POSTGRES_URL` is set (fresh schema). Also each store's snapshot read alone, and the
//! computation alone on a loaded snapshot.
//!
//! The memory store is filled through its repository; the SQL stores in bulk through their pools
//! (multi-row `INSERT`s in one transaction), so PostgreSQL loads in seconds, not half an hour.
//!
//! `cargo bench --bench analytics` (add `-- --quick` for a short run, and a filter such as
//! `postgres` to load only that store).

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
type Generated = Vec<(Deal, StageChange, Vec<(Deal, StageChange)>)>;

/// Generates [`DEALS`] deals with their histories, the same on every store.
fn generate(tenant: TenantId, owner: MemberId) -> Generated {
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

/// A store to benchmark; the SQL stores are loaded in bulk through their pools (one multi-row
/// `INSERT` per chunk, in one transaction), the memory store through its repository.
enum Target {
    Memory(Arc<crmcore_memory::MemoryStore>),
    /// The store and its database file.
    Sqlite(crmcore_sqlx::SqliteStore, std::path::PathBuf),
    /// The store and its schema.
    Postgres(crmcore_sqlx::PgStore, String),
}

impl Target {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Target::Memory(s) => s.clone(),
            Target::Sqlite(s, _) => Arc::new(s.clone()),
            Target::Postgres(s, _) => Arc::new(s.clone()),
        }
    }

    /// Removes the database file or schema the bench created.
    async fn clean_up(self) {
        match self {
            Target::Memory(_) => {}
            Target::Sqlite(s, path) => {
                s.pool().close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Target::Postgres(s, schema) => {
                let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
                sqlx::query(&drop).execute(s.pool()).await.expect("drop schema");
            }
        }
    }
}

/// The final state of each deal and its whole history.
fn final_states(data: &Generated) -> (Vec<&Deal>, Vec<&StageChange>) {
    let deals = data.iter().map(|(first, _, later)| later.last().map_or(first, |l| &l.0)).collect();
    let changes = data.iter().flat_map(|(_, c, later)| std::iter::once(c).chain(later.iter().map(|l| &l.1))).collect();
    (deals, changes)
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn load_sqlite(pool: &sqlx::SqlitePool, data: &Generated) {
    let (deals, changes) = final_states(data);
    let mut tx = pool.begin().await.expect("begin");
    for chunk in deals.chunks(1_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO deals (tenant_id, id, title, title_lc, contact_id, owner_id, amount_minor, currency, stage, \
             probability, expected_close, status, closed_at, lost_reason, created_at, updated_at, version) ",
        );
        q.push_values(chunk, |mut b, d| {
            b.push_bind(d.tenant_id.0.hyphenated().to_string())
                .push_bind(d.id.0.hyphenated().to_string())
                .push_bind(d.title.clone())
                .push_bind(d.title.to_lowercase())
                .push_bind(None::<String>)
                .push_bind(d.owner_id.map(|o| o.0.hyphenated().to_string()))
                .push_bind(d.amount.amount_minor)
                .push_bind(d.amount.currency.as_str().to_owned())
                .push_bind(d.stage.clone())
                .push_bind(i64::from(d.probability))
                .push_bind(d.expected_close)
                .push_bind(d.status.as_str())
                .push_bind(d.closed_at.map(time_text))
                .push_bind(None::<String>)
                .push_bind(time_text(d.created_at))
                .push_bind(time_text(d.updated_at))
                .push_bind(d.version);
        });
        q.build().execute(&mut *tx).await.expect("insert deals");
    }
    for chunk in changes.chunks(4_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO deal_stage_history (tenant_id, deal_id, from_stage, to_stage, changed_at, changed_by) ",
        );
        q.push_values(chunk, |mut b, c| {
            b.push_bind(c.tenant_id.0.hyphenated().to_string())
                .push_bind(c.deal_id.0.hyphenated().to_string())
                .push_bind(c.from_stage.clone())
                .push_bind(c.to_stage.clone())
                .push_bind(time_text(c.changed_at))
                .push_bind(serde_json::to_string(&c.changed_by).expect("principal"));
        });
        q.build().execute(&mut *tx).await.expect("insert history");
    }
    tx.commit().await.expect("commit");
}

async fn load_postgres(pool: &sqlx::PgPool, data: &Generated) {
    let (deals, changes) = final_states(data);
    let mut tx = pool.begin().await.expect("begin");
    for chunk in deals.chunks(2_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO deals (tenant_id, id, title, title_lc, contact_id, owner_id, amount_minor, currency, stage, \
             probability, expected_close, status, closed_at, lost_reason, created_at, updated_at, version) ",
        );
        q.push_values(chunk, |mut b, d| {
            b.push_bind(d.tenant_id.0)
                .push_bind(d.id.0)
                .push_bind(d.title.clone())
                .push_bind(d.title.to_lowercase())
                .push_bind(None::<uuid::Uuid>)
                .push_bind(d.owner_id.map(|o| o.0))
                .push_bind(d.amount.amount_minor)
                .push_bind(d.amount.currency.as_str().to_owned())
                .push_bind(d.stage.clone())
                .push_bind(i64::from(d.probability))
                .push_bind(d.expected_close)
                .push_bind(d.status.as_str())
                .push_bind(d.closed_at)
                .push_bind(None::<String>)
                .push_bind(d.created_at)
                .push_bind(d.updated_at)
                .push_bind(d.version);
        });
        q.build().execute(&mut *tx).await.expect("insert deals");
    }
    for chunk in changes.chunks(8_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO deal_stage_history (tenant_id, deal_id, from_stage, to_stage, changed_at, changed_by) ",
        );
        q.push_values(chunk, |mut b, c| {
            b.push_bind(c.tenant_id.0)
                .push_bind(c.deal_id.0)
                .push_bind(c.from_stage.clone())
                .push_bind(c.to_stage.clone())
                .push_bind(c.changed_at)
                .push_bind(sqlx::types::Json(c.changed_by));
        });
        q.build().execute(&mut *tx).await.expect("insert history");
    }
    tx.commit().await.expect("commit");
    // What autovacuum would do shortly after such a load.
    sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
}

async fn load(target: &Target) -> (Crm, Actor) {
    let store = target.store();
    let clock = Arc::new(ManualClock::new(now()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock).build().expect("crm");
    let owner = NewOwner { email: "bench@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Bench", owner).await.expect("tenant");
    let data = generate(tenant.id, owner.id);
    match target {
        Target::Memory(_) => {
            let repo = store.deals();
            for (deal, first, later) in &data {
                repo.insert(deal, first, &[]).await.expect("insert");
                for (next, change) in later {
                    repo.update(next, Some(change), &[]).await.expect("update");
                }
            }
        }
        Target::Sqlite(s, _) => load_sqlite(s.pool(), &data).await,
        Target::Postgres(s, _) => load_postgres(s.pool(), &data).await,
    }
    (crm, Actor::member(tenant.id, owner.id, owner.role))
}

fn params() -> AnalyticsParams {
    AnalyticsParams { target_minor: Some(5_000_000_000), ..Default::default() }
}

/// The criterion filter given on the command line, if any (`cargo bench --bench analytics -- sqlite`).
fn filter() -> Option<String> {
    const TAKES_VALUE: [&str; 17] = [
        "--baseline",
        "--baseline-lenient",
        "--color",
        "--confidence-level",
        "--format",
        "--load-baseline",
        "--logfile",
        "--measurement-time",
        "--noise-threshold",
        "--nresamples",
        "--output-format",
        "--plotting-backend",
        "--profile-time",
        "--sample-size",
        "--save-baseline",
        "--significance-level",
        "--warm-up-time",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if TAKES_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// The stores the filter selects: loading 100k deals is skipped for stores it excludes.
async fn stores() -> Vec<(&'static str, Target)> {
    let filter = filter();
    let wanted =
        |name: &str| filter.as_deref().is_none_or(|f| format!("analytics/{name}/").contains(f) || f.contains(name));
    let mut stores = Vec::new();
    if wanted("memory") {
        stores.push(("memory", Target::Memory(Arc::new(crmcore_memory::MemoryStore::new()))));
    }
    if wanted("sqlite") {
        let path = std::env::temp_dir().join(format!("crmcore-analytics-bench-{}.db", uuid::Uuid::now_v7()));
        let sqlite =
            crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite");
        stores.push(("sqlite", Target::Sqlite(sqlite, path)));
    }
    if let (true, Ok(url)) = (wanted("postgres"), std::env::var("CRM_TEST_POSTGRES_URL")) {
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let pg = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
        stores.push(("postgres", Target::Postgres(pg, schema)));
    }
    stores
}

fn analytics_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for (name, target) in rt.block_on(stores()) {
        let started = std::time::Instant::now();
        let (crm, me) = rt.block_on(load(&target));
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
        group.bench_function("snapshot_only_100k_deals", |b| {
            b.to_async(&rt).iter(|| async { crm.analytics().snapshot(&me).await.expect("snapshot") })
        });
        if name == "memory" {
            let snapshot = rt.block_on(crm.analytics().snapshot(&me)).expect("snapshot");
            group.bench_function("compute_only_100k_deals", |b| {
                b.iter(|| {
                    let dataset = Dataset::new(crm.pipeline(), &snapshot, now(), &params()).expect("dataset");
                    dataset.report()
                })
            });
        }
        group.finish();
        drop(crm);
        rt.block_on(target.clean_up());
    }
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::analytics_benches);
}
criterion_main!(harness::benches);
