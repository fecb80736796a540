//! `ObjectStoreBlobs` against a real S3-compatible server: `moto_server`, started per test on a
//! free port and killed on drop (`pip install 'moto[server]'`; `.ci/run` installs it). The blob
//! contract passes on it, `crmcore-server` with `CRM_S3_*` keeps uploaded documents there, and an
//! unreachable store is `Unavailable` with no credential in the message.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crmcore::CrmError;
use crmcore::ports::{BlobKey, BlobStore};
use crmcore_http::s3_blobs::object_store::aws::AmazonS3Builder;
use crmcore_http::s3_blobs::object_store::path::Path;
use crmcore_http::s3_blobs::object_store::{ObjectStore, ObjectStoreExt as _};
use crmcore_http::s3_blobs::{ObjectStoreBlobs, S3Settings};
use crmcore_http::settings::Secret;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_crmcore-server");
const BUCKET: &str = "crm-blobs";
const KEY_ID: &str = "test-key-id";
const SECRET: &str = "test-secret-access-key-never-logged";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A child process, killed on drop (also when a test fails half-way).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `moto_server` process with one empty bucket.
struct Moto {
    process: Running,
    endpoint: String,
}

impl Moto {
    async fn start() -> Self {
        let program = std::env::var("CRM_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{program}` ({e}): the S3 tests need an S3-compatible server; \
                     install one with `pip install 'moto[server]'` (or set CRM_TEST_MOTO_SERVER)"
                )
            });
        let mut moto = Self { process: Running(child), endpoint: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(response) = client.put(format!("{}/{BUCKET}", moto.endpoint)).send().await {
                assert!(response.status().is_success(), "creating the bucket: {}", response.status());
                return moto;
            }
            if let Ok(Some(status)) = moto.process.0.try_wait() {
                panic!("`{program}` exited with {status} before serving");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{program}` did not answer on {} within 30 s", moto.endpoint);
    }

    /// The bucket, read directly (not through `ObjectStoreBlobs`).
    fn bucket(&self) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(KEY_ID)
            .with_secret_access_key(SECRET)
            .build()
            .expect("bucket client")
    }

    /// The bytes of `object` in the bucket, `None` when absent.
    async fn object(&self, object: &str) -> Option<Vec<u8>> {
        match self.bucket().get(&Path::from(object)).await {
            Ok(found) => Some(found.bytes().await.expect("object bytes").to_vec()),
            Err(crmcore_http::s3_blobs::object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {object}: {e}"),
        }
    }

    fn settings(&self, prefix: &str) -> S3Settings {
        let mut settings = S3Settings::new(BUCKET, "us-east-1");
        settings.endpoint = Some(self.endpoint.clone());
        settings.access_key_id = Some(KEY_ID.into());
        settings.secret_access_key = Some(Secret::new(SECRET.as_bytes()));
        settings.prefix = prefix.into();
        settings
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blob_store_contract() {
    let moto = Moto::start().await;
    let blobs = ObjectStoreBlobs::s3(&moto.settings("contract/blobs")).expect("s3 blobs");
    crmcore::testing::blob_store_contract(Arc::new(blobs) as Arc<dyn BlobStore>).await;

    // The objects are where the layout says, under the prefix, read with a client of their own.
    let key = BlobKey::of(b"hello, blobs");
    let large: Vec<u8> = (0..5 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let shard = |key: &BlobKey| format!("contract/blobs/{}/{}/{key}", &key.as_str()[..2], &key.as_str()[2..4]);
    let small = moto.object(&shard(&key)).await;
    assert_eq!(small.as_deref(), Some(b"hello, blobs".as_slice()), "deleted, then written in pieces by the contract");
    assert_eq!(moto.object(&shard(&BlobKey::of(&large))).await.as_deref(), Some(large.as_slice()));
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_and_the_secret_stays_out() {
    let mut settings = S3Settings::new(BUCKET, "us-east-1");
    settings.endpoint = Some(format!("http://127.0.0.1:{}", free_port()));
    settings.access_key_id = Some(KEY_ID.into());
    settings.secret_access_key = Some(Secret::new(SECRET.as_bytes()));
    settings.max_retries = 0;
    let blobs = ObjectStoreBlobs::s3(&settings).expect("s3 blobs");
    for result in [blobs.put(b"x").await.map(|_| ()), blobs.get(&BlobKey::of(b"x")).await.map(|_| ())] {
        match result {
            Err(CrmError::Unavailable { port, message }) => {
                assert_eq!(port, crmcore::error::Port::Blobs);
                assert!(!message.contains(SECRET), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

/// `crmcore-server` in `dir` with fast password hashing, output to `log`.
fn server(dir: &std::path::Path, log: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("CRM_DATABASE_URL")
        .env_remove("CRM_JWT_SECRET")
        .env_remove("CRM_BLOB_DIR")
        .env("CRM_PASSWORD_HASH_MEMORY_KIB", "1024")
        .env("CRM_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::options().create(true).append(true).open(log).expect("log file"));
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_uploaded_documents_in_s3() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let admin = ["create-admin", "--tenant", "Acme", "--email", "ada@acme.test"];
    let status = server(dir.path(), &log).args(admin).env("CRM_ADMIN_PASSWORD", "first password!").status().unwrap();
    assert!(status.success(), "create-admin");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut running = Running(
        server(dir.path(), &log)
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_S3_ENDPOINT", &moto.endpoint)
            .env("CRM_S3_BUCKET", BUCKET)
            .env("CRM_S3_REGION", "eu-central-1")
            .env("CRM_S3_ACCESS_KEY_ID", KEY_ID)
            .env("CRM_S3_SECRET_ACCESS_KEY", SECRET)
            .env("CRM_S3_PREFIX", "tenants")
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    let login = json!({"email": "ada@acme.test", "password": "first password!"});
    let tokens: Value =
        client.post(format!("{base}/api/v1/auth/login")).json(&login).send().await.unwrap().json().await.unwrap();
    let token = tokens["access_token"].as_str().expect("access token").to_owned();

    let content = b"# Offer\nPrices valid until the end of the quarter.".to_vec();
    let form = Form::new().part("file", Part::bytes(content.clone()).file_name("offer.md"));
    let response =
        client.post(format!("{base}/api/v1/documents")).bearer_auth(&token).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key = created["version"]["content_key"].as_str().expect("content key").to_owned();
    assert_eq!(key, BlobKey::of(&content).as_str());

    // The bytes are in the bucket, under the prefix, and come back through the API.
    let object = format!("tenants/{}/{}/{key}", &key[..2], &key[2..4]);
    assert_eq!(moto.object(&object).await.as_deref(), Some(content.as_slice()), "{object}");
    let id = created["document"]["id"].as_str().unwrap();
    let download =
        client.get(format!("{base}/api/v1/documents/{id}/content")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), content.as_slice());

    let _ = Command::new("kill").args(["-TERM", &running.0.id().to_string()]).status();
    assert!(running.0.wait().unwrap().success(), "graceful shutdown exits 0");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("document content in S3"), "{logged}");
    assert!(!logged.contains(SECRET), "the secret access key is logged: {logged}");
}
