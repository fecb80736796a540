//! `HtmlPdfWriter` through the `PdfWriter` port: the PDFs open with an independent reader
//! (lopdf), carry the title, give every word back, grow pages with the content, repeat a long
//! table's header on each page, and print characters outside Windows-1252 as `?`; a document
//! generated from a template on the server is such a PDF.

use std::sync::Arc;

use crmcore::Actor;
use crmcore::contact::NewContact;
use crmcore::document::{GenerateRequest, GeneratedFormat, Source, TemplateInput, Visibility};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::ports::PdfWriter;
use crmcore_http::pdf_write::HtmlPdfWriter;
use lopdf::Document;

use crate::support::{Backend, TestServer};

fn writer() -> Arc<dyn PdfWriter> {
    Arc::new(HtmlPdfWriter::new())
}

/// The PDF's pages, each as the text lopdf extracts from it.
fn pages(pdf: &[u8]) -> Vec<String> {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF: {:?}", String::from_utf8_lossy(&pdf[..pdf.len().min(16)]));
    let document = Document::load_mem(pdf).expect("lopdf reads the PDF");
    let numbers: Vec<u32> = document.get_pages().keys().copied().collect();
    numbers.iter().map(|n| document.extract_text(&[*n]).expect("text of a page")).collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ':' | ';' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Markup as a document template renders it: headings, styled text, lists, a table, a rule.
const OFFER: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ignored</title><style>td { padding: 4px }</style></head>
<body>
  <h1>Offer for Acme Corporation</h1>
  <p>Dear <b>Ada Lovelace</b>,<br>thank you for your <i>enquiry</i> of 12 March.</p>
  <h2>Scope</h2>
  <ul><li>Onboarding workshop</li><li>Data migration<ul><li>Contacts</li><li>Deals</li></ul></li></ul>
  <ol><li>Kick-off</li><li>Delivery</li></ol>
  <h3>Prices</h3>
  <table width="100%">
    <thead><tr><th>Item</th><th>Quantity</th><th align="right">Amount</th></tr></thead>
    <tbody>
      <tr><td>Workshop</td><td>2</td><td align="right">1,200.00</td></tr>
      <tr><td>Migration</td><td>1</td><td align="right">3,400.00</td></tr>
      <tr><td colspan="2"><strong>Total</strong></td><td align="right"><strong>4,600.00</strong></td></tr>
    </tbody>
  </table>
  <hr>
  <p>Valid until 30 April. Kind regards, Grace Hopper</p>
</body></html>"#;

#[tokio::test]
async fn a_rendered_document_reads_back_word_for_word() {
    let pdf = writer().html_to_pdf(OFFER, "Offer für Acme – Q2").await.expect("pdf");
    let pages = pages(&pdf);
    assert_eq!(pages.len(), 1, "{pages:?}");
    let found = words(&pages[0]);
    let expected = "Offer for Acme Corporation Dear Ada Lovelace thank you for your enquiry of 12 March Scope \
                    Onboarding workshop Data migration Contacts Deals Kick-off Delivery Prices Item Quantity Amount \
                    Workshop 2 1,200.00 Migration 1 3,400.00 Total 4,600.00 Valid until 30 April Kind regards Grace Hopper";
    let expected = words(expected);
    // Every word is there, in reading order (list markers aside).
    let mut rest = found.iter();
    for word in &expected {
        assert!(rest.any(|w| w == word), "`{word}` missing or out of order in {found:?}");
    }
    assert!(found.iter().any(|w| w == "•"), "bullets are text too: {found:?}");
    assert!(!pages[0].contains("ignored") && !pages[0].contains("padding"), "head content is not shown");

    // The title is in the document information, in full Unicode.
    let document = Document::load_mem(&pdf).unwrap();
    let info = document.trailer.get(b"Info").and_then(|i| i.as_reference()).expect("an Info dictionary");
    let title = document.get_dictionary(info).and_then(|d| d.get(b"Title")).expect("a title");
    assert_eq!(lopdf::decode_text_string(title).unwrap(), "Offer für Acme – Q2");
}

#[tokio::test]
async fn long_content_continues_on_more_pages() {
    let sentence = "The quick brown fox jumps over the lazy dog while the contract terms stay in force. ";
    let document = |paragraphs: usize| {
        let mut html = String::from("<h1>Terms and conditions</h1>");
        for n in 0..paragraphs {
            html.push_str(&format!("<p>Clause {n}. {}</p>", sentence.repeat(6)));
        }
        html.push_str("<p>Signed: Zebra</p>");
        html
    };
    let writer = writer();
    let mut previous = 0;
    for paragraphs in [2, 20, 60] {
        let pdf = writer.html_to_pdf(&document(paragraphs), "Terms").await.expect("pdf");
        let pages = pages(&pdf);
        assert!(pages.len() > previous, "{paragraphs} paragraphs: {} pages after {previous}", pages.len());
        previous = pages.len();
        assert!(pages[0].contains("Terms and conditions"));
        assert!(pages.last().unwrap().contains("Signed: Zebra"), "the last words end the last page");
        let all = pages.concat();
        for n in 0..paragraphs {
            assert!(all.contains(&format!("Clause {n}.")), "clause {n} of {paragraphs} lost");
        }
        // No word is cut at a line end: each comes back whole.
        let known = words(&format!("{sentence} Terms and conditions Signed Zebra Clause"));
        let cut: Vec<_> = words(&all).into_iter().filter(|w| !known.contains(w) && w.parse::<u32>().is_err()).collect();
        assert!(cut.is_empty(), "words cut at line ends: {cut:?}");
    }
    assert!(previous >= 5, "60 long paragraphs take several pages, not {previous}");
}

#[tokio::test]
async fn a_long_table_repeats_its_header_on_every_page() {
    let mut html = String::from("<h2>Deals</h2><table><tr><th>Deal</th><th>Stage</th><th>Amount</th></tr>");
    for n in 0..150 {
        html.push_str(&format!("<tr><td>Deal number {n}</td><td>proposal</td><td>{n}00.00</td></tr>"));
    }
    html.push_str("</table>");
    let pdf = writer().html_to_pdf(&html, "Deals").await.expect("pdf");
    let pages = pages(&pdf);
    assert!(pages.len() >= 3, "{} pages", pages.len());
    for (index, page) in pages.iter().enumerate() {
        assert!(page.contains("Deal") && page.contains("Stage") && page.contains("Amount"), "page {index}: {page}");
    }
    let all = pages.concat();
    assert!((0..150).all(|n| all.contains(&format!("Deal number {n}\n"))), "every row once, whole");
}

#[tokio::test]
async fn characters_outside_windows_1252_print_as_question_marks() {
    let html = "<p>Zürich café – “quoted” 5 € • 東京 Ω</p>";
    let pdf = writer().html_to_pdf(html, "Charset").await.expect("pdf");
    let text = pages(&pdf).concat();
    assert!(text.contains("Zürich café – “quoted” 5 € • ?? ?"), "{text}");
}

#[tokio::test]
async fn input_it_cannot_lay_out_is_a_validation_error() {
    let wide = format!("<table><tr>{}</tr></table>", "<td>cell</td>".repeat(40));
    let refused = writer().html_to_pdf(&wide, "Wide").await;
    assert!(matches!(refused, Err(crmcore::CrmError::Validation(ref e)) if e[0].field == "html"), "{refused:?}");
    let pages = HtmlPdfWriter::new().with_max_pages(3);
    let long = "<p>Lorem ipsum dolor sit amet.</p>".repeat(2_000);
    assert!(matches!(pages.html_to_pdf(&long, "Long").await, Err(crmcore::CrmError::Validation(_))));
}

#[tokio::test]
async fn documents_generated_from_templates_are_pdfs_with_their_words() {
    let server = TestServer::start_built(Backend::Memory, |b| b.pdf_writer(writer()), |_| {}).await;
    let (tenant, owner, token) = server.tenant("Acme", "grace@acme.test").await;
    let actor = Actor::member(tenant.id, owner.id, owner.role);
    let contact = NewContact {
        email: Some("ada@client.test".into()),
        first_name: Some("Ada".into()),
        company: Some("Client & Co".into()),
        ..NewContact::default()
    };
    let contact = server.crm.contacts().create(&actor, contact).await.unwrap();
    let body = "<h1>Proposal</h1><p>Dear <b>{{ contact.first_name }}</b>,</p><p>we propose the following.</p>\
                <table><tr><th>Item</th><th>Amount</th></tr><tr><td>Workshop</td><td>1,200.00</td></tr></table>\
                <p>{{ tenant.name }}</p>";
    let template = TemplateInput {
        name: "Proposal".into(),
        description: String::new(),
        category: None,
        title: "Proposal for {{ contact.company }}".into(),
        body: body.into(),
        expected_version: None,
    };
    let documents = server.crm.documents();
    let template = documents.create_template(&actor, template).await.unwrap();
    let request = GenerateRequest {
        subject: EntityRef { kind: EntityKind::Contact, id: contact.id.0 },
        format: GeneratedFormat::Pdf,
        tags: Vec::new(),
        visibility: Visibility::Tenant,
    };
    let (document, version) = documents.generate(&actor, template.id, request, &Source::default()).await.unwrap();
    assert_eq!((version.mime.as_str(), version.filename.as_str()), ("application/pdf", "Proposal-for-Client-Co.pdf"));

    let path = format!("{}/api/v1/documents/{}/content", server.base, document.id);
    let response = server.client.get(path).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let pdf = response.bytes().await.unwrap();
    let text = pages(&pdf).concat();
    for word in ["Proposal", "Dear", "Ada", "Item", "Amount", "Workshop", "1,200.00", "Acme"] {
        assert!(text.contains(word), "`{word}` missing: {text}");
    }
    assert!(!text.contains("Proposal for Client"), "the title is metadata, not text: {text}");
}
