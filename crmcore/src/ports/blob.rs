use std::fmt::{self, Debug};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CrmError, Result};

/// The content address of a blob: the lowercase hex SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// Parses a 64-character lowercase hex key.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CrmError::invalid("key", "invalid", "blob keys are 64 lowercase hex characters"))
        }
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BlobKey {
    type Error = CrmError;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<BlobKey> for String {
    fn from(value: BlobKey) -> Self {
        value.0
    }
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Content-addressed binary storage.
///
/// # Contract
/// `put` is idempotent: the same bytes always yield the same key and are stored once. A
/// [`BlobWriter`] stores the same blob `put` would, and until its `finish` returns nothing of it
/// is visible: an aborted or dropped writer leaves no blob. Stores that keep blobs outside
/// memory (a database, files, a bucket) MUST spool a writer's pieces as they come, so the
/// memory a write takes is independent of the blob's size.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores bytes, returning their key.
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey>;
    /// Starts a blob written in pieces.
    async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>>;
    /// The bytes under `key`; MUST return `NotFound` when absent.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>>;
    /// At most `len` bytes of the blob from `offset`: fewer at its end, none from its end on.
    /// MUST return `NotFound` when absent.
    async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// Removes a blob; removing an absent blob is `Ok`.
    async fn delete(&self, key: &BlobKey) -> Result<()>;
    /// Whether a blob exists.
    async fn exists(&self, key: &BlobKey) -> Result<bool>;
}

/// A blob being written in pieces; [`finish`](Self::finish) stores it under the SHA-256 of
/// everything written.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `bytes`.
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Stores the blob (once, however often the same content is written) and returns its key.
    async fn finish(self: Box<Self>) -> Result<BlobKey>;
    /// Drops what was written.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// Incremental SHA-256 of a blob being written, and its size.
#[derive(Debug, Clone, Default)]
pub struct BlobHasher {
    digest: Sha256,
    size: u64,
}

impl BlobHasher {
    /// Hashes `bytes` after what came before.
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The key of everything hashed.
    pub fn key(self) -> BlobKey {
        BlobKey(hex(&self.digest.finalize()))
    }
}

/// A [`BlobWriter`] that gathers the pieces in memory and `put`s them at the end: for stores
/// that hold their blobs in memory anyway.
#[derive(Debug)]
pub struct BufferedBlobWriter<'a> {
    store: &'a dyn BlobStore,
    bytes: Vec<u8>,
}

impl<'a> BufferedBlobWriter<'a> {
    /// A writer that will `put` into `store`.
    pub fn new(store: &'a dyn BlobStore) -> Self {
        Self { store, bytes: Vec::new() }
    }
}

#[async_trait]
impl BlobWriter for BufferedBlobWriter<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<BlobKey> {
        self.store.put(&self.bytes).await
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A stored blob read in pieces, to stream it out without holding it whole.
#[derive(Debug, Clone)]
pub struct BlobReader {
    blobs: Arc<dyn BlobStore>,
    key: BlobKey,
    size: u64,
    offset: u64,
}

impl BlobReader {
    /// Bytes per piece.
    pub const PIECE: usize = 1024 * 1024;

    /// Reads the blob `key` of `size` bytes from `blobs`.
    pub fn new(blobs: Arc<dyn BlobStore>, key: BlobKey, size: u64) -> Self {
        Self { blobs, key, size, offset: 0 }
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next piece; `None` after the last. A blob that changed size or vanished while it
    /// was read is `NotFound` rather than a short read.
    pub async fn next_piece(&mut self) -> Result<Option<Vec<u8>>> {
        if self.offset >= self.size {
            return Ok(None);
        }
        let want = usize::try_from(self.size - self.offset).unwrap_or(usize::MAX).min(Self::PIECE);
        let piece = self.blobs.read_at(&self.key, self.offset, want).await?;
        if piece.len() != want {
            return Err(CrmError::not_found("blob", &self.key));
        }
        self.offset += want as u64;
        Ok(Some(piece))
    }

    /// All of it at once.
    pub async fn read_all(self) -> Result<Vec<u8>> {
        self.blobs.get(&self.key).await
    }
}

/// `bytes[offset..offset + len]`, clipped to the bytes there are.
pub fn slice_at(bytes: &[u8], offset: u64, len: usize) -> &[u8] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    &bytes[start..start.saturating_add(len).min(bytes.len())]
}
