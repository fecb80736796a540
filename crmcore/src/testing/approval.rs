//! Contract checks for approval workflows: steps and rules through to approval or rejection,
//! validation, permissions, one pending approval per document, cancellation, events, audit
//! entries and notifications, tenant isolation; voiding by a new version in the transaction that
//! adds it (and the refusals that keep it so); and concurrent approvers never losing a decision.

use std::sync::Arc;

use chrono::Duration;

use super::document::MapBlobs;
use super::fixtures::Fixture;
use crate::activity::{InboxFilter, NotificationKind};
use crate::actor::{Actor, Role};
use crate::crm::Crm;
use crate::document::{
    Access, Approval, ApprovalRule, ApprovalState, ApprovalVoid, AuditAction, AuditDraft, CancelApproval, CancelReason,
    Decide, Document, FileUpload, NewApproval, NewApprovalStep, NewDocument, Source, StepState, Verdict, Visibility,
};
use crate::error::CrmError;
use crate::event::EventType;
use crate::id::MemberId;
use crate::member::MemberPatch;
use crate::page::PageRequest;
use crate::ports::Store;

fn file(name: &str, bytes: &[u8]) -> FileUpload {
    FileUpload { filename: name.into(), declared_type: None, bytes: bytes.to_vec() }
}

fn step(name: &str, approvers: &[MemberId], rule: ApprovalRule) -> NewApprovalStep {
    NewApprovalStep { name: Some(name.into()), approvers: approvers.to_vec(), rule, due_at: None }
}

fn one_step(approvers: &[MemberId], rule: ApprovalRule) -> NewApproval {
    NewApproval { steps: vec![step("Review", approvers, rule)], document_version: None }
}

fn decide(comment: &str) -> Decide {
    Decide { comment: Some(comment.into()), expected_version: None }
}

async fn crm_with_blobs(store: Arc<dyn Store>) -> Crm {
    Crm::builder().shared_store(store).blobs(Arc::new(MapBlobs::default())).build().expect("crm")
}

/// A member with `role` and the actor acting as them.
async fn person(fixture: &Fixture, handle: &str, role: Role) -> (MemberId, Actor) {
    let member = fixture.member(handle, role).await;
    (member.id, Actor::member(fixture.tenant.id, member.id, role))
}

async fn upload(crm: &Crm, actor: &Actor, title: &str) -> Document {
    let input = NewDocument::default_with_title(title);
    crm.documents().upload(actor, input, file("doc.txt", title.as_bytes()), &Source::default()).await.unwrap().0
}

fn is_conflict_on(result: &Result<Approval, CrmError>, field: &str) -> bool {
    matches!(result, Err(CrmError::Conflict { field: Some(f), .. }) if f == field)
}

/// Two steps walked to approval (`at_least` then `any`), a rejection, validation of every field,
/// permissions, one pending approval per document, withdrawal, the events and audit entries of
/// each transition, the approvers' notifications, and tenants kept apart.
pub async fn approvals_walk_steps_to_approval_or_rejection(store: Arc<dyn Store>) {
    let crm = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Approvals A").await;
    let b = Fixture::with_crm(crm.clone(), "Approvals B").await;
    let (ann, ann_actor) = person(&a, "ann", Role::Member).await;
    let (ben, ben_actor) = person(&a, "ben", Role::Viewer).await;
    let (cat, cat_actor) = person(&a, "cat", Role::Member).await;
    let (dan, dan_actor) = person(&a, "dan", Role::Member).await;
    let (gone, _) = person(&a, "gone", Role::Member).await;
    let off = MemberPatch { active: Some(false), ..MemberPatch::default() };
    crm.members().update(&a.actor, gone, off).await.unwrap();
    let (outsider, _) = person(&b, "out", Role::Member).await;
    let svc = crm.documents().approvals();
    let src = Source(Some("192.0.2.1".into()));
    let doc = upload(&crm, &a.actor, "Contract").await;

    // Validation, field by field; approvers must be active members of the tenant.
    let due = crm.clock().now() + Duration::days(3);
    let bad = NewApproval {
        steps: vec![
            step("Legal", &[ann, outsider], ApprovalRule::All),
            step("", &[gone, ben], ApprovalRule::AtLeast(3)),
        ],
        document_version: None,
    };
    match svc.request(&a.actor, doc.id, bad, &src).await {
        Err(CrmError::Validation(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert!(fields.contains(&"steps[1].name") && fields.contains(&"steps[1].rule"), "{fields:?}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let inactive = NewApproval {
        steps: vec![step("Legal", &[ann, outsider], ApprovalRule::All), step("Ops", &[gone], ApprovalRule::Any)],
        document_version: None,
    };
    match svc.request(&a.actor, doc.id, inactive, &src).await {
        Err(CrmError::Validation(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["steps[0].approvers[1]", "steps[1].approvers[0]"]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let viewer_request = svc.request(&ben_actor, doc.id, one_step(&[ann], ApprovalRule::Any), &src).await;
    assert!(matches!(viewer_request, Err(CrmError::Forbidden(_))), "requesting needs edit access");
    let stale = NewApproval { document_version: Some(7), ..one_step(&[ann], ApprovalRule::Any) };
    assert!(is_conflict_on(&svc.request(&a.actor, doc.id, stale, &src).await, "document_version"));
    assert!(matches!(
        svc.request(&b.actor, doc.id, one_step(&[outsider], ApprovalRule::Any), &src).await,
        Err(CrmError::NotFound { .. })
    ));

    // Two steps: at least 2 of ann, ben, cat; then any of dan, cat.
    let input = NewApproval {
        steps: vec![
            NewApprovalStep { due_at: Some(due), ..step("Legal", &[ann, ben, cat], ApprovalRule::AtLeast(2)) },
            step("Finance", &[dan, cat], ApprovalRule::Any),
        ],
        document_version: Some(1),
    };
    let requested = svc.request(&a.actor, doc.id, input, &src).await.unwrap();
    assert_eq!((requested.state, requested.document_version, requested.version), (ApprovalState::Pending, 1, 1));
    assert_eq!(requested.steps[0].due_at, Some(due));
    assert_eq!(store.approvals().get(a.tenant.id, requested.id).await.unwrap(), requested, "round-trips");
    let again = svc.request(&a.actor, doc.id, one_step(&[ann], ApprovalRule::Any), &src).await;
    assert!(is_conflict_on(&again, "approval"), "one pending approval per document: {again:?}");

    let id = requested.id;
    assert!(matches!(svc.approve(&dan_actor, id, Decide::default(), &src).await, Err(CrmError::Forbidden(_))));
    assert!(matches!(svc.reject(&ben_actor, id, Decide::default(), &src).await, Err(CrmError::Validation(_))));
    let after_ben = svc.approve(&ben_actor, id, decide("fine by me"), &src).await.unwrap();
    assert_eq!((after_ben.version, after_ben.current_step), (2, 0), "a viewer may approve");
    assert!(is_conflict_on(&svc.approve(&ben_actor, id, Decide::default(), &src).await, "decision"));
    let stale = Decide { comment: None, expected_version: Some(1) };
    assert!(is_conflict_on(&svc.approve(&ann_actor, id, stale, &src).await, "version"));
    let after_ann = svc.approve(&ann_actor, id, Decide { comment: None, expected_version: Some(2) }, &src).await;
    let after_ann = after_ann.unwrap();
    assert_eq!((after_ann.current_step, after_ann.steps[0].state), (1, StepState::Approved));
    assert!(matches!(svc.approve(&ann_actor, id, Decide::default(), &src).await, Err(CrmError::Forbidden(_))));
    let after_dan = svc.reject(&dan_actor, id, decide("  numbers are off  "), &src).await.unwrap();
    assert_eq!(after_dan.state, ApprovalState::Pending, "any one of two may still approve");
    assert_eq!(after_dan.steps[1].decisions[0].comment.as_deref(), Some("numbers are off"));
    let approved = svc.approve(&cat_actor, id, Decide::default(), &src).await.unwrap();
    assert_eq!(
        (approved.state, approved.version, approved.steps[1].state),
        (ApprovalState::Approved, 5, StepState::Approved)
    );
    assert!(approved.decided_at.is_some());
    assert_eq!(svc.get(&ben_actor, id).await.unwrap(), approved);
    assert!(is_conflict_on(&svc.approve(&cat_actor, id, Decide::default(), &src).await, "state"));
    let cancel = CancelApproval::default();
    assert!(is_conflict_on(&svc.cancel(&a.actor, id, cancel.clone(), &src).await, "state"));

    // A rejection: `all` fails on one rejection, and the rest is skipped.
    let input = NewApproval {
        steps: vec![step("Legal", &[ann, cat], ApprovalRule::All), step("Finance", &[dan], ApprovalRule::Any)],
        document_version: None,
    };
    let second = svc.request(&a.actor, doc.id, input, &src).await.unwrap();
    let rejected = svc.reject(&cat_actor, second.id, decide("clause 7"), &src).await.unwrap();
    assert_eq!(
        (rejected.state, rejected.steps[0].state, rejected.steps[1].state),
        (ApprovalState::Rejected, StepState::Rejected, StepState::Skipped)
    );

    // Withdrawal: by the requester or an admin only.
    let third = svc.request(&ann_actor, doc.id, one_step(&[cat], ApprovalRule::Any), &src).await.unwrap();
    assert!(matches!(svc.cancel(&dan_actor, third.id, cancel.clone(), &src).await, Err(CrmError::Forbidden(_))));
    let withdrawn = CancelApproval { comment: Some("wrong file".into()), expected_version: None };
    let withdrawn = svc.cancel(&ann_actor, third.id, withdrawn, &src).await.unwrap();
    assert_eq!((withdrawn.state, withdrawn.cancel_reason), (ApprovalState::Cancelled, Some(CancelReason::Withdrawn)));
    assert_eq!(withdrawn.cancel_comment.as_deref(), Some("wrong file"));
    let fourth = svc.request(&ann_actor, doc.id, one_step(&[cat], ApprovalRule::Any), &src).await.unwrap();
    svc.cancel(&a.actor, fourth.id, cancel.clone(), &src).await.unwrap();

    // Listing, newest first; tenants apart.
    let listed: Vec<_> = svc.list(&ben_actor, doc.id).await.unwrap().into_iter().map(|x| x.id).collect();
    assert_eq!(listed, [fourth.id, third.id, second.id, id]);
    assert!(matches!(svc.get(&b.actor, id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.list(&b.actor, doc.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(store.approvals().get(b.tenant.id, id).await, Err(CrmError::NotFound { .. })));
    assert!(store.approvals().list_for_document(b.tenant.id, doc.id).await.unwrap().is_empty());
    let foreign = Approval { version: approved.version + 1, tenant_id: b.tenant.id, ..approved.clone() };
    let audit = AuditDraft {
        tenant_id: b.tenant.id,
        at: crm.clock().now(),
        actor: b.actor.principal,
        action: AuditAction::Approve,
        document_id: Some(doc.id),
        detail: serde_json::Value::Null,
        source: None,
    };
    assert!(matches!(store.approvals().update(&foreign, &audit, &[]).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(
        store.approvals().insert(&Approval { id: crate::id::ApprovalId::new(), ..foreign }, &audit, &[]).await,
        Err(CrmError::NotFound { .. })
    ));
    assert!(
        crm.documents().audit_trail(&b.actor, 0, 100).await.unwrap().iter().all(|e| e.action != AuditAction::Approve)
    );

    // Every transition is an event about the document, and an audit entry in the chain.
    let types: Vec<EventType> =
        store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().into_iter().map(|e| e.event.event_type).collect();
    let count = |t: EventType| types.iter().filter(|x| **x == t).count();
    assert_eq!(count(EventType::DocumentApprovalRequested), 4);
    assert_eq!(count(EventType::DocumentApprovalDecided), 2);
    assert_eq!(count(EventType::DocumentApprovalStepCompleted), 1);
    assert_eq!(count(EventType::DocumentApproved), 1);
    assert_eq!(count(EventType::DocumentRejected), 1);
    assert_eq!(count(EventType::DocumentApprovalCancelled), 2);
    let trail = crm.documents().audit_trail(&a.actor, 0, 1000).await.unwrap();
    let audited = |action: AuditAction| trail.iter().filter(|e| e.action == action).count();
    assert_eq!(
        [
            audited(AuditAction::RequestApproval),
            audited(AuditAction::Approve),
            audited(AuditAction::Reject),
            audited(AuditAction::CancelApproval)
        ],
        [4, 3, 2, 2]
    );
    assert!(trail.iter().any(|e| e.action == AuditAction::Reject && e.detail["comment"] == "clause 7"));
    assert!(crm.documents().verify_audit_trail(&a.actor).await.unwrap().valid);

    // Notifications: each step's approvers when it becomes current; the requester hears the rest.
    crm.worker().run_until_idle().await.unwrap();
    let asked = |actor: Actor| {
        let crm = crm.clone();
        async move {
            let inbox = crm.activity().inbox(&actor, InboxFilter::default(), PageRequest::first(100)).await.unwrap();
            inbox.items.iter().filter(|n| n.kind == NotificationKind::ApprovalRequested).count()
        }
    };
    assert_eq!(asked(ann_actor).await, 2, "the first two requests");
    assert_eq!(asked(ben_actor).await, 1);
    assert_eq!(asked(dan_actor).await, 1, "the first request's second step; the second's was never reached");
    assert_eq!(asked(cat_actor).await, 5, "steps of every request it sits on");
    let owner = crm.activity().inbox(&a.actor, InboxFilter::default(), PageRequest::first(100)).await.unwrap();
    assert!(owner.items.iter().any(|n| n.verb == "approved"), "the requester follows the document");
    assert!(owner.items.iter().any(|n| n.verb == "rejected"));

    // A private document: every approver must be able to see it, and only they decide.
    let private = NewDocument { visibility: Visibility::Private, ..NewDocument::default_with_title("Secret") };
    let (secret, _) = crm.documents().upload(&a.actor, private, file("s.txt", b"secret"), &src).await.unwrap();
    match svc.request(&a.actor, secret.id, one_step(&[ann, cat], ApprovalRule::Any), &src).await {
        Err(CrmError::Validation(errors)) => {
            let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
            assert_eq!(found, [("steps[0].approvers[0]", "no_access"), ("steps[0].approvers[1]", "no_access")]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    crm.documents().share_with(&a.actor, secret.id, ann, Access::View, &src).await.unwrap();
    let hidden = svc.request(&a.actor, secret.id, one_step(&[ann], ApprovalRule::Any), &src).await.unwrap();
    assert!(matches!(svc.get(&cat_actor, hidden.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(svc.list(&cat_actor, secret.id).await, Err(CrmError::NotFound { .. })));
    let hidden = svc.approve(&ann_actor, hidden.id, Decide::default(), &src).await.unwrap();
    assert_eq!(hidden.state, ApprovalState::Approved, "view access is enough to decide");
}

/// A new version (uploaded or restored) cancels the pending approval in its own transaction,
/// with an event and an audit entry; the store refuses a version that would leave a pending
/// approval of an older version, and an approval of anything but the latest version.
pub async fn approvals_are_voided_by_new_versions(store: Arc<dyn Store>) {
    let crm = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Voids").await;
    let (ann, ann_actor) = person(&a, "ann", Role::Member).await;
    let svc = crm.documents().approvals();
    let src = Source::default();
    let doc = upload(&crm, &a.actor, "Offer").await;
    let requested = svc.request(&a.actor, doc.id, one_step(&[ann], ApprovalRule::All), &src).await.unwrap();

    let v2 = crm.documents().upload_version(&ann_actor, doc.id, file("offer.txt", b"v2"), None, &src).await.unwrap();
    let voided = svc.get(&a.actor, requested.id).await.unwrap();
    assert_eq!(
        (voided.state, voided.cancel_reason, voided.version),
        (ApprovalState::Cancelled, Some(CancelReason::NewVersion), 2)
    );
    assert_eq!(voided.cancelled_by, Some(ann_actor.principal));
    assert_eq!(voided.steps[0].state, StepState::Cancelled);
    let events = store.outbox().list(a.tenant.id, None, 10_000).await.unwrap();
    let tail: Vec<EventType> = events.iter().rev().take(2).rev().map(|e| e.event.event_type).collect();
    assert_eq!(tail, [EventType::DocumentVersionAdded, EventType::DocumentApprovalCancelled]);
    assert_eq!(events.last().unwrap().event.data["reason"], "new_version");
    let trail = crm.documents().audit_trail(&a.actor, 0, 1000).await.unwrap();
    let tail: Vec<AuditAction> = trail.iter().rev().take(2).rev().map(|e| e.action).collect();
    assert_eq!(tail, [AuditAction::NewVersion, AuditAction::CancelApproval]);
    assert!(matches!(
        svc.approve(&ann_actor, requested.id, Decide::default(), &src).await,
        Err(CrmError::Conflict { .. })
    ));

    // A restore is a new version too; without a pending approval a version is just added.
    let second = svc.request(&a.actor, doc.id, one_step(&[ann], ApprovalRule::All), &src).await.unwrap();
    assert_eq!(second.document_version, v2.number);
    crm.documents().restore_version(&a.actor, doc.id, 1, &src).await.unwrap();
    assert_eq!(svc.get(&a.actor, second.id).await.unwrap().cancel_reason, Some(CancelReason::NewVersion));
    crm.documents().upload_version(&a.actor, doc.id, file("offer.txt", b"v4"), None, &src).await.unwrap();
    let approved_v4 = svc.request(&a.actor, doc.id, one_step(&[ann], ApprovalRule::All), &src).await.unwrap();
    let approved_v4 = svc.approve(&ann_actor, approved_v4.id, Decide::default(), &src).await.unwrap();
    crm.documents().upload_version(&a.actor, doc.id, file("offer.txt", b"v5"), None, &src).await.unwrap();
    assert_eq!(svc.get(&a.actor, approved_v4.id).await.unwrap(), approved_v4, "a decided approval stays as it was");

    // The store's own refusals: nothing written on any of them.
    let repo = store.documents();
    let current = repo.get(a.tenant.id, doc.id).await.unwrap();
    let pending = svc.request(&a.actor, doc.id, one_step(&[ann], ApprovalRule::All), &src).await.unwrap();
    let old =
        Approval { id: crate::id::ApprovalId::new(), document_version: current.latest_version - 1, ..pending.clone() };
    let draft = |action: AuditAction| AuditDraft {
        tenant_id: a.tenant.id,
        at: crm.clock().now(),
        actor: a.actor.principal,
        action,
        document_id: Some(doc.id),
        detail: serde_json::Value::Null,
        source: None,
    };
    let events_before = store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().len();
    let audit_before = crm.documents().audit_trail(&a.actor, 0, 1000).await.unwrap().len();
    let refused = store.approvals().insert(&old, &draft(AuditAction::RequestApproval), &[]).await;
    assert!(
        matches!(&refused, Err(CrmError::Conflict { field: Some(f), .. }) if f == "document_version"),
        "{refused:?}"
    );
    let next = Document { latest_version: current.latest_version + 1, version: current.version + 1, ..current.clone() };
    let mut version = repo.get_version(a.tenant.id, doc.id, current.latest_version).await.unwrap();
    version.number = next.latest_version;
    let unvoided = repo.add_version(&next, &version, &draft(AuditAction::NewVersion), &[], None).await;
    assert!(matches!(&unvoided, Err(CrmError::Conflict { field: Some(f), .. }) if f == "approval"), "{unvoided:?}");
    let stale = pending.cancel(a.actor.principal, CancelReason::NewVersion, None, crm.clock().now()).unwrap();
    let stale = ApprovalVoid {
        approval: Approval { version: stale.version + 1, ..stale },
        audit: draft(AuditAction::CancelApproval),
    };
    let written = repo.add_version(&next, &version, &draft(AuditAction::NewVersion), &[], Some(&stale)).await;
    assert!(matches!(&written, Err(CrmError::Conflict { field: Some(f), .. }) if f == "approval"), "{written:?}");
    assert_eq!(repo.get(a.tenant.id, doc.id).await.unwrap(), current, "no version was added");
    assert_eq!(svc.get(&a.actor, pending.id).await.unwrap(), pending);
    assert_eq!(store.outbox().list(a.tenant.id, None, 10_000).await.unwrap().len(), events_before);
    assert_eq!(crm.documents().audit_trail(&a.actor, 0, 1000).await.unwrap().len(), audit_before);

    // Requests racing new versions: never a pending approval of an older version.
    for round in 0..6 {
        let crm1 = crm.clone();
        let crm2 = crm.clone();
        let actor = a.actor;
        let request = tokio::spawn(async move {
            let input = one_step(&[ann], ApprovalRule::All);
            crm1.documents().approvals().request(&actor, doc.id, input, &Source::default()).await
        });
        let upload = tokio::spawn(async move {
            let bytes = format!("round {round}");
            crm2.documents()
                .upload_version(&actor, doc.id, file("offer.txt", bytes.as_bytes()), None, &Source::default())
                .await
        });
        let requested = request.await.expect("task");
        upload.await.expect("task").expect("a new version is always added");
        assert!(
            requested.is_ok()
                || is_conflict_on(&requested, "document_version")
                || is_conflict_on(&requested, "approval"),
            "{requested:?}"
        );
        let latest = repo.get(a.tenant.id, doc.id).await.unwrap().latest_version;
        for approval in store.approvals().list_for_document(a.tenant.id, doc.id).await.unwrap() {
            if approval.state == ApprovalState::Pending {
                assert_eq!(approval.document_version, latest, "a pending approval is of the latest version");
            }
        }
    }
    assert!(crm.documents().verify_audit_trail(&a.actor).await.unwrap().valid);

    // Purging the document takes its approvals with it.
    crm.documents().trash(&a.actor, doc.id, &src).await.unwrap();
    crm.documents().purge(&a.actor, doc.id, &src).await.unwrap();
    assert!(matches!(store.approvals().get(a.tenant.id, pending.id).await, Err(CrmError::NotFound { .. })));
    assert!(store.approvals().list_for_document(a.tenant.id, doc.id).await.unwrap().is_empty());
}

/// Approvers deciding at the same moment: every decision is kept, the step settles exactly once;
/// requests at the same moment: one pending approval.
pub async fn approvals_keep_every_concurrent_decision(store: Arc<dyn Store>) {
    let crm = crm_with_blobs(store.clone()).await;
    let a = Fixture::with_crm(crm.clone(), "Crowd").await;
    let mut approvers = Vec::new();
    for i in 0..6 {
        approvers.push(person(&a, &format!("p{i}"), Role::Member).await);
    }
    let ids: Vec<MemberId> = approvers.iter().map(|p| p.0).collect();
    let doc = upload(&crm, &a.actor, "Budget").await;
    let svc = crm.documents().approvals();
    let src = Source::default();

    // Two at once on an `all` step of two.
    let pair = svc.request(&a.actor, doc.id, one_step(&ids[..2], ApprovalRule::All), &src).await.unwrap();
    let mut tasks = Vec::new();
    for (_, actor) in &approvers[..2] {
        let (crm, actor, id) = (crm.clone(), *actor, pair.id);
        tasks.push(tokio::spawn(async move {
            crm.documents().approvals().approve(&actor, id, Decide::default(), &Source::default()).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("no decision is lost");
    }
    let pair = svc.get(&a.actor, pair.id).await.unwrap();
    assert_eq!((pair.state, pair.steps[0].decisions.len(), pair.version), (ApprovalState::Approved, 2, 3));

    // Six at once on an `all` step of six: all six land, in some order, and it settles once.
    let crowd = svc.request(&a.actor, doc.id, one_step(&ids, ApprovalRule::All), &src).await.unwrap();
    let mut tasks = Vec::new();
    for (_, actor) in &approvers {
        let (crm, actor, id) = (crm.clone(), *actor, crowd.id);
        tasks.push(tokio::spawn(async move {
            crm.documents().approvals().approve(&actor, id, decide("yes"), &Source::default()).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("no decision is lost");
    }
    let crowd = svc.get(&a.actor, crowd.id).await.unwrap();
    assert_eq!(crowd.state, ApprovalState::Approved);
    assert_eq!((crowd.steps[0].decisions.len(), crowd.version), (6, 7));
    let mut deciders: Vec<MemberId> = crowd.steps[0].decisions.iter().map(|d| d.member).collect();
    deciders.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(deciders, expected, "each approver once");
    assert!(crowd.steps[0].decisions.iter().all(|d| d.verdict == Verdict::Approve));
    let events = store.outbox().list(a.tenant.id, None, 10_000).await.unwrap();
    let settled = events.iter().filter(|e| e.event.event_type == EventType::DocumentApproved).count();
    assert_eq!(settled, 2, "each approval settles once");

    // Requests at the same moment: exactly one becomes the document's pending approval.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (crm, actor, approvers) = (crm.clone(), a.actor, ids.clone());
        tasks.push(tokio::spawn(async move {
            let input = one_step(&approvers, ApprovalRule::Any);
            crm.documents().approvals().request(&actor, doc.id, input, &Source::default()).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            refused => assert!(is_conflict_on(&refused, "approval"), "{refused:?}"),
        }
    }
    assert_eq!(created, 1);
    let pending = store.approvals().list_for_document(a.tenant.id, doc.id).await.unwrap();
    assert_eq!(pending.iter().filter(|x| x.state == ApprovalState::Pending).count(), 1);
    assert!(crm.documents().verify_audit_trail(&a.actor).await.unwrap().valid);
}
