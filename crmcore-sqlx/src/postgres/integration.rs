//! OAuth providers, connections and sync logs on PostgreSQL: the shared SQL of
//! `common/integration.rs`.

use super::{PgStore, append_events, missing_or_stale};

crate::common::integration::integration_repository!(PgStore, sqlx::Postgres);
