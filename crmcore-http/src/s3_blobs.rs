//! [`ObjectStoreBlobs`]: content-addressed blobs in an S3-compatible bucket (AWS S3, MinIO,
//! Ceph, R2, …) or any other [`ObjectStore`]. Objects are named `<prefix>/ab/cd/<hex>` from the
//! key alone, never from clients; the two shard levels keep listings and per-prefix request
//! rates of a large bucket even.
//!
//! `put` asks whether the object exists and uploads only when it does not: the key is the hash of
//! the bytes, so an object that exists already holds them, and two racing uploads write the same
//! bytes. Credentials stay in the [`S3Settings`] (whose `Debug` hides the secret) and the client.
//!
//! A streamed write keeps up to one 5 MiB part in memory: a blob that fits is uploaded in one
//! request at the end; a larger one goes up as a multipart upload to `<prefix>/uploads/<id>`,
//! copied to its key's object when complete (S3 has no rename) and the upload object deleted.
//! An abandoned multipart upload is aborted; the bucket's lifecycle rule for incomplete
//! multipart uploads cleans up after a crash.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crmcore::error::Port;
use crmcore::ports::{BlobHasher, BlobKey, BlobStore, BlobWriter};
use crmcore::{CrmError, Result};
pub use object_store;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig};

use crate::settings::Secret;

/// Where an S3-compatible bucket is and how to sign requests to it.
#[derive(Clone)]
pub struct S3Settings {
    /// The service URL, e.g. `http://127.0.0.1:9000` for a local MinIO; `None` means AWS itself.
    /// Requests use path-style addressing (`<endpoint>/<bucket>/<object>`); an explicit `http://`
    /// endpoint is allowed, for servers on the local network.
    pub endpoint: Option<String>,
    /// The bucket; it must exist.
    pub bucket: String,
    /// The signing region, e.g. `us-east-1` (most S3-compatible servers accept any).
    pub region: String,
    /// The access key id; without one (and a secret) the client finds none and requests are
    /// unsigned, except on AWS where the instance's credentials are used.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<Secret>,
    /// Objects live under this prefix, e.g. `crm/blobs` (empty: the bucket's root).
    pub prefix: String,
    /// How long one request may take, retries aside.
    pub timeout: Duration,
    /// How many times a failed request is retried (with backoff) before the store is reported
    /// unavailable.
    pub max_retries: usize,
}

impl S3Settings {
    /// Settings for `bucket` in `region` with no endpoint, credentials or prefix, a 30 s request
    /// timeout and 3 retries.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            bucket: bucket.into(),
            region: region.into(),
            access_key_id: None,
            secret_access_key: None,
            prefix: String::new(),
            timeout: Duration::from_secs(30),
            max_retries: 3,
        }
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// The `crmcore-server` flags (and `CRM_S3_*` variables) for an S3-compatible blob store.
#[derive(Clone, clap::Args)]
pub struct S3Args {
    /// The bucket document content goes to (instead of the database or `CRM_BLOB_DIR`); the
    /// other `s3` options apply only with it.
    #[arg(long, env = "CRM_S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,
    /// The S3-compatible service, e.g. `http://127.0.0.1:9000` (path-style requests; plain http
    /// is allowed when written so). Default: AWS S3.
    #[arg(long, env = "CRM_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// The signing region.
    #[arg(long, env = "CRM_S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,
    /// The access key id (with the secret access key; without both, requests to an endpoint are
    /// unsigned and AWS S3 uses the instance's credentials).
    #[arg(long, env = "CRM_S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,
    /// The secret access key.
    #[arg(long, env = "CRM_S3_SECRET_ACCESS_KEY", hide_env_values = true, global = true)]
    pub s3_secret_access_key: Option<String>,
    /// Objects go under this prefix, e.g. `crm/blobs`.
    #[arg(long, env = "CRM_S3_PREFIX", default_value = "", global = true)]
    pub s3_prefix: String,
}

impl S3Args {
    /// The settings these options describe; `None` without a bucket.
    pub fn settings(&self) -> Option<S3Settings> {
        let bucket = self.s3_bucket.as_deref().filter(|b| !b.is_empty())?;
        let mut settings = S3Settings::new(bucket, &self.s3_region);
        settings.endpoint = self.s3_endpoint.clone().filter(|e| !e.is_empty());
        settings.access_key_id = self.s3_access_key_id.clone().filter(|k| !k.is_empty());
        settings.secret_access_key =
            self.s3_secret_access_key.as_ref().filter(|k| !k.is_empty()).map(|k| Secret::new(k.as_bytes()));
        settings.prefix = self.s3_prefix.clone();
        Some(settings)
    }
}

impl fmt::Debug for S3Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("S3Args").field(&self.settings()).finish()
    }
}

/// Blobs in an [`ObjectStore`], named by their key under a prefix.
#[derive(Clone)]
pub struct ObjectStoreBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl fmt::Debug for ObjectStoreBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The store's `Display` names it (`AmazonS3(bucket)`); its `Debug` is a client's internals.
        f.debug_struct("ObjectStoreBlobs")
            .field("store", &format_args!("{}", self.store))
            .field("prefix", &self.prefix.as_ref())
            .finish()
    }
}

fn unavailable(what: &str, error: object_store::Error) -> CrmError {
    // object_store's messages name the store, the object and the HTTP status, never credentials.
    CrmError::Unavailable { port: Port::Blobs, message: format!("{what}: {error}") }
}

fn prefix_path(prefix: &str) -> Result<Path> {
    Path::parse(prefix.trim_matches('/')).map_err(|_| {
        CrmError::invalid("prefix", "invalid", "a blob prefix is `/`-separated names without empty, `.` or `..` parts")
    })
}

impl ObjectStoreBlobs {
    /// Blobs in `store` under `prefix` (`/`-separated; empty for the root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self> {
        Ok(Self { store, prefix: prefix_path(prefix)? })
    }

    /// Blobs in the S3-compatible bucket `settings` describe. No request is made: a wrong
    /// endpoint, bucket or credential shows at the first use, as `Unavailable`.
    pub fn s3(settings: &S3Settings) -> Result<Self> {
        if settings.bucket.is_empty() {
            return Err(CrmError::invalid("bucket", "required", "an S3 bucket is required"));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(false)
            .with_client_options(ClientOptions::new().with_timeout(settings.timeout))
            .with_retry(RetryConfig {
                max_retries: settings.max_retries,
                retry_timeout: settings.timeout.saturating_mul(2),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = settings.endpoint.as_deref().filter(|e| !e.is_empty()) {
            builder =
                builder.with_endpoint(endpoint.trim_end_matches('/')).with_allow_http(endpoint.starts_with("http://"));
        }
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => {
                let secret = std::str::from_utf8(secret.expose()).map_err(|_| {
                    CrmError::invalid("secret_access_key", "invalid", "the S3 secret access key is not UTF-8")
                })?;
                builder = builder.with_access_key_id(id).with_secret_access_key(secret);
            }
            (None, None) => builder = builder.with_skip_signature(settings.endpoint.is_some()),
            _ => {
                return Err(CrmError::invalid(
                    "access_key_id",
                    "incomplete",
                    "an S3 access key id and secret access key go together",
                ));
            }
        }
        // The builder's errors name the setting at fault, not its value.
        let store = builder.build().map_err(|e| CrmError::invalid("s3", "invalid", e.to_string()))?;
        Self::new(Arc::new(store), &settings.prefix)
    }

    /// The object holding `key`: `<prefix>/ab/cd/<hex>`.
    fn path(&self, key: &BlobKey) -> Path {
        let hex = key.as_str();
        self.prefix.clone().join(&hex[..2]).join(&hex[2..4]).join(hex)
    }

    /// Stores `bytes` (whose key is `key`) in one request, unless they are stored already.
    async fn put_once(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<()> {
        if self.exists(key).await? {
            return Ok(());
        }
        let payload = PutPayload::from(bytes);
        self.store.put(&self.path(key), payload).await.map_err(|e| unavailable("cannot write a blob", e))?;
        Ok(())
    }
}

/// The smallest part of a multipart upload S3 accepts (the last one aside).
const PART: usize = 5 * 1024 * 1024;

/// A streamed write: one part in memory; a multipart upload once there is more than a part.
struct MultipartWriter {
    blobs: ObjectStoreBlobs,
    hasher: BlobHasher,
    pending: Vec<u8>,
    /// The upload object and its multipart upload, once a part was sent.
    upload: Option<(Path, Box<dyn MultipartUpload>)>,
}

impl MultipartWriter {
    async fn send_part(&mut self, part: Vec<u8>) -> Result<()> {
        if self.upload.is_none() {
            let path = self.blobs.prefix.clone().join("uploads").join(uuid::Uuid::now_v7().simple().to_string());
            let upload = self
                .blobs
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| unavailable("cannot start a blob upload", e))?;
            self.upload = Some((path, upload));
        }
        if let Some((_, upload)) = &mut self.upload {
            upload.put_part(PutPayload::from(part)).await.map_err(|e| unavailable("cannot write a blob", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for MultipartWriter {
    async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        while !bytes.is_empty() {
            let take = (PART - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == PART {
                let part = std::mem::replace(&mut self.pending, Vec::with_capacity(PART));
                self.send_part(part).await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobKey> {
        let key = self.hasher.clone().key();
        let rest = std::mem::take(&mut self.pending);
        let Some((path, mut upload)) = self.upload.take() else {
            self.blobs.put_once(&key, rest).await?;
            return Ok(key);
        };
        let completed = async {
            if !rest.is_empty() {
                upload.put_part(PutPayload::from(rest)).await?;
            }
            upload.complete().await
        };
        if let Err(e) = completed.await {
            let _ = upload.abort().await;
            return Err(unavailable("cannot write a blob", e));
        }
        let target = self.blobs.path(&key);
        let placed = match self.blobs.exists(&key).await {
            Ok(true) => Ok(()),
            Ok(false) => self.blobs.store.copy(&path, &target).await.map_err(|e| unavailable("cannot write a blob", e)),
            Err(e) => Err(e),
        };
        let _ = self.blobs.store.delete(&path).await;
        placed.map(|()| key)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        if let Some((_, mut upload)) = self.upload.take() {
            upload.abort().await.map_err(|e| unavailable("cannot abort a blob upload", e))?;
        }
        Ok(())
    }
}

impl Drop for MultipartWriter {
    /// A writer dropped mid-way has its multipart upload aborted in the background.
    fn drop(&mut self) {
        if let (Some((_, mut upload)), Ok(runtime)) = (self.upload.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

#[async_trait]
impl BlobStore for ObjectStoreBlobs {
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
        let key = BlobKey::of(bytes);
        self.put_once(&key, bytes.to_vec()).await?;
        Ok(key)
    }

    async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
        Ok(Box::new(MultipartWriter {
            blobs: self.clone(),
            hasher: BlobHasher::default(),
            pending: Vec::new(),
            upload: None,
        }))
    }

    async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>> {
        let path = self.path(key);
        let size = match self.store.head(&path).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Err(CrmError::not_found("blob", key)),
            Err(e) => return Err(unavailable("cannot read a blob", e)),
        };
        let end = offset.saturating_add(len as u64).min(size);
        if offset >= end {
            return Ok(Vec::new());
        }
        match self.store.get_range(&path, offset..end).await {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(CrmError::not_found("blob", key)),
            Err(e) => Err(unavailable("cannot read a blob", e)),
        }
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        let read = async { self.store.get(&self.path(key)).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(CrmError::not_found("blob", key)),
            Err(e) => Err(unavailable("cannot read a blob", e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable("cannot delete a blob", e)),
        }
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(unavailable("cannot look up a blob", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn objects_are_sharded_under_the_prefix() {
        let memory = Arc::new(InMemory::new());
        let blobs = ObjectStoreBlobs::new(memory.clone(), "/crm/blobs/").unwrap();
        let key = blobs.put(b"hello").await.unwrap();
        let hex = key.as_str();
        let expected = Path::from(format!("crm/blobs/{}/{}/{hex}", &hex[..2], &hex[2..4]));
        assert_eq!(memory.get(&expected).await.unwrap().bytes().await.unwrap().as_ref(), b"hello");
        let stored = memory.head(&expected).await.unwrap().e_tag;
        assert_eq!(blobs.put(b"hello").await.unwrap(), key);
        assert_eq!(memory.head(&expected).await.unwrap().e_tag, stored, "a stored blob is not uploaded again");
        crmcore::testing::blob_store_contract(Arc::new(blobs)).await;
    }

    #[test]
    fn bad_prefixes_and_half_credentials_are_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        assert!(ObjectStoreBlobs::new(store.clone(), "").is_ok());
        for prefix in ["a//b", "a/../b", "."] {
            assert!(matches!(ObjectStoreBlobs::new(store.clone(), prefix), Err(CrmError::Validation(_))), "{prefix}");
        }
        let mut settings = S3Settings::new("crm", "us-east-1");
        settings.access_key_id = Some("id".into());
        assert!(matches!(ObjectStoreBlobs::s3(&settings), Err(CrmError::Validation(_))));
    }

    #[test]
    fn server_flags_describe_the_bucket() {
        use clap::Parser as _;
        let args = [
            "crmcore-server",
            "worker",
            "--s3-bucket",
            "docs",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-access-key-id",
            "crm",
            "--s3-secret-access-key",
            "s3cret-key",
            "--s3-prefix",
            "crm/blobs",
        ];
        let cli = crate::config::Cli::try_parse_from(args).unwrap();
        let settings = cli.s3.settings().expect("a bucket is configured");
        assert_eq!(settings.bucket, "docs");
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!((settings.region.as_str(), settings.prefix.as_str()), ("us-east-1", "crm/blobs"));
        assert_eq!(settings.secret_access_key.as_ref().map(Secret::expose), Some(&b"s3cret-key"[..]));
        assert!(!format!("{:?}", cli.s3).contains("s3cret"));
        let plain = crate::config::Cli::try_parse_from(["crmcore-server"]).unwrap();
        assert!(plain.s3.settings().is_none(), "no bucket, no S3");
    }

    #[test]
    fn debug_hides_the_secret() {
        let mut settings = S3Settings::new("crm", "us-east-1");
        settings.endpoint = Some("http://127.0.0.1:9000".into());
        settings.access_key_id = Some("crm-key".into());
        settings.secret_access_key = Some(Secret::new("very-secret-value".as_bytes()));
        let blobs = ObjectStoreBlobs::s3(&settings).unwrap();
        let shown = format!("{settings:?} {blobs:?}");
        assert!(!shown.contains("very-secret-value") && shown.contains("crm-key"), "{shown}");
    }
}
