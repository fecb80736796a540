//! Campaigns on PostgreSQL: the shared SQL of `common/campaign.rs`, with `jsonb` segment
//! predicates and `SKIP LOCKED` claims.

use super::{PgStore, append_events, missing_or_stale};

crate::common::campaign::campaign_repository!(
    PgStore,
    sqlx::Postgres,
    crate::common::segment::Dialect::Postgres,
    " FOR UPDATE SKIP LOCKED"
);
