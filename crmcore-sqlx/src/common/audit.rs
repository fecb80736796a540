//! Appending to a tenant's hash-chained audit trail, shared by every repository whose writes are
//! audited (documents, approvals): one append, so the chain has one writer's rules.
//!
//! The append reads the tenant's last entry and inserts
//! [`AuditEntry::chain`](crmcore::document::AuditEntry::chain) over it, inside the caller's
//! transaction. Appends are serialized per tenant so concurrent writers never fork the chain:
//! SQLite write transactions already run one at a time (`BEGIN IMMEDIATE`); PostgreSQL takes a
//! transaction-scoped advisory lock keyed by the tenant before reading the last entry. Callers
//! take their row locks before appending, so a transaction never waits for a row while holding
//! the tenant's chain.

/// Defines `append_audit` for a backend: database `$db`, SQL dialect `$dialect`.
macro_rules! append_audit_fn {
    ($db:ty, $dialect:expr) => {
        /// Appends `draft` to its tenant's chain inside `tx`, after the chain's last entry.
        pub(crate) async fn append_audit(
            tx: &mut sqlx::Transaction<'static, $db>,
            draft: &crmcore::document::AuditDraft,
        ) -> crmcore::Result<crmcore::document::AuditEntry> {
            use crmcore::document::AuditEntry;
            use sqlx::types::Json;

            use $crate::common::error::store_err;
            use $crate::common::rows::{AUDIT_ENTRY_COLUMNS, AuditEntryRow};
            use $crate::common::segment::Dialect;
            use $crate::common::types::{DbId, DbTime, ExactJson, opt_id};

            if matches!($dialect, Dialect::Postgres) {
                // Held until commit: the tenant's next append waits, then reads this entry
                // as the last. (SQLite's write lock, taken by BEGIN IMMEDIATE, does the same.)
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
                    .bind(DbId(draft.tenant_id.0))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_err)?;
            }
            let sql = format!(
                "SELECT {AUDIT_ENTRY_COLUMNS} FROM audit_entries WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1"
            );
            let last = sqlx::query_as::<_, AuditEntryRow>(&sql)
                .bind(DbId(draft.tenant_id.0))
                .fetch_optional(&mut **tx)
                .await
                .map_err(store_err)?
                .map(AuditEntryRow::into_domain)
                .transpose()?;
            let entry = AuditEntry::chain(last.as_ref(), draft);
            let sql = format!(
                "INSERT INTO audit_entries ({AUDIT_ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            );
            sqlx::query(&sql)
                .bind(DbId(entry.tenant_id.0))
                .bind(entry.seq)
                .bind(DbTime(entry.at))
                .bind(Json(&entry.actor))
                .bind(entry.action.as_str())
                .bind(opt_id(entry.document_id.map(|d| d.0)))
                .bind(ExactJson(entry.detail.clone()))
                .bind(entry.source.as_deref())
                .bind(entry.prev_hash.as_str())
                .bind(entry.hash.as_str())
                .execute(&mut **tx)
                .await
                .map_err(store_err)?;
            Ok(entry)
        }
    };
}
pub(crate) use append_audit_fn;
