//! Activity benchmarks: dispatcher throughput (events → activities, follows, feed items and
//! notifications) and member-feed / unread-count latency, on MemoryStore and SqliteStore (and
//! PgStore when `CRM_TEST_POSTGRES_URL` is set).
//!
//! `cargo bench --bench activity` — prints events/s and p50/p99 latencies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crmcore::activity::{FeedFilter, NewComment};
use crmcore::contact::{ContactPatch, NewContact};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::member::NewMember;
use crmcore::page::PageRequest;
use crmcore::ports::Store;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm, Role};

const CONTACTS: usize = 500;
const MEMBERS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(name: &str, store: Arc<dyn Store>) {
    let crm = Crm::builder().shared_store(store).build().expect("crm");
    let owner = NewOwner { email: "ada@bench.test".into(), display_name: None, handle: Some("ada".into()) };
    let (tenant, ada) = crm.tenants().create("Bench", owner).await.expect("tenant");
    let ada = Actor::member(tenant.id, ada.id, ada.role);
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let m = NewMember {
            email: format!("m{i}@bench.test"),
            display_name: None,
            handle: Some(format!("m{i}")),
            role: Role::Member,
        };
        let m = crm.members().create(&ada, m).await.expect("member");
        members.push(Actor::member(tenant.id, m.id, m.role));
    }
    crm.worker().run_until_idle().await.expect("worker");
    // Every member follows every contact it touches; writes produce creates, updates, comments.
    let mut events = 0usize;
    for i in 0..CONTACTS {
        let actor = members[i % MEMBERS];
        let c = NewContact { email: Some(format!("c{i}@example.com")), ..Default::default() };
        let c = crm.contacts().create(&actor, c).await.expect("contact");
        let entity = EntityRef { kind: EntityKind::Contact, id: c.id.0 };
        crm.activity().follow(&members[(i + 1) % MEMBERS], entity).await.expect("follow");
        let patch = ContactPatch { phone: Some(Some(format!("{i}"))), ..Default::default() };
        crm.contacts().update(&ada, c.id, patch).await.expect("update");
        let body = format!("@m{} have a look", (i + 2) % MEMBERS);
        crm.activity().comment(&ada, NewComment { entity, in_reply_to: None, body }).await.expect("comment");
        events += 3;
    }
    let started = Instant::now();
    crm.worker().run_until_idle().await.expect("worker");
    let elapsed = started.elapsed();
    println!(
        "{name}: dispatched {events} events in {elapsed:?} = {:.0} events/s",
        events as f64 / elapsed.as_secs_f64()
    );

    let reader = members[1];
    let mut feed = Vec::new();
    let mut count = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let page = crm.activity().my_feed(&reader, &FeedFilter::default(), PageRequest::first(50)).await.expect("feed");
        feed.push(t.elapsed());
        assert!(!page.items.is_empty());
        let t = Instant::now();
        crm.activity().unread_count(&reader).await.expect("count");
        count.push(t.elapsed());
    }
    feed.sort();
    count.sort();
    println!(
        "{name}: member feed page of 50 p50 {:?} p99 {:?}; unread count p50 {:?} p99 {:?}",
        percentile(&feed, 0.5),
        percentile(&feed, 0.99),
        percentile(&count, 0.5),
        percentile(&count, 0.99)
    );
}

#[tokio::main]
async fn main() {
    run("memory", Arc::new(crmcore_memory::MemoryStore::new())).await;
    let sqlite = crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite");
    run("sqlite", Arc::new(sqlite)).await;
    if let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") {
        let schema = format!("crm_bench_{}", uuid::Uuid::now_v7().simple());
        let pg = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
        run("postgres", Arc::new(pg.clone())).await;
        let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
        sqlx::query(&drop).execute(pg.pool()).await.expect("drop schema");
    }
}
