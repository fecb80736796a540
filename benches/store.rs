//! Store throughput: single and batched writes, point reads and filtered page reads, on every
//! store. PostgreSQL runs when `CRM_TEST_POSTGRES_URL` is set (each run uses a fresh schema).
//!
//! `cargo bench --bench store` (add `-- --quick` for a short run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crmcore::contact::{ContactFilter, NewContact};
use crmcore::id::ContactId;
use crmcore::page::PageRequest;
use crmcore::ports::Store;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};

/// Contacts loaded before the read benchmarks.
const PRELOAD: usize = 10_000;
/// Writes per batch in the batched-write benchmark.
const BATCH: usize = 100;

static SEQ: AtomicU64 = AtomicU64::new(0);

fn contact(tag: &str) -> NewContact {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    NewContact {
        email: Some(format!("bench{n}@example.com")),
        first_name: Some(format!("First{n}")),
        last_name: Some("Bench".into()),
        company: Some(format!("Company {}", n % 97)),
        tags: vec![tag.into()],
        ..Default::default()
    }
}

async fn stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(crmcore_memory::MemoryStore::new()))];
    let path = std::env::temp_dir().join(format!("crmcore-bench-{}.db", uuid::Uuid::now_v7()));
    let sqlite =
        crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite opens");
    stores.push(("sqlite", Arc::new(sqlite)));
    if let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") {
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let pg = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres connects");
        stores.push(("postgres", Arc::new(pg)));
    }
    stores
}

fn store_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for (name, store) in rt.block_on(stores()) {
        let crm = Crm::builder().shared_store(store).build().expect("crm");
        let owner = NewOwner { email: "bench@acme.test".into(), display_name: None, handle: None };
        let (tenant, owner) = rt.block_on(crm.tenants().create("Bench", owner)).expect("tenant");
        let me = Actor::member(tenant.id, owner.id, owner.role);
        let mut ids: Vec<ContactId> = Vec::with_capacity(PRELOAD);
        rt.block_on(async {
            for chunk in 0..PRELOAD / BATCH {
                let tag = if chunk % 10 == 0 { "rare" } else { "common" };
                let (crm, me) = (&crm, &me);
                let created = futures::future::join_all(
                    (0..BATCH).map(|_| async move { crm.contacts().create(me, contact(tag)).await }),
                )
                .await;
                ids.extend(created.into_iter().map(|c| c.expect("preload").id));
            }
        });

        let mut group = c.benchmark_group(format!("store/{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("create_contact", |b| {
            b.to_async(&rt).iter(|| async { crm.contacts().create(&me, contact("w")).await.expect("create") })
        });
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(BenchmarkId::new("create_contacts_concurrently", BATCH), |b| {
            b.to_async(&rt).iter(|| async {
                let (crm, me) = (&crm, &me);
                let all = futures::future::join_all(
                    (0..BATCH).map(|_| async move { crm.contacts().create(me, contact("w")).await }),
                )
                .await;
                assert!(all.iter().all(Result::is_ok));
            })
        });
        group.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        group.bench_function("get_contact", |b| {
            b.to_async(&rt).iter(|| {
                i = (i + 7919) % ids.len();
                let id = ids[i];
                let (crm, me) = (&crm, &me);
                async move { crm.contacts().get(me, id).await.expect("get") }
            })
        });
        group.bench_function("list_contacts_page_50", |b| {
            b.to_async(&rt).iter(|| async {
                crm.contacts().list(&me, &ContactFilter::default(), PageRequest::first(50)).await.expect("list")
            })
        });
        let rare = ContactFilter { tag: Some(crmcore::value::Tag::parse("rare").expect("tag")), ..Default::default() };
        group.bench_function("list_contacts_by_tag_page_50", |b| {
            b.to_async(&rt)
                .iter(|| async { crm.contacts().list(&me, &rare, PageRequest::first(50)).await.expect("list") })
        });
        let search = ContactFilter { search: Some("first123".into()), ..Default::default() };
        group.bench_function("search_contacts_page_50", |b| {
            b.to_async(&rt)
                .iter(|| async { crm.contacts().list(&me, &search, PageRequest::first(50)).await.expect("list") })
        });
        group.finish();
    }
}

// criterion_group! generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = store_benches
    }
}
criterion_main!(group::benches);
