//! Campaigns on SQLite: the shared SQL of `common/campaign.rs`, with JSON1 segment predicates.

use super::{SqliteStore, append_events, missing_or_stale};

crate::common::campaign::campaign_repository!(SqliteStore, sqlx::Sqlite, crate::common::segment::Dialect::Sqlite, "");
