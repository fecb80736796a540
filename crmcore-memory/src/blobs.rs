use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use crmcore::ports::{BlobKey, BlobStore, BlobWriter, BufferedBlobWriter, slice_at};
use crmcore::{CrmError, Result};

/// Content-addressed blobs held in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<BlobKey, Vec<u8>>>,
}

impl MemoryBlobStore {
    /// An empty blob store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
        let key = BlobKey::of(bytes);
        self.blobs.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_insert_with(|| bytes.to_vec());
        Ok(key)
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
            .ok_or_else(|| CrmError::not_found("blob", key))
    }

    async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
        Ok(Box::new(BufferedBlobWriter::new(self)))
    }

    async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map(|bytes| slice_at(bytes, offset, len).to_vec())
            .ok_or_else(|| CrmError::not_found("blob", key))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        Ok(self.blobs.lock().unwrap_or_else(|e| e.into_inner()).contains_key(key))
    }
}
