//! Activities, feeds, comments, follows and notifications on SQLite: the shared SQL of
//! `common/activity.rs`, run in `BEGIN IMMEDIATE` transactions.

use super::{SqliteStore, append_events, bulk};

crate::common::activity::activity_repositories!(SqliteStore, sqlx::Sqlite);
