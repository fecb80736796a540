//! Activity at scale on SqliteStore and PgStore (PostgreSQL when `CRM_TEST_POSTGRES_URL` is set):
//! 1,000,000 activities, 10,000 members, 100,000 follows, their fanned-out feed items (~2 M) and
//! notifications (~1 M, 90 % read), seeded once in bulk with set-based SQL through the store's
//! pool. Then, printed as percentiles:
//! - a member's feed page of 50 and their unread count, for 1,000 random members;
//! - the outbox dispatcher's throughput on 4,500 fresh events (contacts created, updated and
//!   commented with @mentions, each contact followed by another member);
//! - SSE delivery: a server (`crmcore_http::serve` on port 0, its own worker) streams
//!   `/api/v1/stream` to a member; another member comments mentioning them, 200 times. Two
//!   latencies to the `notification` event read by the client: from the dispatcher's commit (when
//!   its live update is published, seen by a subscriber in this process), and from the comment's
//!   own commit (the service call returning — so including the worker's wake-up and dispatch).
//!
//! `cargo bench --bench activity_scale` (add `-- sqlite` or `-- postgres` for one store).

use std::time::{Duration, Instant};

use crmcore::activity::{FeedFilter, NewComment};
use crmcore::contact::{ContactPatch, NewContact};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::MemberId;
use crmcore::member::Member;
use crmcore::page::PageRequest;
use crmcore::ports::Store;
use crmcore::tenant::Tenant;
use crmcore::{Actor, Crm, Role};
use crmcore_http::auth::password::PasswordHasher;
use crmcore_http::settings::PasswordHashing;
use crmcore_http::{Secret, Settings};
use std::sync::Arc;

const MEMBERS: u64 = 10_000;
const FOLLOWS: u64 = 100_000;
const ACTIVITIES: u64 = 1_000_000;
/// Contacts written for the dispatcher run (3 events each).
const CONTACTS: usize = 1_500;
const READS: usize = 1_000;
const SSE_SAMPLES: usize = 200;
const PASSWORD: &str = "correct horse battery staple";
const FAST_HASHING: PasswordHashing = PasswordHashing { memory_kib: 1024, iterations: 1 };

/// The id of seeded member `i` (the same text form in both databases).
fn member_id(i: u64) -> MemberId {
    format!("01000000-0000-7000-8000-{i:012x}").parse().expect("member id")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    format!("p50 {:.2?} p99 {:.2?}", percentile(samples, 0.5), percentile(samples, 0.99))
}

/// xorshift: the same members on every store.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

const PG_SEED: [&str; 5] = [
    "INSERT INTO members (tenant_id, id, handle, display_name, email, role, active, created_at, updated_at, version) \
     SELECT $1, ('01000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'm' || i, 'Member ' || i, \
     'm' || i || '@bench.test', 'member', TRUE, now(), now(), 1 FROM generate_series(0, 9999) AS i",
    // Contact i is followed by member i % 10,000: ten contacts per member.
    "INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) \
     SELECT $1, ('01000000-0000-7000-8000-' || lpad(to_hex(i % 10000), 12, '0'))::uuid, 'contact', \
     ('02000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, now() - interval '400 days' \
     FROM generate_series(0, 99999) AS i",
    // Activity i: on contact i % 100,000, by member 7i % 10,000, one second apart, oldest first.
    "INSERT INTO activities (tenant_id, id, event_id, actor, actor_member, verb, object_kind, object_id, \
     target_kind, target_id, occurred_at, updated_at, event_count, data) \
     SELECT $1, ('01900000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, \
     ('03000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, jsonb_build_object('kind', 'member', 'id', m), \
     m, CASE WHEN i < 100000 THEN 'created' ELSE 'updated' END, 'contact', \
     ('02000000-0000-7000-8000-' || lpad(to_hex(i % 100000), 12, '0'))::uuid, NULL, NULL, \
     now() - interval '1 second' * (1000000 - i), now() - interval '1 second' * (1000000 - i), 1, \
     '{\"name\": \"Contact\"}'::jsonb \
     FROM (SELECT i, ('01000000-0000-7000-8000-' || lpad(to_hex((i * 7) % 10000), 12, '0'))::uuid AS m \
           FROM generate_series(0, 999999) AS i) AS s",
    // Fan-out: the actor and the object's followers.
    "INSERT INTO feed_items (tenant_id, member_id, activity_id) \
     SELECT tenant_id, actor_member, id FROM activities WHERE tenant_id = $1 AND actor_member IS NOT NULL \
     UNION ALL SELECT a.tenant_id, f.member_id, a.id FROM activities a JOIN follows f ON f.tenant_id = a.tenant_id \
     AND f.entity_kind = a.object_kind AND f.entity_id = a.object_id WHERE a.tenant_id = $1 ON CONFLICT DO NOTHING",
    // One notification per follower who did not act; all but the newest 100,000 seconds read.
    "INSERT INTO notifications (tenant_id, id, recipient, kind, cause, activity_id, actor, entity_kind, entity_id, \
     verb, created_at, read_at, email_digest, emailed_at) \
     SELECT a.tenant_id, ('04000000-0000-7000-8000-' || right(a.id::text, 12))::uuid, f.member_id, 'activity', a.id, \
     a.id, a.actor, a.object_kind, a.object_id, a.verb, a.updated_at, \
     CASE WHEN a.occurred_at < now() - interval '100000 seconds' THEN a.updated_at END, FALSE, NULL \
     FROM activities a JOIN follows f ON f.tenant_id = a.tenant_id AND f.entity_kind = a.object_kind \
     AND f.entity_id = a.object_id WHERE a.tenant_id = $1 AND f.member_id <> a.actor_member",
];

/// The same rows as [`PG_SEED`], in SQLite's text encodings (times as fixed-width RFC 3339).
/// `CROSS JOIN` fixes the join order: before `ANALYZE` the planner would scan follows per activity.
const SQLITE_SEED: [&str; 5] = [
    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 9999) \
     INSERT INTO members (tenant_id, id, handle, display_name, email, role, active, created_at, updated_at, version) \
     SELECT $1, printf('01000000-0000-7000-8000-%012x', i), 'm' || i, 'Member ' || i, 'm' || i || '@bench.test', \
     'member', TRUE, strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'), 1 \
     FROM s",
    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 99999) \
     INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) \
     SELECT $1, printf('01000000-0000-7000-8000-%012x', i % 10000), 'contact', \
     printf('02000000-0000-7000-8000-%012x', i), strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-400 days') FROM s",
    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 999999) \
     INSERT INTO activities (tenant_id, id, event_id, actor, actor_member, verb, object_kind, object_id, \
     target_kind, target_id, occurred_at, updated_at, event_count, data) \
     SELECT $1, printf('01900000-0000-7000-8000-%012x', i), printf('03000000-0000-7000-8000-%012x', i), \
     '{\"kind\":\"member\",\"id\":\"' || m || '\"}', m, CASE WHEN i < 100000 THEN 'created' ELSE 'updated' END, \
     'contact', printf('02000000-0000-7000-8000-%012x', i % 100000), NULL, NULL, t, t, 1, '{\"name\":\"Contact\"}' \
     FROM (SELECT i, printf('01000000-0000-7000-8000-%012x', (i * 7) % 10000) AS m, \
           strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-' || (1000000 - i) || ' seconds') AS t FROM s)",
    "INSERT INTO feed_items (tenant_id, member_id, activity_id) \
     SELECT tenant_id, actor_member, id FROM activities WHERE tenant_id = $1 AND actor_member IS NOT NULL \
     UNION ALL SELECT a.tenant_id, f.member_id, a.id FROM activities a JOIN follows f ON f.tenant_id = a.tenant_id \
     AND f.entity_kind = a.object_kind AND f.entity_id = a.object_id WHERE a.tenant_id = $1 ON CONFLICT DO NOTHING",
    "INSERT INTO notifications (tenant_id, id, recipient, kind, cause, activity_id, actor, entity_kind, entity_id, \
     verb, created_at, read_at, email_digest, emailed_at) \
     SELECT a.tenant_id, '04000000-0000-7000-8000-' || substr(a.id, 25), f.member_id, 'activity', a.id, a.id, a.actor, \
     a.object_kind, a.object_id, a.verb, a.updated_at, \
     CASE WHEN a.occurred_at < strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-100000 seconds') THEN a.updated_at END, \
     FALSE, NULL FROM follows f CROSS JOIN activities a ON a.tenant_id = f.tenant_id AND a.object_kind = f.entity_kind \
     AND a.object_id = f.entity_id WHERE f.tenant_id = $1 AND f.member_id <> a.actor_member",
];

/// A store under test and how to seed and remove it.
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

    async fn seed(&self, tenant: &Tenant) {
        match self {
            Target::Sqlite(s, _) => {
                let mut tx = s.pool().begin().await.expect("begin");
                // A 2 GiB page cache for the load: the indexes are filled in random key order.
                sqlx::query("PRAGMA cache_size = -2000000").execute(&mut *tx).await.expect("cache size");
                for sql in SQLITE_SEED {
                    let started = Instant::now();
                    sqlx::query(sql).bind(tenant.id.0.hyphenated().to_string()).execute(&mut *tx).await.expect("seed");
                    eprintln!("  seeded in {:.1?}: {}", started.elapsed(), &sql[..60.min(sql.len())]);
                }
                tx.commit().await.expect("commit");
                sqlx::query("ANALYZE").execute(s.pool()).await.expect("analyze");
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(s.pool()).await.expect("checkpoint");
            }
            Target::Postgres(s, _) => {
                for sql in PG_SEED {
                    let started = Instant::now();
                    sqlx::query(sql).bind(tenant.id.0).execute(s.pool()).await.expect("seed");
                    eprintln!("  seeded in {:.1?}: {}", started.elapsed(), &sql[..60.min(sql.len())]);
                }
                // What autovacuum would do after such a load (visibility map for index-only scans).
                sqlx::query("VACUUM ANALYZE").execute(s.pool()).await.expect("vacuum");
            }
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

fn settings() -> Settings {
    let mut settings = Settings::new(Secret::new(b"bench-signing-key-of-at-least-32-bytes!!".to_vec()));
    settings.password_hashing = FAST_HASHING;
    settings.rate_limit = None;
    settings.auth_rate_limit = None;
    settings
}

async fn run(name: &str, target: Target) {
    let crm = Crm::builder().shared_store(target.store()).build().expect("crm");
    let hasher = PasswordHasher::new(FAST_HASHING).expect("hasher");
    let (tenant, owner): (Tenant, Member) =
        crmcore_http::admin::create_admin(&crm, &hasher, "Bench", "owner@bench.test", PASSWORD).await.expect("admin");
    crm.worker().run_until_idle().await.expect("worker");
    let started = Instant::now();
    target.seed(&tenant).await;
    println!(
        "{name}: seeded {ACTIVITIES} activities, {MEMBERS} members, {FOLLOWS} follows (+ feed items, notifications) in {:.1?}",
        started.elapsed()
    );
    let member = |i: u64| Actor::member(tenant.id, member_id(i), Role::Member);

    // Reads.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut feed, mut count) = (Vec::with_capacity(READS), Vec::with_capacity(READS));
    let mut items = 0;
    for _ in 0..READS {
        let reader = member(rng.next(MEMBERS));
        let t = Instant::now();
        let page = crm.activity().my_feed(&reader, &FeedFilter::default(), PageRequest::first(50)).await.expect("feed");
        feed.push(t.elapsed());
        items += page.items.len();
        let t = Instant::now();
        crm.activity().unread_count(&reader).await.expect("count");
        count.push(t.elapsed());
    }
    assert_eq!(items, READS * 50, "every seeded member has a full first page");
    println!("{name}: member feed page of 50: {}; unread count: {}", summary(&mut feed), summary(&mut count));

    // Dispatcher throughput on fresh events.
    let ada = Actor::member(tenant.id, owner.id, owner.role);
    for i in 0..CONTACTS {
        let actor = member(i as u64 % MEMBERS);
        let c = NewContact { email: Some(format!("c{i}@example.com")), ..Default::default() };
        let c = crm.contacts().create(&actor, c).await.expect("contact");
        let entity = EntityRef { kind: EntityKind::Contact, id: c.id.0 };
        crm.activity().follow(&member((i as u64 + 1) % MEMBERS), entity).await.expect("follow");
        let patch = ContactPatch { phone: Some(Some(format!("{i}"))), ..Default::default() };
        crm.contacts().update(&ada, c.id, patch).await.expect("update");
        let body = format!("@m{} have a look", (i as u64 + 2) % MEMBERS);
        crm.activity().comment(&ada, NewComment { entity, in_reply_to: None, body }).await.expect("comment");
    }
    let events = CONTACTS * 3;
    let started = Instant::now();
    crm.worker().run_until_idle().await.expect("worker");
    let elapsed = started.elapsed();
    println!(
        "{name}: dispatched {events} events in {elapsed:.2?} = {:.0} events/s",
        events as f64 / elapsed.as_secs_f64()
    );

    // SSE delivery after commit, through a real server and its worker.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crmcore_http::serve(crm.clone(), settings(), listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let login = serde_json::json!({ "email": "owner@bench.test", "password": PASSWORD, "tenant": tenant.slug });
    let reply: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&login)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = reply["access_token"].as_str().expect("token").to_owned();
    let response = client
        .get(format!("{base}/api/v1/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stream")
        .error_for_status();
    let mut stream = response.expect("stream status");
    let mut buffer = String::new();
    // Waits for the next `notification` event on the stream.
    async fn next_notification(stream: &mut reqwest::Response, buffer: &mut String) {
        loop {
            if let Some(at) = buffer.find("event: notification") {
                buffer.drain(..at + "event: notification".len());
                return;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
                .await
                .expect("a notification within 10 s")
                .expect("stream read")
                .expect("stream open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let contact = crm
        .contacts()
        .create(&ada, NewContact { email: Some("sse@example.com".into()), ..Default::default() })
        .await
        .expect("contact");
    let entity = EntityRef { kind: EntityKind::Contact, id: contact.id.0 };
    // Let the server's worker dispatch the contact's creation first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The dispatcher publishes right after its transaction commits; this subscriber sees when.
    let mut published = crm.live_updates().subscribe();
    let (mut end_to_end, mut after_commit) = (Vec::with_capacity(SSE_SAMPLES), Vec::with_capacity(SSE_SAMPLES));
    for i in 0..SSE_SAMPLES {
        let author = member(i as u64 % MEMBERS);
        let body = format!("@{} sample {i}", owner.handle);
        crm.activity().comment(&author, NewComment { entity, in_reply_to: None, body }).await.expect("comment");
        let written = Instant::now();
        let dispatched = loop {
            let update = published.recv().await.expect("live update");
            if update.member_id == owner.id {
                break Instant::now();
            }
        };
        next_notification(&mut stream, &mut buffer).await;
        end_to_end.push(written.elapsed());
        after_commit.push(dispatched.elapsed());
    }
    println!(
        "{name}: SSE notification delivery: after the dispatcher's commit {}; from the comment's commit (dispatch included) {}",
        summary(&mut after_commit),
        summary(&mut end_to_end)
    );
    drop(stream);
    let _ = stop.send(());
    let _ = server.await;
    drop(crm);
    target.clean_up().await;
}

#[tokio::main]
async fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| f.contains(name));
    if wanted("sqlite") {
        let path = std::env::temp_dir().join(format!("crmcore-activity-bench-{}.db", uuid::Uuid::now_v7()));
        let store =
            crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite");
        run("sqlite", Target::Sqlite(store, path)).await;
    }
    if let (true, Ok(url)) = (wanted("postgres"), std::env::var("CRM_TEST_POSTGRES_URL")) {
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
        run("postgres", Target::Postgres(store, schema)).await;
    }
}
