//! The embedded blob store on PostgreSQL: the shared SQL of `common/blob.rs`.

use super::PgStore;

crate::common::blob::blob_store!(PgStore, sqlx::Postgres);
