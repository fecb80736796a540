//! Contract checks for document access control, text extraction and full-text search: every
//! store answers exactly what the domain's own matcher and visibility rule say, with the
//! permission filter inside the store's query.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::document::MapBlobs;
use super::fixtures::Fixture;
use crate::Crm;
use crate::actor::{Actor, Role};
use crate::document::{
    Access, Category, Document, DocumentFilter, DocumentPatch, FileUpload, NewDocument, SearchQuery, SearchRequest,
    SearchText, Source, TextOutcome, TextStatus, Viewer, Visibility,
};
use crate::error::CrmError;
use crate::id::{ApiKeyId, DocumentId, MemberId};
use crate::page::PageRequest;
use crate::ports::Store;

fn file(name: &str, bytes: &[u8]) -> FileUpload {
    FileUpload { filename: name.into(), declared_type: None, bytes: bytes.to_vec() }
}

fn crm_over(store: Arc<dyn Store>) -> Crm {
    Crm::builder().shared_store(store).blobs(Arc::new(MapBlobs::default())).build().expect("crm")
}

fn new_doc(title: &str, visibility: Visibility) -> NewDocument {
    NewDocument { visibility, ..NewDocument::default_with_title(title) }
}

fn search(q: &str) -> SearchRequest {
    SearchRequest {
        query: SearchQuery::parse(q).expect("query"),
        filter: DocumentFilter::default(),
        offset: 0,
        limit: 100,
    }
}

async fn hit_ids(crm: &Crm, actor: &Actor, request: &SearchRequest) -> BTreeSet<DocumentId> {
    let results = crm.documents().search(actor, request).await.expect("search");
    results.hits.iter().map(|h| h.document.id).collect()
}

/// Private documents are seen only by their owner, the members they are shared with and
/// admins — in `get`, `list` and `search` alike; grants give exactly their level; tenant-wide
/// documents follow the role; visibility and owner changes are the owner's or an admin's.
pub async fn documents_access_follows_visibility_and_grants(store: Arc<dyn Store>) {
    let crm = crm_over(store.clone());
    let t = Fixture::with_crm(crm.clone(), "Access Co").await;
    let other = Fixture::with_crm(crm.clone(), "Access Other").await;
    let svc = crm.documents();
    let src = Source::default();
    let alice = t.member("alice", Role::Member).await;
    let bob = t.member("bob", Role::Member).await;
    let admin = t.member("root", Role::Admin).await;
    let as_alice = Actor::member(t.tenant.id, alice.id, Role::Member);
    let as_bob = Actor::member(t.tenant.id, bob.id, Role::Member);
    let as_admin = Actor::member(t.tenant.id, admin.id, Role::Admin);
    let as_key = Actor::api_key(t.tenant.id, ApiKeyId::new(), Role::Manager);

    let (secret, _) = svc
        .upload(&as_alice, new_doc("Confidential merger plan", Visibility::Private), file("m.txt", b"merger"), &src)
        .await
        .unwrap();
    let (open, _) = svc
        .upload(&as_alice, new_doc("Merger press kit", Visibility::Tenant), file("p.txt", b"press"), &src)
        .await
        .unwrap();
    let merger = search("merger");
    let listed = |actor: Actor| {
        let crm = crm.clone();
        async move {
            let page = crm.documents().list(&actor, &DocumentFilter::default(), PageRequest::first(50)).await.unwrap();
            page.items.iter().map(|d| d.id).collect::<BTreeSet<_>>()
        }
    };
    let both: BTreeSet<_> = [secret.id, open.id].into();
    let only_open: BTreeSet<_> = [open.id].into();
    for (who, actor, expected) in [
        ("owner", &as_alice, &both),
        ("admin", &as_admin, &both),
        ("tenant owner", &t.actor, &both),
        ("bob", &as_bob, &only_open),
        ("api key", &as_key, &only_open),
    ] {
        assert_eq!(&listed(*actor).await, expected, "{who} lists");
        // Titles are indexed at once; no text is needed.
        assert_eq!(&hit_ids(&crm, actor, &merger).await, expected, "{who} searches");
    }
    for actor in [&as_bob, &as_key] {
        let err = svc.get(actor, secret.id, &src).await.unwrap_err();
        assert!(matches!(err, CrmError::NotFound { .. }), "hidden, not forbidden: {err:?}");
        assert!(matches!(svc.versions(actor, secret.id).await, Err(CrmError::NotFound { .. })));
        assert!(matches!(svc.download(actor, secret.id, None, &src).await, Err(CrmError::NotFound { .. })));
    }
    assert!(hit_ids(&crm, &other.actor, &merger).await.is_empty(), "other tenants see nothing");
    let link = svc
        .share(
            &as_alice,
            secret.id,
            crate::document::NewShareLink {
                expires_in_hours: None,
                password: None,
                max_downloads: None,
                version: None,
            },
            &src,
        )
        .await
        .unwrap();
    let err = svc.revoke_share_link(&as_bob, link.link.id, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "a link of a hidden document is absent: {err:?}");
    assert!(matches!(svc.share_links(&as_bob, secret.id).await, Err(CrmError::NotFound { .. })));
    svc.revoke_share_link(&as_alice, link.link.id, &src).await.unwrap();

    // A view grant: bob sees it, cannot change it or comment on it.
    svc.share_with(&as_alice, secret.id, bob.id, Access::View, &src).await.unwrap();
    assert_eq!(listed(as_bob).await, both);
    assert_eq!(hit_ids(&crm, &as_bob, &merger).await, both);
    svc.get(&as_bob, secret.id, &src).await.unwrap();
    let patch = DocumentPatch { title: Some("Renamed".into()), ..DocumentPatch::default() };
    let err = svc.update(&as_bob, secret.id, patch.clone(), &src).await.unwrap_err();
    assert!(matches!(err, CrmError::Forbidden(_)), "{err:?}");
    let comment = crate::activity::NewComment {
        entity: crate::event::EntityRef { kind: crate::event::EntityKind::Document, id: secret.id.0 },
        body: "looks fine".into(),
        in_reply_to: None,
    };
    let err = crm.activity().comment(&as_bob, comment.clone()).await.unwrap_err();
    assert!(matches!(err, CrmError::Forbidden(_)), "a view grant cannot comment: {err:?}");
    let err = svc.share_with(&as_bob, secret.id, bob.id, Access::Edit, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::Forbidden(_)), "nor grant itself more: {err:?}");

    // Raised to edit: bob may change it, but not its visibility or owner.
    svc.share_with(&as_alice, secret.id, bob.id, Access::Edit, &src).await.unwrap();
    let grants = svc.grants(&as_alice, secret.id).await.unwrap();
    assert_eq!(grants.len(), 1, "one grant per member");
    assert_eq!((grants[0].member_id, grants[0].access), (bob.id, Access::Edit));
    assert_eq!(store.documents().grant_of(t.tenant.id, secret.id, bob.id).await.unwrap(), Some(Access::Edit));
    crm.activity().comment(&as_bob, comment).await.unwrap();
    let renamed = svc.update(&as_bob, secret.id, patch, &src).await.unwrap();
    assert_eq!(renamed.title, "Renamed");
    let open_it = DocumentPatch { visibility: Some(Visibility::Tenant), ..DocumentPatch::default() };
    let err = svc.update(&as_bob, secret.id, open_it.clone(), &src).await.unwrap_err();
    assert!(matches!(err, CrmError::Forbidden(_)), "{err:?}");
    assert!(hit_ids(&crm, &as_bob, &search("renamed")).await.contains(&secret.id), "retitled, reindexed");
    assert!(hit_ids(&crm, &as_bob, &search("confidential")).await.is_empty(), "the old title is gone");

    // Taken away: hidden again.
    svc.unshare_with(&as_alice, secret.id, bob.id, &src).await.unwrap();
    assert_eq!(listed(as_bob).await, only_open);
    assert!(hit_ids(&crm, &as_bob, &search("renamed")).await.is_empty());
    let err = svc.unshare_with(&as_alice, secret.id, bob.id, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err:?}");
    let err = svc.share_with(&as_alice, secret.id, alice.id, Access::View, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::Validation(_)), "the owner needs no grant: {err:?}");
    let err = svc.share_with(&as_alice, secret.id, other.owner.id, Access::View, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "members of other tenants do not exist here: {err:?}");

    // Nobody hears of a private document they may not see: bob, @mentioned there after losing
    // access, gets no notification; carol, who has a grant, does; an admin does.
    let carol = t.member("carol", Role::Member).await;
    let as_carol = Actor::member(t.tenant.id, carol.id, Role::Member);
    svc.share_with(&as_alice, secret.id, carol.id, Access::Comment, &src).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();
    let before = |actor: Actor| {
        let crm = crm.clone();
        async move { crm.activity().unread_count(&actor).await.unwrap() }
    };
    let (bob_before, carol_before, admin_before) =
        (before(as_bob).await, before(as_carol).await, before(as_admin).await);
    let mention = crate::activity::NewComment {
        entity: crate::event::EntityRef { kind: crate::event::EntityKind::Document, id: secret.id.0 },
        body: "@bob @carol @root please check the numbers".into(),
        in_reply_to: None,
    };
    crm.activity().comment(&as_alice, mention).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();
    assert_eq!(before(as_bob).await, bob_before, "no notification without access");
    let secret_ref = crate::event::EntityRef { kind: crate::event::EntityKind::Document, id: secret.id.0 };
    let page = PageRequest::first(20);
    let feed = crate::activity::FeedScope::Entity(secret_ref);
    let filter = crate::activity::FeedFilter::default();
    assert!(matches!(crm.activity().comments(&as_bob, secret_ref, page).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(crm.activity().thread(&as_bob, secret_ref).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(crm.activity().feed(&as_bob, feed, &filter, page).await, Err(CrmError::NotFound { .. })));
    assert!(!crm.activity().thread(&as_carol, secret_ref).await.unwrap().is_empty(), "carol reads the thread");
    let stream = crm.activity().feed(&as_carol, feed, &filter, page).await.unwrap();
    let seen = crm.activity().get_activity(&as_carol, stream.items[0].id).await.unwrap();
    assert!(matches!(crm.activity().get_activity(&as_bob, seen.id).await, Err(CrmError::NotFound { .. })));
    assert_eq!(before(as_carol).await, carol_before + 1, "a member it is shared with hears of it");
    assert_eq!(before(as_admin).await, admin_before + 1, "admins see every document");

    // The owner opens it to the tenant.
    svc.update(&as_alice, secret.id, open_it, &src).await.unwrap();
    assert_eq!(listed(as_bob).await, both);
    assert_eq!(listed(as_key).await, both);
}

/// A small deterministic generator, so every store sees the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn words(&mut self, vocabulary: &[&str], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n).map(|_| self.pick(vocabulary)).collect::<Vec<_>>().join(" ")
    }
}

const WORDS: &[&str] =
    &["Acme", "renewal", "invoice", "net-30", "Zürich", "pricing", "draft", "signed", "quarterly", "audit", "renew"];
const TAGS: &[&str] = &["legal", "finance", "q3", "vip"];

/// On generated documents, texts, versions, visibilities, grants and filters, the store's hits
/// are exactly the documents the domain's matcher, filter and visibility rule select — for
/// several viewers and queries (words, phrases, prefixes, exclusions); title matches outrank
/// text matches; pages do not overlap; the trash and other tenants are never searched.
pub async fn documents_search_agrees_with_the_domain(store: Arc<dyn Store>) {
    let crm = crm_over(store.clone());
    let t = Fixture::with_crm(crm.clone(), "Search Co").await;
    let other = Fixture::with_crm(crm.clone(), "Search Other").await;
    let svc = crm.documents();
    let repo = store.documents();
    let src = Source::default();
    let alice = t.member("alice", Role::Member).await;
    let bob = t.member("bob", Role::Member).await;
    let as_alice = Actor::member(t.tenant.id, alice.id, Role::Member);
    let as_bob = Actor::member(t.tenant.id, bob.id, Role::Member);
    let as_key = Actor::api_key(t.tenant.id, ApiKeyId::new(), Role::Viewer);

    let mut rng = Lcg(0x5eed);
    let mut texts: HashMap<DocumentId, String> = HashMap::new();
    let mut grants: HashMap<DocumentId, Vec<MemberId>> = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..48 {
        let uploader = if rng.below(2) == 0 { &as_alice } else { &as_bob };
        let visibility = if rng.below(3) == 0 { Visibility::Private } else { Visibility::Tenant };
        let mut title = rng.words(WORDS, 3);
        if title.is_empty() {
            title = format!("Untitled {i}");
        }
        let tags: Vec<String> = (0..rng.below(3)).map(|_| rng.pick(TAGS).to_owned()).collect();
        let input = NewDocument {
            title: Some(title),
            category: Some(Category::ALL[rng.below(3)]),
            tags,
            visibility,
            ..NewDocument::default_with_title("")
        };
        let (doc, _) =
            svc.upload(uploader, input, file(&format!("f{i}.txt"), format!("v{i}").as_bytes()), &src).await.unwrap();
        if rng.below(2) == 0 {
            let body = rng.words(WORDS, 25);
            repo.set_text(t.tenant.id, doc.id, 1, &TextOutcome::Done(body.clone())).await.unwrap();
            texts.insert(doc.id, body);
        }
        if visibility == Visibility::Private && rng.below(2) == 0 {
            let (grantee, owner) =
                if uploader.member_id() == Some(alice.id) { (bob.id, &as_alice) } else { (alice.id, &as_bob) };
            svc.share_with(owner, doc.id, grantee, Access::View, &src).await.unwrap();
            grants.entry(doc.id).or_default().push(grantee);
        }
        match rng.below(6) {
            // A new version empties the text until its own is extracted.
            0 => {
                svc.upload_version(uploader, doc.id, file("n.txt", format!("n{i}").as_bytes()), None, &src)
                    .await
                    .unwrap();
                texts.remove(&doc.id);
                if rng.below(2) == 0 {
                    let body = rng.words(WORDS, 10);
                    repo.set_text(t.tenant.id, doc.id, 2, &TextOutcome::Done(body.clone())).await.unwrap();
                    texts.insert(doc.id, body);
                }
            }
            // An old version's text does not count.
            1 => {
                svc.upload_version(uploader, doc.id, file("n.txt", format!("m{i}").as_bytes()), None, &src)
                    .await
                    .unwrap();
                let stale = texts.remove(&doc.id).unwrap_or_default();
                repo.set_text(t.tenant.id, doc.id, 1, &TextOutcome::Done(format!("{stale} audit"))).await.unwrap();
            }
            2 => {
                svc.trash(&t.actor, doc.id, &src).await.unwrap();
            }
            _ => {}
        }
        ids.push(doc.id);
    }
    // The same words in another tenant, never found from this one.
    svc.upload(&other.actor, NewDocument::default_with_title("Acme renewal invoice"), file("o.txt", b"o"), &src)
        .await
        .unwrap();

    let mut documents = Vec::new();
    for id in &ids {
        documents.push(repo.get(t.tenant.id, *id).await.unwrap());
    }
    let middle = documents[documents.len() / 2].created_at;
    let filters = [
        DocumentFilter::default(),
        DocumentFilter { category: Some(Category::Contract), ..DocumentFilter::default() },
        DocumentFilter { tag: Some(crate::value::Tag::parse("legal").unwrap()), ..DocumentFilter::default() },
        DocumentFilter { owner_id: Some(alice.id), ..DocumentFilter::default() },
        DocumentFilter { created_from: Some(middle), ..DocumentFilter::default() },
        DocumentFilter { created_before: Some(middle), ..DocumentFilter::default() },
        // An empty range, and a category within a range.
        DocumentFilter { created_from: Some(middle), created_before: Some(middle), ..DocumentFilter::default() },
        DocumentFilter { category: Some(Category::Proposal), created_from: Some(middle), ..DocumentFilter::default() },
    ];
    let queries = [
        "acme",
        "renewal invoice",
        "\"net 30\"",
        "net-30 pricing",
        "renew*",
        "zürich -draft",
        "ZURICH",
        "\"signed quarterly\"",
        "\"quarterly signed\"",
        "\"renewal invoice net 30\"",
        "net-30-pri*",
        "\"zürich pricing\"",
        "acme \"draft audit\" -\"net 30\"",
        "audit",
        "vip",
        "legal finance",
        "untitled",
    ];
    let viewers = [
        (&t.actor, Viewer::All),
        (&as_alice, Viewer::Member(alice.id)),
        (&as_bob, Viewer::Member(bob.id)),
        (&as_key, Viewer::TenantOnly),
    ];
    let mut compared = 0;
    for q in queries {
        let query = SearchQuery::parse(q).unwrap();
        for filter in &filters {
            for (actor, viewer) in &viewers {
                let expected: BTreeSet<DocumentId> = documents
                    .iter()
                    .filter(|d| d.trashed_at.is_none() && filter.matches(d))
                    .filter(|d| viewer.sees(d, grants.get(&d.id).map(Vec::as_slice).unwrap_or(&[])))
                    .filter(|d| query.matches(&SearchText::of(d, texts.get(&d.id).map(String::as_str))))
                    .map(|d| d.id)
                    .collect();
                let request = SearchRequest { query: query.clone(), filter: filter.clone(), offset: 0, limit: 100 };
                assert_eq!(hit_ids(&crm, actor, &request).await, expected, "query `{q}`, {filter:?}, {viewer:?}");
                compared += usize::from(!expected.is_empty());
            }
        }
    }
    assert!(compared > 40, "the generated data exercises the queries ({compared} non-empty)");

    // Pages do not overlap and together are the first results.
    let mut first = search("acme");
    first.limit = 3;
    let all = crm.documents().search(&t.actor, &search("acme")).await.unwrap();
    let page1 = crm.documents().search(&t.actor, &first).await.unwrap();
    assert_eq!(page1.next_offset, Some(3));
    let page2 = crm.documents().search(&t.actor, &SearchRequest { offset: 3, ..first }).await.unwrap();
    let order: Vec<DocumentId> = page1.hits.iter().chain(&page2.hits).map(|h| h.document.id).collect();
    let expected: Vec<DocumentId> = all.hits.iter().take(order.len()).map(|h| h.document.id).collect();
    assert_eq!(order, expected, "pages follow the ranking");
    assert!(all.next_offset.is_none());
}

/// A word in a title outranks the same word in the text; snippets show the text around the
/// match, escaped and marked; a query with no word is refused.
pub async fn documents_search_ranks_and_highlights(store: Arc<dyn Store>) {
    let crm = crm_over(store.clone());
    let t = Fixture::with_crm(crm.clone(), "Rank Co").await;
    let svc = crm.documents();
    let src = Source::default();
    let (in_text, _) =
        svc.upload(&t.actor, NewDocument::default_with_title("Minutes"), file("a.txt", b"a"), &src).await.unwrap();
    let body = format!("{} the <zephyr> clause & terms {}", "filler ".repeat(30), "padding ".repeat(30));
    store.documents().set_text(t.tenant.id, in_text.id, 1, &TextOutcome::Done(body)).await.unwrap();
    let (in_title, _) = svc
        .upload(&t.actor, NewDocument::default_with_title("Zephyr contract"), file("b.txt", b"b"), &src)
        .await
        .unwrap();
    let results = svc.search(&t.actor, &search("zephyr")).await.unwrap();
    let order: Vec<DocumentId> = results.hits.iter().map(|h| h.document.id).collect();
    assert_eq!(order, [in_title.id, in_text.id], "title first");
    assert_eq!(results.hits[0].title_html, "<mark>Zephyr</mark> contract");
    let snippet = &results.hits[1].snippet_html;
    assert!(snippet.contains("the &lt;<mark>zephyr</mark>&gt; clause &amp; terms"), "{snippet}");
    assert!(snippet.starts_with('…') && snippet.ends_with('…'), "{snippet}");
    // A phrase never spans two fields (title, tags, text).
    let input = NewDocument { tags: vec!["gamma".into()], ..NewDocument::default_with_title("Alpha beta") };
    let (spanned, _) = svc.upload(&t.actor, input, file("c.txt", b"c"), &src).await.unwrap();
    store.documents().set_text(t.tenant.id, spanned.id, 1, &TextOutcome::Done("delta epsilon".into())).await.unwrap();
    assert_eq!(hit_ids(&crm, &t.actor, &search("\"alpha beta\" gamma \"delta epsilon\"")).await, [spanned.id].into());
    assert!(hit_ids(&crm, &t.actor, &search("\"beta gamma\"")).await.is_empty());
    assert!(hit_ids(&crm, &t.actor, &search("\"gamma delta\"")).await.is_empty());
    assert!(SearchQuery::parse("-zephyr").is_err());
    let mut bad = search("zephyr");
    bad.limit = 0;
    assert!(matches!(svc.search(&t.actor, &bad).await, Err(CrmError::Validation(_))));
}

/// Uploads are extracted by the worker (through the outbox, so no upload is missed): text and
/// HTML become searchable; a file with no extractor is `failed` with its reason; a new version's
/// text replaces the old one in the index; a failed status is reported on the version.
pub async fn documents_text_is_extracted_and_searchable(store: Arc<dyn Store>) {
    let crm = crm_over(store.clone());
    let t = Fixture::with_crm(crm.clone(), "Extract Co").await;
    let svc = crm.documents();
    let src = Source::default();
    let (note, v1) = svc
        .upload(
            &t.actor,
            NewDocument::default_with_title("Call notes"),
            file("n.md", b"# Notes\nThe **walrus** budget"),
            &src,
        )
        .await
        .unwrap();
    assert_eq!(v1.text_status, TextStatus::Pending);
    let html = b"<html><body><script>var hidden='narwhal';</script><p>Kelp &amp; krill</p></body></html>";
    let (page, _) =
        svc.upload(&t.actor, NewDocument::default_with_title("Page"), file("p.html", html), &src).await.unwrap();
    // An image, and no OCR engine configured: nothing can read it.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
    let (scan, _) =
        svc.upload(&t.actor, NewDocument::default_with_title("Scan"), file("s.png", png), &src).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();

    let versions = svc.versions(&t.actor, note.id).await.unwrap();
    assert_eq!(versions[0].text_status, TextStatus::Done);
    assert_eq!(svc.text(&t.actor, note.id, 1).await.unwrap().as_deref(), Some("# Notes\nThe **walrus** budget"));
    assert_eq!(hit_ids(&crm, &t.actor, &search("walrus budget")).await, [note.id].into());
    assert_eq!(hit_ids(&crm, &t.actor, &search("krill")).await, [page.id].into());
    assert!(hit_ids(&crm, &t.actor, &search("narwhal")).await.is_empty(), "scripts are not text");
    let v = &svc.versions(&t.actor, scan.id).await.unwrap()[0];
    assert_eq!(v.text_status, TextStatus::Failed);
    assert!(v.text_error.as_deref().is_some_and(|e| e.contains("OCR")), "{v:?}");
    assert_eq!(svc.text(&t.actor, scan.id, 1).await.unwrap(), None);

    svc.upload_version(&t.actor, note.id, file("n2.md", b"The walrus moved to the orca budget"), None, &src)
        .await
        .unwrap();
    assert!(hit_ids(&crm, &t.actor, &search("walrus")).await.is_empty(), "the new version's text is pending");
    crm.worker().run_until_idle().await.unwrap();
    assert_eq!(hit_ids(&crm, &t.actor, &search("orca")).await, [note.id].into());
    svc.restore_version(&t.actor, note.id, 1, &src).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();
    assert!(hit_ids(&crm, &t.actor, &search("orca")).await.is_empty(), "restored: the old text again");
    assert_eq!(hit_ids(&crm, &t.actor, &search("\"walrus budget\"")).await, [note.id].into());
    let latest = store.documents().get(t.tenant.id, note.id).await.unwrap();
    assert_eq!(latest.latest_version, 3);
    let err = svc.text(&t.actor, note.id, 9).await.unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err:?}");
    let _: &Document = &latest;
}
