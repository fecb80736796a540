//! Documents, versions, share links and audit chains on SQLite: the shared SQL of
//! `common/document.rs`, with JSON1 tag and link filters, run in `BEGIN IMMEDIATE` transactions
//! (which serialize each tenant's audit appends and each share link's download count).

use super::{SqliteStore, append_audit, append_events, missing_or_stale};

crate::common::document::document_repository!(SqliteStore, sqlx::Sqlite, crate::common::segment::Dialect::Sqlite);
