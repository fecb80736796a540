//! The embedded blob store: content-addressed blobs in the database, so a store alone is enough
//! for documents (an external store can replace it through `Crm::builder().blobs(…)`). The SQL
//! is the same on both databases: `sqlite/blob.rs` and `postgres/blob.rs` expand [`blob_store!`].
//!
//! A blob's key is the SHA-256 of its bytes, so storing bytes already stored changes nothing
//! (`ON CONFLICT DO NOTHING`), and concurrent writes of the same bytes agree. A blob up to
//! [`CHUNK`] bytes lives in its `blobs` row; a larger one in `blob_chunks`, [`CHUNK`] bytes a
//! row, so neither a streamed write nor a ranged read holds more than a chunk or two in memory.
//! A streamed write spools its chunks under a staging key and renames them to the blob's key in
//! the transaction that inserts the `blobs` row: a blob is whole or absent.

/// Bytes per `blob_chunks` row (part of the stored format: ranged reads find chunks by it).
pub(crate) const CHUNK: usize = 1024 * 1024;

/// How old an unfinished streamed write must be before a later one sweeps its chunks.
pub(crate) const ABANDONED_AFTER_HOURS: i64 = 24;

/// Implements `BlobStore` for `$store` on database `$db`.
macro_rules! blob_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use crmcore::ports::{BlobHasher, BlobKey, BlobStore, BlobWriter, slice_at};
            use crmcore::{CrmError, Result};

            use $crate::common::blob::{ABANDONED_AFTER_HOURS, CHUNK};
            use $crate::common::error::store_err;
            use $crate::common::types::DbTime;

            fn size_of(len: u64) -> Result<i64> {
                i64::try_from(len)
                    .map_err(|_| CrmError::invalid("bytes", "too_large", "the blob is too large to store"))
            }

            fn chunk_count(size: u64) -> Result<i32> {
                i32::try_from(size.div_ceil(CHUNK as u64))
                    .map_err(|_| CrmError::invalid("bytes", "too_large", "the blob is too large to store"))
            }

            /// Inserts the `blobs` row of `key`; whether it was new.
            async fn insert_row(
                tx: &mut sqlx::Transaction<'_, $db>,
                key: &BlobKey,
                inline: &[u8],
                size: u64,
                chunks: i32,
            ) -> Result<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO blobs (key, bytes, size, chunks, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key.as_str())
                .bind(inline)
                .bind(size_of(size)?)
                .bind(chunks)
                .bind(DbTime(chrono::Utc::now()))
                .execute(&mut **tx)
                .await
                .map_err(store_err)?;
                Ok(inserted.rows_affected() == 1)
            }

            async fn insert_chunk(
                executor: impl sqlx::Executor<'_, Database = $db>,
                key: &str,
                seq: i32,
                bytes: &[u8],
            ) -> Result<()> {
                sqlx::query("INSERT INTO blob_chunks (key, seq, bytes) VALUES ($1, $2, $3)")
                    .bind(key)
                    .bind(seq)
                    .bind(bytes)
                    .execute(executor)
                    .await
                    .map_err(store_err)?;
                Ok(())
            }

            /// `(size, chunks)` of a stored blob.
            async fn meta(pool: &sqlx::Pool<$db>, key: &BlobKey) -> Result<(u64, i32)> {
                let (size, chunks) = sqlx::query_as::<_, (i64, i32)>("SELECT size, chunks FROM blobs WHERE key = $1")
                    .bind(key.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| CrmError::not_found("blob", key))?;
                Ok((u64::try_from(size).unwrap_or_default(), chunks))
            }

            async fn inline_bytes(pool: &sqlx::Pool<$db>, key: &BlobKey) -> Result<Vec<u8>> {
                sqlx::query_as::<_, (Vec<u8>,)>("SELECT bytes FROM blobs WHERE key = $1")
                    .bind(key.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(store_err)?
                    .map(|(bytes,)| bytes)
                    .ok_or_else(|| CrmError::not_found("blob", key))
            }

            /// Appends the bytes `start..end` of the chunked blob `key` to `out`, reading one
            /// chunk row at a time: a read holds what it returns and a single row, never the
            /// rows of the whole range.
            async fn read_chunks(
                pool: &sqlx::Pool<$db>,
                key: &BlobKey,
                start: u64,
                end: u64,
                out: &mut Vec<u8>,
            ) -> Result<()> {
                use sqlx::Row as _;

                let chunk = CHUNK as u64;
                let mut at = start;
                while at < end {
                    let seq = at / chunk;
                    let row = sqlx::query("SELECT bytes FROM blob_chunks WHERE key = $1 AND seq = $2")
                        .bind(key.as_str())
                        .bind(i32::try_from(seq).map_err(|_| CrmError::not_found("blob", key))?)
                        .fetch_optional(pool)
                        .await
                        .map_err(store_err)?
                        // Deleted since its size was read.
                        .ok_or_else(|| CrmError::not_found("blob", key))?;
                    let bytes: &[u8] = row.try_get(0).map_err(store_err)?;
                    let base = seq * chunk;
                    let piece =
                        slice_at(bytes, at - base, usize::try_from(end.min(base + chunk) - at).unwrap_or(CHUNK));
                    if piece.is_empty() {
                        return Err(CrmError::not_found("blob", key));
                    }
                    out.extend_from_slice(piece);
                    at += piece.len() as u64;
                }
                Ok(())
            }

            #[async_trait]
            impl BlobStore for $store {
                async fn put(&self, bytes: &[u8]) -> Result<BlobKey> {
                    let key = BlobKey::of(bytes);
                    let chunked = bytes.len() > CHUNK;
                    let mut tx = self.pool.begin().await.map_err(store_err)?;
                    let inline: &[u8] = if chunked { &[] } else { bytes };
                    let chunk_total = if chunked { chunk_count(bytes.len() as u64)? } else { 0 };
                    if insert_row(&mut tx, &key, inline, bytes.len() as u64, chunk_total).await? && chunked {
                        for (seq, chunk) in (0..).zip(bytes.chunks(CHUNK)) {
                            insert_chunk(&mut *tx, key.as_str(), seq, chunk).await?;
                        }
                    }
                    tx.commit().await.map_err(store_err)?;
                    Ok(key)
                }

                async fn writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
                    Ok(Box::new(SpoolingWriter {
                        pool: self.pool.clone(),
                        upload: None,
                        hasher: BlobHasher::default(),
                        pending: Vec::new(),
                        spooled: 0,
                    }))
                }

                async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
                    let (size, chunk_total) = meta(&self.pool, key).await?;
                    if chunk_total == 0 {
                        return inline_bytes(&self.pool, key).await;
                    }
                    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
                    read_chunks(&self.pool, key, 0, size, &mut bytes).await?;
                    Ok(bytes)
                }

                async fn read_at(&self, key: &BlobKey, offset: u64, len: usize) -> Result<Vec<u8>> {
                    let (size, chunk_total) = meta(&self.pool, key).await?;
                    let end = offset.saturating_add(len as u64).min(size);
                    let start = offset.min(end);
                    if chunk_total == 0 {
                        let mut bytes = inline_bytes(&self.pool, key).await?;
                        let end = usize::try_from(end).unwrap_or(usize::MAX).min(bytes.len());
                        bytes.truncate(end);
                        bytes.drain(..usize::try_from(start).unwrap_or(end).min(end));
                        return Ok(bytes);
                    }
                    let mut bytes = Vec::with_capacity(usize::try_from(end - start).unwrap_or_default());
                    read_chunks(&self.pool, key, start, end, &mut bytes).await?;
                    Ok(bytes)
                }

                async fn delete(&self, key: &BlobKey) -> Result<()> {
                    let mut tx = self.pool.begin().await.map_err(store_err)?;
                    for sql in ["DELETE FROM blobs WHERE key = $1", "DELETE FROM blob_chunks WHERE key = $1"] {
                        sqlx::query(sql).bind(key.as_str()).execute(&mut *tx).await.map_err(store_err)?;
                    }
                    tx.commit().await.map_err(store_err)
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

            /// A streamed write: up to a chunk in memory, full chunks spooled under the staging
            /// key `upload-<id>` (registered in `blob_uploads` when the first one is written).
            struct SpoolingWriter {
                pool: sqlx::Pool<$db>,
                /// The `blob_uploads` id, once a chunk was spooled.
                upload: Option<String>,
                hasher: BlobHasher,
                pending: Vec<u8>,
                /// Chunks spooled.
                spooled: i32,
            }

            impl SpoolingWriter {
                fn staging_key(id: &str) -> String {
                    format!("upload-{id}")
                }

                /// Registers the upload (and sweeps abandoned ones) before its first chunk.
                async fn register(&mut self) -> Result<String> {
                    if let Some(id) = &self.upload {
                        return Ok(id.clone());
                    }
                    let now = chrono::Utc::now();
                    let stale = DbTime(now - chrono::Duration::hours(ABANDONED_AFTER_HOURS));
                    let mut tx = self.pool.begin().await.map_err(store_err)?;
                    sqlx::query(
                        "DELETE FROM blob_chunks WHERE key IN \
                         (SELECT 'upload-' || id FROM blob_uploads WHERE started_at < $1)",
                    )
                    .bind(stale.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    sqlx::query("DELETE FROM blob_uploads WHERE started_at < $1")
                        .bind(stale)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    let id = uuid::Uuid::now_v7().simple().to_string();
                    sqlx::query("INSERT INTO blob_uploads (id, started_at) VALUES ($1, $2)")
                        .bind(&id)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    tx.commit().await.map_err(store_err)?;
                    self.upload = Some(id.clone());
                    Ok(id)
                }

                async fn spool(&mut self, chunk: &[u8]) -> Result<()> {
                    let id = self.register().await?;
                    insert_chunk(&self.pool, &Self::staging_key(&id), self.spooled, chunk).await?;
                    self.spooled += 1;
                    Ok(())
                }

                /// Removes the staged chunks and the upload's row.
                async fn discard(pool: &sqlx::Pool<$db>, id: &str) -> Result<()> {
                    let mut tx = pool.begin().await.map_err(store_err)?;
                    sqlx::query("DELETE FROM blob_chunks WHERE key = $1")
                        .bind(Self::staging_key(id))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    sqlx::query("DELETE FROM blob_uploads WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    tx.commit().await.map_err(store_err)
                }
            }

            #[async_trait]
            impl BlobWriter for SpoolingWriter {
                async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
                    self.hasher.update(bytes);
                    while !bytes.is_empty() {
                        let take = (CHUNK - self.pending.len()).min(bytes.len());
                        self.pending.extend_from_slice(&bytes[..take]);
                        bytes = &bytes[take..];
                        if self.pending.len() == CHUNK {
                            let chunk = std::mem::take(&mut self.pending);
                            self.spool(&chunk).await?;
                            self.pending = chunk;
                            self.pending.clear();
                        }
                    }
                    Ok(())
                }

                async fn finish(mut self: Box<Self>) -> Result<BlobKey> {
                    let size = self.hasher.size();
                    let key = self.hasher.clone().key();
                    let Some(id) = self.upload.take() else {
                        // Never spooled: one chunk at most, stored inline.
                        let mut tx = self.pool.begin().await.map_err(store_err)?;
                        insert_row(&mut tx, &key, &self.pending, size, 0).await?;
                        tx.commit().await.map_err(store_err)?;
                        return Ok(key);
                    };
                    let staging = Self::staging_key(&id);
                    let mut tx = self.pool.begin().await.map_err(store_err)?;
                    if !self.pending.is_empty() {
                        insert_chunk(&mut *tx, &staging, self.spooled, &self.pending).await?;
                    }
                    let fresh = insert_row(&mut tx, &key, &[], size, chunk_count(size)?).await?;
                    // A new blob takes the staged chunks; bytes already stored make them spare.
                    let claim = if fresh {
                        sqlx::query("UPDATE blob_chunks SET key = $2 WHERE key = $1").bind(&staging).bind(key.as_str())
                    } else {
                        sqlx::query("DELETE FROM blob_chunks WHERE key = $1").bind(&staging)
                    };
                    claim.execute(&mut *tx).await.map_err(store_err)?;
                    sqlx::query("DELETE FROM blob_uploads WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(key)
                }

                async fn abort(mut self: Box<Self>) -> Result<()> {
                    match self.upload.take() {
                        Some(id) => Self::discard(&self.pool, &id).await,
                        None => Ok(()),
                    }
                }
            }

            impl Drop for SpoolingWriter {
                /// A writer dropped mid-way (a client that went away) has its chunks removed in
                /// the background; were the runtime gone, the next upload's sweep removes them.
                fn drop(&mut self) {
                    if let (Some(id), Ok(runtime)) = (self.upload.take(), tokio::runtime::Handle::try_current()) {
                        let pool = self.pool.clone();
                        runtime.spawn(async move {
                            if let Err(error) = Self::discard(&pool, &id).await {
                                tracing::warn!(%error, "an abandoned blob upload could not be removed");
                            }
                        });
                    }
                }
            }
        };
    };
}

pub(crate) use blob_store;
