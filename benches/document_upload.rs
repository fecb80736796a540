//! Streaming uploads and downloads over the real server: files of growing size go up as one
//! multipart `POST /api/v1/documents` (written by the client a MiB at a time, never held whole)
//! and come back down; then the worker extracts the file's text. The process's peak RSS growth
//! is read for each phase. The server runs without its in-process worker and the bench runs the
//! jobs itself after the download, so no phase overlaps another. Memory must not grow with the
//! file size.
//!
//! `cargo bench --bench document_upload` — SQLite; with `CRM_TEST_POSTGRES_URL` set, PostgreSQL
//! too (`-- sqlite` or `-- postgres` runs one). `CRM_BENCH_UPLOAD_MIB` (default `16,64,256`)
//! lists the sizes. Everything goes to 127.0.0.1 only.

use std::sync::Arc;
use std::time::Instant;

use crmcore::Crm;
use crmcore::document::DocumentConfig;
use crmcore::ports::{BlobStore, Store};
use crmcore::secret::random_bytes;
use crmcore_http::auth::password::PasswordHasher;
use crmcore_http::settings::PasswordHashing;
use crmcore_http::{Secret, Settings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[path = "support/rss.rs"]
mod rss;
use rss::{reset_peak, rss_kib};

const MIB: usize = 1024 * 1024;
const PASSWORD: &str = "correct horse battery staple";
const BOUNDARY: &str = "crmcore-bench-boundary";

/// MiB `index` of a CSV file: rows that differ from MiB to MiB, so no two files share content.
fn csv_piece(file: usize, index: usize) -> Vec<u8> {
    let mut piece = Vec::with_capacity(MIB + 64);
    let mut row = 0usize;
    while piece.len() < MIB {
        piece.extend_from_slice(
            format!("{file},{index},{row},invoice {row} of batch {index},{}\n", row * 37).as_bytes(),
        );
        row += 1;
    }
    piece.truncate(MIB);
    *piece.last_mut().expect("a piece") = b'\n';
    piece
}

/// Uploads `mib` MiB over one connection, writing the body a MiB at a time; the server's reply.
async fn upload(addr: std::net::SocketAddr, token: &str, file: usize, mib: usize) -> (u16, Value) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ledger-{file}.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() + mib * MIB + tail.len();
    let request = format!(
        "POST /api/v1/documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("request");
    socket.write_all(head.as_bytes()).await.expect("head");
    for index in 0..mib {
        socket.write_all(&csv_piece(file, index)).await.expect("body");
    }
    socket.write_all(tail.as_bytes()).await.expect("tail");
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.expect("response");
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    // The reply may be chunked: the JSON is between the first `{` and the last `}`.
    let json = body.find('{').zip(body.rfind('}')).map(|(a, b)| &body[a..=b]).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

async fn run(name: &str, store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>, sizes: &[usize]) {
    let max = sizes.iter().max().copied().unwrap_or(16) * MIB + MIB;
    let config = DocumentConfig { max_upload_bytes: max as u64, ..DocumentConfig::default() };
    let crm = Crm::builder().shared_store(store).blobs(blobs).document_config(config).build().expect("crm");
    let cost = PasswordHashing { memory_kib: 1024, iterations: 1 };
    let hasher = PasswordHasher::new(cost).expect("hasher");
    let (tenant, _) =
        crmcore_http::admin::create_admin(&crm, &hasher, "Uploads", "ada@uploads.test", PASSWORD).await.expect("admin");
    let mut settings = Settings::new(Secret::new(random_bytes(32).expect("secret")));
    settings.rate_limit = None;
    settings.password_hashing = cost;
    settings.run_worker = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crmcore_http::serve(crm.clone(), settings, listener, async {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();
    let login = json!({"email": "ada@uploads.test", "password": PASSWORD, "tenant": tenant.slug});
    let reply = client.post(format!("http://{addr}/api/v1/auth/login")).json(&login).send().await.expect("login");
    let token = reply.json::<Value>().await.expect("token")["access_token"].as_str().expect("token").to_owned();

    for (file, &mib) in sizes.iter().enumerate() {
        reset_peak();
        let before = rss_kib("VmRSS:");
        let started = Instant::now();
        let (status, created) = upload(addr, &token, file, mib).await;
        let up = started.elapsed();
        let up_peak = rss_kib("VmHWM:").saturating_sub(before) / 1024;
        assert_eq!(status, 201, "upload of {mib} MiB: {created}");
        assert_eq!(created["version"]["size"], mib * MIB);
        let id = created["document"]["id"].as_str().expect("id").to_owned();

        reset_peak();
        let before = rss_kib("VmRSS:");
        let started = Instant::now();
        let url = format!("http://{addr}/api/v1/documents/{id}/content");
        let mut response = client.get(url).bearer_auth(&token).send().await.expect("download");
        let mut received = 0usize;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            received += chunk.len();
        }
        let down = started.elapsed();
        let down_peak = rss_kib("VmHWM:").saturating_sub(before) / 1024;
        assert_eq!(received, mib * MIB);

        reset_peak();
        let before = rss_kib("VmRSS:");
        let started = Instant::now();
        let report = crm.worker().run_until_idle().await.expect("worker");
        let extract = started.elapsed();
        let extract_peak = rss_kib("VmHWM:").saturating_sub(before) / 1024;
        assert_eq!((report.retried, report.dead), (0, 0), "jobs after the upload of {mib} MiB: {report:?}");
        let url = format!("http://{addr}/api/v1/documents/{id}/versions/1/text");
        let text = client.get(url).bearer_auth(&token).send().await.expect("text").json::<Value>().await.expect("text");
        assert_eq!(text["status"], "done", "text of {mib} MiB");
        println!(
            "{name:8} {mib:5} MiB  upload {:7.1} MiB/s, peak RSS growth {up_peak:4} MiB  \
             download {:7.1} MiB/s, peak RSS growth {down_peak:4} MiB  \
             text {:6.2} s, peak RSS growth {extract_peak:4} MiB",
            mib as f64 / up.as_secs_f64(),
            mib as f64 / down.as_secs_f64(),
            extract.as_secs_f64(),
        );
    }
    let _ = stop_tx.send(());
    server.await.expect("server task").expect("server");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench` probes harness-less benches with --list.
    }
    let wants = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let sizes: Vec<usize> = std::env::var("CRM_BENCH_UPLOAD_MIB")
        .unwrap_or_else(|_| "16,64,256".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if wants("sqlite") {
        let path = std::env::temp_dir().join(format!("crmcore-upload-{}.db", uuid::Uuid::now_v7()));
        let store =
            crmcore_sqlx::SqliteStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite");
        run("sqlite", Arc::new(store.clone()), Arc::new(store), &sizes).await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    if wants("postgres") {
        match std::env::var("CRM_TEST_POSTGRES_URL") {
            Ok(url) => {
                let schema = format!("bench_upload_{}", uuid::Uuid::now_v7().simple());
                let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres");
                run("postgres", Arc::new(store.clone()), Arc::new(store), &sizes).await;
            }
            Err(_) => eprintln!("postgres skipped: CRM_TEST_POSTGRES_URL is not set"),
        }
    }
}
