//! Contract checks for documents and blobs: content-addressed versions (identical bytes stored
//! once), restore, metadata with versions, filters, trash and purge (freeing only unreferenced
//! content), tenant isolation, refused uploads leaving nothing behind, and an audit chain that
//! stays one unbroken chain under concurrent writers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::fixtures::Fixture;
use crate::actor::Role;
use crate::crm::Crm;
use crate::document::{
    AuditAction, AuditDraft, Category, DocumentFilter, DocumentPatch, FileUpload, NewDocument, Source,
};
use crate::error::{CrmError, Result};
use crate::event::{EntityKind, EntityRef, EventType};
use crate::page::PageRequest;
use crate::ports::{BlobKey, BlobStore, BlobWriter, BufferedBlobWriter, Store, slice_at};

/// Content-addressed blobs in a map, for checks that need a blob store beside the store under
/// test.
#[derive(Debug, Default)]
pub struct MapBlobs(Mutex<HashMap<BlobKey, Vec<u8>>>);

impl MapBlobs {
    /// Blobs held.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl BlobStore for MapBlobs {
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
        let key = BlobKey::of(bytes);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_insert_with(|| bytes.to_vec());
        Ok(key)
    }
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
            .ok_or_else(|| CrmError::not_found("blob", key))
    }
    async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
        Ok(Box::new(BufferedBlobWriter::new(self)))
    }

    async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map(|bytes| slice_at(bytes, offset, len).to_vec())
            .ok_or_else(|| CrmError::not_found("blob", key))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }
    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        Ok(self.0.lock().unwrap_or_else(|e| e.into_inner()).contains_key(key))
    }
}

/// The blob contract: `put` is idempotent and content-addressed, `get` returns the exact bytes
/// or `NotFound`, `delete` is idempotent, `exists` tells. Run it against every `BlobStore`.
pub async fn blob_store_contract(blobs: Arc<dyn BlobStore>) {
    let small = b"hello, blobs".to_vec();
    let key = blobs.put(&small).await.unwrap();
    assert_eq!(key, BlobKey::of(&small), "the key is the SHA-256 of the bytes");
    assert_eq!(blobs.put(&small).await.unwrap(), key, "idempotent");
    assert_eq!(blobs.get(&key).await.unwrap(), small);
    assert!(blobs.exists(&key).await.unwrap());
    let large: Vec<u8> = (0..5 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let large_key = blobs.put(&large).await.unwrap();
    assert_eq!(blobs.get(&large_key).await.unwrap(), large, "5 MiB round-trip");
    let empty_key = blobs.put(b"").await.unwrap();
    assert_eq!(blobs.get(&empty_key).await.unwrap(), Vec::<u8>::new());
    blobs.delete(&key).await.unwrap();
    blobs.delete(&key).await.unwrap();
    assert!(!blobs.exists(&key).await.unwrap());
    assert!(matches!(blobs.get(&key).await, Err(CrmError::NotFound { .. })));
    assert!(blobs.exists(&large_key).await.unwrap(), "others stay");

    // Ranged reads, within a blob, across the store's internal pieces and at its end.
    assert_eq!(blobs.read_at(&large_key, 0, 10).await.unwrap(), large[..10]);
    let middle = 1024 * 1024 - 7;
    assert_eq!(
        blobs.read_at(&large_key, middle as u64, 3 * 1024 * 1024).await.unwrap(),
        large[middle..middle + 3 * 1024 * 1024]
    );
    let near_end = large.len() - 5;
    assert_eq!(blobs.read_at(&large_key, near_end as u64, 100).await.unwrap(), large[near_end..], "fewer at the end");
    assert!(blobs.read_at(&large_key, large.len() as u64, 10).await.unwrap().is_empty(), "none from the end on");
    assert!(blobs.read_at(&large_key, u64::MAX, 10).await.unwrap().is_empty());
    assert!(matches!(blobs.read_at(&key, 0, 10).await, Err(CrmError::NotFound { .. })));

    // Written in uneven pieces: the same key and bytes as `put`; a second write of the same
    // content changes nothing.
    blobs.delete(&large_key).await.unwrap();
    for _ in 0..2 {
        let mut writer = blobs.writer().await.unwrap();
        for piece in large.chunks(300_007) {
            writer.write(piece).await.unwrap();
        }
        assert_eq!(writer.finish().await.unwrap(), large_key);
        assert_eq!(blobs.get(&large_key).await.unwrap(), large, "streamed round-trip");
    }
    assert_eq!(
        blobs.read_at(&large_key, middle as u64, 2 * 1024 * 1024).await.unwrap(),
        large[middle..middle + 2 * 1024 * 1024]
    );
    let writer = blobs.writer().await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), empty_key, "an empty write is the empty blob");

    // Aborted or dropped writers leave nothing.
    let other: Vec<u8> = large.iter().map(|b| b ^ 0x5a).collect();
    let other_key = BlobKey::of(&other);
    let mut writer = blobs.writer().await.unwrap();
    writer.write(&other[..2 * 1024 * 1024]).await.unwrap();
    writer.abort().await.unwrap();
    let mut writer = blobs.writer().await.unwrap();
    writer.write(&other[..1024]).await.unwrap();
    drop(writer);
    assert!(!blobs.exists(&other_key).await.unwrap());
    let small_key = {
        let mut writer = blobs.writer().await.unwrap();
        writer.write(b"hello, ").await.unwrap();
        writer.write(b"blobs").await.unwrap();
        writer.finish().await.unwrap()
    };
    assert_eq!(small_key, key);
    assert_eq!(blobs.get(&key).await.unwrap(), small);
    assert_eq!(blobs.read_at(&key, 7, 100).await.unwrap(), b"blobs");
}

fn file(name: &str, bytes: &[u8]) -> FileUpload {
    FileUpload { filename: name.into(), declared_type: None, bytes: bytes.to_vec() }
}

async fn crm_with_blobs(store: Arc<dyn Store>) -> (Crm, Arc<MapBlobs>) {
    let blobs = Arc::new(MapBlobs::default());
    let crm = Crm::builder().shared_store(store).blobs(blobs.clone()).build().expect("crm");
    (crm, blobs)
}

/// Uploads become content-addressed versions; restore, metadata, filters, trash, purge, tenant
/// isolation, refused uploads and the audit chain behave.
pub async fn documents_versions_trash_purge_and_audit(store: Arc<dyn Store>) {
    let (crm, blobs) = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Docs A").await;
    let b = Fixture::with_crm(crm.clone(), "Docs B").await;
    let svc = crm.documents();
    let src = Source(Some("203.0.113.7".into()));
    let contact = a.contact("client@example.com").await;
    let link = EntityRef { kind: EntityKind::Contact, id: contact.id.0 };

    let input = NewDocument {
        title: Some("Master services agreement".into()),
        description: "Signed copy".into(),
        category: Some(Category::Contract),
        tags: vec!["legal".into(), "2026".into()],
        links: vec![link],
        note: Some("first draft".into()),
        visibility: Default::default(),
    };
    let (doc, v1) = svc.upload(&a.actor, input, file("../msa.txt", b"Terms v1"), &src).await.unwrap();
    assert_eq!((v1.number, v1.mime.as_str(), v1.filename.as_str(), v1.size), (1, "text/plain", "msa.txt", 8));
    assert_eq!(store.documents().get(a.tenant.id, doc.id).await.unwrap(), doc, "round-trips");
    assert_eq!(store.documents().versions(a.tenant.id, doc.id).await.unwrap(), vec![v1.clone()]);
    assert_eq!(blobs.len(), 1);

    // Versions: a new upload, an identical re-upload (no new blob bytes), a restore.
    let v2 = svc.upload_version(&a.actor, doc.id, file("msa.txt", b"Terms v2"), None, &src).await.unwrap();
    let v3 = svc.upload_version(&a.actor, doc.id, file("msa-copy.txt", b"Terms v2"), None, &src).await.unwrap();
    assert_eq!((v2.number, v3.number), (2, 3));
    assert_eq!(v3.content_key, v2.content_key, "identical content, one key");
    assert_eq!(blobs.len(), 2, "re-upload adds no blob");
    let v4 = svc.restore_version(&a.actor, doc.id, 1, &src).await.unwrap();
    assert_eq!((v4.number, v4.restored_from, v4.content_key.clone()), (4, Some(1), v1.content_key.clone()));
    assert_eq!(blobs.len(), 2);
    let numbers: Vec<u32> = svc.versions(&a.actor, doc.id).await.unwrap().iter().map(|v| v.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let (latest, bytes) = svc.download(&a.actor, doc.id, None, &src).await.unwrap();
    let bytes = bytes.read_all().await.unwrap();
    assert_eq!((latest.number, bytes.as_slice()), (4, b"Terms v1".as_slice()));
    let (_, second) = svc.download(&a.actor, doc.id, Some(2), &src).await.unwrap();
    let second = second.read_all().await.unwrap();
    assert_eq!(second, b"Terms v2");
    assert!(matches!(svc.restore_version(&a.actor, doc.id, 9, &src).await, Err(CrmError::NotFound { .. })));

    // Refused uploads leave no row, no event, no audit entry.
    let viewer = a.member("vic", Role::Viewer).await;
    let viewer = crate::Actor::member(a.tenant.id, viewer.id, Role::Viewer);
    let events_before = store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().len();
    let audit_before = svc.audit_trail(&a.actor, 0, 1000).await.unwrap().len();
    let elf = [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0];
    let refused = svc.upload(&a.actor, NewDocument::default_with_title("x"), file("invoice.pdf", &elf), &src).await;
    assert!(matches!(refused, Err(CrmError::Validation(_))), "a renamed executable is refused");
    let empty = svc.upload(&a.actor, NewDocument::default_with_title("x"), file("a.txt", b""), &src).await;
    assert!(matches!(empty, Err(CrmError::Validation(_))));
    let forbidden = svc.upload(&viewer, NewDocument::default_with_title("x"), file("a.txt", b"hi"), &src).await;
    assert!(matches!(forbidden, Err(CrmError::Forbidden(_))));
    assert_eq!(store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().len(), events_before);
    assert_eq!(svc.audit_trail(&a.actor, 0, 1000).await.unwrap().len(), audit_before);

    // Metadata with versions; filters.
    let patch =
        DocumentPatch { title: Some("MSA".into()), tags: Some(vec!["legal".into()]), ..DocumentPatch::default() };
    let updated = svc.update(&a.actor, doc.id, patch, &src).await.unwrap();
    assert_eq!((updated.title.as_str(), updated.version), ("MSA", doc.version + 4), "3 versions and an edit");
    let stale = DocumentPatch { title: Some("Stale".into()), expected_version: Some(1), ..DocumentPatch::default() };
    assert!(matches!(svc.update(&a.actor, doc.id, stale, &src).await, Err(CrmError::Conflict { .. })));
    let (report, _) = svc
        .upload(
            &a.actor,
            NewDocument { category: Some(Category::Report), ..NewDocument::default_with_title("Q3") },
            file("q3.md", b"# Q3"),
            &src,
        )
        .await
        .unwrap();
    let ids = |filter: DocumentFilter| {
        let svc = crm.documents();
        let actor = a.actor;
        async move {
            svc.list(&actor, &filter, PageRequest::first(50))
                .await
                .unwrap()
                .items
                .iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(DocumentFilter::default()).await, [report.id, doc.id], "newest first");
    assert_eq!(ids(DocumentFilter { category: Some(Category::Contract), ..Default::default() }).await, [doc.id]);
    assert_eq!(
        ids(DocumentFilter { tag: Some(crate::value::Tag::parse("legal").unwrap()), ..Default::default() }).await,
        [doc.id]
    );
    assert_eq!(ids(DocumentFilter { linked: Some(link), ..Default::default() }).await, [doc.id]);
    assert_eq!(ids(DocumentFilter { owner_id: Some(a.owner.id), ..Default::default() }).await.len(), 2);

    // Tenants stay apart.
    assert!(matches!(svc.get(&b.actor, doc.id, &src).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.versions(&b.actor, doc.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.download(&b.actor, doc.id, None, &src).await, Err(CrmError::NotFound { .. })));
    assert!(svc.list(&b.actor, &DocumentFilter::default(), PageRequest::first(10)).await.unwrap().items.is_empty());

    // Trash and purge: only from the trash; content still used elsewhere is kept.
    let (other, _) = svc
        .upload(&a.actor, NewDocument::default_with_title("Copy"), file("copy.txt", b"Terms v2"), &src)
        .await
        .unwrap();
    assert!(matches!(svc.purge(&a.actor, doc.id, &src).await, Err(CrmError::Conflict { .. })));
    svc.trash(&a.actor, doc.id, &src).await.unwrap();
    assert!(!ids(DocumentFilter::default()).await.contains(&doc.id));
    assert_eq!(ids(DocumentFilter { trashed: true, ..Default::default() }).await, [doc.id]);
    assert!(matches!(
        svc.upload_version(&a.actor, doc.id, file("x.txt", b"new"), None, &src).await,
        Err(CrmError::Conflict { .. })
    ));
    svc.untrash(&a.actor, doc.id, &src).await.unwrap();
    svc.trash(&a.actor, doc.id, &src).await.unwrap();
    let repo = store.documents();
    let audit = AuditDraft {
        tenant_id: a.tenant.id,
        at: crm.clock().now(),
        actor: a.actor.principal,
        action: AuditAction::Purge,
        document_id: Some(doc.id),
        detail: serde_json::Value::Null,
        source: None,
    };
    assert!(matches!(repo.purge(b.tenant.id, doc.id, &audit, &[]).await, Err(CrmError::NotFound { .. })));
    svc.purge(&a.actor, doc.id, &src).await.unwrap();
    assert!(matches!(repo.get(a.tenant.id, doc.id).await, Err(CrmError::NotFound { .. })));
    assert_eq!(
        repo.unreferenced(&[v1.content_key.clone(), v2.content_key.clone()]).await.unwrap(),
        vec![v1.content_key.clone()],
        "v2's content is still another document's"
    );
    let _ = other;

    // The audit chain: every action, one unbroken chain, in order.
    let trail = svc.audit_trail(&a.actor, 0, 1000).await.unwrap();
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    for expected in [
        AuditAction::Upload,
        AuditAction::NewVersion,
        AuditAction::RestoreVersion,
        AuditAction::Download,
        AuditAction::Update,
        AuditAction::Trash,
        AuditAction::Untrash,
        AuditAction::Purge,
    ] {
        assert!(actions.contains(&expected), "{expected:?} audited");
    }
    assert!(trail.iter().all(|e| e.tenant_id == a.tenant.id));
    assert_eq!(trail[0].source.as_deref(), Some("203.0.113.7"));
    assert!(trail.windows(2).all(|w| w[1].seq == w[0].seq + 1 && w[1].prev_hash == w[0].hash));
    let report = svc.verify_audit_trail(&a.actor).await.unwrap();
    assert!(report.valid && report.entries == trail.len() as u64, "{report:?}");
    assert!(matches!(svc.audit_trail(&viewer, 0, 10).await, Err(CrmError::Forbidden(_))));
    // One document's entries: the chain's entries about it, newest first, in pages.
    let own: Vec<i64> = trail.iter().rev().filter(|e| e.document_id == Some(doc.id)).map(|e| e.seq).collect();
    assert!(own.len() >= 8, "{own:?}");
    let listed = svc.document_audit(&a.actor, doc.id, None, 1000).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.seq).collect::<Vec<_>>(), own);
    let first = svc.document_audit(&a.actor, doc.id, None, 3).await.unwrap();
    let rest = svc.document_audit(&a.actor, doc.id, Some(first[2].seq), 1000).await.unwrap();
    assert_eq!(first.iter().chain(&rest).map(|e| e.seq).collect::<Vec<_>>(), own);
    assert_eq!(listed[0], *trail.iter().rev().find(|e| e.document_id == Some(doc.id)).unwrap());
    assert!(matches!(svc.document_audit(&b.actor, doc.id, None, 10).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.document_audit(&viewer, doc.id, None, 10).await, Err(CrmError::Forbidden(_))));
    let types: Vec<EventType> =
        store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().into_iter().map(|e| e.event.event_type).collect();
    for t in [
        EventType::DocumentCreated,
        EventType::DocumentVersionAdded,
        EventType::DocumentUpdated,
        EventType::DocumentTrashed,
        EventType::DocumentRestored,
        EventType::DocumentPurged,
    ] {
        assert!(types.contains(&t), "{t} emitted");
    }

    // The purge's blobs are collected once the grace period has passed.
    crate::document::collect_blobs(&crm, &[v1.content_key.as_str().to_owned(), v2.content_key.as_str().to_owned()])
        .await
        .unwrap();
    assert!(!blobs.exists(&v1.content_key).await.unwrap());
    assert!(blobs.exists(&v2.content_key).await.unwrap());
}

/// Concurrent writers append to one chain: contiguous sequence numbers, every link verified.
pub async fn documents_audit_chain_holds_under_concurrency(store: Arc<dyn Store>) {
    let (crm, _) = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Audit A").await;
    let (doc, _) = crm
        .documents()
        .upload(&a.actor, NewDocument::default_with_title("Chain"), file("c.txt", b"chain"), &Source::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let crm = crm.clone();
        let actor = a.actor;
        tasks.push(tokio::spawn(async move {
            let source = Source(Some(format!("10.0.0.{i}")));
            crm.documents().download(&actor, doc.id, None, &source).await.map(drop)
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("download");
    }
    let trail = crm.documents().audit_trail(&a.actor, 0, 1000).await.unwrap();
    assert_eq!(trail.len(), 25);
    assert_eq!(trail.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=25).collect::<Vec<i64>>());
    assert!(crm.documents().verify_audit_trail(&a.actor).await.unwrap().valid);
}

/// Share links: tokens stored only as hashes, passwords, download limits counted atomically
/// under concurrency, expiry, revocation, pinned versions, trashed documents, tenants, audit.
pub async fn documents_share_links_expire_revoke_and_count(store: Arc<dyn Store>) {
    use crate::document::NewShareLink;
    use crate::ports::ManualClock;

    let clock = Arc::new(ManualClock::new(super::fixtures::now()));
    let blobs = Arc::new(MapBlobs::default());
    let crm = Crm::builder().shared_store(store.clone()).blobs(blobs).clock(clock.clone()).build().expect("crm");
    let a = Fixture::with_crm(crm.clone(), "Share A").await;
    let b = Fixture::with_crm(crm.clone(), "Share B").await;
    let svc = crm.documents();
    let src = Source(Some("198.51.100.4".into()));
    let (doc, _) =
        svc.upload(&a.actor, NewDocument::default_with_title("Deck"), file("deck.txt", b"v1"), &src).await.unwrap();

    let input =
        NewShareLink { password: Some("open sesame".into()), max_downloads: Some(2), ..NewShareLink::default() };
    let created = svc.share(&a.actor, doc.id, input, &src).await.unwrap();
    assert!(created.token.starts_with("shr_") && created.token.len() >= 4 + 43, "256 random bits");
    assert!(created.link.password_protected);
    let stored = store.documents().find_share_link(&crate::secret::hash_token(&created.token)).await.unwrap().unwrap();
    assert_ne!(stored.token_hash, created.token, "only the hash is stored");
    assert!(stored.password_hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$") && !h.contains("open sesame")));
    assert!(matches!(svc.open_share_link(&created.token, None, &src).await, Err(CrmError::Unauthenticated(_))));
    assert!(matches!(
        svc.open_share_link(&created.token, Some("guess"), &src).await,
        Err(CrmError::Unauthenticated(_))
    ));
    let (view, _, version, bytes) = svc.open_share_link(&created.token, Some("open sesame"), &src).await.unwrap();
    let bytes = bytes.read_all().await.unwrap();
    assert_eq!((view.downloads, version.number, bytes.as_slice()), (1, 1, b"v1".as_slice()));
    svc.open_share_link(&created.token, Some("open sesame"), &src).await.unwrap();
    assert!(
        matches!(svc.open_share_link(&created.token, Some("open sesame"), &src).await, Err(CrmError::Conflict { .. })),
        "the download limit holds"
    );
    assert!(matches!(svc.open_share_link("shr_unknown", None, &src).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.open_share_link("not-a-token", None, &src).await, Err(CrmError::NotFound { .. })));

    // Concurrent downloads never pass the limit.
    let limited = svc.share(&a.actor, doc.id, NewShareLink { max_downloads: Some(3), ..NewShareLink::default() }, &src);
    let limited = limited.await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let crm = crm.clone();
        let token = limited.token.clone();
        tasks.push(tokio::spawn(async move {
            crm.documents().open_share_link(&token, None, &Source::default()).await.is_ok()
        }));
    }
    let mut served = 0;
    for task in tasks {
        served += usize::from(task.await.expect("task"));
    }
    assert_eq!(served, 3, "exactly the limit is served");

    // A pinned version keeps serving that version; the latest moves on.
    let latest = svc.share(&a.actor, doc.id, NewShareLink::default(), &src).await.unwrap();
    let pinned = svc.share(&a.actor, doc.id, NewShareLink { version: Some(1), ..NewShareLink::default() }, &src);
    let pinned = pinned.await.unwrap();
    svc.upload_version(&a.actor, doc.id, file("deck.txt", b"v2"), None, &src).await.unwrap();
    assert_eq!(svc.open_share_link(&pinned.token, None, &src).await.unwrap().3.read_all().await.unwrap(), b"v1");
    assert_eq!(svc.open_share_link(&latest.token, None, &src).await.unwrap().3.read_all().await.unwrap(), b"v2");
    let bad_version = svc.share(&a.actor, doc.id, NewShareLink { version: Some(9), ..NewShareLink::default() }, &src);
    assert!(matches!(bad_version.await, Err(CrmError::NotFound { .. })));
    let too_long = NewShareLink { expires_in_hours: Some(10_000), ..NewShareLink::default() };
    assert!(matches!(svc.share(&a.actor, doc.id, too_long, &src).await, Err(CrmError::Validation(_))));

    // Revocation (in the tenant only) and expiry.
    assert!(matches!(svc.revoke_share_link(&b.actor, latest.link.id, &src).await, Err(CrmError::NotFound { .. })));
    let revoked = svc.revoke_share_link(&a.actor, latest.link.id, &src).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(svc.open_share_link(&latest.token, None, &src).await, Err(CrmError::NotFound { .. })));
    let short =
        svc.share(&a.actor, doc.id, NewShareLink { expires_in_hours: Some(1), ..NewShareLink::default() }, &src);
    let short = short.await.unwrap();
    svc.open_share_link(&short.token, None, &src).await.unwrap();
    clock.advance(chrono::Duration::hours(2));
    assert!(matches!(svc.open_share_link(&short.token, None, &src).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.share_links(&b.actor, doc.id).await, Err(CrmError::NotFound { .. })));
    let links = svc.share_links(&a.actor, doc.id).await.unwrap();
    assert_eq!(links.len(), 5);
    assert_eq!(links[0].id, short.link.id, "newest first");

    // A trashed document is not served.
    svc.trash(&a.actor, doc.id, &src).await.unwrap();
    assert!(matches!(svc.open_share_link(&pinned.token, None, &src).await, Err(CrmError::NotFound { .. })));
    let trail = svc.audit_trail(&a.actor, 0, 1000).await.unwrap();
    let count = |action: AuditAction| trail.iter().filter(|e| e.action == action).count();
    assert_eq!(count(AuditAction::Share), 5);
    assert_eq!(count(AuditAction::Unshare), 1);
    let revoked = trail.iter().find(|e| e.action == AuditAction::Unshare).unwrap();
    assert_eq!(revoked.document_id, Some(doc.id), "a link's revocation is about its document");
    assert_eq!(count(AuditAction::ShareDownload), 2 + 3 + 2 + 1);
    assert!(
        trail.iter().any(|e| e.action == AuditAction::ShareDownload && e.source.as_deref() == Some("198.51.100.4"))
    );
    assert!(svc.verify_audit_trail(&a.actor).await.unwrap().valid);
}

/// Documents take the activity module's threaded comments and @mentions, and their uploads,
/// versions and comments make up the document's stream.
pub async fn documents_take_comments_mentions_and_follows(store: Arc<dyn Store>) {
    use crate::activity::{FeedFilter, FeedScope, InboxFilter, NewComment};

    let (crm, _) = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Doc Talk").await;
    let vic = a.member("vic", Role::Member).await;
    let vic_actor = crate::Actor::member(a.tenant.id, vic.id, Role::Member);
    let src = Source::default();
    let (doc, _) = crm
        .documents()
        .upload(&a.actor, NewDocument::default_with_title("Proposal"), file("p.md", b"# Offer"), &src)
        .await
        .unwrap();
    crm.documents().upload_version(&a.actor, doc.id, file("p.md", b"# Offer v2"), None, &src).await.unwrap();
    let entity = EntityRef { kind: EntityKind::Document, id: doc.id.0 };
    let input = NewComment { entity, in_reply_to: None, body: "@vic please review the pricing".into() };
    let first = crm.activity().comment(&a.actor, input).await.unwrap();
    let reply = NewComment { entity, in_reply_to: Some(first.id), body: "Looks good".into() };
    crm.activity().comment(&vic_actor, reply).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();

    let thread = crm.activity().thread(&a.actor, entity).await.unwrap();
    assert_eq!(thread.len(), 1);
    assert_eq!(thread[0].replies.len(), 1, "threaded");
    let inbox = crm.activity().inbox(&vic_actor, InboxFilter::default(), PageRequest::first(10)).await.unwrap();
    assert!(inbox.items.iter().any(|n| n.kind == crate::activity::NotificationKind::Mention), "{inbox:?}");
    let owner_inbox = crm.activity().inbox(&a.actor, InboxFilter::default(), PageRequest::first(10)).await.unwrap();
    assert!(!owner_inbox.items.is_empty(), "the uploader follows the document and hears the reply");
    let stream =
        crm.activity().feed(&a.actor, FeedScope::Entity(entity), &FeedFilter::default(), PageRequest::first(20)).await;
    let verbs: Vec<String> = stream.unwrap().items.iter().map(|x| x.verb.clone()).collect();
    assert!(verbs.contains(&"created".to_owned()) && verbs.contains(&"version_added".to_owned()), "{verbs:?}");
    let missing = NewComment {
        entity: EntityRef { kind: EntityKind::Document, id: uuid::Uuid::now_v7() },
        in_reply_to: None,
        body: "hello?".into(),
    };
    assert!(matches!(crm.activity().comment(&a.actor, missing).await, Err(CrmError::NotFound { .. })));
}
