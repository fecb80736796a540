//! Approval workflows: a document's version goes through ordered steps, each with its approvers
//! and a rule (any one, all, or at least N of them) and an optional due date. The rules live in
//! pure transition functions on [`Approval`]; [`ApprovalService`] checks access, writes each
//! transition with its event and audit entry, and retries on concurrent decisions.
//!
//! A step completes as soon as its rule is met, and the next step becomes current (after the
//! last, the approval is approved). It is rejected as soon as its rule can no longer be met: for
//! `all`, one rejection; for `any`, every approver rejecting; for `at_least(n)`, fewer than `n`
//! approvers left who have not rejected. Only the current step's approvers decide, each once per
//! step; a rejection needs a comment. States go `pending` → `approved` | `rejected` |
//! `cancelled`, and a new version of the document cancels its pending approval (reason
//! `new_version`) in the transaction that adds the version.

mod service;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AuditDraft;
use crate::actor::Principal;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::id::{ApprovalId, DocumentId, MemberId, TenantId};

pub(crate) use service::add_version_voiding_approval;
pub use service::{ApprovalService, CancelApproval, Decide};

/// Most steps in an approval.
pub const MAX_STEPS: usize = 10;
/// Most approvers in a step.
pub const MAX_APPROVERS: usize = 50;
/// Longest decision or cancellation comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Longest step name, in characters.
pub const MAX_STEP_NAME_CHARS: usize = 100;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApprovalState {
    /// Waiting for decisions.
    Pending,
    /// Every step was completed.
    Approved,
    /// A step's rule can no longer be met.
    Rejected,
    /// Withdrawn, or voided by a new version.
    Cancelled,
}

impl ApprovalState {
    /// Every state.
    pub const ALL: [ApprovalState; 4] =
        [ApprovalState::Pending, ApprovalState::Approved, ApprovalState::Rejected, ApprovalState::Cancelled];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Cancelled => "cancelled",
        }
    }

    /// Parses [`ApprovalState::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        ApprovalState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| CrmError::invalid("state", "unknown", format!("unknown approval state `{s}`")))
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StepState {
    /// An earlier step is still current.
    Waiting,
    /// The current step: its approvers decide.
    Active,
    /// Its rule was met.
    Approved,
    /// Its rule could no longer be met.
    Rejected,
    /// The approval was cancelled while this step was current.
    Cancelled,
    /// Never reached: the approval ended before it.
    Skipped,
}

/// How many of a step's approvers must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "n", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApprovalRule {
    /// Any one approver.
    Any,
    /// Every approver.
    All,
    /// At least `n` approvers.
    AtLeast(u32),
}

impl ApprovalRule {
    /// Approvals a step with `approvers` approvers needs.
    pub fn required(self, approvers: usize) -> usize {
        match self {
            ApprovalRule::Any => 1,
            ApprovalRule::All => approvers,
            ApprovalRule::AtLeast(n) => n as usize,
        }
    }
}

/// An approver's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    /// Approves the step.
    Approve,
    /// Rejects it (with a comment).
    Reject,
}

/// One approver's decision on one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// The approver.
    pub member: MemberId,
    /// Approve or reject.
    pub verdict: Verdict,
    /// Why (always given for a rejection).
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One step of an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalStep {
    /// Its name, e.g. "Legal".
    pub name: String,
    /// Who decides, distinct active members of the tenant.
    pub approvers: Vec<MemberId>,
    /// How many must approve.
    pub rule: ApprovalRule,
    /// When the step should be decided by.
    pub due_at: Option<DateTime<Utc>>,
    /// Decisions so far, in order.
    pub decisions: Vec<Decision>,
    /// Where it stands.
    pub state: StepState,
}

impl ApprovalStep {
    /// Approvals it needs.
    pub fn required(&self) -> usize {
        self.rule.required(self.approvers.len())
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.decisions.iter().filter(|d| d.verdict == verdict).count()
    }

    /// Whether `member` decided on this step.
    pub fn has_decided(&self, member: MemberId) -> bool {
        self.decisions.iter().any(|d| d.member == member)
    }
}

/// Why a pending approval was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CancelReason {
    /// Its requester (or an admin) withdrew it.
    Withdrawn,
    /// A new version of the document was added: the approved content would not be the latest.
    NewVersion,
}

impl CancelReason {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Withdrawn => "withdrawn",
            CancelReason::NewVersion => "new_version",
        }
    }

    /// Parses [`CancelReason::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        [CancelReason::Withdrawn, CancelReason::NewVersion]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| CrmError::invalid("cancel_reason", "unknown", format!("unknown cancel reason `{s}`")))
    }
}

/// An approval workflow over one version of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    /// Its id.
    pub id: ApprovalId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The document.
    pub document_id: DocumentId,
    /// The version being approved (the latest when requested).
    pub document_version: u32,
    /// The steps, in order.
    pub steps: Vec<ApprovalStep>,
    /// Index of the step being decided; once decided, of the step it ended on.
    pub current_step: u32,
    /// Where it stands.
    pub state: ApprovalState,
    /// Who requested it.
    pub requested_by: MemberId,
    /// Why it was cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// The canceller's comment.
    pub cancel_comment: Option<String>,
    /// Who cancelled it (the uploader of the new version, for a void).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub cancelled_by: Option<Principal>,
    /// Requested at.
    pub created_at: DateTime<Utc>,
    /// When it was approved, rejected or cancelled.
    pub decided_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version: every transition adds one.
    pub version: i64,
}

/// What a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded; the step waits for other approvers.
    Recorded,
    /// Completed the step `completed`; the next one is now current.
    StepCompleted {
        /// The step completed.
        completed: u32,
    },
    /// Completed the last step.
    Approved,
    /// Left the step's rule unreachable.
    Rejected,
}

/// A pending approval cancelled by a new version, written by
/// [`DocumentRepository::add_version`](crate::ports::DocumentRepository::add_version) in the
/// transaction that adds the version.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalVoid {
    /// The approval as cancelled (its version one past the stored one).
    pub approval: Approval,
    /// Its audit entry.
    pub audit: AuditDraft,
}

/// A step of a new approval.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApprovalStep {
    /// Its name (default "Step N"), 1 to 100 characters.
    pub name: Option<String>,
    /// 1 to 50 distinct active members.
    pub approvers: Vec<MemberId>,
    /// How many must approve.
    pub rule: ApprovalRule,
    /// When it should be decided by (in the future, not before an earlier step's).
    pub due_at: Option<DateTime<Utc>>,
}

/// A request for approval of a document's latest version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApproval {
    /// 1 to 10 steps, decided in order.
    pub steps: Vec<NewApprovalStep>,
    /// Fail with `Conflict` unless this is still the latest version (what the requester saw).
    pub document_version: Option<u32>,
}

impl NewApproval {
    /// Checks the request's shape at `now` (every error at once, by field) and returns its steps,
    /// the first active. Whether the approvers are active members is for the service to check.
    pub fn steps_at(&self, now: DateTime<Utc>) -> Result<Vec<ApprovalStep>> {
        let mut v = Validator::new();
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            v.push(FieldError::new("steps", "count", format!("1 to {MAX_STEPS} steps")));
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut previous_due: Option<DateTime<Utc>> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("steps[{i}].{field}");
            let name = step.name.as_deref().map(str::trim).map_or_else(|| format!("Step {}", i + 1), str::to_owned);
            if name.is_empty() || name.chars().count() > MAX_STEP_NAME_CHARS {
                v.push(FieldError::new(at("name"), "invalid", format!("1 to {MAX_STEP_NAME_CHARS} characters")));
            }
            if step.approvers.is_empty() || step.approvers.len() > MAX_APPROVERS {
                v.push(FieldError::new(at("approvers"), "count", format!("1 to {MAX_APPROVERS} approvers")));
            }
            for (j, approver) in step.approvers.iter().enumerate() {
                if step.approvers[..j].contains(approver) {
                    v.push(FieldError::new(format!("steps[{i}].approvers[{j}]"), "duplicate", "listed twice"));
                }
            }
            if let ApprovalRule::AtLeast(n) = step.rule
                && (n == 0 || n as usize > step.approvers.len())
            {
                v.push(FieldError::new(at("rule"), "out_of_range", "n is 1 to the number of approvers"));
            }
            let due_at = step.due_at.map(|d| d.trunc_subsecs(6));
            if let Some(due) = due_at {
                if due <= now {
                    v.push(FieldError::new(at("due_at"), "past", "due dates are in the future"));
                } else if previous_due.is_some_and(|p| due < p) {
                    v.push(FieldError::new(at("due_at"), "order", "not before an earlier step's due date"));
                }
                previous_due = Some(due);
            }
            steps.push(ApprovalStep {
                name,
                approvers: step.approvers.clone(),
                rule: step.rule,
                due_at,
                decisions: Vec::new(),
                state: if i == 0 { StepState::Active } else { StepState::Waiting },
            });
        }
        v.finish()?;
        Ok(steps)
    }
}

/// A comment trimmed, `None` when blank; `required` refuses a blank one.
pub fn check_comment(comment: Option<&str>, required: bool) -> Result<Option<String>> {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    match comment {
        None if required => Err(CrmError::invalid("comment", "required", "say why")),
        Some(c) if c.chars().count() > MAX_COMMENT_CHARS => {
            Err(CrmError::invalid("comment", "too_long", format!("at most {MAX_COMMENT_CHARS} characters")))
        }
        c => Ok(c.map(str::to_owned)),
    }
}

impl Approval {
    /// A pending approval of `document_version` over `steps` (from [`NewApproval::steps_at`]).
    pub fn open(
        tenant_id: TenantId,
        document_id: DocumentId,
        document_version: u32,
        steps: Vec<ApprovalStep>,
        requested_by: MemberId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: ApprovalId::new(),
            tenant_id,
            document_id,
            document_version,
            steps,
            current_step: 0,
            state: ApprovalState::Pending,
            requested_by,
            cancel_reason: None,
            cancel_comment: None,
            cancelled_by: None,
            created_at: now,
            decided_at: None,
            version: 1,
        }
    }

    /// The step being decided, while pending.
    pub fn current(&self) -> Option<&ApprovalStep> {
        (self.state == ApprovalState::Pending).then(|| self.steps.get(self.current_step as usize)).flatten()
    }

    /// Whether the current step is past its due date at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.current().and_then(|s| s.due_at).is_some_and(|due| due < now)
    }

    /// `member`'s decision on the current step: the approval as it stands after it (its version
    /// one up) and what it did. `Conflict` unless pending, or when `member` already decided on
    /// this step; `Forbidden` unless `member` is one of its approvers; `Validation` when a
    /// rejection has no comment or a comment is too long.
    pub fn decide(
        &self,
        member: MemberId,
        verdict: Verdict,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(Approval, Outcome)> {
        let comment = check_comment(comment, verdict == Verdict::Reject)?;
        self.check_pending()?;
        let index = self.current_step as usize;
        let step = self.steps.get(index).ok_or_else(|| CrmError::Internal("approval step out of range".into()))?;
        if !step.approvers.contains(&member) {
            return Err(CrmError::Forbidden(format!("only the approvers of step `{}` decide now", step.name)));
        }
        if step.has_decided(member) {
            return Err(CrmError::conflict(Some("decision"), "you already decided on this step"));
        }
        let mut next = self.clone();
        next.version += 1;
        let step = &mut next.steps[index];
        step.decisions.push(Decision { member, verdict, comment, at: now });
        let (approvals, rejections) = (step.count(Verdict::Approve), step.count(Verdict::Reject));
        let required = step.required();
        let outcome = if approvals >= required {
            step.state = StepState::Approved;
            if index + 1 == next.steps.len() {
                next.state = ApprovalState::Approved;
                next.decided_at = Some(now);
                Outcome::Approved
            } else {
                next.steps[index + 1].state = StepState::Active;
                next.current_step += 1;
                Outcome::StepCompleted { completed: index as u32 }
            }
        } else if step.approvers.len() - rejections < required {
            step.state = StepState::Rejected;
            next.skip_rest(index + 1);
            next.state = ApprovalState::Rejected;
            next.decided_at = Some(now);
            Outcome::Rejected
        } else {
            Outcome::Recorded
        };
        Ok((next, outcome))
    }

    /// The approval cancelled by `by` for `reason`: its version one up. `Conflict` unless pending;
    /// `Validation` when the comment is too long.
    pub fn cancel(
        &self,
        by: Principal,
        reason: CancelReason,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Approval> {
        let comment = check_comment(comment, false)?;
        self.check_pending()?;
        let mut next = self.clone();
        next.version += 1;
        let index = next.current_step as usize;
        if let Some(step) = next.steps.get_mut(index) {
            step.state = StepState::Cancelled;
        }
        next.skip_rest(index + 1);
        next.state = ApprovalState::Cancelled;
        next.cancel_reason = Some(reason);
        next.cancel_comment = comment;
        next.cancelled_by = Some(by);
        next.decided_at = Some(now);
        Ok(next)
    }

    fn check_pending(&self) -> Result<()> {
        match self.state {
            ApprovalState::Pending => Ok(()),
            state => Err(CrmError::conflict(Some("state"), format!("the approval is {}", state.as_str()))),
        }
    }

    fn skip_rest(&mut self, from: usize) {
        for step in self.steps.iter_mut().skip(from) {
            step.state = StepState::Skipped;
        }
    }
}

/// A plausible `data` of an approval event (the webhook catalogue's example); `None` for other
/// event types.
pub(crate) fn approval_example(event_type: crate::event::EventType) -> Option<serde_json::Value> {
    use crate::event::EventType as E;
    // (approval state, current step, step states, whether step 0 has a decision, extra keys)
    let (state, current, steps, decided, extra) = match event_type {
        E::DocumentApprovalRequested => ("pending", 0, ["active", "waiting"], false, json!({"approvers": [ID[3]]})),
        E::DocumentApprovalDecided => ("pending", 0, ["active", "waiting"], true, json!({"step": 0})),
        E::DocumentApprovalStepCompleted => {
            ("pending", 1, ["approved", "active"], true, json!({"step": 0, "approvers": [ID[4]]}))
        }
        E::DocumentApproved => ("approved", 1, ["approved", "approved"], true, json!({"step": 1})),
        E::DocumentRejected => ("rejected", 0, ["rejected", "skipped"], true, json!({"step": 0})),
        E::DocumentApprovalCancelled => {
            ("cancelled", 0, ["cancelled", "skipped"], false, json!({"reason": "new_version", "new_version": 4}))
        }
        _ => return None,
    };
    let verdict = if state == "rejected" { "reject" } else { "approve" };
    let decision = json!({"member": ID[3], "verdict": verdict, "comment": "Clause 7 needs a cap",
                          "at": "2026-03-02T09:30:00Z"});
    let step = |i: usize| {
        let decisions = if i == 0 && decided { vec![decision.clone()] } else { Vec::new() };
        let name = ["Legal", "Finance"][i];
        json!({"name": name, "approvers": [ID[3 + i]], "rule": {"kind": "all"}, "due_at": null,
               "decisions": decisions, "state": steps[i]})
    };
    let cancelled = state == "cancelled";
    let object = json!({
        "id": ID[0], "tenant_id": ID[1], "document_id": ID[2], "document_version": 3,
        "steps": [step(0), step(1)], "current_step": current, "state": state, "requested_by": ID[5],
        "cancel_reason": cancelled.then_some("new_version"), "cancel_comment": null,
        "cancelled_by": cancelled.then(|| json!({"kind": "member", "id": ID[5]})),
        "created_at": "2026-03-01T16:00:00Z", "decided_at": (state != "pending").then_some("2026-03-02T09:30:00Z"),
        "version": if decided { 2 } else { 1 },
    });
    let mut data = json!({"object": object, "document": {"id": ID[2], "title": "Master services agreement"}});
    if let (Some(map), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        map.extend(extra);
    }
    if decided {
        data["decision"] = decision;
    }
    Some(data)
}

/// Ids of the examples.
const ID: [&str; 6] = [
    "0190d3f0-0000-7000-8000-000000000010",
    "0190d3f0-0000-7000-8000-000000000001",
    "0190d3f0-0000-7000-8000-000000000002",
    "0190d3f0-0000-7000-8000-000000000003",
    "0190d3f0-0000-7000-8000-000000000004",
    "0190d3f0-0000-7000-8000-000000000005",
];

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn members(n: usize) -> Vec<MemberId> {
        (0..n).map(|_| MemberId::new()).collect()
    }

    fn step(approvers: &[MemberId], rule: ApprovalRule) -> NewApprovalStep {
        NewApprovalStep { name: None, approvers: approvers.to_vec(), rule, due_at: None }
    }

    fn approval(steps: Vec<NewApprovalStep>) -> Approval {
        let now = Utc::now();
        let steps = NewApproval { steps, document_version: None }.steps_at(now).unwrap();
        Approval::open(TenantId::new(), DocumentId::new(), 1, steps, MemberId::new(), now)
    }

    fn fields(err: CrmError) -> Vec<(String, String)> {
        match err {
            CrmError::Validation(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_step_completes_when_its_rule_is_met_then_the_next_becomes_current() {
        let m = members(4);
        let a = approval(vec![step(&m[..3], ApprovalRule::AtLeast(2)), step(&m[3..], ApprovalRule::Any)]);
        assert_eq!(
            (a.state, a.current_step, a.steps[0].state, a.steps[1].state),
            (ApprovalState::Pending, 0, StepState::Active, StepState::Waiting)
        );
        let now = Utc::now();
        let (a, outcome) = a.decide(m[0], Verdict::Approve, None, now).unwrap();
        assert_eq!((outcome, a.version), (Outcome::Recorded, 2));
        let (a, outcome) = a.decide(m[1], Verdict::Reject, Some("  needs a clause  "), now).unwrap();
        assert_eq!(outcome, Outcome::Recorded, "2 of 3 are still possible");
        assert_eq!(a.steps[0].decisions[1].comment.as_deref(), Some("needs a clause"));
        let (a, outcome) = a.decide(m[2], Verdict::Approve, None, now).unwrap();
        assert_eq!(outcome, Outcome::StepCompleted { completed: 0 });
        assert_eq!((a.current_step, a.steps[0].state, a.steps[1].state), (1, StepState::Approved, StepState::Active));
        assert_eq!(a.current().unwrap().approvers, [m[3]]);
        let (a, outcome) = a.decide(m[3], Verdict::Approve, Some("ok"), now).unwrap();
        assert_eq!(
            (outcome, a.state, a.decided_at, a.version),
            (Outcome::Approved, ApprovalState::Approved, Some(now), 5)
        );
        assert_eq!((a.current_step, a.steps[1].state), (1, StepState::Approved));
        assert!(a.current().is_none());
        assert!(matches!(a.decide(m[0], Verdict::Approve, None, now), Err(CrmError::Conflict { .. })));
    }

    #[test]
    fn rejection_comes_as_soon_as_the_rule_cannot_be_met() {
        let m = members(3);
        let now = Utc::now();
        // All: one rejection.
        let all = approval(vec![step(&m, ApprovalRule::All), step(&m, ApprovalRule::Any)]);
        let (all, outcome) = all.decide(m[1], Verdict::Reject, Some("no"), now).unwrap();
        assert_eq!((outcome, all.state), (Outcome::Rejected, ApprovalState::Rejected));
        assert_eq!((all.steps[0].state, all.steps[1].state), (StepState::Rejected, StepState::Skipped));
        // Any: only when everyone rejected.
        let mut any = approval(vec![step(&m, ApprovalRule::Any)]);
        for (i, member) in m.iter().enumerate() {
            let (next, outcome) = any.decide(*member, Verdict::Reject, Some("no"), now).unwrap();
            assert_eq!(outcome, if i == 2 { Outcome::Rejected } else { Outcome::Recorded });
            any = next;
        }
        // At least 2 of 3: once two rejected, one is left.
        let two = approval(vec![step(&m, ApprovalRule::AtLeast(2))]);
        let (two, outcome) = two.decide(m[0], Verdict::Reject, Some("no"), now).unwrap();
        assert_eq!(outcome, Outcome::Recorded);
        let (_, outcome) = two.decide(m[2], Verdict::Reject, Some("no"), now).unwrap();
        assert_eq!(outcome, Outcome::Rejected);
        // Any: one approval is enough, even after rejections.
        let any = approval(vec![step(&m, ApprovalRule::Any)]);
        let (any, _) = any.decide(m[0], Verdict::Reject, Some("no"), now).unwrap();
        assert_eq!(any.decide(m[1], Verdict::Approve, None, now).unwrap().1, Outcome::Approved);
    }

    #[test]
    fn only_the_current_steps_approvers_decide_once_and_rejections_say_why() {
        let m = members(3);
        let now = Utc::now();
        let a = approval(vec![step(&m[..2], ApprovalRule::All), step(&m[2..], ApprovalRule::All)]);
        assert!(matches!(a.decide(m[2], Verdict::Approve, None, now), Err(CrmError::Forbidden(_))), "not yet");
        assert!(matches!(a.decide(MemberId::new(), Verdict::Approve, None, now), Err(CrmError::Forbidden(_))));
        let (a, _) = a.decide(m[0], Verdict::Approve, None, now).unwrap();
        assert!(matches!(a.decide(m[0], Verdict::Approve, None, now), Err(CrmError::Conflict { .. })), "once");
        assert_eq!(
            fields(a.decide(m[1], Verdict::Reject, Some("   "), now).unwrap_err()),
            [("comment".to_owned(), "required".to_owned())]
        );
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        assert_eq!(fields(a.decide(m[1], Verdict::Approve, Some(&long), now).unwrap_err())[0].1, "too_long");
        // The same member may sit on several steps and decides on each.
        let both = approval(vec![step(&m[..1], ApprovalRule::All), step(&m[..1], ApprovalRule::All)]);
        let (both, _) = both.decide(m[0], Verdict::Approve, None, now).unwrap();
        assert_eq!(both.decide(m[0], Verdict::Approve, None, now).unwrap().1, Outcome::Approved);
    }

    #[test]
    fn cancelling_ends_a_pending_approval_only() {
        let m = members(2);
        let now = Utc::now();
        let a = approval(vec![step(&m[..1], ApprovalRule::All), step(&m[1..], ApprovalRule::All)]);
        let cancelled = a.cancel(Principal::Member(m[0]), CancelReason::NewVersion, None, now).unwrap();
        assert_eq!(
            (cancelled.state, cancelled.cancel_reason, cancelled.decided_at, cancelled.version),
            (ApprovalState::Cancelled, Some(CancelReason::NewVersion), Some(now), 2)
        );
        assert_eq!((cancelled.steps[0].state, cancelled.steps[1].state), (StepState::Cancelled, StepState::Skipped));
        assert!(matches!(
            cancelled.cancel(Principal::System, CancelReason::Withdrawn, None, now),
            Err(CrmError::Conflict { .. })
        ));
        assert!(matches!(cancelled.decide(m[0], Verdict::Approve, None, now), Err(CrmError::Conflict { .. })));
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        let now = Utc::now();
        let m = members(3);
        let none = NewApproval { steps: Vec::new(), document_version: None };
        assert_eq!(fields(none.steps_at(now).unwrap_err()), [("steps".to_owned(), "count".to_owned())]);
        let many = NewApproval { steps: vec![step(&m, ApprovalRule::Any); MAX_STEPS + 1], document_version: None };
        assert_eq!(fields(many.steps_at(now).unwrap_err()), [("steps".to_owned(), "count".to_owned())]);
        let crowd = members(MAX_APPROVERS + 1);
        let bad = NewApproval {
            steps: vec![
                NewApprovalStep { name: Some(" ".into()), approvers: vec![], rule: ApprovalRule::Any, due_at: None },
                step(&[m[0], m[1], m[0]], ApprovalRule::AtLeast(4)),
                NewApprovalStep { due_at: Some(now - Duration::hours(1)), ..step(&m, ApprovalRule::AtLeast(0)) },
                step(&crowd, ApprovalRule::All),
            ],
            document_version: None,
        };
        let errors = fields(bad.steps_at(now).unwrap_err());
        for expected in [
            ("steps[0].name", "invalid"),
            ("steps[0].approvers", "count"),
            ("steps[1].approvers[2]", "duplicate"),
            ("steps[1].rule", "out_of_range"),
            ("steps[2].rule", "out_of_range"),
            ("steps[2].due_at", "past"),
            ("steps[3].approvers", "count"),
        ] {
            assert!(errors.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} in {errors:?}");
        }
        let order = NewApproval {
            steps: vec![
                NewApprovalStep { due_at: Some(now + Duration::days(2)), ..step(&m, ApprovalRule::Any) },
                NewApprovalStep { due_at: Some(now + Duration::days(1)), ..step(&m, ApprovalRule::Any) },
            ],
            document_version: None,
        };
        assert_eq!(fields(order.steps_at(now).unwrap_err()), [("steps[1].due_at".to_owned(), "order".to_owned())]);
        let fine = NewApproval {
            steps: vec![NewApprovalStep {
                name: Some(" Legal ".into()),
                due_at: Some(now + Duration::days(1)),
                ..step(&m, ApprovalRule::AtLeast(3))
            }],
            document_version: None,
        };
        let steps = fine.steps_at(now).unwrap();
        assert_eq!((steps[0].name.as_str(), steps[0].required()), ("Legal", 3));
        let a = Approval::open(TenantId::new(), DocumentId::new(), 1, steps, m[0], now);
        assert!(!a.is_overdue(now) && a.is_overdue(now + Duration::days(2)));
    }

    #[test]
    fn rules_serialize_with_a_kind() {
        assert_eq!(
            serde_json::to_value(ApprovalRule::AtLeast(2)).unwrap(),
            serde_json::json!({"kind": "at_least", "n": 2})
        );
        assert_eq!(serde_json::to_value(ApprovalRule::All).unwrap(), serde_json::json!({"kind": "all"}));
        let any: ApprovalRule = serde_json::from_value(serde_json::json!({"kind": "any"})).unwrap();
        assert_eq!(any, ApprovalRule::Any);
        for state in ApprovalState::ALL {
            assert_eq!(ApprovalState::parse(state.as_str()).unwrap(), state);
        }
        assert_eq!(CancelReason::parse("new_version").unwrap(), CancelReason::NewVersion);
    }
}
