//! Approval workflows of document versions, the same SQL on both databases:
//! `sqlite/approval.rs` and `postgres/approval.rs` expand [`approval_repository!`]. An approval is
//! one row; its steps and their decisions are one JSON column, read and written whole under the
//! row's optimistic version (`UPDATE … WHERE version = $n - 1`), so two approvers deciding at
//! once cannot both write: the second finds the version moved on and decides again on what the
//! first left.
//!
//! A document has at most one pending approval (a partial unique index) and it is of the
//! document's latest version. An insert reads the document's latest version first — on
//! PostgreSQL `FOR SHARE`, so a concurrent new version waits for the insert, or the insert for the
//! version; on SQLite the write lock of `BEGIN IMMEDIATE` serializes both — and a new version
//! cancels the pending approval in its own transaction ([`approval_repository!`] also defines
//! `void_pending`, which the document repository calls), or refuses when the caller's view of it
//! is stale. Rows are locked before the tenant's audit chain (`common/audit.rs`) in every
//! transaction, so none waits for a row while holding the chain.

/// Implements `ApprovalRepository` for `$store` on database `$db` with SQL dialect `$dialect`,
/// and defines `void_pending` beside it. `append_events`, `append_audit` and `missing_or_stale`
/// must be in scope where it is expanded.
macro_rules! approval_repository {
    ($store:ty, $db:ty, $dialect:expr) => {
        /// Cancels `document`'s pending approval inside `tx` as `void` says (its audit entry is the
        /// caller's to append), or checks that none is pending when `void` is `None`: `Conflict`
        /// on `approval` when the stored approval is not what `void` was made from.
        pub(super) async fn void_pending(
            tx: &mut sqlx::Transaction<'static, $db>,
            document: &crmcore::document::Document,
            void: Option<&crmcore::document::ApprovalVoid>,
        ) -> crmcore::Result<()> {
            use $crate::common::error::store_err;
            use $crate::common::types::DbId;

            let changed =
                || crmcore::CrmError::conflict(Some("approval"), "the document's pending approval changed meanwhile");
            match void {
                Some(void) if void.approval.document_id == document.id => {
                    let done = write_approval(tx, &void.approval, " AND state = 'pending'").await?;
                    if done { Ok(()) } else { Err(changed()) }
                }
                Some(_) => Err(changed()),
                None => {
                    let pending = sqlx::query(
                        "SELECT id FROM approvals WHERE tenant_id = $1 AND document_id = $2 AND state = 'pending'",
                    )
                    .bind(DbId(document.tenant_id.0))
                    .bind(DbId(document.id.0))
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_err)?;
                    if pending.is_some() { Err(changed()) } else { Ok(()) }
                }
            }
        }

        /// Replaces the approval whose stored version is `a.version - 1` (and that meets `extra`, an
        /// `AND …` clause); whether a row was replaced.
        async fn write_approval(
            tx: &mut sqlx::Transaction<'static, $db>,
            a: &crmcore::document::Approval,
            extra: &str,
        ) -> crmcore::Result<bool> {
            use sqlx::types::Json;

            use $crate::common::error::store_err;
            use $crate::common::types::{DbId, opt_time};

            let sql = format!(
                "UPDATE approvals SET state = $3, current_step = $4, steps = $5, cancel_reason = $6, \
                 cancel_comment = $7, cancelled_by = $8, decided_at = $9, version = $10 WHERE tenant_id = $1 AND \
                 id = $2 AND version = $10 - 1{extra}"
            );
            let done = sqlx::query(&sql)
                .bind(DbId(a.tenant_id.0))
                .bind(DbId(a.id.0))
                .bind(a.state.as_str())
                .bind(i64::from(a.current_step))
                .bind(Json(&a.steps))
                .bind(a.cancel_reason.map(|r| r.as_str()))
                .bind(a.cancel_comment.as_deref())
                .bind(a.cancelled_by.as_ref().map(Json))
                .bind(opt_time(a.decided_at))
                .bind(a.version)
                .execute(&mut **tx)
                .await
                .map_err(store_err)?;
            Ok(done.rows_affected() > 0)
        }

        const _: () = {
            use async_trait::async_trait;
            use crmcore::document::{Approval, AuditDraft};
            use crmcore::event::DomainEvent;
            use crmcore::id::{ApprovalId, DocumentId, TenantId};
            use crmcore::ports::ApprovalRepository;
            use crmcore::{CrmError, Result};
            use sqlx::types::Json;

            use $crate::common::approval::{APPROVAL_COLUMNS, ApprovalRow};
            use $crate::common::error::{map_err, store_err};
            use $crate::common::segment::Dialect;
            use $crate::common::types::{DbId, DbTime, opt_time};

            #[async_trait]
            impl ApprovalRepository for $store {
                async fn insert(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    // The document's latest version, held until commit on PostgreSQL (a new
                    // version's UPDATE waits for this insert, or this read for the new version).
                    let lock = match $dialect {
                        Dialect::Postgres => " FOR SHARE",
                        Dialect::Sqlite => "",
                    };
                    let sql = format!("SELECT latest_version FROM documents WHERE tenant_id = $1 AND id = $2{lock}");
                    let latest: Option<(i64,)> = sqlx::query_as(&sql)
                        .bind(DbId(approval.tenant_id.0))
                        .bind(DbId(approval.document_id.0))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    let Some((latest,)) = latest else {
                        return Err(CrmError::not_found("document", approval.document_id));
                    };
                    if latest != i64::from(approval.document_version) {
                        return Err(CrmError::conflict(
                            Some("document_version"),
                            format!("version {latest} is the latest now"),
                        ));
                    }
                    let pending = sqlx::query(
                        "SELECT id FROM approvals WHERE tenant_id = $1 AND document_id = $2 AND state = 'pending'",
                    )
                    .bind(DbId(approval.tenant_id.0))
                    .bind(DbId(approval.document_id.0))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if pending.is_some() {
                        return Err(CrmError::conflict(Some("approval"), "the document already has a pending approval"));
                    }
                    // A concurrent insert that passed the same check fails on the partial unique
                    // index (`Conflict` on `approval`).
                    let sql = format!(
                        "INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                         $11, $12, $13, $14)"
                    );
                    sqlx::query(&sql)
                        .bind(DbId(approval.id.0))
                        .bind(DbId(approval.tenant_id.0))
                        .bind(DbId(approval.document_id.0))
                        .bind(i64::from(approval.document_version))
                        .bind(approval.state.as_str())
                        .bind(i64::from(approval.current_step))
                        .bind(Json(&approval.steps))
                        .bind(DbId(approval.requested_by.0))
                        .bind(approval.cancel_reason.map(|r| r.as_str()))
                        .bind(approval.cancel_comment.as_deref())
                        .bind(approval.cancelled_by.as_ref().map(Json))
                        .bind(DbTime(approval.created_at))
                        .bind(opt_time(approval.decided_at))
                        .bind(approval.version)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("document", approval.document_id)))?;
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    if !write_approval(&mut tx, approval, "").await? {
                        return Err(missing_or_stale(&mut tx, "approvals", "approval", approval.tenant_id, approval.id.0)
                            .await);
                    }
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get(&self, tenant: TenantId, id: ApprovalId) -> Result<Approval> {
                    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, ApprovalRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ApprovalRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("approval", id))
                }

                async fn list_for_document(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<Approval>> {
                    let sql = format!(
                        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant_id = $1 AND document_id = $2 \
                         ORDER BY id DESC"
                    );
                    let rows: Vec<ApprovalRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(document.0))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(ApprovalRow::into_domain).collect()
                }
            }
        };
    };
}
pub(crate) use approval_repository;

use crmcore::Result;
use crmcore::actor::Principal;
use crmcore::document::{Approval, ApprovalState, ApprovalStep, CancelReason};
use sqlx::types::Json;

use super::error::corrupt;
use super::types::{DbId, DbTime};

/// Columns selected for an approval, in [`ApprovalRow`] order.
pub(crate) const APPROVAL_COLUMNS: &str = "id, tenant_id, document_id, document_version, state, current_step, steps, \
                                           requested_by, cancel_reason, cancel_comment, cancelled_by, created_at, \
                                           decided_at, version";

/// `approvals`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApprovalRow {
    pub(crate) id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) document_id: DbId,
    pub(crate) document_version: i64,
    pub(crate) state: String,
    pub(crate) current_step: i64,
    pub(crate) steps: Json<Vec<ApprovalStep>>,
    pub(crate) requested_by: DbId,
    pub(crate) cancel_reason: Option<String>,
    pub(crate) cancel_comment: Option<String>,
    pub(crate) cancelled_by: Option<Json<Principal>>,
    pub(crate) created_at: DbTime,
    pub(crate) decided_at: Option<DbTime>,
    pub(crate) version: i64,
}

impl ApprovalRow {
    pub(crate) fn into_domain(self) -> Result<Approval> {
        Ok(Approval {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            document_id: self.document_id.0.into(),
            document_version: u32::try_from(self.document_version).map_err(|e| corrupt("approval version", e))?,
            steps: self.steps.0,
            current_step: u32::try_from(self.current_step).map_err(|e| corrupt("approval step", e))?,
            state: ApprovalState::parse(&self.state).map_err(|e| corrupt("approval state", e))?,
            requested_by: self.requested_by.0.into(),
            cancel_reason: self
                .cancel_reason
                .as_deref()
                .map(CancelReason::parse)
                .transpose()
                .map_err(|e| corrupt("approval cancel reason", e))?,
            cancel_comment: self.cancel_comment,
            cancelled_by: self.cancelled_by.map(|p| p.0),
            created_at: self.created_at.0,
            decided_at: self.decided_at.map(|t| t.0),
            version: self.version,
        })
    }
}
