//! `sqlx::Error` → `CrmError`, in one place for both backends.
//!
//! Unique violations become `Conflict` on the field the constraint protects; foreign-key
//! violations become whatever the caller says a missing reference means (usually `NotFound`);
//! connection trouble and lock timeouts become `Unavailable { port: Store }`; anything else is
//! `Internal` (and logged), including rows that fail to decode.

use crmcore::CrmError;
use sqlx::error::{DatabaseError, ErrorKind};

/// Unique constraints and the field each protects: PostgreSQL reports the constraint name,
/// SQLite the `table.column` list, so each row names both.
const UNIQUE_FIELDS: &[(&str, &str, &str)] = &[
    ("tenants_slug_unique", "tenants.slug", "slug"),
    ("document_templates_name_unique", "document_templates.tenant_id, document_templates.name", "name"),
    ("tenants_pkey", "tenants.id", "id"),
    ("members_handle_unique", "members.tenant_id, members.handle", "handle"),
    ("members_email_unique", "members.tenant_id, members.email", "email"),
    ("members_pkey", "members.tenant_id, members.id", "id"),
    ("contacts_email_unique", "contacts.tenant_id, contacts.email", "email"),
    ("contacts_pkey", "contacts.tenant_id, contacts.id", "id"),
    ("deals_pkey", "deals.tenant_id, deals.id", "id"),
    ("api_keys_secret_unique", "api_keys.secret_hash", "secret"),
    ("api_keys_pkey", "api_keys.id", "id"),
    ("refresh_tokens_hash_unique", "refresh_tokens.token_hash", "token"),
    ("refresh_tokens_pkey", "refresh_tokens.id", "id"),
    ("outbox_event_unique", "outbox.event_id", "event_id"),
    ("jobs_pkey", "jobs.id", "id"),
    ("webhook_endpoints_pkey", "webhook_endpoints.id", "id"),
    // SQLite checks the (tenant_id, id) key a child table references before the primary key.
    ("webhook_endpoints_tenant_unique", "webhook_endpoints.tenant_id, webhook_endpoints.id", "id"),
    ("oauth_providers_pkey", "oauth_providers.id", "id"),
    ("oauth_providers_tenant_unique", "oauth_providers.tenant_id, oauth_providers.id", "id"),
    ("integration_connections_pkey", "integration_connections.id", "id"),
    ("integration_connections_tenant_unique", "integration_connections.tenant_id, integration_connections.id", "id"),
    ("integration_sync_logs_pkey", "integration_sync_logs.id", "id"),
    ("documents_pkey", "documents.id", "id"),
    ("documents_tenant_unique", "documents.tenant_id, documents.id", "id"),
    ("document_versions_pkey", "document_versions.document_id, document_versions.number", "number"),
    ("audit_entries_pkey", "audit_entries.tenant_id, audit_entries.seq", "seq"),
    ("share_links_pkey", "share_links.id", "id"),
    ("share_links_token_unique", "share_links.token_hash", "token"),
    ("approvals_pkey", "approvals.id", "id"),
    // One pending approval per document (a partial unique index).
    ("approvals_pending_unique", "approvals.tenant_id, approvals.document_id", "approval"),
];

/// Which field a unique violation is about, if it is one of ours.
fn unique_field(db: &dyn DatabaseError) -> Option<&'static str> {
    if let Some(name) = db.constraint() {
        return UNIQUE_FIELDS.iter().find(|(pg, _, _)| *pg == name).map(|(_, _, field)| *field);
    }
    // SQLite: "UNIQUE constraint failed: members.tenant_id, members.handle"
    let columns = db.message().strip_prefix("UNIQUE constraint failed: ")?;
    UNIQUE_FIELDS.iter().find(|(_, sqlite, _)| *sqlite == columns).map(|(_, _, field)| *field)
}

/// Whether a database error is worth retrying: lock contention, serialization failures,
/// connection-level trouble reported by the server.
fn is_transient(db: &dyn DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if let Some(e) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        // Primary codes 5 (BUSY) and 6 (LOCKED); extended codes keep them in the low byte.
        let code = e.code().and_then(|c| c.parse::<u32>().ok()).unwrap_or_default();
        return matches!(code & 0xff, 5 | 6);
    }
    #[cfg(feature = "postgres")]
    if let Some(e) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // Serialization failure, deadlock, too many connections, shutdown, connection exceptions.
        let code = e.code();
        return matches!(code, "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03") || code.starts_with("08");
    }
    false
}

/// Maps an error, turning a foreign-key violation into `on_foreign_key()`.
pub(crate) fn map_err(err: sqlx::Error, on_foreign_key: impl FnOnce() -> CrmError) -> CrmError {
    match &err {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                let field = unique_field(db.as_ref());
                CrmError::conflict(field, format!("{} already exists", field.unwrap_or("record")))
            }
            ErrorKind::ForeignKeyViolation => on_foreign_key(),
            _ if is_transient(db.as_ref()) => CrmError::store_unavailable(db.message().to_owned()),
            _ => internal(err),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => CrmError::store_unavailable(err.to_string()),
        _ => internal(err),
    }
}

/// Maps an error where no foreign-key violation is expected.
pub(crate) fn store_err(err: sqlx::Error) -> CrmError {
    map_err(err, || CrmError::Internal("unexpected foreign key violation".into()))
}

/// An `Internal` error, logged with its details.
pub(crate) fn internal(err: impl std::fmt::Display) -> CrmError {
    tracing::error!(error = %err, "store error");
    CrmError::Internal(format!("store: {err}"))
}

/// A stored value that does not decode into its domain type.
pub(crate) fn corrupt(what: &str, err: impl std::fmt::Display) -> CrmError {
    tracing::error!(what, error = %err, "corrupt row");
    CrmError::Internal(format!("corrupt {what} in store: {err}"))
}

/// Defines `missing_or_stale` for a backend: why a versioned `UPDATE … AND version = $n - 1`
/// matched no row — `Conflict` on `version` when the row exists (another writer moved it on),
/// `NotFound` when the tenant has no such row. Every repository with versioned rows calls it.
macro_rules! missing_or_stale_fn {
    ($db:ty) => {
        /// Why a versioned `UPDATE` of `table` matched no row: `Conflict` when the row exists
        /// (its version moved on), `NotFound` when the tenant has no such row.
        pub(crate) async fn missing_or_stale(
            tx: &mut sqlx::Transaction<'static, $db>,
            table: &str,
            entity: &'static str,
            tenant: crmcore::id::TenantId,
            id: uuid::Uuid,
        ) -> crmcore::CrmError {
            let sql = format!("SELECT version FROM {table} WHERE tenant_id = $1 AND id = $2");
            let found: std::result::Result<Option<(i64,)>, _> = sqlx::query_as(&sql)
                .bind(crate::common::types::DbId(tenant.0))
                .bind(crate::common::types::DbId(id))
                .fetch_optional(&mut **tx)
                .await;
            match found {
                Ok(Some(_)) => {
                    crmcore::CrmError::conflict(Some("version"), format!("{entity} {id} was changed concurrently"))
                }
                Ok(None) => crmcore::CrmError::not_found(entity, id),
                Err(e) => crate::common::error::store_err(e),
            }
        }
    };
}
pub(crate) use missing_or_stale_fn;
