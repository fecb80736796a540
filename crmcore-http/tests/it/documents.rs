//! Documents over HTTP on every backend (content in the store's own blob table, or in memory):
//! multipart uploads, type sniffing that refuses renamed executables, the 413 cap (early from
//! `Content-Length`, and while streaming), versions and restore, downloads with safe headers,
//! trash and purge, permissions, tenancy, and the audit trail with `verify`.

use crmcore::document::DocumentConfig;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::support::{Backend, PASSWORD, TestServer};

const CAP: u64 = 64 * 1024;

async fn server(backend: Backend) -> TestServer {
    let config = DocumentConfig { max_upload_bytes: CAP, ..DocumentConfig::default() };
    TestServer::start_built(backend, |b| b.document_config(config), |_| {}).await
}

fn form(name: &str, bytes: Vec<u8>, metadata: Option<Value>) -> Form {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    if let Some(metadata) = metadata {
        form = form.text("metadata", metadata.to_string());
    }
    form
}

async fn upload(server: &TestServer, token: &str, path: &str, form: Form) -> crate::support::Reply {
    server.send(server.client.post(format!("{}{path}", server.base)).bearer_auth(token).multipart(form)).await
}

async fn documents_are_uploaded_versioned_downloaded_and_audited(backend: Backend) {
    let server = server(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let (_other, _o, other_token) = server.tenant("Other", "bob@other.test").await;

    let metadata = json!({"title": "Q3 report", "category": "report", "tags": ["finance"]});
    let created = upload(
        &server,
        &token,
        "/api/v1/documents",
        form("../q3 report.md", b"# Q3\nRevenue up".to_vec(), Some(metadata)),
    )
    .await;
    let created = created.ok(201).clone();
    let id = created["document"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["version"]["mime"], "text/markdown");
    assert_eq!(created["version"]["filename"], "q3 report.md", "the path is stripped");
    assert_eq!(created["document"]["category"], "report");
    let path = format!("/api/v1/documents/{id}");

    // Refused uploads: a renamed executable, a mismatch, an oversized file (413 early and while
    // streaming); nothing is left behind.
    let elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0];
    let refused = upload(&server, &token, "/api/v1/documents", form("invoice.pdf", elf, None)).await;
    assert!(refused.problem(422)["errors"][0]["field"] == "file", "{}", refused.body);
    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
    upload(&server, &token, "/api/v1/documents", form("photo.pdf", png, None)).await.problem(422);
    let big = vec![b'a'; CAP as usize + 1];
    upload(&server, &token, "/api/v1/documents", form("big.txt", big, None)).await.problem(413);
    let huge = server
        .client
        .post(format!("{}/api/v1/documents", server.base))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", (10 * CAP).to_string())
        .body(vec![b'x'; 10 * CAP as usize]);
    server.send(huge).await.problem(413);
    let list = server.get("/api/v1/documents", &token).await.ok(200).clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "refused uploads leave nothing");

    // Versions: new content, identical content, restore.
    let v2 = upload(&server, &token, &format!("{path}/versions"), form("q3.md", b"# Q3\nRevenue up 4%".to_vec(), None))
        .await;
    assert_eq!(v2.ok(201)["number"], 2);
    let v3 = upload(
        &server,
        &token,
        &format!("{path}/versions"),
        form("q3-again.md", b"# Q3\nRevenue up 4%".to_vec(), None),
    )
    .await;
    let v3 = v3.ok(201).clone();
    let versions = server.get(&format!("{path}/versions"), &token).await.ok(200).clone();
    assert_eq!(versions[1]["content_key"], v3["content_key"], "identical content, one key");
    let restored = server.post(&format!("{path}/versions/1/restore"), &token, json!({})).await.ok(201).clone();
    assert_eq!((restored["number"].as_u64(), restored["restored_from"].as_u64()), (Some(4), Some(1)));

    // Downloads: the bytes, with safe headers.
    let response =
        server.client.get(format!("{}{path}/content", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/markdown");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"q3 report.md\""), "{disposition}");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"# Q3\nRevenue up");
    let second = server.client.get(format!("{}{path}/content?version=2", server.base)).bearer_auth(&token).send().await;
    assert_eq!(second.unwrap().bytes().await.unwrap().as_ref(), b"# Q3\nRevenue up 4%");

    // Permissions and tenancy.
    server.get(&path, &other_token).await.problem(404);
    let other_download = server.client.get(format!("{}{path}/content", server.base)).bearer_auth(&other_token);
    server.send(other_download).await.problem(404);
    let body = json!({"email": "vic@acme.test", "handle": "vic", "role": "viewer", "password": PASSWORD});
    server.post("/api/v1/members", &token, body).await.ok(201);
    let viewer = server.login("vic@acme.test", Some(&tenant.slug)).await;
    upload(&server, &viewer, "/api/v1/documents", form("a.txt", b"hi".to_vec(), None)).await.problem(403);
    server.get(&path, &viewer).await.ok(200);
    server.get("/api/v1/audit", &viewer).await.problem(403);
    server.get(&format!("{path}/audit"), &viewer).await.problem(403);
    server.get(&format!("{path}/audit"), &other_token).await.problem(404);

    // Share links: the token once, a password, a download limit, revocation; public /s/{token}.
    let body = json!({"password": "open sesame", "max_downloads": 2, "expires_in_hours": 24});
    let link = server.post(&format!("{path}/share-links"), &token, body).await.ok(201).clone();
    let share = format!("/s/{}", link["token"].as_str().unwrap());
    server.call(reqwest::Method::GET, &share, None, None).await.problem(401);
    let wrong = server.client.post(format!("{}{share}", server.base)).form(&[("password", "guess")]);
    server.send(wrong).await.problem(401);
    for _ in 0..2 {
        let right = server.client.post(format!("{}{share}", server.base)).form(&[("password", "open sesame")]);
        let response = right.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    }
    let exhausted = server.client.post(format!("{}{share}", server.base)).form(&[("password", "open sesame")]);
    server.send(exhausted).await.problem(409);
    let open = server.post(&format!("{path}/share-links"), &token, json!({})).await.ok(201).clone();
    let open_path = format!("/s/{}", open["token"].as_str().unwrap());
    let fetched = server.client.get(format!("{}{open_path}", server.base)).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    let links = server.get(&format!("{path}/share-links"), &token).await.ok(200).clone();
    assert_eq!(links.as_array().unwrap().len(), 2);
    assert!(!links.to_string().contains(open["token"].as_str().unwrap()), "tokens are never listed");
    assert_eq!(links[1]["downloads"], 2);
    let revoke = format!("/api/v1/share-links/{}", open["link"]["id"].as_str().unwrap());
    server.delete(&revoke, &other_token).await.problem(404);
    assert!(server.delete(&revoke, &token).await.ok(200)["revoked_at"].is_string());
    server.call(reqwest::Method::GET, &open_path, None, None).await.problem(404);
    server.call(reqwest::Method::GET, "/s/shr_nope", None, None).await.problem(404);

    // Metadata, filters, trash, purge.
    let patched = server.patch(&path, &token, json!({"title": "Q3 (final)", "expected_version": 1})).await;
    patched.problem(409);
    assert_eq!(server.patch(&path, &token, json!({"title": "Q3 (final)"})).await.ok(200)["title"], "Q3 (final)");
    let by_tag = server.get("/api/v1/documents?tag=finance&category=report", &token).await.ok(200).clone();
    assert_eq!(by_tag["items"].as_array().unwrap().len(), 1);
    server.get("/api/v1/documents?category=nope", &token).await.problem(422);
    server.delete(&path, &token).await.problem(409);
    server.post(&format!("{path}/trash"), &token, json!({})).await.ok(200);
    assert!(server.get("/api/v1/documents", &token).await.ok(200)["items"].as_array().unwrap().is_empty());
    assert_eq!(
        server.get("/api/v1/documents?trashed=true", &token).await.ok(200)["items"].as_array().unwrap().len(),
        1
    );
    assert_eq!(server.delete(&path, &token).await.status, 204);
    server.get(&path, &token).await.problem(404);

    // The audit trail: every action, from where, verified.
    let trail = server.get("/api/v1/audit?limit=1000", &token).await.ok(200).clone();
    let actions: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "upload",
        "new_version",
        "restore_version",
        "download",
        "view",
        "update",
        "trash",
        "purge",
        "share",
        "unshare",
        "share_download",
    ] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    assert_eq!(trail[0]["source"], "127.0.0.1");
    // The purged document's own entries, newest first, in pages.
    let own: Vec<&Value> = trail.as_array().unwrap().iter().rev().filter(|e| e["document_id"] == id).collect();
    let listed = server.get(&format!("{path}/audit?limit=1000"), &token).await.ok(200).clone();
    assert_eq!(listed.as_array().unwrap().iter().collect::<Vec<_>>(), own);
    let page = server.get(&format!("{path}/audit?limit=2"), &token).await.ok(200).clone();
    let before = page[1]["seq"].as_i64().unwrap();
    let rest = server.get(&format!("{path}/audit?before={before}&limit=1000"), &token).await.ok(200).clone();
    assert_eq!(rest.as_array().unwrap().len() + 2, own.len());
    let verified = server.get("/api/v1/audit/verify", &token).await.ok(200).clone();
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["entries"], trail.as_array().unwrap().len());
}

/// Polls a version's extraction until it is no longer pending (the in-process worker runs it).
async fn wait_text(server: &TestServer, token: &str, path: &str) -> Value {
    for _ in 0..200 {
        let reply = server.get(path, token).await.ok(200).clone();
        if reply["status"] != "pending" {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the text of {path} was never extracted");
}

async fn documents_are_extracted_searched_and_shared_with_members(backend: Backend) {
    let server = server(backend).await;
    let (tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let body = json!({"email": "bob@acme.test", "handle": "bob", "role": "member", "password": PASSWORD});
    let bob = server.post("/api/v1/members", &token, body).await.ok(201)["id"].as_str().unwrap().to_owned();
    let bob_token = server.login("bob@acme.test", Some(&tenant.slug)).await;

    let metadata = json!({"title": "Merger memo", "visibility": "private", "tags": ["legal"]});
    let memo = upload(
        &server,
        &token,
        "/api/v1/documents",
        form("memo.html", b"<p>The <b>walrus</b> acquisition closes in May &amp; June.</p>".to_vec(), Some(metadata)),
    )
    .await
    .ok(201)
    .clone();
    let id = memo["document"]["id"].as_str().unwrap().to_owned();
    assert_eq!(memo["document"]["visibility"], "private");
    assert_eq!(memo["version"]["text_status"], "pending");
    let path = format!("/api/v1/documents/{id}");
    let text = wait_text(&server, &token, &format!("{path}/versions/1/text")).await;
    assert_eq!(text["status"], "done", "{text}");
    assert_eq!(text["text"], "The walrus acquisition closes in May & June.");

    let found = server.get("/api/v1/documents/search?q=walrus%20acquisition", &token).await.ok(200).clone();
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    assert_eq!(hits[0]["document"]["id"], id.as_str());
    assert_eq!(hits[0]["snippet_html"], "The <mark>walrus</mark> <mark>acquisition</mark> closes in May &amp; June.");
    let filtered = server.get("/api/v1/documents/search?q=walrus&tag=finance", &token).await.ok(200).clone();
    assert!(filtered["hits"].as_array().unwrap().is_empty());

    // Bob sees nothing of it until it is shared with him.
    let none = server.get("/api/v1/documents/search?q=walrus", &bob_token).await.ok(200).clone();
    assert!(none["hits"].as_array().unwrap().is_empty(), "{none}");
    server.get(&path, &bob_token).await.problem(404);
    server.get(&format!("{path}/versions/1/text"), &bob_token).await.problem(404);
    let grant = format!("{path}/grants/{bob}");
    server.call(reqwest::Method::PUT, &grant, Some(&bob_token), Some(json!({"access": "edit"}))).await.problem(404);
    let granted =
        server.call(reqwest::Method::PUT, &grant, Some(&token), Some(json!({"access": "view"}))).await.ok(200).clone();
    assert_eq!(granted["access"], "view");
    server.call(reqwest::Method::PUT, &grant, Some(&token), Some(json!({"access": "own"}))).await.problem(422);
    let seen = server.get("/api/v1/documents/search?q=walrus", &bob_token).await.ok(200).clone();
    assert_eq!(seen["hits"].as_array().unwrap().len(), 1);
    server.get(&path, &bob_token).await.ok(200);
    server.patch(&path, &bob_token, json!({"title": "Mine now"})).await.problem(403);
    let grants = server.get(&format!("{path}/grants"), &token).await.ok(200).clone();
    assert_eq!(grants.as_array().unwrap().len(), 1);
    assert_eq!(server.delete(&grant, &token).await.status, 204);
    server.get(&path, &bob_token).await.problem(404);
    server.delete(&grant, &token).await.problem(404);

    // Bad queries are refused with the field named.
    for bad in ["q=-walrus", "q=%20", "q=walrus&limit=0", "q=walrus&created_from=yesterday"] {
        let reply = server.get(&format!("/api/v1/documents/search?{bad}"), &token).await;
        assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
    }
    let trail = server.get("/api/v1/audit?limit=1000", &token).await.ok(200).clone();
    let actions: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"grant") && actions.contains(&"ungrant"), "{actions:?}");
}

async fn documents_are_generated_from_templates(backend: Backend) {
    let server = server(backend).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let contact = server
        .post(
            "/api/v1/contacts",
            &token,
            json!({"email": "grace@client.test", "first_name": "Grace", "company": "Navy"}),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"name": "Broken", "title": "x", "body": "<p>\n{{ contact.first_name }\n</p>"});
    let problem = server.post("/api/v1/document-templates", &token, bad).await.problem(422).clone();
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().starts_with("line 2"), "{problem}");
    let body = json!({"name": "Welcome", "category": "proposal", "title": "Welcome {{ contact.company }}",
                      "body": "<h1>Hello {{ contact.first_name }}</h1><p>From {{ tenant.name }}</p>"});
    let template = server.post("/api/v1/document-templates", &token, body).await.ok(201).clone();
    let path = format!("/api/v1/document-templates/{}", template["id"].as_str().unwrap());
    let subject = json!({"kind": "contact", "id": contact});
    let preview = server.post(&format!("{path}/render"), &token, json!({"subject": subject})).await.ok(200).clone();
    assert_eq!(preview["title"], "Welcome Navy");
    assert!(preview["html"].as_str().unwrap().contains("<h1>Hello Grace</h1>"));
    let made = server
        .post(&format!("{path}/generate"), &token, json!({"subject": subject, "format": "html"}))
        .await
        .ok(201)
        .clone();
    assert_eq!(made["document"]["category"], "proposal");
    assert_eq!(made["document"]["links"][0]["id"], contact.as_str());
    let id = made["document"]["id"].as_str().unwrap();
    let content = server.client.get(format!("{}/api/v1/documents/{id}/content", server.base)).bearer_auth(&token);
    let reply = content.send().await.unwrap();
    assert_eq!(reply.headers()["content-type"], "text/html");
    assert!(reply.text().await.unwrap().contains("<p>From Acme</p>"));
    // No PDF writer configured on this server: 503, nothing stored.
    server.post(&format!("{path}/generate"), &token, json!({"subject": subject})).await.problem(503);
    let missing = json!({"subject": {"kind": "contact", "id": uuid::Uuid::now_v7()}, "format": "html"});
    server.post(&format!("{path}/generate"), &token, missing).await.problem(404);
    assert_eq!(server.get("/api/v1/document-templates", &token).await.ok(200).as_array().unwrap().len(), 1);
    assert_eq!(server.delete(&path, &token).await.status, 204);
    server.get(&path, &token).await.problem(404);
}

/// Several MiB stream through: the file part before or after the metadata, large content
/// chunked in the store, the download streamed back whole; bad metadata sent first stores
/// nothing, bad metadata sent after the file gives its blob back to collection.
async fn uploads_stream_with_metadata_before_or_after_the_file(backend: Backend) {
    let config = DocumentConfig {
        max_upload_bytes: 8 * 1024 * 1024,
        blob_grace: chrono::Duration::zero(),
        ..DocumentConfig::default()
    };
    let server = TestServer::start_built(backend, |b| b.document_config(config), |_| {}).await;
    let (_tenant, _owner, token) = server.tenant("Acme", "ada@acme.test").await;
    let blobs = server.crm.blobs().unwrap();
    // 5 MiB of CSV rows: several 1 MiB chunks in the database stores.
    let rows: Vec<u8> = (0..250_000u32).flat_map(|i| format!("{i},row {i},{}\n", i * 7).into_bytes()).collect();
    let csv = rows[..5 * 1024 * 1024 - 3].to_vec();
    let key = crmcore::ports::BlobKey::of(&csv);

    // Metadata after the file.
    let form = Form::new()
        .part("file", Part::bytes(csv.clone()).file_name("ledger.csv"))
        .text("metadata", json!({"title": "Ledger", "category": "report"}).to_string());
    let created = upload(&server, &token, "/api/v1/documents", form).await;
    let created = created.ok(201).clone();
    assert_eq!(
        (created["document"]["title"].as_str(), created["version"]["mime"].as_str()),
        (Some("Ledger"), Some("text/csv"))
    );
    assert_eq!(created["version"]["size"], csv.len());
    assert_eq!(created["version"]["content_key"], key.as_str());
    let id = created["document"]["id"].as_str().unwrap().to_owned();
    let response = server
        .client
        .get(format!("{}/api/v1/documents/{id}/content", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-length"], csv.len().to_string().as_str());
    assert!(response.bytes().await.unwrap().as_ref() == csv.as_slice(), "the download streams back the same bytes");

    // Bad metadata first: refused before a byte of the file is stored.
    let other: Vec<u8> = csv.iter().rev().copied().collect::<Vec<u8>>();
    let other = [b"x".as_slice(), &other].concat();
    let other_key = crmcore::ports::BlobKey::of(&other);
    let form = Form::new()
        .text("metadata", json!({"title": "", "category": "report"}).to_string())
        .part("file", Part::bytes(other.clone()).file_name("other.csv"));
    let refused = upload(&server, &token, "/api/v1/documents", form).await;
    assert_eq!(refused.problem(422)["errors"][0]["field"], "title");
    assert!(!blobs.exists(&other_key).await.unwrap(), "nothing was stored");

    // Bad metadata after the file: refused, and the staged blob is collected.
    let form = Form::new()
        .part("file", Part::bytes(other.clone()).file_name("other.csv"))
        .text("metadata", json!({"category": "no such category"}).to_string());
    upload(&server, &token, "/api/v1/documents", form).await.problem(422);
    let mut collected = false;
    for _ in 0..200 {
        if !blobs.exists(&other_key).await.unwrap() {
            collected = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(collected, "a refused upload's blob is collected");
    assert!(blobs.exists(&key).await.unwrap(), "referenced blobs stay");

    // Two files in one upload, and a version with its note first.
    let form = Form::new()
        .part("file", Part::bytes(b"a".to_vec()).file_name("a.txt"))
        .part("file", Part::bytes(b"b".to_vec()).file_name("b.txt"));
    upload(&server, &token, "/api/v1/documents", form).await.problem(422);
    let form = Form::new().text("note", "appended").part("file", Part::bytes(other).file_name("ledger.csv"));
    let version = upload(&server, &token, &format!("/api/v1/documents/{id}/versions"), form).await;
    let version = version.ok(201).clone();
    assert_eq!((version["number"].as_u64(), version["note"].as_str()), (Some(2), Some("appended")));
    assert_eq!(server.get("/api/v1/documents", &token).await.ok(200)["items"].as_array().unwrap().len(), 1);
}

crate::e2e!(
    uploads_stream_with_metadata_before_or_after_the_file,
    documents_are_uploaded_versioned_downloaded_and_audited,
    documents_are_extracted_searched_and_shared_with_members,
    documents_are_generated_from_templates
);
