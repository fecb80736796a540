//! Approval workflows on PostgreSQL: the shared SQL of `common/approval.rs`, with the document row
//! read `FOR SHARE` when an approval is requested (so a concurrent new version and the request
//! are ordered).

use super::{PgStore, append_audit, append_events, missing_or_stale};

crate::common::approval::approval_repository!(PgStore, sqlx::Postgres, crate::common::segment::Dialect::Postgres);
