//! The console's documents pages: over plain HTTP on every backend (the library, search with
//! safe snippets, the document page, downloads with the session cookie, tenancy, escaping), and
//! in headless Chromium (upload with progress, search, versions, sharing, approvals, audit).

use std::time::Duration;

use crmcore::document::DocumentConfig;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::browser::browser;
use crate::support::{Backend, PASSWORD, TestServer, plain_client};

/// The upload cap of the browser test's server.
const CAP: u64 = 64 * 1024;

/// A console page with the session cookie: status and HTML.
async fn page(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let response =
        plain_client().get(format!("{}{path}", server.base)).header(COOKIE, cookie).send().await.expect("page");
    let status = response.status();
    (status, response.text().await.expect("html"))
}

/// Uploads a text document through the API; the JSON answer.
async fn upload(server: &TestServer, token: &str, name: &str, text: &str, metadata: Value) -> Value {
    let form = Form::new()
        .text("metadata", metadata.to_string())
        .part("file", Part::bytes(text.as_bytes().to_vec()).file_name(name.to_owned()));
    let request = server.client.post(format!("{}/api/v1/documents", server.base)).bearer_auth(token).multipart(form);
    server.send(request).await.ok(201).clone()
}

/// Polls a version's extraction until it is no longer pending (the in-process worker runs it).
async fn wait_text(server: &TestServer, token: &str, id: &str, number: u32) {
    let path = format!("/api/v1/documents/{id}/versions/{number}/text");
    for _ in 0..400 {
        if server.get(&path, token).await.ok(200)["status"] == "done" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the text of {path} was never extracted");
}

async fn documents_pages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, _owner, token) = server.tenant("Docs Co", "ada@docs.test").await;
    let (_other, _o, other_token) = server.tenant("Other Co", "eve@other.test").await;
    let cookie = server.console_cookie("ada@docs.test").await;

    let hostile = upload(
        &server,
        &token,
        "notes.txt",
        "Meeting notes. <img src=x onerror=alert(1)> The pineapple budget grows & so do we.",
        json!({"title": "<script>alert('t')</script> Pineapple plan", "category": "report", "tags": ["fruit"]}),
    )
    .await;
    let id = hostile["document"]["id"].as_str().unwrap().to_owned();
    let plain =
        upload(&server, &token, "terms.txt", "Payment is due in thirty days.", json!({"category": "contract"})).await;
    let plain_id = plain["document"]["id"].as_str().unwrap().to_owned();
    wait_text(&server, &token, &id, 1).await;

    // The library: every document, with its category, tags, owner and size; titles escaped.
    let (status, html) = page(&server, &cookie, "/documents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("&lt;script&gt;alert(") && !html.contains("<script>alert("), "the title is escaped");
    assert!(html.contains(&format!("/documents/{plain_id}")) && html.contains("terms.txt"));
    assert!(html.contains(">fruit</a>") && html.contains("Report"));
    assert!(html.contains("82 B"), "the latest version's size");
    assert!(html.contains("data-upload=\"/api/v1/documents\""), "the upload form");

    // Filters.
    let (_, html) = page(&server, &cookie, "/documents?category=contract").await;
    assert!(html.contains(&plain_id) && !html.contains(&id));
    let (_, html) = page(&server, &cookie, "/documents?tag=fruit").await;
    assert!(html.contains(&id) && !html.contains(&plain_id));

    // Search: a word inside the text, highlighted, and nothing of the text's markup survives.
    let (status, html) = page(&server, &cookie, "/documents?q=pineapple").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"snippet\""), "a snippet: {html}");
    assert!(html.contains("<mark>pineapple</mark> budget grows &amp; so do we"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img src=x"), "{html}");
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert("), "the highlighted title is escaped");
    assert!(html.contains("<mark>Pineapple</mark> plan"), "the title is highlighted");
    assert!(!html.contains(&plain_id), "only matches");
    let (status, html) = page(&server, &cookie, "/documents?q=-pineapple").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The search could not run"), "a query without words says what to do");
    let (_, html) = page(&server, &cookie, "/documents?q=zebra").await;
    assert!(html.contains("No document matches"));

    // The document page: details, versions with download links, sharing, approvals, audit.
    let (status, html) = page(&server, &cookie, &format!("/documents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>&lt;script&gt;alert(") && !html.contains("<script>alert("), "escaped everywhere");
    assert!(html.contains(&format!("/api/v1/documents/{id}/content?version=1")));
    assert!(html.contains("Text of version 1 extracted"));
    assert!(html.contains("id=\"share-dialog\"") && html.contains("id=\"approval-form\""));
    assert!(html.contains("uploaded version 1 (notes.txt)"), "the audit trail");
    assert!(html.contains("id=\"activity\""), "the activity panel");

    // A member asked to approve sees the decision form, not the audit trail.
    let bob = json!({"email": "bob@docs.test", "handle": "bob", "display_name": "Bob Stone", "role": "member", "password": PASSWORD});
    let bob_id = server.post("/api/v1/members", &token, bob).await.ok(201)["id"].as_str().unwrap().to_owned();
    let steps = json!({"steps": [{"approvers": [bob_id], "rule": {"kind": "any"}}]});
    server.post(&format!("/api/v1/documents/{id}/approvals"), &token, steps).await.ok(201);
    let bob_cookie = server.console_cookie("bob@docs.test").await;
    let (status, html) = page(&server, &bob_cookie, &format!("/documents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"stack decide-form\""), "Bob decides");
    assert!(html.contains("Only owners and admins of the workspace see the audit trail"));
    let (_, html) = page(&server, &cookie, &format!("/documents/{id}")).await;
    assert!(
        !html.contains("decide-form") && html.contains("Withdraw request"),
        "Ada requested it: she may withdraw it"
    );

    // Downloads are links to the API, which takes the session cookie on reads.
    let download = plain_client()
        .get(format!("{}/api/v1/documents/{id}/content?version=1", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.text().await.unwrap().starts_with("Meeting notes."));

    // The trash.
    server.post(&format!("/api/v1/documents/{plain_id}/trash"), &token, json!({})).await.ok(200);
    let (_, html) = page(&server, &cookie, "/documents").await;
    assert!(!html.contains(&plain_id), "trashed documents leave the library");
    let (_, html) = page(&server, &cookie, "/documents?trash=1").await;
    assert!(html.contains(&plain_id) && html.contains("Delete for good"));
    let (_, html) = page(&server, &cookie, &format!("/documents/{plain_id}")).await;
    assert!(html.contains("is in the trash"));

    // Another tenant's document, or no document at all, is a 404 page.
    let foreign = upload(&server, &other_token, "secret.txt", "Other tenant", json!({})).await;
    let foreign_id = foreign["document"]["id"].as_str().unwrap();
    let (status, html) = page(&server, &cookie, &format!("/documents/{foreign_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("does not exist") && !html.contains("Other tenant"));
    let (status, _) = page(&server, &cookie, "/documents/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Signed out, the pages send people to sign in.
    let response = plain_client().get(format!("{}/documents?q=a", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=%2Fdocuments%3Fq%3Da");
    server.stop().await;
}

crate::e2e!(documents_pages);

// ---- In a real browser ------------------------------------------------------------------------

#[tokio::test]
async fn console_documents_in_a_browser() {
    let Some(browser) = browser().await else { return };
    let config = DocumentConfig { max_upload_bytes: CAP, ..DocumentConfig::default() };
    let server = TestServer::start_built(Backend::Sqlite, |b| b.document_config(config), |_| {}).await;
    let (tenant, _owner) = server.admin("Paper Co", "ada@paper.test").await;
    let ada_token = server.login("ada@paper.test", Some(&tenant.slug)).await;
    let bob = json!({"email": "bob@paper.test", "handle": "bob", "display_name": "Bob Stone", "role": "member", "password": PASSWORD});
    let bob_id = server.post("/api/v1/members", &ada_token, bob).await.ok(201)["id"].as_str().unwrap().to_owned();
    let bob_token = server.login("bob@paper.test", Some(&tenant.slug)).await;
    let base = &server.base;
    let files = tempfile::tempdir().expect("temp dir");
    let first = files.path().join("pricing-memo.txt");
    std::fs::write(&first, "Pricing memo. The kumquat discount applies to annual plans only.").unwrap();
    let second = files.path().join("pricing-memo-v2.txt");
    std::fs::write(&second, "Pricing memo, second draft. No discounts this year.").unwrap();

    let mismatch = files.path().join("photo.txt");
    std::fs::write(&mismatch, b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR").unwrap();
    let big = files.path().join("big.txt");
    std::fs::write(&big, vec![b'a'; CAP as usize + 1]).unwrap();

    browser.go(&format!("{base}/documents")).await;
    browser.wait_url("/login").await;
    browser.fill("#email", "ada@paper.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_url("/documents").await;
    browser.wait_text("main", "No documents yet").await;

    // Refused uploads say what to do: too large (checked before sending, and by the server),
    // content that does not match the name.
    browser.find("#upload-file").await.send_keys(big.to_str().unwrap()).await.expect("choose the file");
    browser.click("#upload-form button[type=submit]").await;
    browser.wait_text("#upload-form .form-error", "larger than the 65.5 kB the server accepts. Compress it").await;
    browser.client.execute("document.getElementById('upload-form').dataset.maxBytes = '0'", vec![]).await.unwrap();
    browser.click("#upload-form button[type=submit]").await;
    browser.wait_text("#upload-form .form-error", "the server accepts").await;
    browser.find("#upload-file").await.send_keys(mismatch.to_str().unwrap()).await.expect("choose the file");
    browser.click("#upload-form button[type=submit]").await;
    browser.wait_text("#upload-form .form-error", "does not match its name or type").await;
    browser.shoot("documents-upload-error").await;

    // Upload through the form: the progress bar fills, then the new document is listed.
    browser.find("#upload-file").await.send_keys(first.to_str().unwrap()).await.expect("choose the file");
    browser.fill("#upload-title-input", "Pricing memo").await;
    browser.find("#upload-category").await.select_by_value("proposal").await.unwrap();
    browser.fill("#upload-tags", "pricing, 2026").await;
    browser.click("#upload-form button[type=submit]").await;
    browser.find("#upload-progress[data-done='true']").await;
    let progress = browser.find("#upload-progress").await.attr("value").await.unwrap();
    assert_eq!(progress.as_deref(), Some("100"));
    browser.wait_text("#upload-form .progress-text", "Uploaded “Pricing memo”").await;
    browser.wait_text("#document-list table", "Pricing memo").await;
    browser.shoot("documents").await;

    // Find it by a word inside it once the worker has extracted its text.
    let mut found = false;
    for _ in 0..50 {
        browser.fill("#q", "kumquat").await;
        browser.click("#document-search button[type=submit]").await;
        browser.wait_url("q=kumquat").await;
        if browser.client.find(fantoccini::Locator::Css(".snippet mark")).await.is_ok() {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(found, "the search never found the word inside the document");
    browser.wait_text(".snippet", "kumquat discount applies").await;
    browser.shoot("documents-search").await;
    browser.click("a.doc-title").await;
    let url = browser.wait_url("/documents/").await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    browser.wait_text("h1", "Pricing memo").await;
    browser.wait_text("#text-status", "extracted").await;

    // A second version with a note, then version 1 restored as version 3.
    browser.find("#version-file").await.send_keys(second.to_str().unwrap()).await.expect("choose the file");
    browser.fill("#version-note", "Second draft").await;
    browser.click("#version-form button[type=submit]").await;
    browser.wait_text("#version-2", "Second draft").await;
    browser.click("button[data-restore='1']").await;
    browser.client.accept_alert().await.expect("confirm the restore");
    browser.wait_text("#version-3", "restores version 1").await;
    let latest = server.get(&format!("/api/v1/documents/{id}/content"), &ada_token).await;
    assert_eq!(latest.status, StatusCode::OK);

    // Share with Bob, and by a password-protected link limited to two downloads.
    browser.click("#share-open").await;
    browser.find("#grant-member").await.select_by_label("Bob Stone (@bob)").await.unwrap();
    browser.find("#grant-access").await.select_by_value("edit").await.unwrap();
    browser.click("#grant-form button[type=submit]").await;
    browser.wait_text("#grant-form .form-ok", "Shared with Bob Stone").await;
    browser.wait_text("#grant-list", "Bob Stone").await;
    browser.fill("#link-password", "open sesame").await;
    browser.fill("#link-max", "2").await;
    browser.click("#link-form button[type=submit]").await;
    browser.find("#link-form .created-link:not([hidden])").await;
    let link = browser.find("#link-url").await.prop("value").await.unwrap().unwrap_or_default();
    assert!(link.starts_with(&format!("{base}/s/shr_")), "{link}");
    browser.wait_text("#link-list", "active").await;
    browser.click("#share-dialog [data-close-dialog]").await;
    let locked = server.client.get(&link).send().await.unwrap();
    assert_eq!(locked.status(), StatusCode::UNAUTHORIZED, "the link needs its password");
    let opened = server.client.post(&link).form(&[("password", "open sesame")]).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened.text().await.unwrap().contains("kumquat"), "the link serves the restored version");

    // Request Bob's approval; he approves (through the API); the page shows it.
    browser.click(&format!("#approval-form input[value='{bob_id}']")).await;
    browser.click("#approval-form button[type=submit]").await;
    browser.wait_text("#approvals .state", "Pending").await;
    let approvals = server.get(&format!("/api/v1/documents/{id}/approvals"), &bob_token).await.ok(200).clone();
    let approval = approvals[0]["id"].as_str().unwrap().to_owned();
    let decide = json!({"comment": "Numbers check out"});
    server.post(&format!("/api/v1/approvals/{approval}/approve"), &bob_token, decide).await.ok(200);
    browser.go(&format!("{base}/documents/{id}")).await;
    browser.wait_text("#approvals .state", "Approved").await;
    browser.wait_text("#approvals", "Numbers check out").await;

    // The audit trail tells the story.
    let audit = browser.wait_text("#audit", "approved: “Numbers check out”").await;
    for step in [
        "uploaded version 1 (pricing-memo.txt)",
        "uploaded version 2",
        "restored version 1 as version 3",
        "shared it with Bob Stone (edit)",
        "created a share link",
        "served version 3 through a share link",
        "requested approval of version 3",
    ] {
        assert!(audit.contains(step), "{step:?} missing from the audit trail: {audit}");
    }
    browser.shoot("document").await;
    browser.client.clone().close().await.expect("close the browser");
    server.stop().await;
}
