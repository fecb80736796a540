use std::fmt::{self, Debug};

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
/// `put` is idempotent: the same bytes always yield the same key and are stored once.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores bytes, returning their key.
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey>;
    /// The bytes under `key`; MUST return `NotFound` when absent.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>>;
    /// Removes a blob; removing an absent blob is `Ok`.
    async fn delete(&self, key: &BlobKey) -> Result<()>;
    /// Whether a blob exists.
    async fn exists(&self, key: &BlobKey) -> Result<bool>;
}
