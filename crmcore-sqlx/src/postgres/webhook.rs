//! Webhook endpoints, deliveries and attempts on PostgreSQL: the shared SQL of
//! `common/webhook.rs`, with `SKIP LOCKED` claims and `UNNEST` batches.

use super::{PgStore, append_events, bulk, missing_or_stale};

crate::common::webhook::webhook_repository!(PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED");
