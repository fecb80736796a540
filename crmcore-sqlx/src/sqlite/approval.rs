//! Approval workflows on SQLite: the shared SQL of `common/approval.rs`, in `BEGIN IMMEDIATE`
//! transactions (which serialize an approval's writes with the new versions that void it).

use super::{SqliteStore, append_audit, append_events, missing_or_stale};

crate::common::approval::approval_repository!(SqliteStore, sqlx::Sqlite, crate::common::segment::Dialect::Sqlite);
