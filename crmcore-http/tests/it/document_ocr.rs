//! Documents over HTTP with the real readers: a PDF with a text layer, a page image and a scanned
//! PDF are uploaded, extracted by the server's worker (text layer, tesseract OCR) and found by
//! words inside them, on every backend; truncated PDFs and image bombs are refused at upload and
//! leave nothing behind.

use std::io::Cursor;
use std::sync::Arc;

use crmcore::document::DocumentConfig;
use crmcore::ports::PdfReader;
use crmcore_http::ocr_tesseract::TesseractOcr;
use crmcore_http::pdf_read::PureRustPdfReader;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::pdf_fixtures::{Layout, scanned_pdf, text_pdf};
use crate::support::{Backend, TestServer};

fn form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> crate::support::Reply {
    let request = server.client.post(format!("{}/api/v1/documents", server.base)).bearer_auth(token);
    server.send(request.multipart(form(name, bytes))).await
}

/// Polls until the document's first version is extracted; returns its text reply.
async fn extracted(server: &TestServer, token: &str, created: &Value) -> Value {
    let id = created["document"]["id"].as_str().unwrap();
    let path = format!("/api/v1/documents/{id}/versions/1/text");
    for _ in 0..600 {
        let reply = server.get(&path, token).await.ok(200).clone();
        if reply["status"] != "pending" {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} was never extracted");
}

async fn hits(server: &TestServer, token: &str, q: &str) -> Vec<String> {
    let reply = server.get(&format!("/api/v1/documents/search?q={q}"), token).await.ok(200).clone();
    reply["hits"].as_array().unwrap().iter().map(|h| h["document"]["title"].as_str().unwrap().to_owned()).collect()
}

fn lines(words: &str) -> Vec<String> {
    vec![words.to_owned(), "Quarterly review of the account with the customer".to_owned()]
}

async fn documents_are_read_by_their_text_layer_and_by_ocr(backend: Backend) {
    let ocr = TesseractOcr::new("eng").expect("tesseract with eng (see the README's OCR section)");
    let config = DocumentConfig { max_upload_bytes: 8 * 1024 * 1024, ..DocumentConfig::default() };
    let server = TestServer::start_built(
        backend,
        |b| b.document_config(config).ocr(Arc::new(ocr)).pdf_reader(Arc::new(PureRustPdfReader::new())),
        |_| {},
    )
    .await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let reader = PureRustPdfReader::new();

    // A PDF with a text layer: no OCR needed.
    let layered = text_pdf(&[lines("Narwhal tusk inventory")], 14.0, Layout::Strings);
    let created = upload(&server, &token, "inventory.pdf", layered).await.ok(201).clone();
    let text = extracted(&server, &token, &created).await;
    assert_eq!(text["status"], "done", "{text}");
    assert!(text["text"].as_str().unwrap().contains("Narwhal tusk inventory"), "{text}");

    // A page image: OCR.
    let page = text_pdf(&[lines("Walrus acquisition memorandum")], 14.0, Layout::Strings);
    let png = reader.render_page(&page, 0, 300).await.expect("rendered");
    let created = upload(&server, &token, "memo.png", png.clone()).await.ok(201).clone();
    let text = extracted(&server, &token, &created).await;
    assert_eq!(text["status"], "done", "{text}");
    assert!(text["text"].as_str().unwrap().contains("Walrus acquisition memorandum"), "{text}");

    // A scanned PDF (its page is only a JPEG): no text layer, so the page is rendered and OCRed.
    let scan = text_pdf(&[lines("Octopus shipping ledger")], 14.0, Layout::Strings);
    let scan_png = reader.render_page(&scan, 0, 300).await.expect("rendered");
    let grey = image::load_from_memory_with_format(&scan_png, image::ImageFormat::Png).unwrap().to_luma8();
    let (width, height) = grey.dimensions();
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageLuma8(grey).write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    let created = upload(&server, &token, "ledger.pdf", scanned_pdf(&jpeg, width, height)).await.ok(201).clone();
    let text = extracted(&server, &token, &created).await;
    assert_eq!(text["status"], "done", "{text}");
    assert!(text["text"].as_str().unwrap().contains("Octopus shipping ledger"), "{text}");

    assert_eq!(hits(&server, &token, "narwhal").await, ["inventory.pdf"]);
    assert_eq!(hits(&server, &token, "walrus%20acquisition").await, ["memo.png"]);
    assert_eq!(hits(&server, &token, "%22octopus%20shipping%22").await, ["ledger.pdf"]);
    assert_eq!(hits(&server, &token, "quarterly%20customer").await.len(), 3);

    // Refused at upload, nothing left behind: a truncated PDF, an image declaring a bomb.
    let mut truncated = text_pdf(&[lines("Broken")], 14.0, Layout::Strings);
    truncated.truncate(truncated.len() / 2);
    let refused = upload(&server, &token, "broken.pdf", truncated).await;
    assert_eq!(refused.problem(422)["errors"][0]["field"], "file", "{}", refused.body);
    let mut bomb = png[..16].to_vec();
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&png[24..]);
    let refused = upload(&server, &token, "bomb.png", bomb).await;
    assert_eq!(refused.problem(422)["errors"][0]["code"], "image_too_large", "{}", refused.body);
    let listed = server.get("/api/v1/documents", &token).await.ok(200).clone();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "refused uploads leave nothing");
}

crate::e2e!(documents_are_read_by_their_text_layer_and_by_ocr);
