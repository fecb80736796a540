//! [`ApprovalService`]: what `crm.documents().approvals()` returns. Every call checks access
//! through [`DocumentService::authorize`](crate::document::DocumentService::authorize) (edit to
//! request, view to read and decide), writes each transition with its event and audit entry in
//! one store call, and re-reads and retries when a concurrent decision moved the approval on, so
//! approvers deciding at once never lose a decision.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Approval, ApprovalVoid, CancelReason, MAX_APPROVERS, NewApproval, Outcome, Verdict};
use crate::actor::{Actor, Role};
use crate::crm::Crm;
use crate::document::{Access, AuditAction, AuditDraft, Document, DocumentVersion, Source};
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{ApprovalId, DocumentId, MemberId};
use crate::record::to_json;

/// An approver's decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decide {
    /// Why; required to reject. At most 2000 characters.
    pub comment: Option<String>,
    /// Fail with `Conflict` unless the approval's version is this (what the approver saw).
    pub expected_version: Option<i64>,
}

/// A requester's (or an admin's) withdrawal of a pending approval.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelApproval {
    /// Why. At most 2000 characters.
    pub comment: Option<String>,
    /// Fail with `Conflict` unless the approval's version is this.
    pub expected_version: Option<i64>,
}

/// Approval workflows of documents.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalService<'a> {
    crm: &'a Crm,
}

/// Whether `err` says the approval moved on since it was read.
fn is_stale(err: &CrmError) -> bool {
    matches!(err, CrmError::Conflict { field: Some(f), .. } if f == "version")
}

fn audit_draft(
    actor: &Actor,
    action: AuditAction,
    document: DocumentId,
    detail: Value,
    source: &Source,
    now: DateTime<Utc>,
) -> AuditDraft {
    AuditDraft {
        tenant_id: actor.tenant_id,
        at: now,
        actor: actor.principal,
        action,
        document_id: Some(document),
        detail,
        source: source.0.clone(),
    }
}

/// An event about `document` carrying `approval` as its object, plus `extra` keys.
fn approval_event(
    actor: &Actor,
    event_type: EventType,
    document: &Document,
    approval: &Approval,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<DomainEvent> {
    let mut data = json!({
        "object": to_json(approval)?,
        "document": {"id": document.id, "title": document.title},
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let subject = EntityRef { kind: EntityKind::Document, id: document.id.0 };
    Ok(DomainEvent::new(actor, event_type, subject, data, now))
}

impl<'a> ApprovalService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// Requests approval of a document's latest version (needs edit access; members only).
    /// `Validation` names each invalid field, approvers who are not active members or may not see
    /// the document included;
    /// `Conflict` when the document already has a pending approval, or when
    /// `input.document_version` is no longer the latest.
    pub async fn request(
        &self,
        actor: &Actor,
        document: DocumentId,
        input: NewApproval,
        source: &Source,
    ) -> Result<Approval> {
        let Some(requester) = actor.member_id() else {
            return Err(CrmError::Forbidden("approvals are requested by members".into()));
        };
        let document = self.crm.documents().authorize(actor, document, Access::Edit).await?;
        let now = self.crm.clock().now();
        let steps = input.steps_at(now)?;
        self.check_approvers(actor, &document, &input).await?;
        if input.document_version.is_some_and(|v| v != document.latest_version) {
            return Err(CrmError::conflict(
                Some("document_version"),
                format!("version {} is the latest now", document.latest_version),
            ));
        }
        let repo = self.crm.store().approvals();
        if repo.list_for_document(actor.tenant_id, document.id).await?.iter().any(|a| a.current().is_some()) {
            return Err(CrmError::conflict(Some("approval"), "the document already has a pending approval"));
        }
        let approval = Approval::open(actor.tenant_id, document.id, document.latest_version, steps, requester, now);
        let first = approval.current().map(|s| s.approvers.clone()).unwrap_or_default();
        let event = approval_event(
            actor,
            EventType::DocumentApprovalRequested,
            &document,
            &approval,
            json!({"approvers": first}),
            now,
        )?;
        let detail = json!({"approval_id": approval.id, "version": approval.document_version,
                            "steps": approval.steps.len()});
        let audit = audit_draft(actor, AuditAction::RequestApproval, document.id, detail, source, now);
        repo.insert(&approval, &audit, &[event]).await?;
        self.crm.wake_worker();
        Ok(approval)
    }

    /// Approves the current step as one of its approvers (needs view access).
    pub async fn approve(&self, actor: &Actor, id: ApprovalId, input: Decide, source: &Source) -> Result<Approval> {
        self.decide(actor, id, Verdict::Approve, input, source).await
    }

    /// Rejects the current step as one of its approvers, saying why (needs view access).
    pub async fn reject(&self, actor: &Actor, id: ApprovalId, input: Decide, source: &Source) -> Result<Approval> {
        self.decide(actor, id, Verdict::Reject, input, source).await
    }

    /// Withdraws a pending approval (its requester, or an admin; needs view access).
    pub async fn cancel(
        &self,
        actor: &Actor,
        id: ApprovalId,
        input: CancelApproval,
        source: &Source,
    ) -> Result<Approval> {
        let repo = self.crm.store().approvals();
        for attempt in 0..=MAX_APPROVERS {
            let (current, document) = self.read(actor, id, input.expected_version).await?;
            if actor.member_id() != Some(current.requested_by) && actor.role < Role::Admin {
                return Err(CrmError::Forbidden("only its requester or an admin cancels an approval".into()));
            }
            let now = self.crm.clock().now();
            let next = current.cancel(actor.principal, CancelReason::Withdrawn, input.comment.as_deref(), now)?;
            let extra = json!({"reason": CancelReason::Withdrawn, "comment": next.cancel_comment});
            let event = approval_event(actor, EventType::DocumentApprovalCancelled, &document, &next, extra, now)?;
            let detail = json!({"approval_id": id, "reason": CancelReason::Withdrawn, "comment": next.cancel_comment});
            let audit = audit_draft(actor, AuditAction::CancelApproval, document.id, detail, source, now);
            match repo.update(&next, &audit, &[event]).await {
                Err(e) if is_stale(&e) && input.expected_version.is_none() && attempt < MAX_APPROVERS => continue,
                result => result?,
            }
            self.crm.wake_worker();
            return Ok(next);
        }
        Err(CrmError::conflict(Some("version"), "the approval keeps changing; try again"))
    }

    /// One approval (needs view access to its document, trashed or not).
    pub async fn get(&self, actor: &Actor, id: ApprovalId) -> Result<Approval> {
        let approval = self.crm.store().approvals().get(actor.tenant_id, id).await?;
        self.crm.documents().visible(actor, approval.document_id, Access::View).await?;
        Ok(approval)
    }

    /// A document's approvals, newest first (needs view access; trashed documents too).
    pub async fn list(&self, actor: &Actor, document: DocumentId) -> Result<Vec<Approval>> {
        let document = self.crm.documents().visible(actor, document, Access::View).await?;
        self.crm.store().approvals().list_for_document(actor.tenant_id, document.id).await
    }

    /// The approval and its live document, if the actor may view the document; `Conflict` when
    /// `expected` is not the approval's version.
    async fn read(&self, actor: &Actor, id: ApprovalId, expected: Option<i64>) -> Result<(Approval, Document)> {
        let approval = self.crm.store().approvals().get(actor.tenant_id, id).await?;
        let document = self.crm.documents().authorize(actor, approval.document_id, Access::View).await?;
        if expected.is_some_and(|v| v != approval.version) {
            return Err(CrmError::conflict(Some("version"), "the approval was changed by someone else"));
        }
        Ok((approval, document))
    }

    async fn decide(
        &self,
        actor: &Actor,
        id: ApprovalId,
        verdict: Verdict,
        input: Decide,
        source: &Source,
    ) -> Result<Approval> {
        let Some(member) = actor.member_id() else {
            return Err(CrmError::Forbidden("approvers are members; decide as a member".into()));
        };
        let repo = self.crm.store().approvals();
        // A concurrent decision makes the write stale: read again and decide on what it left.
        // Each retry means another decision was written, so retries are bounded by the approvers.
        for attempt in 0..=MAX_APPROVERS {
            let (current, document) = self.read(actor, id, input.expected_version).await?;
            let now = self.crm.clock().now();
            let step = current.current_step;
            let (next, outcome) = current.decide(member, verdict, input.comment.as_deref(), now)?;
            let decision = next.steps[step as usize].decisions.last().cloned();
            let (event_type, extra, settled) = match outcome {
                Outcome::Recorded => (EventType::DocumentApprovalDecided, json!({}), "recorded"),
                Outcome::StepCompleted { .. } => {
                    let approvers = next.current().map(|s| s.approvers.clone()).unwrap_or_default();
                    (EventType::DocumentApprovalStepCompleted, json!({"approvers": approvers}), "step_completed")
                }
                Outcome::Approved => (EventType::DocumentApproved, json!({}), "approved"),
                Outcome::Rejected => (EventType::DocumentRejected, json!({}), "rejected"),
            };
            let mut extra = extra;
            if let Some(map) = extra.as_object_mut() {
                map.insert("step".into(), json!(step));
                map.insert("decision".into(), to_json(&decision)?);
            }
            let event = approval_event(actor, event_type, &document, &next, extra, now)?;
            let action = if verdict == Verdict::Approve { AuditAction::Approve } else { AuditAction::Reject };
            let comment = decision.and_then(|d| d.comment);
            let detail = json!({"approval_id": id, "step": step, "comment": comment, "outcome": settled});
            let audit = audit_draft(actor, action, document.id, detail, source, now);
            match repo.update(&next, &audit, &[event]).await {
                Err(e) if is_stale(&e) && input.expected_version.is_none() && attempt < MAX_APPROVERS => continue,
                result => result?,
            }
            self.crm.wake_worker();
            return Ok(next);
        }
        Err(CrmError::conflict(Some("version"), "the approval keeps changing; try again"))
    }

    /// `Validation` naming every approver who is not an active member of the tenant, or who
    /// may not see the document (a private one not shared with them), so no step waits on
    /// someone who cannot decide.
    async fn check_approvers(&self, actor: &Actor, document: &Document, input: &NewApproval) -> Result<()> {
        let mut problems: HashMap<MemberId, Option<(&str, &str)>> = HashMap::new();
        for step in &input.steps {
            for &id in &step.approvers {
                if problems.contains_key(&id) {
                    continue;
                }
                let problem = match self.crm.store().members().get(actor.tenant_id, id).await {
                    Ok(member) if member.active => {
                        let as_approver = Actor::member(actor.tenant_id, id, member.role);
                        match self.crm.documents().access_of(&as_approver, document).await? {
                            Some(_) => None,
                            None => Some(("no_access", "may not see this document; share it with them first")),
                        }
                    }
                    Ok(_) | Err(CrmError::NotFound { .. }) => Some(("unknown", "not an active member of the tenant")),
                    Err(e) => return Err(e),
                };
                problems.insert(id, problem);
            }
        }
        let mut v = Validator::new();
        for (i, step) in input.steps.iter().enumerate() {
            for (j, approver) in step.approvers.iter().enumerate() {
                if let Some(Some((code, message))) = problems.get(approver) {
                    v.push(FieldError::new(format!("steps[{i}].approvers[{j}]"), *code, *message));
                }
            }
        }
        v.finish()
    }
}

/// Adds `version` to `document` (already moved on to it) through the document repository,
/// cancelling the document's pending approval in the same transaction (reason `new_version`,
/// with its event and audit entry). When an approval was requested or decided between the read
/// and the write, the store refuses and the pending approval is read again, once.
pub(crate) async fn add_version_voiding_approval(
    crm: &Crm,
    actor: &Actor,
    document: &Document,
    version: &DocumentVersion,
    audit: &AuditDraft,
    version_event: DomainEvent,
    source: &Source,
) -> Result<()> {
    let mut retried = false;
    loop {
        let void = void_for_new_version(crm, actor, document, source).await?;
        let mut events = vec![version_event.clone()];
        events.extend(void.as_ref().map(|(_, e)| e.clone()));
        let written =
            crm.store().documents().add_version(document, version, audit, &events, void.as_ref().map(|(v, _)| v)).await;
        match written {
            Err(CrmError::Conflict { field: Some(f), .. }) if f == "approval" && !retried => retried = true,
            result => return result,
        }
    }
}

/// The document's pending approval cancelled for a new version, with its event; `None` when
/// none is pending.
async fn void_for_new_version(
    crm: &Crm,
    actor: &Actor,
    document: &Document,
    source: &Source,
) -> Result<Option<(ApprovalVoid, DomainEvent)>> {
    let approvals = crm.store().approvals().list_for_document(actor.tenant_id, document.id).await?;
    let Some(pending) = approvals.iter().find(|a| a.current().is_some()) else { return Ok(None) };
    let now = crm.clock().now();
    let cancelled = pending.cancel(actor.principal, CancelReason::NewVersion, None, now)?;
    let extra = json!({"reason": CancelReason::NewVersion, "new_version": document.latest_version});
    let event = approval_event(actor, EventType::DocumentApprovalCancelled, document, &cancelled, extra, now)?;
    let detail = json!({"approval_id": cancelled.id, "reason": CancelReason::NewVersion,
                        "new_version": document.latest_version});
    let audit = audit_draft(actor, AuditAction::CancelApproval, document.id, detail, source, now);
    Ok(Some((ApprovalVoid { approval: cancelled, audit }, event)))
}
