//! Contract checks for document templates and generation.

use std::sync::Arc;

use super::document::MapBlobs;
use super::fixtures::Fixture;
use crate::Crm;
use crate::actor::{Actor, Role};
use crate::contact::NewContact;
use crate::deal::NewDeal;
use crate::document::{GenerateRequest, GeneratedFormat, Source, TemplateInput, Visibility};
use crate::error::{CrmError, Port};
use crate::event::{EntityKind, EntityRef};
use crate::ports::Store;

fn input(name: &str, title: &str, body: &str) -> TemplateInput {
    TemplateInput {
        name: name.into(),
        description: String::new(),
        category: None,
        title: title.into(),
        body: body.into(),
        expected_version: None,
    }
}

/// Templates are checked when saved (line numbers, field names), named uniquely per tenant,
/// versioned, listed by name and isolated; rendering fills them from a contact or a deal with
/// every value escaped; generating stores a linked document whose version is the rendered file;
/// asking for a PDF without a PDF writer is `Unavailable`, and leaves nothing behind.
pub async fn documents_are_generated_from_templates(store: Arc<dyn Store>) {
    let crm = Crm::builder().shared_store(store.clone()).blobs(Arc::new(MapBlobs::default())).build().expect("crm");
    let t = Fixture::with_crm(crm.clone(), "Generate Co").await;
    let other = Fixture::with_crm(crm.clone(), "Generate Other").await;
    let svc = crm.documents();
    let src = Source::default();

    let bad = svc.create_template(&t.actor, input("Broken", "Hi {{ client }}", "<p>\n\n{% for %}</p>")).await;
    let CrmError::Validation(errors) = bad.unwrap_err() else { panic!("validation expected") };
    assert!(errors.iter().any(|e| e.field == "title" && e.code == "unknown_variable"), "{errors:?}");
    assert!(errors.iter().any(|e| e.field == "body" && e.message.starts_with("line 3")), "{errors:?}");

    let body = "<h1>Proposal</h1><p>Dear {{ contact.first_name }},</p>\
                {% if deal is defined %}<p>{{ deal.title }}: {{ deal.amount.amount_minor // 100 }} {{ deal.amount.currency }}</p>{% endif %}\
                <p>{{ owner.display_name }}, {{ tenant.name }}, {{ today }}</p>";
    let template = svc
        .create_template(&t.actor, input("Proposal", "Proposal for {{ contact.company | default('you') }}", body))
        .await
        .unwrap();
    let dup = svc.create_template(&t.actor, input("Proposal", "x", "y")).await.unwrap_err();
    assert!(matches!(&dup, CrmError::Conflict { field: Some(f), .. } if f == "name"), "{dup:?}");
    svc.create_template(&other.actor, input("Proposal", "x", "y")).await.expect("names are per tenant");
    svc.create_template(&t.actor, input("Letter", "Letter", "<p>{{ contact.email }}</p>")).await.unwrap();
    let names: Vec<String> = svc.templates(&t.actor).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["Letter", "Proposal"]);
    assert!(matches!(svc.template(&other.actor, template.id).await, Err(CrmError::NotFound { .. })));

    let mut change = input("Proposal", "Offer for {{ contact.company | default('you') }}", body);
    change.expected_version = Some(template.version + 5);
    assert!(matches!(svc.update_template(&t.actor, template.id, change.clone()).await, Err(CrmError::Conflict { .. })));
    change.expected_version = Some(template.version);
    let template = svc.update_template(&t.actor, template.id, change).await.unwrap();
    assert_eq!(template.version, 2);

    let contact = crm
        .contacts()
        .create(
            &t.actor,
            NewContact {
                email: Some("ada@client.test".into()),
                first_name: Some("Ada <script>".into()),
                company: Some("Client & Co".into()),
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
    let deal = crm
        .deals()
        .create(
            &t.actor,
            NewDeal {
                title: "Engine".into(),
                contact_id: Some(contact.id),
                owner_id: None,
                amount_minor: 1_250_000,
                currency: "EUR".into(),
                stage: None,
                probability: None,
                expected_close: None,
            },
        )
        .await
        .unwrap();
    let for_contact = EntityRef { kind: EntityKind::Contact, id: contact.id.0 };
    let for_deal = EntityRef { kind: EntityKind::Deal, id: deal.id.0 };

    let rendered = svc.render_template(&t.actor, template.id, for_contact).await.unwrap();
    assert_eq!(rendered.title, "Offer for Client & Co");
    assert!(rendered.html.contains("Dear Ada &lt;script&gt;,"), "escaped: {}", rendered.html);
    assert!(!rendered.html.contains("Engine"), "no deal for a contact");
    assert!(rendered.html.starts_with("<!DOCTYPE html>"));

    let member = t.member("writer", Role::Member).await;
    let writer = Actor::member(t.tenant.id, member.id, Role::Member);
    let request = GenerateRequest {
        subject: for_deal,
        format: GeneratedFormat::Html,
        tags: vec!["proposals".into()],
        visibility: Visibility::Private,
    };
    let (document, version) = svc.generate(&writer, template.id, request.clone(), &src).await.unwrap();
    assert_eq!(document.title, "Offer for Client & Co");
    assert_eq!(document.links, [for_deal]);
    assert_eq!(document.visibility, Visibility::Private);
    assert_eq!(document.owner_id, member.id);
    assert_eq!((version.mime.as_str(), version.filename.as_str()), ("text/html", "Offer-for-Client-Co.html"));
    let (_, bytes) = svc.download(&writer, document.id, None, &src).await.unwrap();
    let html = String::from_utf8(bytes.read_all().await.unwrap()).unwrap();
    assert!(html.contains("<p>Engine: 12500 EUR</p>"), "{html}");
    assert!(html.contains("<p>writer, Generate Co,"), "{html}");

    let pdf = GenerateRequest { format: GeneratedFormat::Pdf, ..request };
    let before =
        svc.list(&t.actor, &Default::default(), crate::page::PageRequest::first(50)).await.unwrap().items.len();
    let err = svc.generate(&writer, template.id, pdf, &src).await.unwrap_err();
    assert!(matches!(err, CrmError::Unavailable { port: Port::PdfWriter, .. }), "{err:?}");
    let after = svc.list(&t.actor, &Default::default(), crate::page::PageRequest::first(50)).await.unwrap().items.len();
    assert_eq!(before, after, "nothing is stored");

    let viewer = Actor::member(t.tenant.id, t.member("reader", Role::Viewer).await.id, Role::Viewer);
    let req = GenerateRequest {
        subject: for_contact,
        format: GeneratedFormat::Html,
        tags: Vec::new(),
        visibility: Visibility::Tenant,
    };
    assert!(matches!(svc.generate(&viewer, template.id, req.clone(), &src).await, Err(CrmError::Forbidden(_))));
    let not_a_record = GenerateRequest { subject: EntityRef { kind: EntityKind::Campaign, id: deal.id.0 }, ..req };
    assert!(matches!(svc.generate(&t.actor, template.id, not_a_record, &src).await, Err(CrmError::Validation(_))));
    svc.delete_template(&t.actor, template.id).await.unwrap();
    assert!(matches!(svc.delete_template(&t.actor, template.id).await, Err(CrmError::NotFound { .. })));
    svc.get(&t.actor, document.id, &src).await.expect("generated documents stay");
}
