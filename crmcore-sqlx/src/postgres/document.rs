//! Documents, versions, share links and audit chains on PostgreSQL: the shared SQL of
//! `common/document.rs`, with `jsonb` containment filters and a per-tenant advisory lock
//! serializing audit appends.

use super::{PgStore, append_audit, append_events, missing_or_stale};

crate::common::document::document_repository!(PgStore, sqlx::Postgres, crate::common::segment::Dialect::Postgres);
