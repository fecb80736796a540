//! A test server on port 0 and small request helpers.

use std::sync::Arc;

use crmcore::member::Member;
use crmcore::ports::Store;
use crmcore::tenant::Tenant;
use crmcore::{Crm, CrmBuilder};
use crmcore_http::auth::password::PasswordHasher;
use crmcore_http::settings::PasswordHashing;
use crmcore_http::{Secret, Settings};
use crmcore_memory::MemoryStore;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const JWT_SECRET: &[u8] = b"test-signing-key-of-at-least-32-bytes!!";

/// Cheap hashing so tests stay fast in debug builds.
pub(crate) const FAST_HASHING: PasswordHashing = PasswordHashing { memory_kib: 1024, iterations: 1 };

pub(crate) fn test_settings() -> Settings {
    let mut settings = Settings::new(Secret::new(JWT_SECRET.to_vec()));
    settings.password_hashing = FAST_HASHING;
    settings.rate_limit = None;
    settings.auth_rate_limit = None;
    settings
}

/// Which store the server runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    /// Runs only when `CRM_TEST_POSTGRES_URL` is set; each server gets a fresh schema.
    Postgres,
}

/// The PostgreSQL URL for tests, when configured.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) crm: Crm,
    pub(crate) client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A response: status, headers and the JSON body (`Null` when empty or not JSON).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// Asserts an RFC 9457 problem with this status and returns its body.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "status {status}"
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].is_string() && self.body["title"].is_string(), "{}", self.body);
        &self.body
    }

    /// Asserts this status and returns the body.
    #[track_caller]
    pub(crate) fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }

    /// Whether some field error names `field`.
    pub(crate) fn has_field_error(&self, field: &str) -> bool {
        self.body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field))
    }
}

/// A client that keeps redirects visible.
pub(crate) fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

impl TestServer {
    pub(crate) async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub(crate) async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_built(backend, |builder| builder, configure).await
    }

    /// A server whose [`Crm`] gets extra ports (a mailer, say) from `build`.
    pub(crate) async fn start_built(
        backend: Backend,
        build: impl FnOnce(CrmBuilder) -> CrmBuilder,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        // Document content goes where the server puts it: the store's own blob table, or memory.
        let (store, blobs, dir): (Arc<dyn Store>, Arc<dyn crmcore::ports::BlobStore>, _) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new()), Arc::new(crmcore_memory::MemoryBlobStore::new()), None),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
                let store = crmcore_sqlx::SqliteStore::open(&url).await.expect("sqlite store");
                (Arc::new(store.clone()), Arc::new(store), Some(dir))
            }
            Backend::Postgres => {
                let url = postgres_url().expect("CRM_TEST_POSTGRES_URL");
                let schema = format!("crm_http_test_{}", uuid::Uuid::now_v7().simple());
                let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store");
                (Arc::new(store.clone()), Arc::new(store), None)
            }
        };
        let crm = build(Crm::builder().shared_store(store).blobs(blobs)).build().expect("crm");
        let mut server = Self::start_crm(crm, configure).await;
        server._dir = dir;
        server
    }

    pub(crate) async fn start_crm(crm: Crm, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = test_settings();
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let handle = tokio::spawn(crmcore_http::serve(crm.clone(), settings, listener, shutdown));
        Self { base, crm, client: reqwest::Client::new(), stop: Some(stop), handle: Some(handle), _dir: None }
    }

    /// Creates (or joins) a tenant with an owner through the `create-admin` code path.
    pub(crate) async fn admin(&self, tenant: &str, email: &str) -> (Tenant, Member) {
        let hasher = PasswordHasher::new(FAST_HASHING).expect("hasher");
        crmcore_http::admin::create_admin(&self.crm, &hasher, tenant, email, PASSWORD).await.expect("create admin")
    }

    /// Signs in through the console's form (as a same-origin post) and returns the session
    /// cookie as `crm_session=…`, after checking its attributes.
    pub(crate) async fn console_cookie(&self, email: &str) -> String {
        let response = plain_client()
            .post(format!("{}/login", self.base))
            .header("sec-fetch-site", "same-origin")
            .form(&[("email", email), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "console sign-in of {email}");
        let cookie = response.headers()[reqwest::header::SET_COOKIE].to_str().expect("cookie").to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
        }
        cookie.split(';').next().expect("name=value").to_owned()
    }

    /// Signs in and returns the access token.
    pub(crate) async fn login(&self, email: &str, tenant: Option<&str>) -> String {
        let body = json!({ "email": email, "password": PASSWORD, "tenant": tenant });
        let reply = self.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
        reply.ok(200)["access_token"].as_str().expect("access token").to_owned()
    }

    /// A tenant with an owner, signed in: (tenant, owner, token).
    pub(crate) async fn tenant(&self, name: &str, email: &str) -> (Tenant, Member, String) {
        let (tenant, owner) = self.admin(name, email).await;
        let token = self.login(email, Some(&tenant.slug)).await;
        (tenant, owner, token)
    }

    pub(crate) async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(status.as_u16(), 500, "no request may fail with 500: {body}");
        Reply { status, headers, body }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server");
        }
    }
}
