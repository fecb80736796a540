use async_trait::async_trait;

use crate::document::{Approval, AuditDraft};
use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{ApprovalId, DocumentId, TenantId};

/// Approval workflows of document versions.
///
/// # Contract
/// Every write is one transaction with its events and its audit entry, appended to the tenant's
/// audit chain exactly as [`DocumentRepository`](crate::ports::DocumentRepository) appends its
/// own. A document has at most one pending approval, and it is always of the document's latest
/// version: [`insert`](Self::insert) checks both, and `DocumentRepository::add_version` cancels
/// the pending approval (or refuses) in the transaction that adds a version. Approvals go with
/// their document when it is purged.
#[async_trait]
pub trait ApprovalRepository: Send + Sync {
    /// Inserts a pending approval. MUST return `NotFound` when its document is absent from the
    /// tenant, `Conflict` (field `document_version`) when the document's latest version is not
    /// `approval.document_version`, `Conflict` (field `approval`) when another approval of the
    /// document is pending; then nothing is written.
    async fn insert(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()>;
    /// Replaces an approval whose stored version is `approval.version - 1`. MUST return
    /// `NotFound` when absent from the tenant, `Conflict` (field `version`) when the stored
    /// version moved on; then nothing is written.
    async fn update(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: ApprovalId) -> Result<Approval>;
    /// A document's approvals, newest first (empty when it has none or is absent).
    async fn list_for_document(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<Approval>>;
}
