//! Activities, feeds, comments, follows and notifications on PostgreSQL: the shared SQL of
//! `common/activity.rs`.

use super::{PgStore, append_events, bulk};

crate::common::activity::activity_repositories!(PgStore, sqlx::Postgres);
