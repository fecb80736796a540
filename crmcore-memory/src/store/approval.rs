//! Approval workflows in memory, under the store's one lock (which also serializes them with the
//! document writes that void them).

use std::collections::BTreeMap;

use async_trait::async_trait;
use crmcore::document::{Approval, ApprovalState, ApprovalVoid, AuditDraft, Document};
use crmcore::event::DomainEvent;
use crmcore::id::{ApprovalId, DocumentId, TenantId};
use crmcore::ports::ApprovalRepository;
use crmcore::{CrmError, Result};

use super::{MemoryStore, State};

/// The approval part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct Approvals {
    approvals: BTreeMap<ApprovalId, Approval>,
}

impl State {
    fn pending_approval(&self, document: DocumentId) -> Option<&Approval> {
        self.approvals.approvals.values().find(|a| a.document_id == document && a.state == ApprovalState::Pending)
    }

    fn check_approval_version(&self, approval: &Approval) -> Result<()> {
        State::check_version(
            self.approvals.approvals.get(&approval.id),
            |a| a.tenant_id,
            |a| a.version,
            approval.tenant_id,
            approval.version,
            "approval",
            approval.id,
        )
    }

    /// Checks that `void` is the document's pending approval as cancelled, or that none is
    /// pending when `void` is `None` (`Conflict` on `approval` otherwise).
    pub(super) fn check_void(&self, document: &Document, void: Option<&ApprovalVoid>) -> Result<()> {
        let pending = self.pending_approval(document.id);
        match (pending, void) {
            (None, None) => Ok(()),
            (Some(p), Some(v))
                if p.id == v.approval.id
                    && p.tenant_id == document.tenant_id
                    && p.version == v.approval.version - 1 =>
            {
                Ok(())
            }
            _ => Err(CrmError::conflict(Some("approval"), "the document's pending approval changed meanwhile")),
        }
    }

    /// Writes a void checked by [`State::check_void`], with its audit entry.
    pub(super) fn apply_void(&mut self, void: Option<&ApprovalVoid>) {
        if let Some(void) = void {
            self.approvals.approvals.insert(void.approval.id, void.approval.clone());
            self.append_audit(&void.audit);
        }
    }

    /// Drops a purged document's approvals.
    pub(super) fn forget_approvals(&mut self, document: DocumentId) {
        self.approvals.approvals.retain(|_, a| a.document_id != document);
    }
}

#[async_trait]
impl ApprovalRepository for MemoryStore {
    async fn insert(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        let document = state.document_of(approval.tenant_id, approval.document_id)?;
        if document.latest_version != approval.document_version {
            return Err(CrmError::conflict(
                Some("document_version"),
                format!("version {} is the latest now", document.latest_version),
            ));
        }
        if state.pending_approval(approval.document_id).is_some() {
            return Err(CrmError::conflict(Some("approval"), "the document already has a pending approval"));
        }
        if state.approvals.approvals.contains_key(&approval.id) {
            return Err(CrmError::conflict(Some("id"), format!("approval {} exists", approval.id)));
        }
        state.approvals.approvals.insert(approval.id, approval.clone());
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn update(&self, approval: &Approval, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        state.check_approval_version(approval)?;
        state.approvals.approvals.insert(approval.id, approval.clone());
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: ApprovalId) -> Result<Approval> {
        let state = self.lock();
        state
            .approvals
            .approvals
            .get(&id)
            .filter(|a| a.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("approval", id))
    }

    async fn list_for_document(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<Approval>> {
        let state = self.lock();
        Ok(state
            .approvals
            .approvals
            .values()
            .rev()
            .filter(|a| a.tenant_id == tenant && a.document_id == document)
            .cloned()
            .collect())
    }
}
