//! Webhook endpoints, deliveries and attempts on SQLite: the shared SQL of `common/webhook.rs`,
//! run in `BEGIN IMMEDIATE` transactions, with multi-row `VALUES` batches.

use super::{SqliteStore, append_events, bulk, missing_or_stale};

crate::common::webhook::webhook_repository!(SqliteStore, sqlx::Sqlite, "");
