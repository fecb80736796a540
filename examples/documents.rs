//! Documents on the in-memory store: an upload, a new version, an identical re-upload stored once,
//! a restore, a refused renamed executable, text extraction and full-text search, a private
//! document shared with one member, a document generated from a template, a two-step approval
//! (and one voided by a new version), trash and purge, and the audit chain verified.
//!
//! `cargo run --example documents`

use std::sync::Arc;

use crmcore::contact::NewContact;
use crmcore::document::{
    Access, ApprovalRule, Category, Decide, DocumentFilter, FileUpload, GenerateRequest, GeneratedFormat, NewApproval,
    NewApprovalStep, NewDocument, SearchQuery, SearchRequest, Source, TemplateInput, Visibility,
};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::member::NewMember;
use crmcore::page::PageRequest;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm, Role};
use crmcore_memory::{MemoryBlobStore, MemoryStore};

fn file(name: &str, bytes: &[u8]) -> FileUpload {
    FileUpload { filename: name.into(), declared_type: None, bytes: bytes.to_vec() }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> crmcore::Result<()> {
    let crm = Crm::builder().store(MemoryStore::new()).blobs(Arc::new(MemoryBlobStore::new())).build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let ada = Actor::member(tenant.id, ada.id, ada.role);
    let docs = crm.documents();
    let from = Source(Some("192.0.2.10".into()));

    let input = NewDocument {
        category: Some(Category::Contract),
        tags: vec!["legal".into()],
        ..NewDocument::default_with_title("Master services agreement")
    };
    let (doc, v1) = docs.upload(&ada, input, file("msa.txt", b"Terms, first draft"), &from).await?;
    println!(
        "uploaded {} v{} ({}, {} bytes, key {}…)",
        doc.title,
        v1.number,
        v1.mime,
        v1.size,
        &v1.content_key.as_str()[..12]
    );
    let v2 = docs.upload_version(&ada, doc.id, file("msa.txt", b"Terms, signed"), Some("signed".into()), &from).await?;
    let v3 = docs.upload_version(&ada, doc.id, file("msa-copy.txt", b"Terms, signed"), None, &from).await?;
    println!("v{} and v{} share one blob: {}", v2.number, v3.number, v2.content_key == v3.content_key);
    let v4 = docs.restore_version(&ada, doc.id, 1, &from).await?;
    println!("v{} restores v{:?}", v4.number, v4.restored_from);

    let elf = [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0];
    match docs.upload(&ada, NewDocument::default_with_title("Invoice"), file("invoice.pdf", &elf), &from).await {
        Err(error) => println!("refused: {error}"),
        Ok(_) => println!("an executable was accepted?!"),
    }

    // Downloads come as a reader, a piece (1 MiB) at a time; uploads can stream in the same way.
    let (latest, mut content) = docs.download(&ada, doc.id, None, &from).await?;
    let mut bytes = Vec::new();
    while let Some(piece) = content.next_piece().await? {
        bytes.extend_from_slice(&piece);
    }
    println!("download of v{}: {:?}", latest.number, String::from_utf8_lossy(&bytes));
    let pieces = futures::stream::iter(["Minutes, ", "streamed ", "in pieces"].map(Ok::<_, crmcore::CrmError>));
    let staged = docs.stage(&ada, "minutes.txt", Some("text/plain"), pieces).await?;
    let (minutes, first) = docs.upload_staged(&ada, NewDocument::default_with_title("Minutes"), staged, &from).await?;
    println!("streamed upload: {} ({} bytes)", minutes.title, first.size);
    let contracts = DocumentFilter { category: Some(Category::Contract), ..DocumentFilter::default() };
    println!("contracts: {}", docs.list(&ada, &contracts, PageRequest::first(10)).await?.items.len());

    let mut people = Vec::new();
    for (handle, role) in [("lee", Role::Member), ("lou", Role::Member), ("fin", Role::Viewer)] {
        let input = NewMember { email: format!("{handle}@acme.test"), display_name: None, handle: None, role };
        let member = crm.members().create(&ada, input).await?;
        people.push((member.id, Actor::member(tenant.id, member.id, role)));
    }
    let [(lee, lee_as), (lou, lou_as), (fin, fin_as)] = [people[0], people[1], people[2]];

    // Text is extracted by the worker (queued from the outbox), then searched, with permission
    // filtering: a private note is found by its owner and by whom it is shared with, no one else.
    let note = NewDocument { visibility: Visibility::Private, ..NewDocument::default_with_title("Board notes") };
    let html = b"<h1>Board</h1><p>The <b>walrus</b> acquisition closes in May.</p>";
    let (private, _) = docs.upload(&ada, note, file("board.html", html), &from).await?;
    crm.worker().run_until_idle().await?;
    let walrus = |q: &str| SearchRequest {
        query: SearchQuery::parse(q).expect("a query"),
        filter: DocumentFilter::default(),
        offset: 0,
        limit: 10,
    };
    let found = docs.search(&ada, &walrus("walrus acquisition")).await?;
    println!("ada finds {}: {}", found.hits[0].document.title, found.hits[0].snippet_html);
    println!("lee finds {} documents", docs.search(&lee_as, &walrus("walrus")).await?.hits.len());
    docs.share_with(&ada, private.id, lee, Access::View, &from).await?;
    println!("shared: lee finds {} document", docs.search(&lee_as, &walrus("walrus")).await?.hits.len());

    // A document generated from a template for a contact (HTML here; the server also makes PDFs).
    let template = docs
        .create_template(
            &ada,
            TemplateInput {
                name: "Welcome letter".into(),
                description: String::new(),
                category: Some(Category::Proposal),
                title: "Welcome, {{ contact.company }}".into(),
                body: "<h1>Dear {{ contact.first_name }},</h1><p>Welcome from {{ tenant.name }}.</p>".into(),
                expected_version: None,
            },
        )
        .await?;
    let input = NewContact {
        email: Some("grace@navy.test".into()),
        first_name: Some("Grace".into()),
        company: Some("Navy".into()),
        ..NewContact::default()
    };
    let contact = crm.contacts().create(&ada, input).await?;
    let request = GenerateRequest {
        subject: EntityRef { kind: EntityKind::Contact, id: contact.id.0 },
        format: GeneratedFormat::Html,
        tags: Vec::new(),
        visibility: Visibility::Tenant,
    };
    let (letter, version) = docs.generate(&ada, template.id, request, &from).await?;
    println!("generated {:?} as {} ({} bytes)", letter.title, version.filename, version.size);

    // A two-step approval of the latest version: legal (everyone), then finance (any one).
    let step = |name: &str, approvers: Vec<_>, rule| NewApprovalStep {
        name: Some(name.into()),
        approvers,
        rule,
        due_at: Some(crm.clock().now() + chrono::Duration::days(3)),
    };
    let input = NewApproval {
        steps: vec![step("Legal", vec![lee, lou], ApprovalRule::All), step("Finance", vec![fin], ApprovalRule::Any)],
        document_version: None,
    };
    let approvals = docs.approvals();
    let approval = approvals.request(&ada, doc.id, input, &from).await?;
    println!("approval of v{} requested: {:?}", approval.document_version, approval.state);
    approvals.approve(&lee_as, approval.id, Decide::default(), &from).await?;
    if let Err(error) = approvals.approve(&fin_as, approval.id, Decide::default(), &from).await {
        println!("finance may not decide yet: {error}");
    }
    let after_legal = approvals.approve(&lou_as, approval.id, Decide::default(), &from).await?;
    println!("legal done, now step {} ({})", after_legal.current_step, after_legal.steps[1].name);
    let comment = Decide { comment: Some("within budget".into()), expected_version: Some(after_legal.version) };
    let approved = approvals.approve(&fin_as, approval.id, comment, &from).await?;
    println!("approval: {:?} at {:?}", approved.state, approved.decided_at);

    // A new version voids a pending approval: the approved content would not be the latest.
    let pending = approvals
        .request(
            &ada,
            doc.id,
            NewApproval { steps: vec![step("Legal", vec![lee], ApprovalRule::Any)], document_version: None },
            &from,
        )
        .await?;
    docs.upload_version(&ada, doc.id, file("msa.txt", b"Terms, amended"), None, &from).await?;
    let voided = approvals.get(&ada, pending.id).await?;
    println!("after a new version: {:?} ({:?})", voided.state, voided.cancel_reason);

    docs.trash(&ada, doc.id, &from).await?;
    docs.purge(&ada, doc.id, &from).await?;
    for entry in docs.audit_trail(&ada, 0, 100).await? {
        println!(
            "audit #{} {:<16} from {:?} hash {}…",
            entry.seq,
            entry.action.as_str(),
            entry.source,
            &entry.hash[..12]
        );
    }
    let report = docs.verify_audit_trail(&ada).await?;
    println!("audit chain: {} entries, valid: {}", report.entries, report.valid);
    Ok(())
}
