//! [`FsBlobStore`]: content-addressed blobs as files under a directory, fanned out by the key's
//! first two hex digits (`ab/abcdef…`). Writes go to a temporary file that is renamed into place,
//! so a blob is either whole or absent; paths come from the hash alone, never from clients.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use crmcore::ports::{BlobKey, BlobStore};
use crmcore::{CrmError, Result};

/// Blobs in a directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn io_error(what: &str, error: std::io::Error) -> CrmError {
    CrmError::Unavailable { port: crmcore::error::Port::Blobs, message: format!("{what}: {}", error.kind()) }
}

impl FsBlobStore {
    /// A store rooted at `root` (created when missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error("cannot create the blob directory", e))?;
        Ok(Self { root })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(&key.as_str()[..2]).join(key.as_str())
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| CrmError::Internal("blob path has no parent".into()))?;
    tokio::fs::create_dir_all(dir).await.map_err(|e| io_error("cannot create a blob directory", e))?;
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::now_v7().simple()));
    tokio::fs::write(&temp, bytes).await.map_err(|e| io_error("cannot write a blob", e))?;
    let file = tokio::fs::File::open(&temp).await.map_err(|e| io_error("cannot reopen a blob", e))?;
    file.sync_all().await.map_err(|e| io_error("cannot sync a blob", e))?;
    tokio::fs::rename(&temp, path).await.map_err(|e| io_error("cannot move a blob into place", e))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
        let key = BlobKey::of(bytes);
        let path = self.path(&key);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(key);
        }
        write_atomically(&path, bytes).await?;
        Ok(key)
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CrmError::not_found("blob", key)),
            Err(e) => Err(io_error("cannot read a blob", e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("cannot delete a blob", e)),
            _ => Ok(()),
        }
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        Ok(tokio::fs::try_exists(self.path(key)).await.unwrap_or(false))
    }
}
