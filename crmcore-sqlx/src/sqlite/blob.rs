//! The embedded blob store on SQLite: the shared SQL of `common/blob.rs`.

use super::SqliteStore;

crate::common::blob::blob_store!(SqliteStore, sqlx::Sqlite);
