//! End-to-end campaign figures on SQLite and PostgreSQL (a bench binary, not criterion: each
//! figure needs a database loaded with 100,000 contacts first).
//!
//! - segment: `segment_count` of a composite rule (tag + custom field + no open deal) over
//!   100,000 contacts, median of 7 runs;
//! - send: a launched campaign to 50,000 of them — audience frozen in batches, every message
//!   personalised from a 20 KB HTML template with 15 variables and 10 tracked links, handed to a
//!   mailer that accepts at once, every outcome written to the ledger — in messages per second;
//! - memory: with `CRM_BENCH_RSS_RECIPIENTS=1000000`, SQLite only, the process's peak RSS growth
//!   over a send to that many recipients (streamed in batches).
//!
//! `cargo bench --bench campaign_send` (PostgreSQL too when `CRM_TEST_POSTGRES_URL` is set;
//! `-- sqlite` or `-- postgres` picks one).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use crmcore::campaign::segment::ValueOp;
use crmcore::campaign::{CampaignConfig, LinkConfig, NewCampaign, NewEmailTemplate, SegmentRule, Variant};
use crmcore::deal::DealStatus;
use crmcore::id::TenantId;
use crmcore::ports::{EmailMessage, MailError, Mailer, SendReceipt, Store};
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
use serde_json::json;
use sqlx::QueryBuilder;

#[path = "support/rss.rs"]
mod rss;
use rss::{reset_peak, rss_kib};

/// Accepts every message at once: the figure is the CRM's own cost.
#[derive(Debug, Default)]
struct AcceptingMailer(AtomicU64);

#[async_trait]
impl Mailer for AcceptingMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(SendReceipt { message_id: message.message_id.clone(), response: "250 2.0.0 OK".into() })
    }
}

enum Target {
    Sqlite(crmcore_sqlx::SqliteStore, std::path::PathBuf),
    Postgres(crmcore_sqlx::PgStore, String),
}

impl Target {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Target::Sqlite(s, _) => Arc::new(s.clone()),
            Target::Postgres(s, _) => Arc::new(s.clone()),
        }
    }

    async fn clean_up(self) {
        match self {
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

const PLANS: [&str; 3] = ["free", "pro", "team"];

struct Row {
    id: uuid::Uuid,
    email: String,
    first: String,
    last: String,
    company: String,
    tags: Vec<&'static str>,
    custom: serde_json::Value,
}

fn row(i: usize) -> Row {
    let mut tags = vec![];
    if i.is_multiple_of(2) {
        tags.push("vip");
    }
    if i.is_multiple_of(5) {
        tags.push("newsletter");
    }
    Row {
        id: uuid::Uuid::now_v7(),
        email: format!("contact{i}@example.com"),
        first: format!("First{i}"),
        last: format!("Last{}", i % 997),
        company: format!("Company {}", i % 311),
        tags,
        custom: json!({"plan": PLANS[i % 3], "seats": i % 50, "a": "x", "b": "y", "c": "z", "d": i, "e": "w",
                       "f": "v", "g": "u", "h": "t", "i": "s"}),
    }
}

fn text(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Loads `count` contacts (with their tag index rows) in multi-row INSERTs.
async fn load(target: &Target, tenant: TenantId, count: usize) {
    let now = Utc::now();
    for start in (0..count).step_by(1_000) {
        let rows: Vec<Row> = (start..(start + 1_000).min(count)).map(row).collect();
        match target {
            Target::Sqlite(s, _) => {
                let mut tx = s.pool().begin().await.expect("tx");
                let mut q: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(
                    "INSERT INTO contacts (tenant_id, id, email, first_name, last_name, company, phone, owner_id, tags, \
                     custom_fields, email_lc, first_name_lc, last_name_lc, company_lc, created_at, updated_at, version) ",
                );
                q.push_values(&rows, |mut b, r| {
                    b.push_bind(tenant.0.to_string())
                        .push_bind(r.id.to_string())
                        .push_bind(&r.email)
                        .push_bind(&r.first)
                        .push_bind(&r.last)
                        .push_bind(&r.company)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind(json!(r.tags).to_string())
                        .push_bind(r.custom.to_string())
                        .push_bind(r.email.to_lowercase())
                        .push_bind(r.first.to_lowercase())
                        .push_bind(r.last.to_lowercase())
                        .push_bind(r.company.to_lowercase())
                        .push_bind(text(now))
                        .push_bind(text(now))
                        .push_bind(1_i64);
                });
                q.build().execute(&mut *tx).await.expect("contacts");
                let tagged: Vec<(&Row, &str)> = rows.iter().flat_map(|r| r.tags.iter().map(move |t| (r, *t))).collect();
                if !tagged.is_empty() {
                    let mut q: QueryBuilder<sqlx::Sqlite> =
                        QueryBuilder::new("INSERT INTO contact_tags (tenant_id, tag, contact_id) ");
                    q.push_values(&tagged, |mut b, (r, t)| {
                        b.push_bind(tenant.0.to_string()).push_bind(*t).push_bind(r.id.to_string());
                    });
                    q.build().execute(&mut *tx).await.expect("tags");
                }
                tx.commit().await.expect("commit");
            }
            Target::Postgres(s, _) => {
                let mut tx = s.pool().begin().await.expect("tx");
                let mut q: QueryBuilder<sqlx::Postgres> = QueryBuilder::new(
                    "INSERT INTO contacts (tenant_id, id, email, first_name, last_name, company, phone, owner_id, tags, \
                     custom_fields, email_lc, first_name_lc, last_name_lc, company_lc, created_at, updated_at, version) ",
                );
                q.push_values(&rows, |mut b, r| {
                    b.push_bind(tenant.0)
                        .push_bind(r.id)
                        .push_bind(&r.email)
                        .push_bind(&r.first)
                        .push_bind(&r.last)
                        .push_bind(&r.company)
                        .push_bind(None::<String>)
                        .push_bind(None::<uuid::Uuid>)
                        .push_bind(sqlx::types::Json(json!(r.tags)))
                        .push_bind(sqlx::types::Json(&r.custom))
                        .push_bind(r.email.to_lowercase())
                        .push_bind(r.first.to_lowercase())
                        .push_bind(r.last.to_lowercase())
                        .push_bind(r.company.to_lowercase())
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(1_i64);
                });
                q.build().execute(&mut *tx).await.expect("contacts");
                let tagged: Vec<(&Row, &str)> = rows.iter().flat_map(|r| r.tags.iter().map(move |t| (r, *t))).collect();
                let mut q: QueryBuilder<sqlx::Postgres> =
                    QueryBuilder::new("INSERT INTO contact_tags (tenant_id, tag, contact_id) ");
                q.push_values(&tagged, |mut b, (r, t)| {
                    b.push_bind(tenant.0).push_bind(*t).push_bind(r.id);
                });
                q.build().execute(&mut *tx).await.expect("tags");
                tx.commit().await.expect("commit");
            }
        }
    }
    match target {
        Target::Sqlite(s, _) => {
            sqlx::query("ANALYZE").execute(s.pool()).await.expect("analyze");
        }
        Target::Postgres(s, _) => {
            sqlx::query("ANALYZE").execute(s.pool()).await.expect("analyze");
        }
    }
}

/// A ~20 KB HTML template using 15 variables and 10 links.
fn template_html() -> String {
    let vars = [
        "first_name",
        "last_name",
        "name",
        "email",
        "company",
        "custom.plan",
        "custom.seats",
        "custom.a",
        "custom.b",
        "custom.c",
        "custom.d",
        "custom.e",
        "custom.f",
        "custom.g",
        "campaign_name",
    ];
    let mut html = String::from("<html><body><h1>Hello {{ first_name | default('there', true) }}</h1>");
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut \
                  labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco. ";
    let mut i = 0;
    while html.len() < 20_000 {
        html.push_str(&format!("<p>{filler}<strong>{{{{ {} }}}}</strong> {filler}</p>", vars[i % vars.len()]));
        if i < 10 {
            html.push_str(&format!("<p><a href=\"https://acme.test/products/{i}?ref=mail\">Product {i}</a></p>"));
        }
        i += 1;
    }
    html.push_str("<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p></body></html>");
    html
}

async fn crm_for(target: &Target, mailer: Arc<AcceptingMailer>) -> (Crm, Actor) {
    let links =
        LinkConfig { public_url: Some("https://crm.acme.test".into()), ..LinkConfig::ephemeral().expect("key") };
    let config = CampaignConfig { links: Some(links), ..Default::default() };
    let crm = Crm::builder().shared_store(target.store()).mailer(mailer).campaign_config(config).build().expect("crm");
    let owner = NewOwner { email: "bench@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Bench", owner).await.expect("tenant");
    (crm, Actor::member(tenant.id, owner.id, owner.role))
}

/// Sends a campaign to `segment`; returns (messages, seconds).
async fn send(crm: &Crm, actor: &Actor, segment: SegmentRule) -> (u64, f64) {
    let template = NewEmailTemplate {
        name: "Bench".into(),
        subject: "{{ first_name }}, news for {{ company }}".into(),
        html: template_html(),
        text: None,
    };
    let template = crm.campaigns().create_template(actor, template).await.expect("template");
    let campaign = NewCampaign {
        name: "Bench".into(),
        from_email: "news@acme.test".into(),
        from_name: Some("Acme".into()),
        reply_to: None,
        segment,
        variants: vec![Variant { name: "A".into(), weight: 1, template_id: template.id, subject: None }],
        ab_test: None,
        rate_limit_per_second: None,
    };
    let campaign = crm.campaigns().create(actor, campaign).await.expect("campaign");
    let started = Instant::now();
    crm.campaigns().launch(actor, campaign.id).await.expect("launch");
    // The phases: the audience frozen, the last recipient sent, every event dispatched.
    let watcher = {
        let (crm, actor, id) = (crm.clone(), *actor, campaign.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if crm.campaigns().get(&actor, id).await.is_ok_and(|c| c.audience_frozen) {
                    return started.elapsed().as_secs_f64();
                }
            }
        })
    };
    crm.worker().run_until_idle().await.expect("worker");
    let seconds = started.elapsed().as_secs_f64();
    if watcher.is_finished()
        && let Ok(frozen) = watcher.await
    {
        println!("  audience frozen after {frozen:.2} s");
    }
    let done = crm.campaigns().get(actor, campaign.id).await.expect("campaign");
    if let (Some(launched), Some(completed)) = (done.launched_at, done.completed_at) {
        println!(
            "  launch to completed {:.2} s; every event dispatched by {seconds:.2} s",
            (completed - launched).num_milliseconds() as f64 / 1_000.0
        );
    }
    let counts = crm.campaigns().counts(actor, campaign.id).await.expect("counts");
    assert!(counts.balanced() && counts.is_done(), "{counts:?}");
    (counts.sent, seconds)
}

async fn open(name: &str) -> Option<Target> {
    match name {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("crmcore-campaign-bench-{}.db", uuid::Uuid::now_v7()));
            // `CRM_BENCH_SQLITE_CACHE_MIB`: the pool's page cache budget (default: the store's).
            let mut settings = crmcore_sqlx::SqliteSettings::default();
            if let Some(mib) = std::env::var("CRM_BENCH_SQLITE_CACHE_MIB").ok().and_then(|v| v.parse::<u64>().ok()) {
                settings.page_cache_bytes = mib << 20;
            }
            // `CRM_BENCH_SQLITE_CONNECTIONS`: the pool's size (default: the store's).
            if let Some(n) = std::env::var("CRM_BENCH_SQLITE_CONNECTIONS").ok().and_then(|v| v.parse::<u32>().ok()) {
                settings.max_connections = n;
            }
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let store = crmcore_sqlx::SqliteStore::open_with(&url, settings).await.expect("sqlite");
            Some(Target::Sqlite(store, path))
        }
        _ => {
            let url = std::env::var("CRM_TEST_POSTGRES_URL").ok()?;
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let pg = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
            Some(Target::Postgres(pg, schema))
        }
    }
}

#[tokio::main]
async fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let contacts: usize = std::env::var("CRM_BENCH_CONTACTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    for name in ["sqlite", "postgres"] {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let Some(target) = open(name).await else {
            println!("{name}: skipped (CRM_TEST_POSTGRES_URL is not set)");
            continue;
        };
        let mailer = Arc::new(AcceptingMailer::default());
        let (crm, actor) = crm_for(&target, mailer.clone()).await;
        let loading = Instant::now();
        load(&target, actor.tenant_id, contacts).await;
        println!("{name}: loaded {contacts} contacts in {:.1} s", loading.elapsed().as_secs_f64());

        let rule = SegmentRule::All {
            rules: vec![
                SegmentRule::Tag { tag: "vip".into() },
                SegmentRule::CustomField { key: "plan".into(), op: ValueOp::Equals, value: Some(json!("pro")) },
                SegmentRule::Not {
                    rule: Box::new(SegmentRule::Deal {
                        status: Some(DealStatus::Open),
                        stage: None,
                        min_amount: None,
                        max_amount: None,
                        currency: None,
                    }),
                },
            ],
        };
        let condition = rule.resolve("segment", Utc::now()).expect("valid rule");
        let mut times = Vec::new();
        let mut matched = 0;
        for _ in 0..7 {
            let started = Instant::now();
            matched = target.store().campaigns().segment_count(actor.tenant_id, &condition).await.expect("count");
            times.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("{name}: segment of {contacts} contacts ({matched} match): median {:.1} ms", times[3]);

        reset_peak();
        let rss_before = rss_kib("VmRSS:");
        let (sent, seconds) = send(&crm, &actor, SegmentRule::Tag { tag: "vip".into() }).await;
        println!(
            "{name}: sent {sent} personalised messages (20 KB HTML, 15 variables, 10 tracked links) in {seconds:.1} s \
             = {:.0} messages/s; peak RSS grew {} MiB",
            sent as f64 / seconds,
            rss_kib("VmHWM:").saturating_sub(rss_before) / 1024
        );
        assert_eq!(mailer.0.load(Ordering::Relaxed), sent);
        target.clean_up().await;
    }

    if let Some(recipients) = std::env::var("CRM_BENCH_RSS_RECIPIENTS").ok().and_then(|v| v.parse::<usize>().ok()) {
        let target = open("sqlite").await.expect("sqlite");
        let mailer = Arc::new(AcceptingMailer::default());
        let (crm, actor) = crm_for(&target, mailer).await;
        load(&target, actor.tenant_id, recipients).await;
        reset_peak();
        let rss_before = rss_kib("VmRSS:");
        let (sent, seconds) = send(&crm, &actor, SegmentRule::All { rules: vec![] }).await;
        println!(
            "sqlite: {sent} recipients in {seconds:.0} s ({:.0}/s); RSS before {} MiB, peak growth {} MiB",
            sent as f64 / seconds,
            rss_before / 1024,
            rss_kib("VmHWM:").saturating_sub(rss_before) / 1024
        );
        target.clean_up().await;
    }
}
