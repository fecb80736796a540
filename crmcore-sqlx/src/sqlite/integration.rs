//! OAuth providers, connections and sync logs on SQLite: the shared SQL of
//! `common/integration.rs`, run in `BEGIN IMMEDIATE` transactions.

use super::{SqliteStore, append_events, missing_or_stale};

crate::common::integration::integration_repository!(SqliteStore, sqlx::Sqlite);
