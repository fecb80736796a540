//! Document search latency over 100,000 documents, with the permission filter: a member who
//! sees the tenant-wide documents (70 %), their own and those shared with them, searching with
//! words of every frequency, phrases, prefixes, exclusions and filters. Prints p50, p95 and the
//! maximum per query shape and overall, per store (SQLite; PostgreSQL when
//! `CRM_TEST_POSTGRES_URL` is set, in a fresh schema). Each document has a title, tags and a
//! 120-word latest text drawn from a Zipf-like vocabulary of 5,000 words; the SQL stores are
//! loaded in bulk through their pools.
//!
//! `cargo bench --bench document_search` (add `sqlite` or `postgres` to run one store;
//! `CRM_BENCH_DOCUMENTS=N` to change the count; `CRM_BENCH_KEEP=1` keeps the SQLite file and the
//! PostgreSQL schema to look at plans afterwards).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crmcore::Crm;
use crmcore::actor::{Actor, Role};
use crmcore::document::{
    Category, Document, DocumentFilter, SearchQuery, SearchRequest, SearchText, Viewer, Visibility,
};
use crmcore::id::{DocumentId, MemberId, TenantId};
use crmcore::member::NewMember;
use crmcore::ports::Store;
use crmcore::tenant::NewOwner;

const WORDS_PER_TEXT: usize = 120;
const VOCABULARY: usize = 5_000;
const MEMBERS: usize = 10;

/// xorshift: the same data on every store.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
    /// A word index with a Zipf-like skew: word 0 is the most frequent.
    fn zipf(&mut self) -> usize {
        let u = (self.next(1_000_000) as f64 + 1.0) / 1_000_001.0;
        ((VOCABULARY as f64).powf(u) - 1.0) as usize
    }
}

/// Pronounceable distinct words: `w0` is the most common.
fn word(i: usize) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "do", "fi", "go", "ha", "ju"];
    let mut s = String::new();
    let mut n = i + 16;
    while n > 0 {
        s.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    s
}

struct Generated {
    documents: Vec<Document>,
    texts: Vec<String>,
    /// (document, member) view grants.
    grants: Vec<(DocumentId, MemberId)>,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("valid")
}

fn generate(count: usize, tenant: TenantId, members: &[MemberId]) -> Generated {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut documents = Vec::with_capacity(count);
    let mut texts = Vec::with_capacity(count);
    let mut grants = Vec::new();
    let start = now() - chrono::Duration::days(730);
    for i in 0..count {
        let created = start + chrono::Duration::seconds((i as i64) * 730 * 86_400 / count as i64);
        let title = (0..3 + rng.next(4)).map(|_| word(rng.zipf())).collect::<Vec<_>>().join(" ");
        let tags =
            (0..rng.next(3)).map(|_| crmcore::value::Tag::parse(&format!("t{}", rng.next(50))).expect("tag")).collect();
        let owner = members[rng.next(members.len() as u64) as usize];
        let visibility = if rng.next(10) < 3 { Visibility::Private } else { Visibility::Tenant };
        let id = DocumentId(uuid::Uuid::now_v7());
        if visibility == Visibility::Private && rng.next(20) == 0 {
            grants.push((id, members[0]));
        }
        documents.push(Document {
            id,
            tenant_id: tenant,
            title,
            description: String::new(),
            category: Category::ALL[rng.next(7) as usize],
            tags,
            links: Vec::new(),
            owner_id: owner,
            visibility,
            latest_version: 1,
            trashed_at: None,
            created_at: created,
            updated_at: created,
            version: 1,
        });
        texts.push((0..WORDS_PER_TEXT).map(|_| word(rng.zipf())).collect::<Vec<_>>().join(" "));
    }
    Generated { documents, texts, grants }
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn load_sqlite(pool: &sqlx::SqlitePool, data: &Generated) {
    let mut tx = pool.begin().await.expect("begin");
    let rows: Vec<(&Document, &String)> = data.documents.iter().zip(&data.texts).collect();
    for chunk in rows.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO documents (tenant_id, id, title, description, category, tags, links, owner_id, \
             latest_version, trashed_at, created_at, updated_at, version, visibility, search_title, search_tags, \
             search_body) ",
        );
        q.push_values(chunk, |mut b, (d, text)| {
            let search = SearchText::of(d, Some(text));
            b.push_bind(d.tenant_id.0.hyphenated().to_string())
                .push_bind(d.id.0.hyphenated().to_string())
                .push_bind(d.title.clone())
                .push_bind("")
                .push_bind(d.category.as_str())
                .push_bind(serde_json::to_string(&d.tags).expect("tags"))
                .push_bind("[]")
                .push_bind(d.owner_id.0.hyphenated().to_string())
                .push_bind(1_i64)
                .push_bind(None::<String>)
                .push_bind(time_text(d.created_at))
                .push_bind(time_text(d.updated_at))
                .push_bind(1_i64)
                .push_bind(d.visibility.as_str())
                .push_bind(search.title)
                .push_bind(search.tags)
                .push_bind(search.body);
        });
        q.build().execute(&mut *tx).await.expect("insert documents");
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO document_versions (tenant_id, document_id, number, content_key, size, mime, filename, \
             uploaded_by, note, restored_from, created_at, text_status, text_error, text) ",
        );
        q.push_values(chunk, |mut b, (d, text)| {
            b.push_bind(d.tenant_id.0.hyphenated().to_string())
                .push_bind(d.id.0.hyphenated().to_string())
                .push_bind(1_i64)
                .push_bind(crmcore::ports::BlobKey::of(d.id.0.as_bytes()).to_string())
                .push_bind(text.len() as i64)
                .push_bind("text/plain")
                .push_bind("doc.txt")
                .push_bind("{\"kind\":\"system\"}")
                .push_bind(None::<String>)
                .push_bind(None::<i64>)
                .push_bind(time_text(d.created_at))
                .push_bind("done")
                .push_bind(None::<String>)
                .push_bind((*text).clone());
        });
        q.build().execute(&mut *tx).await.expect("insert versions");
    }
    for (document, member) in &data.grants {
        sqlx::query(
            "INSERT INTO document_grants (tenant_id, document_id, member_id, access, granted_by, granted_at) \
             VALUES ($1, $2, $3, 'view', '{\"kind\":\"system\"}', $4)",
        )
        .bind(data.documents[0].tenant_id.0.hyphenated().to_string())
        .bind(document.0.hyphenated().to_string())
        .bind(member.0.hyphenated().to_string())
        .bind(time_text(now()))
        .execute(&mut *tx)
        .await
        .expect("insert grant");
    }
    tx.commit().await.expect("commit");
    sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
}

async fn load_postgres(store: &crmcore_sqlx::PgStore, data: &Generated) {
    let pool = store.pool();
    let mut tx = pool.begin().await.expect("begin");
    let rows: Vec<(&Document, &String)> = data.documents.iter().zip(&data.texts).collect();
    for chunk in rows.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO documents (tenant_id, id, title, description, category, tags, links, owner_id, \
             latest_version, trashed_at, created_at, updated_at, version, visibility, search_title, search_tags, \
             search_body) ",
        );
        q.push_values(chunk, |mut b, (d, text)| {
            let search = SearchText::of(d, Some(text));
            b.push_bind(d.tenant_id.0)
                .push_bind(d.id.0)
                .push_bind(d.title.clone())
                .push_bind("")
                .push_bind(d.category.as_str())
                .push_bind(sqlx::types::Json(d.tags.clone()))
                .push_bind(sqlx::types::Json(Vec::<u8>::new()))
                .push_bind(d.owner_id.0)
                .push_bind(1_i64)
                .push_bind(None::<DateTime<Utc>>)
                .push_bind(d.created_at)
                .push_bind(d.updated_at)
                .push_bind(1_i64)
                .push_bind(d.visibility.as_str())
                .push_bind(search.title)
                .push_bind(search.tags)
                .push_bind(search.body);
        });
        q.build().execute(&mut *tx).await.expect("insert documents");
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO document_versions (tenant_id, document_id, number, content_key, size, mime, filename, \
             uploaded_by, note, restored_from, created_at, text_status, text_error, text) ",
        );
        q.push_values(chunk, |mut b, (d, text)| {
            b.push_bind(d.tenant_id.0)
                .push_bind(d.id.0)
                .push_bind(1_i64)
                .push_bind(crmcore::ports::BlobKey::of(d.id.0.as_bytes()).to_string())
                .push_bind(text.len() as i64)
                .push_bind("text/plain")
                .push_bind("doc.txt")
                .push_bind(sqlx::types::Json(serde_json::json!({"kind": "system"})))
                .push_bind(None::<String>)
                .push_bind(None::<i64>)
                .push_bind(d.created_at)
                .push_bind("done")
                .push_bind(None::<String>)
                .push_bind((*text).clone());
        });
        q.build().execute(&mut *tx).await.expect("insert versions");
    }
    for (document, member) in &data.grants {
        sqlx::query(
            "INSERT INTO document_grants (tenant_id, document_id, member_id, access, granted_by, granted_at) \
             VALUES ($1, $2, $3, 'view', '{\"kind\":\"system\"}', $4)",
        )
        .bind(data.documents[0].tenant_id.0)
        .bind(document.0)
        .bind(member.0)
        .bind(now())
        .execute(&mut *tx)
        .await
        .expect("insert grant");
    }
    tx.commit().await.expect("commit");
    // A settled database, as autovacuum leaves it (visibility map and hint bits set).
    sqlx::query("VACUUM ANALYZE").execute(pool).await.expect("vacuum");
}

/// The query shapes measured, each with the words it uses.
fn shapes(rng: &mut Rng) -> Vec<(&'static str, String, DocumentFilter)> {
    let mut out = Vec::new();
    let none = DocumentFilter::default();
    for _ in 0..40 {
        let common = word(rng.next(20) as usize);
        let mid = word(50 + rng.next(200) as usize);
        let rare = word(1_000 + rng.next(4_000) as usize);
        out.push(("word in most documents", common.clone(), none.clone()));
        out.push(("mid-frequency word", mid.clone(), none.clone()));
        out.push(("rare word", rare.clone(), none.clone()));
        out.push(("two words (AND)", format!("{common} {mid}"), none.clone()));
        out.push((
            "phrase",
            format!("\"{} {}\"", word(rng.next(5) as usize), word(rng.next(5) as usize)),
            none.clone(),
        ));
        out.push(("prefix", format!("{}*", &mid[..mid.len().min(4)]), none.clone()));
        out.push(("word minus word", format!("{mid} -{common}"), none.clone()));
        let by_category = DocumentFilter { category: Some(Category::Contract), ..none.clone() };
        out.push(("common word + category", common.clone(), by_category));
        let recent = DocumentFilter { created_from: Some(now() - chrono::Duration::days(90)), ..none.clone() };
        out.push(("common word + last 90 days", common, recent));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

async fn measure(name: &str, store: Arc<dyn Store>, load: impl AsyncFnOnce(TenantId, &Generated)) {
    let count: usize = std::env::var("CRM_BENCH_DOCUMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let crm = Crm::builder().shared_store(store.clone()).build().expect("crm");
    let owner = NewOwner { email: "bench@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Search Bench", owner).await.expect("tenant");
    let admin = Actor::member(tenant.id, owner.id, Role::Owner);
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let input = NewMember {
            email: format!("m{i}@acme.test"),
            display_name: None,
            handle: Some(format!("m{i}")),
            role: Role::Member,
        };
        members.push(crm.members().create(&admin, input).await.expect("member").id);
    }
    let data = generate(count, tenant.id, &members);
    let started = Instant::now();
    load(tenant.id, &data).await;
    println!("{name}: loaded {count} documents in {:.1} s", started.elapsed().as_secs_f64());

    let member = Actor::member(tenant.id, members[0], Role::Member);
    let mut rng = Rng(0xdead_beef);
    let shapes = shapes(&mut rng);
    // Warm the caches once.
    for (_, q, filter) in shapes.iter().take(20) {
        let request = SearchRequest {
            query: SearchQuery::parse(q).expect("query"),
            filter: filter.clone(),
            offset: 0,
            limit: 20,
        };
        crm.documents().search(&member, &request).await.expect("search");
    }
    let mut by_shape: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut all = Vec::new();
    let mut hits = 0usize;
    for (shape, q, filter) in &shapes {
        let request = SearchRequest {
            query: SearchQuery::parse(q).expect("query"),
            filter: filter.clone(),
            offset: 0,
            limit: 20,
        };
        let t = Instant::now();
        let results = crm.documents().search(&member, &request).await.expect("search");
        let took = t.elapsed();
        hits += results.hits.len();
        // Permission filtering is in the query: every hit is one the member may see.
        for hit in &results.hits {
            let shared = data.grants.iter().any(|(d, m)| *d == hit.document.id && *m == members[0]);
            assert!(Viewer::Member(members[0]).sees(&hit.document, if shared { &members[..1] } else { &[] }));
        }
        all.push(took);
        match by_shape.iter_mut().find(|(s, _)| s == shape) {
            Some((_, list)) => list.push(took),
            None => by_shape.push((shape, vec![took])),
        }
    }
    println!("{name}: {} searches as a member (permission-filtered), {hits} hits in all, page of 20", all.len());
    for (shape, mut list) in by_shape {
        list.sort();
        println!(
            "  {shape:<28} p50 {:>9}  p95 {:>9}  max {:>9}",
            ms(percentile(&list, 0.5)),
            ms(percentile(&list, 0.95)),
            ms(*list.last().expect("runs"))
        );
    }
    all.sort();
    println!(
        "  {:<28} p50 {:>9}  p95 {:>9}  max {:>9}",
        "ALL",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95)),
        ms(*all.last().expect("runs"))
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| name.contains(a.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        if wanted("sqlite") {
            let path = std::env::temp_dir().join(format!("crm-search-bench-{}.db", uuid::Uuid::now_v7().simple()));
            let store = crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("sqlite");
            let pool = store.pool().clone();
            measure("sqlite", Arc::new(store.clone()), async |_, data| load_sqlite(&pool, data).await).await;
            pool.close().await;
            if std::env::var_os("CRM_BENCH_KEEP").is_some() {
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("sqlite: kept {} ({:.0} MB)", path.display(), bytes as f64 / 1e6);
            } else {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
        if wanted("postgres") {
            match std::env::var("CRM_TEST_POSTGRES_URL") {
                Ok(url) => {
                    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
                    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
                    let pool = store.pool().clone();
                    measure("postgres", Arc::new(store.clone()), async |_, data| load_postgres(&store, data).await)
                        .await;
                    if std::env::var_os("CRM_BENCH_KEEP").is_some() {
                        println!("postgres: kept schema {schema}");
                    } else {
                        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&pool).await.expect("drop");
                    }
                }
                Err(_) => println!("postgres: skipped (CRM_TEST_POSTGRES_URL is not set)"),
            }
        }
    });
}
