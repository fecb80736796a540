//! Documents on the in-memory store: an upload, a new version, an identical re-upload stored once,
//! a restore, a refused renamed executable, trash and purge, and the audit chain verified.
//!
//! `cargo run --example documents`

use std::sync::Arc;

use crmcore::document::{Category, DocumentFilter, FileUpload, NewDocument, Source};
use crmcore::page::PageRequest;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
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

    let (latest, bytes) = docs.download(&ada, doc.id, None, &from).await?;
    println!("download of v{}: {:?}", latest.number, String::from_utf8_lossy(&bytes));
    let contracts = DocumentFilter { category: Some(Category::Contract), ..DocumentFilter::default() };
    println!("contracts: {}", docs.list(&ada, &contracts, PageRequest::first(10)).await?.items.len());

    docs.trash(&ada, doc.id, &from).await?;
    docs.purge(&ada, doc.id, &from).await?;
    for entry in docs.audit_trail(&ada, 0, 100).await? {
        println!(
            "audit #{} {:<15} from {:?} hash {}…",
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
