//! The `crmcore-server` binary, run as a process.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_crmcore-server");

/// A free local port (bound and released; racy in theory, fine in practice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

async fn wait_healthy(base: &str) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn serves_until_sigterm() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--database-url", "memory:", "--bind", &format!("127.0.0.1:{port}")])
        .env("CRM_JWT_SECRET", "binary-test-signing-key-0123456789abcdef")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn crmcore-server");
    let base = format!("http://127.0.0.1:{port}");
    let healthy = wait_healthy(&base).await;
    #[cfg(unix)]
    {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    }
    #[cfg(not(unix))]
    let _ = child.kill();
    let status = child.wait().expect("wait");
    assert!(healthy, "the server never became healthy");
    #[cfg(unix)]
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}

/// `crmcore-server` in `dir`, with fast password hashing and quiet output.
fn server(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("CRM_DATABASE_URL")
        .env_remove("CRM_JWT_SECRET")
        .env("CRM_PASSWORD_HASH_MEMORY_KIB", "1024")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    #[cfg(unix)]
    {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    }
    #[cfg(not(unix))]
    let _ = child.kill();
    child.wait().expect("wait")
}

/// `GET {base}/api/v1{path}` as the bearer of `token`, as JSON.
async fn get_json(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    client.get(format!("{base}/api/v1{path}")).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn login(base: &str, email: &str, password: &str) -> Value {
    let body = json!({"email": email, "password": password});
    let response = reqwest::Client::new().post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "login of {email}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn create_admin_then_serve_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let status = server(dir.path()).arg("migrate").status().unwrap();
    assert!(status.success(), "migrate");
    assert!(dir.path().join("crm.db").exists(), "the default database is crm.db in the working directory");

    let admin = ["create-admin", "--tenant", "Acme Inc", "--email", "ada@acme.test"];
    let status = server(dir.path()).args(admin).env("CRM_ADMIN_PASSWORD", "first password!").status().unwrap();
    assert!(status.success(), "create-admin with CRM_ADMIN_PASSWORD");
    // A second admin of the same tenant, password typed on stdin.
    let mut typed = server(dir.path())
        .args(["create-admin", "--tenant", "Acme Inc", "--email", "bea@acme.test"])
        .env_remove("CRM_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    typed.stdin.take().unwrap().write_all(b"second password!\n").unwrap();
    assert!(typed.wait().unwrap().success(), "create-admin with a prompted password");

    // `serve` is the default command; secrets are generated beside the database.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = server(dir.path()).env("CRM_BIND", format!("127.0.0.1:{port}")).spawn().unwrap();
    assert!(wait_healthy(&base).await, "server did not start");
    let tokens = login(&base, "ada@acme.test", "first password!").await;
    login(&base, "bea@acme.test", "second password!").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/api/v1/contacts"))
        .bearer_auth(&access)
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let contact: Value = created.json().await.unwrap();
    assert!(terminate(child).success(), "graceful shutdown exits 0");

    let secrets = dir.path().join("crm.db.secrets");
    assert!(secrets.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // After a restart the same signing key still accepts the token, and the data is there.
    let child = server(dir.path()).args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--no-worker"]).spawn();
    let child = child.unwrap();
    assert!(wait_healthy(&base).await, "server did not restart");
    let path = format!("{base}/api/v1/contacts/{}", contact["id"].as_str().unwrap());
    let fetched = client.get(path).bearer_auth(&access).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert!(terminate(child).success());
}

/// `CRM_SMTP_URL` gives the server (and its in-process worker) an SMTP mailer: a launched
/// campaign reaches the SMTP server, with the configured login and the password kept out of
/// the logs.
#[tokio::test]
async fn campaigns_go_out_through_the_configured_smtp_server() {
    use crmcore_http::smtp::sink::{SinkConfig, SmtpSink};

    let sink = SmtpSink::start(SinkConfig { keep_messages: true, rejections: Vec::new() }).await.expect("sink");
    let dir = tempfile::tempdir().unwrap();
    let admin = ["create-admin", "--tenant", "Acme", "--email", "ada@acme.test"];
    let status = server(dir.path()).args(admin).env("CRM_ADMIN_PASSWORD", "first password!").status().unwrap();
    assert!(status.success(), "create-admin");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let smtp_url = format!("smtp://mailer%40acme.test:smtp-pass-word@{}?tls=none", sink.addr());
    let log = dir.path().join("server.log");
    let child = server(dir.path())
        .env("CRM_BIND", format!("127.0.0.1:{port}"))
        .env("CRM_SMTP_URL", &smtp_url)
        .env("CRM_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_healthy(&base).await, "server did not start");
    let token = login(&base, "ada@acme.test", "first password!").await["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).bearer_auth(&token).json(&body);
    let contact = json!({"email": "bob@example.com", "first_name": "Bob", "tags": ["vip"]});
    assert_eq!(post("/contacts", contact).send().await.unwrap().status(), 201);
    let template = json!({"name": "Hi", "subject": "Hi {{ first_name }}",
                          "html": "<p>Hello {{ name }}</p><a href=\"https://shop.acme.test/spring\">Shop</a>"});
    let template: Value = post("/email-templates", template).send().await.unwrap().json().await.unwrap();
    let campaign = json!({"name": "Launch", "from_email": "news@acme.test", "segment": {"type": "tag", "tag": "vip"},
                          "variants": [{"name": "A", "weight": 1, "template_id": template["id"]}]});
    let campaign: Value = post("/campaigns", campaign).send().await.unwrap().json().await.unwrap();
    let path = format!("/campaigns/{}", campaign["id"].as_str().unwrap());
    assert_eq!(post(&format!("{path}/launch"), json!({})).send().await.unwrap().status(), 200);

    let mut counts = Value::Null;
    for _ in 0..100 {
        counts = get_json(&client, &base, &token, &format!("{path}/counts")).await;
        if counts["sent"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The tracked link in the received HTML redirects to the campaign's link, and counts (after
    // the 2 s in which clicks are taken for scanners).
    let received = sink.messages();
    let parsed = mail_parser::MessageParser::default().parse(&received[0].data).expect("parses");
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    let click = html.split("href=\"").find(|h| h.contains("/t/c/")).and_then(|h| h.split('"').next());
    let click = click.unwrap_or_else(|| panic!("no tracked link in {html}")).to_owned();
    assert!(click.starts_with(&format!("{base}/t/c/")), "{click}");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let clicked = raw.get(&click).header("user-agent", "Mozilla/5.0 Thunderbird/115").send().await.unwrap();
    assert_eq!(clicked.status(), 302);
    assert_eq!(clicked.headers()["location"], "https://shop.acme.test/spring");
    let stats = get_json(&client, &base, &token, &format!("{path}/stats")).await;
    assert_eq!((stats["unique_clicks"].as_u64(), stats["unique_opens"].as_u64()), (Some(1), Some(1)), "{stats}");

    // The message's one-click unsubscribe link points back at this server and works.
    let data = sink.messages().first().map(|m| String::from_utf8_lossy(&m.data).into_owned()).unwrap_or_default();
    let unsubscribe = data
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .and_then(|l| l.split('>').next())
        .unwrap_or_else(|| panic!("no List-Unsubscribe in {data}"))
        .to_owned();
    assert!(unsubscribe.starts_with(&format!("{base}/t/u/")), "{unsubscribe}");
    assert!(data.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let done = client.post(&unsubscribe).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(done.status(), 200);
    let list = get_json(&client, &base, &token, "/suppressions").await;
    assert_eq!(list["items"][0]["email"], "bob@example.com", "{list}");
    assert!(terminate(child).success(), "graceful shutdown exits 0");
    assert_eq!(counts["sent"], 1, "{counts}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].recipients, ["bob@example.com"]);
    assert!(String::from_utf8_lossy(&messages[0].data).contains("Subject: Hi Bob"));
    assert_eq!(sink.logins(), ["mailer@acme.test"]);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("sending mail through SMTP"), "{logged}");
    assert!(!logged.contains("smtp-pass-word"), "the SMTP password was logged");
}

/// The server is killed (SIGKILL) in the middle of a rate-limited send and started again: the
/// send resumes once the leases expire, nobody is skipped, duplicates are bounded by the batch
/// in flight, and the ledger balances.
#[tokio::test]
async fn a_send_survives_a_killed_server() {
    use std::collections::HashMap;

    use crmcore_http::smtp::sink::{SinkConfig, SmtpSink};

    const RECIPIENTS: usize = 40;
    let sink = SmtpSink::start(SinkConfig { keep_messages: true, rejections: Vec::new() }).await.expect("sink");
    let dir = tempfile::tempdir().unwrap();
    let admin = ["create-admin", "--tenant", "Acme", "--email", "ada@acme.test"];
    let status = server(dir.path()).args(admin).env("CRM_ADMIN_PASSWORD", "first password!").status().unwrap();
    assert!(status.success(), "create-admin");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = || {
        server(dir.path())
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_SMTP_URL", format!("smtp://{}?tls=none", sink.addr()))
            .env("CRM_JOB_LEASE_SECS", "2")
            .env("CRM_CAMPAIGN_LEASE_SECS", "2")
            .spawn()
            .unwrap()
    };
    let mut child = start();
    assert!(wait_healthy(&base).await, "server did not start");
    let token = login(&base, "ada@acme.test", "first password!").await["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).bearer_auth(&token).json(&body);
    for i in 0..RECIPIENTS {
        let contact = json!({"email": format!("r{i}@example.com"), "tags": ["vip"]});
        assert_eq!(post("/contacts", contact).send().await.unwrap().status(), 201);
    }
    let template = json!({"name": "Hi", "subject": "Hi", "html": "<p>Hello {{ email }}</p>"});
    let template: Value = post("/email-templates", template).send().await.unwrap().json().await.unwrap();
    // 10 messages a second: the send takes about 4 s, in batches of 50 (5 s of sending).
    let campaign = json!({"name": "Slow", "from_email": "news@acme.test", "segment": {"type": "tag", "tag": "vip"},
                          "variants": [{"name": "A", "weight": 1, "template_id": template["id"]}],
                          "rate_limit_per_second": 10});
    let campaign: Value = post("/campaigns", campaign).send().await.unwrap().json().await.unwrap();
    let path = format!("/campaigns/{}", campaign["id"].as_str().unwrap());
    assert_eq!(post(&format!("{path}/launch"), json!({})).send().await.unwrap().status(), 200);

    // Kill it mid-send.
    for _ in 0..100 {
        if sink.messages().len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = sink.messages().len();
    assert!((10..RECIPIENTS).contains(&at_kill), "killed mid-send ({at_kill} sent)");

    // Start again: the leases expire and the send completes.
    let child = start();
    assert!(wait_healthy(&base).await, "server did not restart");
    // The last batch's outcomes commit before the send job marks the campaign sent, so wait for
    // the status, then read the counts.
    let mut status = Value::Null;
    for _ in 0..200 {
        status = get_json(&client, &base, &token, &path).await;
        if status["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = get_json(&client, &base, &token, &format!("{path}/counts")).await;
    assert!(terminate(child).success());
    assert_eq!(counts["targeted"], RECIPIENTS, "{counts}");
    assert_eq!(counts["sent"], RECIPIENTS, "{counts}");
    assert_eq!(status["status"], "sent", "{status}");
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        for r in m.recipients {
            *per_address.entry(r).or_default() += 1;
        }
    }
    assert_eq!(per_address.len(), RECIPIENTS, "nobody skipped");
    let duplicates: usize = per_address.values().map(|n| n - 1).sum();
    assert!(duplicates <= 50, "duplicates bounded by the batch in flight: {duplicates}");
}

/// What the webhook receiver saw: one entry per request, in arrival order.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    webhook_id: String,
    contact_id: String,
    verified: bool,
}

#[derive(Default)]
struct Receiver {
    verifiers: std::sync::Mutex<std::collections::HashMap<String, standardwebhooks::Webhook>>,
    log: std::sync::Mutex<Vec<Received>>,
}

impl Receiver {
    fn log(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

/// A webhook receiver on 127.0.0.1 that verifies every request with the crates.io
/// `standardwebhooks` implementation and answers per path: `/ok` 204, `/flaky` 500 to the first
/// three requests, `/slow` stalls past the timeout on the first request of its first three
/// messages, `/gone` 410, `/throttle` 429 with `Retry-After: 1` likewise. (Three failures in a
/// row stay below the circuit breaker's threshold of five.)
async fn start_receiver() -> (String, std::sync::Arc<Receiver>) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;

    let receiver = std::sync::Arc::new(Receiver::default());
    async fn handle(
        State(receiver): State<std::sync::Arc<Receiver>>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let path = uri.path().to_owned();
        let verified = receiver.verifiers.lock().unwrap().get(&path).is_some_and(|v| v.verify(&body, &headers).is_ok());
        let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
        let contact_id = parsed["data"]["object"]["id"].as_str().unwrap_or_default().to_owned();
        let (seen_for_message, seen_on_path, messages_on_path) = {
            let mut log = receiver.log.lock().unwrap();
            let message = log.iter().filter(|r| r.webhook_id == webhook_id).count();
            let on_path = log.iter().filter(|r| r.path == path).count();
            let mut ids: Vec<&str> = log.iter().filter(|r| r.path == path).map(|r| r.webhook_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let messages = ids.len();
            log.push(Received { path: path.clone(), webhook_id, contact_id, verified });
            (message, on_path, messages)
        };
        match path.as_str() {
            "/flaky" if seen_on_path < 3 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            "/slow" if seen_for_message == 0 && messages_on_path < 3 => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK.into_response()
            }
            "/gone" => StatusCode::GONE.into_response(),
            "/throttle" if seen_for_message == 0 && messages_on_path < 3 => {
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
            }
            _ => StatusCode::NO_CONTENT.into_response(),
        }
    }
    let app = axum::Router::new().fallback(axum::routing::post(handle)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, receiver)
}

/// Contacts created over the API reach a receiver through webhooks while it fails, times out,
/// answers 410 and 429, and while the server is killed (SIGKILL) and restarted: every delivery
/// verifies, nothing is lost, duplicates stay bounded by what was in flight, every answered
/// attempt is in the log, 410 disables its endpoint.
#[tokio::test]
async fn webhooks_survive_failures_and_a_killed_server() {
    use std::collections::{HashMap, HashSet};

    const CONTACTS: usize = 20;
    let (hooks, receiver) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = ["create-admin", "--tenant", "Acme", "--email", "ada@acme.test"];
    let status = server(dir.path()).args(admin).env("CRM_ADMIN_PASSWORD", "first password!").status().unwrap();
    assert!(status.success(), "create-admin");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = || {
        server(dir.path())
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_JOB_LEASE_SECS", "2")
            .env("CRM_WEBHOOK_ALLOW_HTTP", "true")
            .env("CRM_WEBHOOK_ALLOW_ADDRESSES", "127.0.0.1")
            .env("CRM_WEBHOOK_TIMEOUT_SECS", "1")
            .env("CRM_WEBHOOK_RETRY_SCHEDULE", "1,1,1,1,1")
            // The test reads the delivery log a lot; the API's rate limit is not under test here.
            .env("CRM_RATE_LIMIT_PER_MINUTE", "100000")
            .env("CRM_RATE_LIMIT_BURST", "10000")
            .spawn()
            .unwrap()
    };
    let mut child = start();
    assert!(wait_healthy(&base).await, "server did not start");
    let token = login(&base, "ada@acme.test", "first password!").await["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).bearer_auth(&token).json(&body);

    let refused = post("/webhook-endpoints", json!({"url": "ftp://example.com/x"})).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let mut endpoints = HashMap::new();
    for path in ["/ok", "/flaky", "/slow", "/gone", "/throttle"] {
        let body = json!({"url": format!("{hooks}{path}"), "event_types": ["contact.created"]});
        let created: Value = post("/webhook-endpoints", body).send().await.unwrap().json().await.unwrap();
        let secret = created["secret"].as_str().expect("secret shown once");
        receiver.verifiers.lock().unwrap().insert(path.to_owned(), standardwebhooks::Webhook::new(secret).unwrap());
        endpoints.insert(path, created["endpoint"]["id"].as_str().unwrap().to_owned());
    }
    let mut contacts = HashSet::new();
    for i in 0..CONTACTS {
        let created: Value = post("/contacts", json!({"email": format!("c{i}@example.com")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        contacts.insert(created["id"].as_str().unwrap().to_owned());
    }

    // Kill the server while deliveries are going out, then start it again.
    for _ in 0..100 {
        if receiver.log().iter().filter(|r| r.path == "/ok").count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let child = start();
    assert!(wait_healthy(&base).await, "server did not restart");
    // Settled: every event has its delivery to each live endpoint, and none is pending.
    let mut pending = Value::Null;
    for _ in 0..600 {
        pending = get_json(&client, &base, &token, "/webhook-deliveries?status=pending&limit=200").await;
        let mut created = 0;
        for path in ["/ok", "/flaky", "/slow", "/throttle"] {
            let query = format!("/webhook-deliveries?endpoint_id={}&limit=200", endpoints[path]);
            created += get_json(&client, &base, &token, &query).await["items"].as_array().map_or(0, Vec::len);
        }
        if created == 4 * CONTACTS && pending["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pending["items"].as_array().is_some_and(Vec::is_empty), "deliveries settle: {pending}");

    let log = receiver.log();
    assert!(log.iter().all(|r| r.verified), "every request verifies with the reference implementation");
    for path in ["/ok", "/flaky", "/slow", "/throttle"] {
        let got: HashSet<String> = log.iter().filter(|r| r.path == path).map(|r| r.contact_id.clone()).collect();
        assert_eq!(got, contacts, "{path}: nothing lost");
        let id = &endpoints[path];
        let list = get_json(&client, &base, &token, &format!("/webhook-deliveries?endpoint_id={id}&limit=200")).await;
        let deliveries = list["items"].as_array().unwrap();
        assert_eq!(deliveries.len(), CONTACTS, "{path}: one delivery per event");
        for delivery in deliveries {
            assert_eq!(delivery["status"], "succeeded", "{path}: {delivery}");
            let attempts = get_json(
                &client,
                &base,
                &token,
                &format!("/webhook-deliveries/{}/attempts", delivery["id"].as_str().unwrap()),
            )
            .await;
            let attempts = attempts.as_array().unwrap();
            let message = format!("msg_{}", delivery["id"].as_str().unwrap().replace('-', ""));
            let received = log.iter().filter(|r| r.webhook_id == message).count();
            assert!(
                attempts.len() <= received && received - attempts.len() <= 1,
                "{path}: logged {} of {received}",
                attempts.len()
            );
            if path == "/throttle" && attempts.len() >= 2 {
                assert_eq!(attempts[0]["status"], 429);
                assert_eq!(attempts[0]["error_class"], "throttled");
            }
        }
        let duplicates = log.iter().filter(|r| r.path == path).count() as i64 - CONTACTS as i64;
        if path == "/ok" {
            assert!(duplicates <= CONTACTS as i64, "{path}: duplicates bounded by what was in flight: {duplicates}");
        }
    }
    let slow = &endpoints["/slow"];
    let list = get_json(&client, &base, &token, &format!("/webhook-deliveries?endpoint_id={slow}&limit=200")).await;
    for delivery in list["items"].as_array().unwrap() {
        let id = delivery["id"].as_str().unwrap();
        let attempts = get_json(&client, &base, &token, &format!("/webhook-deliveries/{id}/attempts")).await;
        // Stalled requests answered after the kill are logged as timeouts; those in flight at the
        // kill were never logged (and were sent again).
        let failures: Vec<&Value> =
            attempts.as_array().unwrap().iter().filter(|a| !a["error_class"].is_null()).collect();
        assert!(failures.iter().all(|a| a["error_class"] == "timeout"), "{attempts}");
    }
    let gone = get_json(&client, &base, &token, &format!("/webhook-endpoints/{}", endpoints["/gone"])).await;
    assert_eq!(gone["enabled"], false, "410 disables: {gone}");
    assert!(gone["disabled_reason"].as_str().unwrap_or_default().contains("410"));
    let failed = get_json(
        &client,
        &base,
        &token,
        &format!("/webhook-deliveries?endpoint_id={}&status=failed&limit=200", endpoints["/gone"]),
    )
    .await;
    let all =
        get_json(&client, &base, &token, &format!("/webhook-deliveries?endpoint_id={}&limit=200", endpoints["/gone"]))
            .await;
    assert!(!failed["items"].as_array().unwrap().is_empty());
    assert_eq!(failed["items"], all["items"], "its deliveries fail (kept for replay); none succeeds");
    assert!(terminate(child).success());
}
