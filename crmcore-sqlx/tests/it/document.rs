//! Document repository checks the contract suite does not make, on both backends, with the
//! store as its own blob store: a tampered audit row is found by `verify_audit_trail`, audit
//! details read back exactly as hashed, refused writes name the missing parent and leave neither
//! row, event nor audit entry behind, a purge keeps content another tenant still uses, and share
//! links keep only their token's hash and go with their document.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use crmcore::document::{
    AuditAction, AuditDraft, Category, Document, DocumentVersion, FileUpload, NewDocument, NewShareLink, ShareLink,
    Source,
};
use crmcore::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crmcore::id::{DocumentId, ShareLinkId};
use crmcore::ports::{BlobKey, BlobStore, Store};
use crmcore::secret::hash_token;
use crmcore::testing::Fixture;
use crmcore::{Crm, CrmError};
use serde_json::{Value, json};

/// Raw SQL on the store's database, for states the port cannot reach.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// Runs `sql`, returning the rows it affected.
    async fn execute(&self, sql: &str) -> u64 {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()),
        }
        .expect("raw SQL runs")
    }

    /// Runs `sql`, a query of one text column, returning its values.
    async fn strings(&self, sql: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("raw SQL runs")
    }
}

/// A store, the same store as a blob store, and raw access to its database.
struct Backend {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    raw: Raw,
}

async fn sqlite() -> Backend {
    let store = Arc::new(crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite store opens"));
    let raw = Raw::Sqlite(store.pool().clone());
    Backend { store: store.clone(), blobs: store, raw }
}

async fn postgres() -> Option<Backend> {
    let url = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store =
        Arc::new(crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store connects"));
    let raw = Raw::Postgres(store.pool().clone());
    Some(Backend { store: store.clone(), blobs: store, raw })
}

fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::microseconds(1)).unwrap()
}

fn file(name: &str, bytes: &[u8]) -> FileUpload {
    FileUpload { filename: name.into(), declared_type: None, bytes: bytes.to_vec() }
}

fn document(f: &Fixture) -> Document {
    let at = now();
    Document {
        id: DocumentId::new(),
        tenant_id: f.tenant.id,
        title: "Contract".into(),
        description: String::new(),
        category: Category::Contract,
        tags: vec![crmcore::value::Tag::parse("legal").unwrap()],
        links: vec![EntityRef { kind: EntityKind::Contact, id: uuid::Uuid::now_v7() }],
        owner_id: f.owner.id,
        visibility: Default::default(),
        latest_version: 1,
        trashed_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn version(d: &Document, number: u32, content: &[u8]) -> DocumentVersion {
    DocumentVersion {
        document_id: d.id,
        tenant_id: d.tenant_id,
        number,
        content_key: BlobKey::of(content),
        size: content.len() as u64,
        mime: "text/plain".into(),
        filename: "contract.txt".into(),
        uploaded_by: crmcore::actor::Principal::System,
        note: None,
        restored_from: None,
        text_status: Default::default(),
        text_error: None,
        created_at: now(),
    }
}

fn draft(f: &Fixture, action: AuditAction, document: Option<DocumentId>, detail: Value) -> AuditDraft {
    AuditDraft {
        tenant_id: f.tenant.id,
        at: now(),
        actor: f.actor.principal,
        action,
        document_id: document,
        detail,
        source: Some("192.0.2.1".into()),
    }
}

fn event(f: &Fixture, id: DocumentId) -> DomainEvent {
    let subject = EntityRef { kind: EntityKind::Document, id: id.0 };
    DomainEvent::new(&f.actor, EventType::DocumentUpdated, subject, json!({}), now())
}

fn missing<T: std::fmt::Debug>(result: crmcore::Result<T>) -> &'static str {
    match result {
        Err(CrmError::NotFound { entity, .. }) => entity,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn conflict_field<T: std::fmt::Debug>(result: crmcore::Result<T>) -> Option<String> {
    conflict(result).0
}

fn conflict<T: std::fmt::Debug>(result: crmcore::Result<T>) -> (Option<String>, String) {
    match result {
        Err(CrmError::Conflict { field, message }) => (field, message),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Uploads through `crm.documents()` with the store as blob store; the chain verifies until one
/// row's `detail` is altered behind the store's back, then breaks exactly there.
async fn tampered_audit_detail_breaks_the_chain_there(b: Backend) {
    let crm = Crm::builder().shared_store(b.store.clone()).blobs(b.blobs.clone()).build().expect("crm");
    let a = Fixture::with_crm(crm.clone(), "Tamper A").await;
    let other = Fixture::with_crm(crm.clone(), "Tamper B").await;
    let svc = crm.documents();
    let src = Source(Some("198.51.100.4".into()));
    let (doc, v1) = svc
        .upload(&a.actor, NewDocument::default_with_title("Lease"), file("lease.txt", b"Lease v1"), &src)
        .await
        .unwrap();
    svc.upload_version(&a.actor, doc.id, file("lease.txt", b"Lease v2"), None, &src).await.unwrap();
    let (_, bytes) = svc.download(&a.actor, doc.id, Some(1), &src).await.unwrap();
    assert_eq!(bytes.read_all().await.unwrap(), b"Lease v1", "the content comes back from the database");
    assert!(b.blobs.exists(&v1.content_key).await.unwrap());
    svc.upload(&other.actor, NewDocument::default_with_title("Other"), file("o.txt", b"other"), &src).await.unwrap();

    let report = svc.verify_audit_trail(&a.actor).await.unwrap();
    assert!(report.valid && report.entries == 3 && report.broken_at.is_none(), "{report:?}");

    let trail = svc.audit_trail(&a.actor, 0, 10).await.unwrap();
    assert_eq!(trail[1].action, AuditAction::NewVersion);
    let altered = b
        .raw
        .execute(&format!(
            "UPDATE audit_entries SET detail = '{{\"filename\":\"lease.txt\",\"restored_from\":null,\"size\":8,\
             \"version\":1}}' WHERE tenant_id = '{}' AND seq = 2",
            a.tenant.id.0
        ))
        .await;
    assert_eq!(altered, 1);

    let report = svc.verify_audit_trail(&a.actor).await.unwrap();
    assert!(!report.valid, "{report:?}");
    assert_eq!(report.broken_at, Some(2));
    assert!(svc.verify_audit_trail(&other.actor).await.unwrap().valid, "another tenant's chain is intact");
}

/// Details with numbers `jsonb` would rewrite, control characters and nesting read back with
/// their hashes intact.
async fn audit_details_read_back_exactly_as_hashed(b: Backend) {
    let f = Fixture::new(b.store.clone(), "Exact").await;
    let repo = b.store.documents();
    let details = [
        json!({"big": 1e16, "negative_zero": -0.0, "tenth": 0.1, "max": u64::MAX, "min": i64::MIN,
               "tiny": 5e-324, "text": "nul \u{0} tab \t é 🦀 \"quoted\"",
               "nested": {"z": [1, 2.5, null, {"b": false, "a": true}], "a": ""}}),
        Value::Null,
        json!([]),
        json!("plain"),
    ];
    let mut written = Vec::new();
    for detail in &details {
        written.push(repo.record_audit(&draft(&f, AuditAction::View, None, detail.clone())).await.unwrap());
    }
    let read = repo.audit_entries(f.tenant.id, 0, 100).await.unwrap();
    assert_eq!(read, written);
    for entry in &read {
        assert_eq!(entry.hash, entry.expected_hash(), "entry {} keeps its hash", entry.seq);
    }
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(repo.audit_entries(f.tenant.id, 2, 1).await.unwrap(), &written[2..3]);
    assert!(repo.audit_entries(f.tenant.id, 0, 0).await.unwrap().is_empty());
}

/// Duplicate ids and version numbers conflict on their field, stale versions on `version`; a
/// refused write names its missing parent and leaves neither row, event nor audit entry.
async fn refused_writes_name_the_parent_and_leave_nothing(b: Backend) {
    let a = Fixture::new(b.store.clone(), "Refused A").await;
    let other = Fixture::with_crm(a.crm.clone(), "Refused B").await;
    let repo = b.store.documents();
    let doc = document(&a);
    let v1 = version(&doc, 1, b"one");
    repo.insert(&doc, &v1, &draft(&a, AuditAction::Upload, Some(doc.id), json!({})), &[]).await.unwrap();
    assert_eq!(repo.get(a.tenant.id, doc.id).await.unwrap(), doc);

    let outbox = || async { b.store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len() };
    let chain = || async { repo.audit_entries(a.tenant.id, 0, 1000).await.unwrap().len() };
    let (events_before, chain_before) = (outbox().await, chain().await);
    let ev = [event(&a, doc.id)];
    let audit = draft(&a, AuditAction::Update, Some(doc.id), json!({}));

    assert_eq!(conflict_field(repo.insert(&doc, &v1, &audit, &ev).await).as_deref(), Some("id"));
    let foreign_owner = Document { id: DocumentId::new(), owner_id: other.owner.id, ..doc.clone() };
    assert_eq!(missing(repo.insert(&foreign_owner, &version(&foreign_owner, 1, b"x"), &audit, &ev).await), "member");
    let stray = Document { id: DocumentId::new(), ..doc.clone() };
    let stray_version = DocumentVersion { tenant_id: other.tenant.id, ..version(&stray, 1, b"x") };
    assert_eq!(missing(repo.insert(&stray, &stray_version, &audit, &ev).await), "document");
    assert_eq!(missing(repo.get(a.tenant.id, stray.id).await), "document", "the refused insert left no row");

    let next = Document { latest_version: 2, version: 2, ..doc.clone() };
    assert_eq!(conflict_field(repo.add_version(&next, &v1, &audit, &ev, None).await).as_deref(), Some("number"));
    let stale = Document { version: 5, ..next.clone() };
    assert_eq!(
        conflict_field(repo.add_version(&stale, &version(&doc, 2, b"two"), &audit, &ev, None).await).as_deref(),
        Some("version")
    );
    assert_eq!(conflict_field(repo.update(&stale, &audit, &ev).await).as_deref(), Some("version"));
    let theirs = Document { tenant_id: other.tenant.id, ..next.clone() };
    assert_eq!(missing(repo.update(&theirs, &audit, &ev).await), "document");
    assert_eq!(missing(repo.add_version(&theirs, &version(&theirs, 2, b"two"), &audit, &ev, None).await), "document");
    let handed_over = Document { owner_id: other.owner.id, ..next.clone() };
    assert_eq!(missing(repo.update(&handed_over, &audit, &ev).await), "member");

    assert_eq!(missing(repo.versions(other.tenant.id, doc.id).await), "document");
    assert_eq!(missing(repo.get_version(other.tenant.id, doc.id, 1).await), "document");
    assert_eq!(missing(repo.get_version(a.tenant.id, doc.id, 2).await), "document version");
    assert_eq!(missing(repo.get(other.tenant.id, doc.id).await), "document");
    assert_eq!(missing(repo.purge(other.tenant.id, doc.id, &audit, &ev).await), "document");

    assert_eq!(repo.get(a.tenant.id, doc.id).await.unwrap(), doc, "unchanged");
    assert_eq!(repo.versions(a.tenant.id, doc.id).await.unwrap(), vec![v1.clone()]);
    assert_eq!(outbox().await, events_before, "no event without its write");
    assert_eq!(chain().await, chain_before, "no audit entry without its write");
    assert_eq!(repo.audit_entries(other.tenant.id, 0, 10).await.unwrap(), vec![]);

    // And the writes that pass append both.
    repo.update(&next, &audit, &ev).await.unwrap();
    assert_eq!(repo.get(a.tenant.id, doc.id).await.unwrap(), next);
    assert_eq!((outbox().await, chain().await), (events_before + 1, chain_before + 1));
}

/// A purge returns only the content no remaining version of any tenant references.
async fn purge_keeps_content_another_tenant_still_uses(b: Backend) {
    let a = Fixture::new(b.store.clone(), "Purge A").await;
    let other = Fixture::with_crm(a.crm.clone(), "Purge B").await;
    let repo = b.store.documents();
    let (shared, own) = (BlobKey::of(b"shared"), BlobKey::of(b"own"));

    let mine = document(&a);
    repo.insert(&mine, &version(&mine, 1, b"shared"), &draft(&a, AuditAction::Upload, Some(mine.id), json!({})), &[])
        .await
        .unwrap();
    let mine_v2 = Document { latest_version: 2, version: 2, ..mine.clone() };
    let audit = draft(&a, AuditAction::NewVersion, Some(mine.id), json!({}));
    repo.add_version(&mine_v2, &version(&mine, 2, b"own"), &audit, &[], None).await.unwrap();
    let restored = DocumentVersion { restored_from: Some(1), ..version(&mine, 3, b"shared") };
    let mine_v3 = Document { latest_version: 3, version: 3, ..mine.clone() };
    repo.add_version(&mine_v3, &restored, &audit, &[], None).await.unwrap();
    let theirs = document(&other);
    let audit_b = draft(&other, AuditAction::Upload, Some(theirs.id), json!({}));
    repo.insert(&theirs, &version(&theirs, 1, b"shared"), &audit_b, &[]).await.unwrap();

    assert_eq!(repo.unreferenced(&[shared.clone(), own.clone()]).await.unwrap(), vec![]);
    let purge = draft(&a, AuditAction::Purge, Some(mine.id), json!({"title": "Contract"}));
    assert_eq!(repo.purge(a.tenant.id, mine.id, &purge, &[event(&a, mine.id)]).await.unwrap(), vec![own.clone()]);
    assert_eq!(missing(repo.versions(a.tenant.id, mine.id).await), "document", "versions went with it");
    assert_eq!(
        repo.unreferenced(&[shared.clone(), own.clone(), own.clone()]).await.unwrap(),
        vec![own.clone(), own.clone()]
    );
    let purge_b = draft(&other, AuditAction::Purge, Some(theirs.id), Value::Null);
    assert_eq!(repo.purge(other.tenant.id, theirs.id, &purge_b, &[]).await.unwrap(), vec![shared.clone()]);
    assert_eq!(repo.unreferenced(&[own.clone(), shared.clone()]).await.unwrap(), vec![own, shared]);
    assert_eq!(repo.unreferenced(&[]).await.unwrap(), vec![]);

    // The chain outlives the purged document.
    let trail = repo.audit_entries(a.tenant.id, 0, 100).await.unwrap();
    assert_eq!(trail.iter().map(|e| e.action).collect::<Vec<_>>().last(), Some(&AuditAction::Purge));
    assert_eq!(trail.last().unwrap().document_id, Some(mine.id));
}

/// Every column of every stored share link, as one text per row (the same SQL on both).
const SHARE_LINK_ROW_TEXT: &str = "SELECT COALESCE(CAST(id AS TEXT), '') || '|' || COALESCE(CAST(tenant_id AS TEXT), '') \
     || '|' || COALESCE(CAST(document_id AS TEXT), '') || '|' || COALESCE(CAST(token_hash AS TEXT), '') || '|' || \
     COALESCE(CAST(version AS TEXT), '') || '|' || COALESCE(CAST(expires_at AS TEXT), '') || '|' || \
     COALESCE(CAST(password_hash AS TEXT), '') || '|' || COALESCE(CAST(max_downloads AS TEXT), '') || '|' || \
     COALESCE(CAST(downloads AS TEXT), '') || '|' || COALESCE(CAST(revoked_at AS TEXT), '') || '|' || \
     COALESCE(CAST(created_by AS TEXT), '') || '|' || COALESCE(CAST(created_at AS TEXT), '') FROM share_links";

/// A share link's row holds its token only as the 64-hex SHA-256 (and its password only as an
/// argon2id hash); a second link with the same token hash, of any tenant, is a `Conflict`, as is
/// a reused id; a link needs a document of its own tenant; and a refused write leaves no audit
/// entry behind.
async fn share_links_store_only_the_token_hash(b: Backend) {
    let crm = Crm::builder().shared_store(b.store.clone()).blobs(b.blobs.clone()).build().expect("crm");
    let a = Fixture::with_crm(crm.clone(), "Share rows A").await;
    let other = Fixture::with_crm(crm.clone(), "Share rows B").await;
    let svc = crm.documents();
    let src = Source::default();
    let (doc, _) =
        svc.upload(&a.actor, NewDocument::default_with_title("Plan"), file("plan.txt", b"plan"), &src).await.unwrap();
    let input =
        NewShareLink { password: Some("open sesame".into()), max_downloads: Some(2), ..NewShareLink::default() };
    let created = svc.share(&a.actor, doc.id, input, &src).await.unwrap();

    let rows = b.raw.strings(SHARE_LINK_ROW_TEXT).await;
    assert_eq!(rows.len(), 1);
    let secret = created.token.strip_prefix("shr_").expect("token prefix");
    assert!(!rows[0].contains(secret), "the token is not stored: {}", rows[0]);
    assert!(!rows[0].contains("open sesame"), "the password is not stored: {}", rows[0]);
    let hashes = b.raw.strings("SELECT token_hash FROM share_links").await;
    assert_eq!(hashes, vec![hash_token(&created.token)]);
    assert!(hashes[0].len() == 64 && hashes[0].bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));

    let repo = b.store.documents();
    let stored = repo.find_share_link(&hashes[0]).await.unwrap().expect("found by its hash");
    assert!(stored.password_hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$")));
    assert_eq!((stored.max_downloads, stored.downloads, stored.created_by), (Some(2), 0, a.actor.principal));
    assert_eq!(repo.share_links(a.tenant.id, doc.id).await.unwrap(), vec![stored.clone()]);
    assert!(repo.find_share_link(&hash_token(&format!("{}x", created.token))).await.unwrap().is_none());

    let chain = || async { repo.audit_entries(a.tenant.id, 0, 1000).await.unwrap().len() };
    let before = chain().await;
    let audit = draft(&a, AuditAction::Share, Some(doc.id), json!({}));
    let twin = ShareLink { id: ShareLinkId::new(), ..stored.clone() };
    let (field, _) = conflict(repo.insert_share_link(&twin, &audit, &[]).await);
    assert_eq!(field.as_deref(), Some("token"), "the token hash is unique");
    let reused_id = ShareLink { token_hash: hash_token("shr_reused"), ..stored.clone() };
    assert_eq!(conflict_field(repo.insert_share_link(&reused_id, &audit, &[]).await).as_deref(), Some("id"));
    // The token hash is unique across tenants too (the public lookup has no tenant).
    let theirs = document(&other);
    let upload = draft(&other, AuditAction::Upload, Some(theirs.id), json!({}));
    repo.insert(&theirs, &version(&theirs, 1, b"theirs"), &upload, &[]).await.unwrap();
    let their_twin =
        ShareLink { id: ShareLinkId::new(), tenant_id: other.tenant.id, document_id: theirs.id, ..stored.clone() };
    let audit_other = draft(&other, AuditAction::Share, Some(theirs.id), json!({}));
    assert_eq!(conflict_field(repo.insert_share_link(&their_twin, &audit_other, &[]).await).as_deref(), Some("token"));
    // A link of one tenant cannot point at another tenant's document.
    let cross = ShareLink {
        id: ShareLinkId::new(),
        tenant_id: other.tenant.id,
        token_hash: hash_token("shr_cross"),
        ..stored.clone()
    };
    assert_eq!(missing(repo.insert_share_link(&cross, &audit_other, &[]).await), "document");
    assert_eq!(missing(repo.share_links(other.tenant.id, doc.id).await), "document");
    assert_eq!(repo.share_links(other.tenant.id, theirs.id).await.unwrap(), vec![], "no link was left behind");
    assert_eq!(chain().await, before, "no audit entry without its write");
    assert_eq!(b.raw.strings("SELECT token_hash FROM share_links").await.len(), 1);
}

/// Downloads count until the limit and then name why they are refused; revocation is scoped by
/// tenant and keeps its first time; every write appends its audit entry; a purge takes the
/// document's links with it.
async fn share_link_uses_revocations_and_purge(b: Backend) {
    let a = Fixture::new(b.store.clone(), "Share uses A").await;
    let other = Fixture::with_crm(a.crm.clone(), "Share uses B").await;
    let repo = b.store.documents();
    let doc = document(&a);
    repo.insert(&doc, &version(&doc, 1, b"uses"), &draft(&a, AuditAction::Upload, Some(doc.id), json!({})), &[])
        .await
        .unwrap();
    let at = now();
    let link = |token: &str, max_downloads: Option<u32>, hours: i64| ShareLink {
        id: ShareLinkId::new(),
        tenant_id: a.tenant.id,
        document_id: doc.id,
        token_hash: hash_token(token),
        version: Some(1),
        expires_at: at + Duration::hours(hours),
        password_hash: None,
        max_downloads,
        downloads: 0,
        revoked_at: None,
        created_by: a.actor.principal,
        created_at: at,
    };
    let share = draft(&a, AuditAction::Share, Some(doc.id), json!({}));
    let limited = link("shr_limited", Some(1), 24);
    let short = link("shr_short", None, 1);
    let open = link("shr_open", None, 24);
    for l in [&limited, &short, &open] {
        repo.insert_share_link(l, &share, &[]).await.unwrap();
    }
    let listed: Vec<ShareLinkId> = repo.share_links(a.tenant.id, doc.id).await.unwrap().iter().map(|l| l.id).collect();
    assert_eq!(listed, [open.id, short.id, limited.id], "newest first");
    let chain = || async { repo.audit_entries(a.tenant.id, 0, 1000).await.unwrap() };
    let before = chain().await.len();

    let download = draft(&a, AuditAction::ShareDownload, Some(doc.id), json!({}));
    let counted = repo.use_share_link(limited.id, at, &download).await.unwrap();
    assert_eq!(counted, ShareLink { downloads: 1, ..limited.clone() });
    assert_eq!(conflict(repo.use_share_link(limited.id, at, &download).await).1, "the link is exhausted");
    assert_eq!(
        conflict(repo.use_share_link(short.id, at + Duration::hours(1), &download).await).1,
        "the link is expired"
    );
    assert_eq!(missing(repo.use_share_link(ShareLinkId::new(), at, &download).await), "share link");
    assert_eq!(chain().await.len(), before + 1, "only the counted download is audited");

    let unshare = draft(&a, AuditAction::Unshare, None, json!({}));
    let unshare_other = draft(&other, AuditAction::Unshare, None, json!({}));
    assert_eq!(missing(repo.revoke_share_link(other.tenant.id, open.id, at, &unshare_other).await), "share link");
    assert_eq!(missing(repo.revoke_share_link(a.tenant.id, ShareLinkId::new(), at, &unshare).await), "share link");
    let revoked = repo.revoke_share_link(a.tenant.id, open.id, at, &unshare).await.unwrap();
    assert_eq!(revoked, ShareLink { revoked_at: Some(at), ..open.clone() });
    let again = repo.revoke_share_link(a.tenant.id, open.id, at + Duration::minutes(5), &unshare).await.unwrap();
    assert_eq!(again.revoked_at, Some(at), "the first revocation time stays");
    assert_eq!(conflict(repo.use_share_link(open.id, at, &download).await).1, "the link is revoked");
    let trail = chain().await;
    assert_eq!(trail.len(), before + 3);
    assert_eq!(trail.iter().rev().take(2).map(|e| e.action).collect::<Vec<_>>(), [AuditAction::Unshare; 2]);
    assert!(repo.audit_entries(other.tenant.id, 0, 10).await.unwrap().is_empty());
    for pair in trail.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "entry {} follows its predecessor", pair[1].seq);
    }
    assert!(trail.iter().all(|e| e.hash == e.expected_hash()));

    repo.purge(a.tenant.id, doc.id, &draft(&a, AuditAction::Purge, Some(doc.id), json!({})), &[]).await.unwrap();
    for l in [&limited, &short, &open] {
        assert_eq!(repo.find_share_link(&l.token_hash).await.unwrap(), None, "the links went with the document");
    }
    assert!(b.raw.strings("SELECT token_hash FROM share_links").await.is_empty());
    assert_eq!(missing(repo.share_links(a.tenant.id, doc.id).await), "document");
}

macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(backend) = super::postgres().await else {
                        eprintln!("skipped {}: store not configured", stringify!($check));
                        return;
                    };
                    super::$check(backend).await;
                }
            )*
        }
    };
}

on_both!(
    tampered_audit_detail_breaks_the_chain_there,
    audit_details_read_back_exactly_as_hashed,
    refused_writes_name_the_parent_and_leave_nothing,
    purge_keeps_content_another_tenant_still_uses,
    share_links_store_only_the_token_hash,
    share_link_uses_revocations_and_purge,
);
