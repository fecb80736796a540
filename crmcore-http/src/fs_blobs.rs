//! [`FsBlobStore`]: content-addressed blobs as files under a directory, fanned out by the key's
//! first two hex digits (`ab/abcdef…`). Writes go to a temporary file that is renamed into place,
//! so a blob is either whole or absent; paths come from the hash alone, never from clients. A
//! streamed write goes to a temporary file under `tmp/`, hashed as it comes, and is renamed to
//! its key's path when it ends; temporary files a crash left behind are swept after a day.

use std::path::{Path, PathBuf};

use std::io::SeekFrom;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use crmcore::ports::{BlobHasher, BlobKey, BlobStore, BlobWriter};
use crmcore::{CrmError, Result};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// How old a temporary file must be before it counts as abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

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

    fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removes temporary files older than [`ABANDONED_AFTER`].
    async fn sweep_abandoned(&self) {
        let Ok(mut entries) = tokio::fs::read_dir(self.temp_dir()).await else { return };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let modified = entry.metadata().await.and_then(|m| m.modified());
            let age = modified.ok().and_then(|at| SystemTime::now().duration_since(at).ok());
            if age.is_some_and(|age| age > ABANDONED_AFTER) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
}

/// A streamed write into a temporary file.
struct TempFileWriter {
    file: tokio::fs::File,
    temp: PathBuf,
    hasher: BlobHasher,
    store: FsBlobStore,
    done: bool,
}

#[async_trait]
impl BlobWriter for TempFileWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.file.write_all(bytes).await.map_err(|e| io_error("cannot write a blob", e))
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobKey> {
        self.done = true;
        let key = self.hasher.clone().key();
        let path = self.store.path(&key);
        let moved = async {
            self.file.flush().await.map_err(|e| io_error("cannot write a blob", e))?;
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return Ok(());
            }
            self.file.sync_all().await.map_err(|e| io_error("cannot sync a blob", e))?;
            let dir = path.parent().ok_or_else(|| CrmError::Internal("blob path has no parent".into()))?;
            tokio::fs::create_dir_all(dir).await.map_err(|e| io_error("cannot create a blob directory", e))?;
            tokio::fs::rename(&self.temp, &path).await.map_err(|e| io_error("cannot move a blob into place", e))
        };
        let result = moved.await;
        let _ = tokio::fs::remove_file(&self.temp).await;
        result.map(|()| key)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.done = true;
        match tokio::fs::remove_file(&self.temp).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("cannot delete a blob", e)),
            _ => Ok(()),
        }
    }
}

impl Drop for TempFileWriter {
    /// A writer dropped mid-way leaves no temporary file.
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
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

    async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
        self.sweep_abandoned().await;
        let dir = self.temp_dir();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| io_error("cannot create a blob directory", e))?;
        let temp = dir.join(format!("{}.tmp", uuid::Uuid::now_v7().simple()));
        let file = tokio::fs::File::create(&temp).await.map_err(|e| io_error("cannot write a blob", e))?;
        Ok(Box::new(TempFileWriter { file, temp, hasher: BlobHasher::default(), store: self.clone(), done: false }))
    }

    async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CrmError::not_found("blob", key)),
            Err(e) => return Err(io_error("cannot read a blob", e)),
        };
        let size = file.metadata().await.map_err(|e| io_error("cannot read a blob", e))?.len();
        if offset >= size {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(offset)).await.map_err(|e| io_error("cannot read a blob", e))?;
        let want = usize::try_from(size - offset).unwrap_or(usize::MAX).min(len);
        let mut bytes = vec![0; want];
        file.read_exact(&mut bytes).await.map_err(|e| io_error("cannot read a blob", e))?;
        Ok(bytes)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn files_pass_the_blob_contract_and_leave_no_temporary_files() {
        let root = std::env::temp_dir().join(format!("crm-fs-blobs-{}", uuid::Uuid::now_v7().simple()));
        let blobs = FsBlobStore::open(&root).unwrap();
        crmcore::testing::blob_store_contract(Arc::new(blobs.clone())).await;
        let leftovers = std::fs::read_dir(root.join("tmp")).unwrap().count();
        assert_eq!(leftovers, 0, "finished, aborted and dropped writers leave no temporary file");
        let key = blobs.put(b"hello, blobs").await.unwrap();
        assert_eq!(blobs.path(&key), root.join(&key.as_str()[..2]).join(key.as_str()));
        std::fs::remove_dir_all(root).unwrap();
    }
}
