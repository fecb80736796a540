//! The embedded blob store: content-addressed blobs in the database's `blobs` table, so a store
//! alone is enough for documents (an external store can replace it through
//! `Crm::builder().blobs(…)`). The SQL is the same on both databases: `sqlite/blob.rs` and
//! `postgres/blob.rs` expand [`blob_store!`].
//!
//! A blob's key is the SHA-256 of its bytes, so `put` of bytes already stored changes nothing
//! (`ON CONFLICT DO NOTHING`), and concurrent puts of the same bytes agree.

/// Implements `BlobStore` for `$store` on database `$db`.
macro_rules! blob_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use crmcore::ports::{BlobKey, BlobStore};
            use crmcore::{CrmError, Result};

            use $crate::common::error::store_err;
            use $crate::common::types::DbTime;

            #[async_trait]
            impl BlobStore for $store {
                async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
                    let key = BlobKey::of(bytes);
                    let size = i64::try_from(bytes.len())
                        .map_err(|_| CrmError::invalid("bytes", "too_large", "the blob is too large to store"))?;
                    sqlx::query(
                        "INSERT INTO blobs (key, bytes, size, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(key.as_str())
                    .bind(bytes)
                    .bind(size)
                    .bind(DbTime(chrono::Utc::now()))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(key)
                }

                async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
                    sqlx::query_as::<_, (Vec<u8>,)>("SELECT bytes FROM blobs WHERE key = $1")
                        .bind(key.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(|(bytes,)| bytes)
                        .ok_or_else(|| CrmError::not_found("blob", key))
                }

                async fn delete(&self, key: &BlobKey) -> Result<()> {
                    sqlx::query("DELETE FROM blobs WHERE key = $1")
                        .bind(key.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_err)?;
                    Ok(())
                }

                async fn exists(&self, key: &BlobKey) -> Result<bool> {
                    let found = sqlx::query("SELECT key FROM blobs WHERE key = $1")
                        .bind(key.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?;
                    Ok(found.is_some())
                }
            }
        };
    };
}

pub(crate) use blob_store;
