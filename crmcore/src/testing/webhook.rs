//! Contract checks for webhooks: endpoints round-trip with versions and isolation, deliveries are
//! unique per (endpoint, event), claims are exclusive, leased and take each endpoint's
//! deliveries only up to the room it was given, outcomes are written only under
//! their lease together with attempts, health and events; requeue and retention; and the whole
//! path from a CRM mutation to a signed, logged delivery through the worker.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::fixtures::{Fixture, now};
use crate::actor::Actor;
use crate::crm::Crm;
use crate::error::CrmError;
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{DeliveryId, EventId, LeaseId, TenantId, WebhookEndpointId};
use crate::page::PageRequest;
use crate::ports::{Clock, ManualClock, Store, TransportError, WebhookRequest, WebhookResponse, WebhookTransport};
use crate::webhook::{
    CircuitState, ClaimLimits, DeliveryAttempt, DeliveryFilter, DeliveryOutcome, DeliveryStatus, EndpointHealth,
    EndpointPatch, ErrorClass, NewEndpoint, SigningSecret, WebhookDelivery, WebhookEndpoint, verify,
};

/// A transport that records every request and answers from a script (then with the default).
#[derive(Debug, Default)]
pub struct ScriptedTransport {
    /// Requests received, in order.
    pub requests: Mutex<Vec<WebhookRequest>>,
    /// Answers to give, first to last; `Err` simulates a transport failure.
    pub script: Mutex<Vec<std::result::Result<u16, TransportError>>>,
    /// Answer once the script is used up.
    pub default_status: u16,
}

impl ScriptedTransport {
    /// Answers `status` to everything.
    pub fn answering(status: u16) -> Arc<Self> {
        Arc::new(Self { default_status: status, ..Self::default() })
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<WebhookRequest> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl WebhookTransport for ScriptedTransport {
    async fn post(&self, request: &WebhookRequest) -> std::result::Result<WebhookResponse, TransportError> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).push(request.clone());
        let next = {
            let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
            if script.is_empty() { Ok(self.default_status) } else { script.remove(0) }
        };
        let status = next?;
        Ok(WebhookResponse {
            status,
            latency: StdDuration::from_millis(3),
            headers: vec![("retry-after".into(), "120".into())].into_iter().filter(|_| status == 429).collect(),
            body_excerpt: format!("status {status}"),
        })
    }
}

fn header<'a>(request: &'a WebhookRequest, name: &str) -> &'a str {
    request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

async fn endpoint(f: &Fixture, url: &str, types: &[&str]) -> (WebhookEndpointId, String) {
    let input = NewEndpoint {
        url: url.into(),
        description: "test".into(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        ..NewEndpoint::default()
    };
    let created = f.crm.webhooks().create_endpoint(&f.actor, input).await.expect("endpoint created");
    (created.endpoint.id, created.secret)
}

fn deal_input(title: &str) -> crate::deal::NewDeal {
    crate::deal::NewDeal {
        title: title.into(),
        contact_id: None,
        owner_id: None,
        amount_minor: 1000,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    }
}

fn raw_delivery(tenant: TenantId, endpoint: WebhookEndpointId, at: DateTime<Utc>) -> WebhookDelivery {
    WebhookDelivery {
        id: DeliveryId::new(),
        tenant_id: tenant,
        endpoint_id: endpoint,
        event_id: EventId::new(),
        event_type: EventType::ContactCreated,
        payload: Some(r#"{"type":"contact.created"}"#.into()),
        status: DeliveryStatus::Pending,
        attempts: 0,
        schedule_attempts: 0,
        next_attempt_at: Some(at),
        last_status: None,
        created_at: at,
        updated_at: at,
    }
}

/// Endpoints round-trip every field, keep versions, stay in their tenant, and only enabled ones
/// are matched; deleting one removes its deliveries.
pub async fn webhook_endpoints_round_trip_with_versions_and_isolation(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Hooks A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Hooks B").await;
    let repo = store.webhooks();
    let input = NewEndpoint {
        url: "https://hooks.example.com/a?x=1".into(),
        description: "CRM sync".into(),
        event_types: vec!["deal.*".into(), "contact.created".into()],
        payload_filter: vec![crate::webhook::PayloadCondition {
            pointer: "/object/stage".into(),
            op: crate::webhook::PayloadOp::Ne,
            value: json!("lost"),
        }],
        headers: [("X-Api-Key".to_owned(), "k1".to_owned())].into(),
        rate_limit_per_second: Some(50),
        test_mode: true,
        format: crate::integration::PayloadFormat::Teams,
        secret: None,
    };
    let created = a.crm.webhooks().create_endpoint(&a.actor, input).await.unwrap();
    assert!(created.secret.starts_with("whsec_"));
    let id = created.endpoint.id;
    let stored = repo.get_endpoint(a.tenant.id, id).await.unwrap();
    assert_eq!(stored.url.as_str(), "https://hooks.example.com/a?x=1");
    assert_eq!(stored.event_types.patterns(), ["contact.created", "deal.*"]);
    assert_eq!(stored.headers.get("X-Api-Key").map(String::as_str), Some("k1"));
    assert_eq!((stored.rate_limit_per_second, stored.test_mode, stored.enabled), (Some(50), true, true));
    assert_eq!(stored.format, crate::integration::PayloadFormat::Teams);
    assert!(!stored.secrets.current.as_str().contains(&created.secret), "secrets are sealed at rest");
    assert_eq!(a.crm.webhooks().reveal_secret(&a.actor, id).await.unwrap(), created.secret);

    // Every field, including health and a rotation's previous secret, round-trips exactly.
    let mut full = stored.clone();
    full.circuit = CircuitState {
        consecutive_failures: 3,
        open_until: Some(now() + Duration::seconds(30)),
        openings: 1,
        failing_since: Some(now()),
    };
    full.secrets.previous = Some(stored.secrets.current.clone());
    full.secrets.previous_until = Some(now() + Duration::hours(1));
    full.disabled_reason = Some("why".into());
    full.enabled = false;
    full.version += 1;
    repo.update_endpoint(&full, &[]).await.unwrap();
    assert_eq!(repo.get_endpoint(a.tenant.id, id).await.unwrap(), full);
    let stale = WebhookEndpoint { description: "stale".into(), ..full.clone() };
    assert!(matches!(repo.update_endpoint(&stale, &[]).await, Err(CrmError::Conflict { .. })));
    assert!(matches!(repo.get_endpoint(b.tenant.id, id).await, Err(CrmError::NotFound { .. })));
    let foreign = WebhookEndpoint { tenant_id: b.tenant.id, version: full.version + 1, ..full.clone() };
    assert!(matches!(repo.update_endpoint(&foreign, &[]).await, Err(CrmError::NotFound { .. })));

    // Service edits: validation, versions, enable/disable.
    let svc = a.crm.webhooks();
    let bad = svc.update_endpoint(&a.actor, id, EndpointPatch { url: Some("ftp://x".into()), ..Default::default() });
    assert!(matches!(bad.await, Err(CrmError::Validation(_))));
    let enabled = svc.enable_endpoint(&a.actor, id).await.unwrap();
    assert!(enabled.enabled && enabled.consecutive_failures == 0 && enabled.disabled_reason.is_none());
    let patch = EndpointPatch { description: Some("renamed".into()), expected_version: Some(1), ..Default::default() };
    assert!(matches!(svc.update_endpoint(&a.actor, id, patch).await, Err(CrmError::Conflict { .. })));

    let (second, _) = endpoint(&a, "https://hooks.example.com/b", &[]).await;
    let (other_tenant, _) = endpoint(&b, "https://hooks.example.com/c", &[]).await;
    let page = repo.list_endpoints(a.tenant.id, PageRequest::first(1)).await.unwrap();
    assert_eq!(page.items.iter().map(|e| e.id).collect::<Vec<_>>(), [second], "newest first");
    let cursor = page.next_cursor.expect("a second page");
    let rest = repo.list_endpoints(a.tenant.id, PageRequest::parse(Some(5), Some(&cursor)).unwrap()).await.unwrap();
    assert_eq!(rest.items.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    svc.disable_endpoint(&a.actor, second).await.unwrap();
    let mut enabled: Vec<_> =
        repo.enabled_endpoints(&[a.tenant.id, b.tenant.id]).await.unwrap().into_iter().map(|e| e.id).collect();
    enabled.sort();
    let mut expected = vec![id, other_tenant];
    expected.sort();
    assert_eq!(enabled, expected);
    assert_eq!(repo.enabled_endpoints(&[b.tenant.id]).await.unwrap().len(), 1);

    let delivery = raw_delivery(a.tenant.id, id, now());
    assert_eq!(repo.insert_deliveries(std::slice::from_ref(&delivery)).await.unwrap(), 1);
    assert!(matches!(svc.delete_endpoint(&b.actor, id).await, Err(CrmError::NotFound { .. })));
    svc.delete_endpoint(&a.actor, id).await.unwrap();
    assert!(matches!(repo.get_endpoint(a.tenant.id, id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(repo.get_delivery(a.tenant.id, delivery.id).await, Err(CrmError::NotFound { .. })));
    let types: Vec<EventType> =
        store.outbox().list(a.tenant.id, None, 100).await.unwrap().into_iter().map(|e| e.event.event_type).collect();
    for t in [
        EventType::WebhookEndpointCreated,
        EventType::WebhookEndpointUpdated,
        EventType::WebhookEndpointDisabled,
        EventType::WebhookEndpointDeleted,
    ] {
        assert!(types.contains(&t), "{t} emitted");
    }
}

/// Deliveries are unique per (endpoint, event); claims are exclusive, due-ordered, skip the
/// endpoints given no room and expire; outcomes are written only under their lease, atomically with
/// attempts, health and events; requeue, retention and the log behave.
pub async fn webhook_deliveries_claims_outcomes_and_replay(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Deliveries A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Deliveries B").await;
    let repo = store.webhooks();
    let (e1, _) = endpoint(&a, "https://one.example.com/", &[]).await;
    let (e2, _) = endpoint(&a, "https://two.example.com/", &[]).await;
    let t0 = now();
    let d1 = raw_delivery(a.tenant.id, e1, t0 - Duration::seconds(3));
    let d2 = raw_delivery(a.tenant.id, e1, t0 - Duration::seconds(2));
    let d3 = raw_delivery(a.tenant.id, e2, t0 - Duration::seconds(1));
    let later = raw_delivery(a.tenant.id, e2, t0 + Duration::seconds(60));
    let batch = [d1.clone(), d2.clone(), d3.clone(), later.clone()];
    assert_eq!(repo.insert_deliveries(&batch).await.unwrap(), 4);
    let again = WebhookDelivery { id: DeliveryId::new(), ..d1.clone() };
    assert_eq!(repo.insert_deliveries(&[again, d2.clone()]).await.unwrap(), 0, "unique per (endpoint, event)");
    assert_eq!(repo.get_delivery(a.tenant.id, d1.id).await.unwrap(), d1, "round-trips");
    assert!(matches!(repo.get_delivery(b.tenant.id, d1.id).await, Err(CrmError::NotFound { .. })));
    assert_eq!(repo.next_due().await.unwrap(), Some(d1.next_attempt_at.unwrap()));

    let lease = LeaseId::new();
    let until = t0 + Duration::seconds(30);
    let skipped =
        repo.claim_due(t0, lease, until, ClaimLimits { room: &[(e1, 0)], ..ClaimLimits::total(10) }).await.unwrap();
    assert_eq!(skipped.iter().map(|d| d.id).collect::<Vec<_>>(), [d3.id], "skip list honoured, future not due");
    let claimed = repo.claim_due(t0, lease, until, ClaimLimits::total(1)).await.unwrap();
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), [d1.id], "earliest due first, limit holds");
    let other = LeaseId::new();
    let rest = repo.claim_due(t0, other, until, ClaimLimits::total(10)).await.unwrap();
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), [d2.id], "leased deliveries are not handed out twice");
    assert!(repo.claim_due(t0, LeaseId::new(), until, ClaimLimits::total(10)).await.unwrap().is_empty());
    let reclaim = LeaseId::new();
    let expired = repo.claim_due(until, reclaim, until + Duration::seconds(30), ClaimLimits::total(10)).await.unwrap();
    assert_eq!(expired.len(), 3, "expired leases are claimable again");

    // Outcomes: only the current lease writes; attempts, health and events go in together.
    let mut succeeded = d1.clone();
    succeeded.status = DeliveryStatus::Succeeded;
    succeeded.attempts = 1;
    succeeded.schedule_attempts = 1;
    succeeded.next_attempt_at = None;
    succeeded.last_status = Some(204);
    succeeded.updated_at = until;
    let attempt = |d: &WebhookDelivery, number, status: Option<u16>, class| DeliveryAttempt {
        delivery_id: d.id,
        tenant_id: d.tenant_id,
        endpoint_id: d.endpoint_id,
        number,
        attempted_at: until,
        status,
        latency_ms: 12,
        request_headers: vec![("webhook-id".into(), d.message_id())],
        response_headers: vec![("x-echo".into(), "1".into())],
        response_excerpt: "ok ✓".into(),
        error_class: class,
        error: class.map(|_| "boom".to_owned()),
        test_mode: false,
    };
    let stale = DeliveryOutcome { delivery: succeeded.clone(), lease, attempt: Some(attempt(&d1, 1, Some(204), None)) };
    assert_eq!(repo.record_outcomes(&[stale], &[], &[]).await.unwrap(), 0, "a lost lease writes nothing");
    let mut retrying = d2.clone();
    retrying.attempts = 1;
    retrying.schedule_attempts = 1;
    retrying.next_attempt_at = Some(until + Duration::seconds(5));
    retrying.last_status = Some(503);
    let health = EndpointHealth {
        tenant_id: a.tenant.id,
        endpoint_id: e2,
        circuit: CircuitState { consecutive_failures: 1, failing_since: Some(until), ..CircuitState::default() },
        disable: Some("answered 410".into()),
    };
    let event = DomainEvent::new(
        &Actor::system(a.tenant.id),
        EventType::DeliverySucceeded,
        EntityRef { kind: EntityKind::WebhookDelivery, id: d1.id.0 },
        json!({"object": {"delivery_id": d1.id}}),
        until,
    );
    let before = store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len();
    let written = repo
        .record_outcomes(
            &[
                DeliveryOutcome {
                    delivery: succeeded.clone(),
                    lease: reclaim,
                    attempt: Some(attempt(&d1, 1, Some(204), None)),
                },
                DeliveryOutcome {
                    delivery: retrying.clone(),
                    lease: reclaim,
                    attempt: Some(attempt(&d2, 1, Some(503), Some(ErrorClass::Throttled))),
                },
            ],
            &[health],
            &[event],
        )
        .await
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(repo.get_delivery(a.tenant.id, d1.id).await.unwrap(), succeeded);
    assert_eq!(repo.get_delivery(a.tenant.id, d2.id).await.unwrap(), retrying);
    assert_eq!(repo.list_attempts(a.tenant.id, d1.id).await.unwrap(), vec![attempt(&d1, 1, Some(204), None)]);
    assert!(repo.list_attempts(b.tenant.id, d1.id).await.unwrap().is_empty(), "attempts stay in their tenant");
    assert_eq!(store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len(), before + 1);
    let e2_now = repo.get_endpoint(a.tenant.id, e2).await.unwrap();
    assert!(!e2_now.enabled && e2_now.disabled_reason.as_deref() == Some("answered 410"));
    assert_eq!(e2_now.circuit.consecutive_failures, 1);
    assert_eq!(e2_now.version, 1, "health updates leave the version alone");
    // The retry is released and due at its time, not before.
    let skip_e2 = ClaimLimits { room: &[(e2, 0)], ..ClaimLimits::total(10) };
    assert!(repo.claim_due(until, LeaseId::new(), until + Duration::seconds(30), skip_e2).await.unwrap().is_empty());
    let due =
        repo.claim_due(until + Duration::seconds(5), LeaseId::new(), until + Duration::seconds(60), skip_e2).await;
    assert_eq!(due.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), [d2.id]);

    // Listing filters and pages newest first.
    let all = repo.list_deliveries(a.tenant.id, DeliveryFilter::default(), PageRequest::first(50)).await.unwrap();
    assert_eq!(all.items.iter().map(|d| d.id).collect::<Vec<_>>(), [later.id, d3.id, d2.id, d1.id]);
    let filter = DeliveryFilter { endpoint_id: Some(e1), status: Some(DeliveryStatus::Succeeded), event_id: None };
    let ok = repo.list_deliveries(a.tenant.id, filter, PageRequest::first(50)).await.unwrap();
    assert_eq!(ok.items.iter().map(|d| d.id).collect::<Vec<_>>(), [d1.id]);
    let by_event = DeliveryFilter { event_id: Some(d3.event_id), ..DeliveryFilter::default() };
    assert_eq!(repo.list_deliveries(a.tenant.id, by_event, PageRequest::first(5)).await.unwrap().items.len(), 1);
    let first = repo.list_deliveries(a.tenant.id, DeliveryFilter::default(), PageRequest::first(3)).await.unwrap();
    let cursor = first.next_cursor.expect("more");
    let next = repo
        .list_deliveries(a.tenant.id, DeliveryFilter::default(), PageRequest::parse(Some(3), Some(&cursor)).unwrap())
        .await
        .unwrap();
    assert_eq!(next.items.iter().map(|d| d.id).collect::<Vec<_>>(), [d1.id]);
    assert!(
        repo.list_deliveries(b.tenant.id, DeliveryFilter::default(), PageRequest::first(5))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Requeue: by id (finished only, same endpoint and tenant) and every failed one since a time.
    let t1 = until + Duration::seconds(100);
    assert_eq!(repo.requeue(b.tenant.id, e1, Some(&[d1.id]), t0 - Duration::days(1), t1).await.unwrap(), 0);
    assert_eq!(repo.requeue(a.tenant.id, e1, Some(&[d1.id, d2.id]), t0 - Duration::days(1), t1).await.unwrap(), 1);
    let replayed = repo.get_delivery(a.tenant.id, d1.id).await.unwrap();
    assert_eq!(
        (replayed.status, replayed.schedule_attempts, replayed.attempts, replayed.next_attempt_at),
        (DeliveryStatus::Pending, 0, 1, Some(t1))
    );
    let failed: Vec<WebhookDelivery> = (0..3)
        .map(|i| {
            let mut d = raw_delivery(a.tenant.id, e2, t0 + Duration::seconds(i));
            d.status = DeliveryStatus::Failed;
            d.next_attempt_at = None;
            d
        })
        .collect();
    repo.insert_deliveries(&failed).await.unwrap();
    assert_eq!(repo.requeue(a.tenant.id, e2, None, t0 + Duration::seconds(1), t1).await.unwrap(), 2, "since holds");

    // Retention drops payloads of finished deliveries only.
    let purged = repo.purge_payloads(t0 + Duration::days(1)).await.unwrap();
    assert_eq!(purged, 1, "only the one failed delivery left is finished");
    assert_eq!(repo.get_delivery(a.tenant.id, failed[0].id).await.unwrap().payload, None);
    assert!(repo.get_delivery(a.tenant.id, d2.id).await.unwrap().payload.is_some(), "pending ones keep theirs");
    assert_eq!(repo.requeue(a.tenant.id, e2, Some(&[failed[0].id]), t0, t1).await.unwrap(), 0, "purged: no replay");
}

/// Claims go endpoint by endpoint: of each, its earliest due up to the room it was given, and of
/// those the earliest due up to the total. An endpoint with no room is passed over however many
/// of its deliveries are due before the others' (a slow endpoint at its in-flight cap).
pub async fn webhook_claims_take_each_endpoint_up_to_its_room(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Claim rooms").await;
    let repo = store.webhooks();
    let (slow, _) = endpoint(&f, "https://slow.example.com/", &[]).await;
    let (fast, _) = endpoint(&f, "https://fast.example.com/", &[]).await;
    let (third, _) = endpoint(&f, "https://third.example.com/", &[]).await;
    let t0 = now();
    let at = |ms: i64| t0 - Duration::milliseconds(ms);
    let queued: Vec<WebhookDelivery> = (0..40).map(|i| raw_delivery(f.tenant.id, slow, at(100_000 - i))).collect();
    let fast_due: Vec<WebhookDelivery> = [50_000, 49_000, 48_000, 47_000, 46_000]
        .into_iter()
        .map(|ms| raw_delivery(f.tenant.id, fast, at(ms)))
        .collect();
    let third_due: Vec<WebhookDelivery> =
        [49_500, 47_500, 45_500].into_iter().map(|ms| raw_delivery(f.tenant.id, third, at(ms))).collect();
    let later = raw_delivery(f.tenant.id, fast, t0 + Duration::seconds(60));
    let all: Vec<WebhookDelivery> = queued.iter().chain(&fast_due).chain(&third_due).chain([&later]).cloned().collect();
    assert_eq!(repo.insert_deliveries(&all).await.unwrap(), 49);
    let until = t0 + Duration::seconds(30);
    let ids = |claimed: Vec<WebhookDelivery>| claimed.into_iter().map(|d| d.id).collect::<Vec<_>>();

    let limits = ClaimLimits { total: 4, per_endpoint: 2, room: &[(slow, 0)] };
    let first = repo.claim_due(t0, LeaseId::new(), until, limits).await.unwrap();
    assert_eq!(
        ids(first),
        [fast_due[0].id, third_due[0].id, fast_due[1].id, third_due[1].id],
        "the full endpoint is passed over; two of each other, earliest due first"
    );
    let limits = ClaimLimits { total: 2, per_endpoint: 10, room: &[(slow, 0), (third, 1)] };
    let second = repo.claim_due(t0, LeaseId::new(), until, limits).await.unwrap();
    assert_eq!(ids(second), [fast_due[2].id, fast_due[3].id], "the total holds, earliest due first");
    let limits = ClaimLimits { total: 10, per_endpoint: 10, room: &[(slow, 3)] };
    let third_claim = repo.claim_due(t0, LeaseId::new(), until, limits).await.unwrap();
    assert_eq!(
        ids(third_claim),
        [queued[0].id, queued[1].id, queued[2].id, fast_due[4].id, third_due[2].id],
        "a room of its own for one endpoint, the default for the others"
    );
    let rest = repo.claim_due(t0, LeaseId::new(), until, ClaimLimits::total(100)).await.unwrap();
    assert_eq!(ids(rest), ids(queued[3..].to_vec()), "what is left, not the future one");
    assert!(repo.claim_due(t0, LeaseId::new(), until, ClaimLimits::total(100)).await.unwrap().is_empty());
    let none = ClaimLimits { total: 0, ..ClaimLimits::total(100) };
    assert!(repo.claim_due(until, LeaseId::new(), until, none).await.unwrap().is_empty(), "a total of 0 takes none");
}

/// CRM mutations become signed deliveries to every matching endpoint through the worker:
/// failures retry on schedule, 410 disables, every attempt is logged, replay resends with the
/// same `webhook-id`, and outcome events reach listeners without feeding back.
pub async fn webhook_worker_delivers_signed_events_end_to_end(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(now()));
    let transport = ScriptedTransport::answering(200);
    let crm = Crm::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .webhook_transport(transport.clone())
        .build()
        .unwrap();
    let f = Fixture::with_crm(crm.clone(), "Delivery E2E").await;
    let (deals, deal_secret) = endpoint(&f, "https://deals.example.com/hook", &["deal.*"]).await;
    let (all, _) = endpoint(&f, "https://all.example.com/hook", &["contact.*"]).await;
    let (outcomes, _) = endpoint(&f, "https://ops.example.com/hook", &["delivery.failed"]).await;
    let slack = NewEndpoint {
        url: "https://hooks.slack.example.com/services/T0/B0/x".into(),
        event_types: vec!["deal.created".into()],
        format: crate::integration::PayloadFormat::Slack,
        ..NewEndpoint::default()
    };
    crm.webhooks().create_endpoint(&f.actor, slack).await.unwrap();
    f.contact("first@example.com").await;
    let deal = crm.deals().create(&f.actor, deal_input("Big one")).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();

    let sent = transport.received();
    let to_deals: Vec<&WebhookRequest> = sent.iter().filter(|r| r.url.starts_with("https://deals.")).collect();
    let to_all: Vec<&WebhookRequest> = sent.iter().filter(|r| r.url.starts_with("https://all.")).collect();
    assert_eq!(to_deals.len(), 1, "one deal event: {sent:#?}");
    assert_eq!(to_all.len(), 1, "one contact event");
    let to_slack: Vec<&WebhookRequest> = sent.iter().filter(|r| r.url.contains("slack")).collect();
    assert_eq!(to_slack.len(), 1, "the Slack connector gets the deal as a message");
    let message: serde_json::Value = serde_json::from_slice(&to_slack[0].body).unwrap();
    assert_eq!(message["text"], "Deal Big one created");
    assert_eq!(message["blocks"][0]["type"], "section");
    let request = to_deals[0];
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "deal.created");
    assert_eq!(body["data"]["object"]["id"], json!(deal.id));
    let secret = SigningSecret::parse(&deal_secret).unwrap();
    verify(
        &secret,
        header(request, "webhook-id"),
        header(request, "webhook-timestamp"),
        header(request, "webhook-signature"),
        &request.body,
        clock.now().timestamp(),
    )
    .expect("signature verifies");
    assert_eq!(header(request, "content-type"), "application/json");
    let to_deals_filter = DeliveryFilter { endpoint_id: Some(deals), ..Default::default() };
    let delivered =
        crm.webhooks().list_deliveries(&f.actor, to_deals_filter, PageRequest::first(10)).await.unwrap().items;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].status, DeliveryStatus::Succeeded);
    assert_eq!(header(request, "webhook-id"), delivered[0].message_id());
    let log = crm.webhooks().list_attempts(&f.actor, delivered[0].id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status, log[0].error_class), (Some(200), None));

    // A failing endpoint: 503 then a transport error, retried on schedule, then success.
    transport.script.lock().unwrap().extend([Ok(503), Err(TransportError::Timeout)]);
    crm.deals()
        .update(&f.actor, deal.id, crate::deal::DealPatch { title: Some("Bigger".into()), ..Default::default() })
        .await
        .unwrap();
    crm.worker().run_until_idle().await.unwrap();
    let pending = crm
        .webhooks()
        .list_deliveries(
            &f.actor,
            DeliveryFilter { status: Some(DeliveryStatus::Pending), ..Default::default() },
            PageRequest::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(pending.len(), 1, "the failed attempt waits for its retry");
    let retry_at = pending[0].next_attempt_at.unwrap();
    assert!(retry_at > clock.now() + Duration::seconds(3) && retry_at <= clock.now() + Duration::seconds(6));
    clock.advance(Duration::seconds(6));
    crm.worker().run_until_idle().await.unwrap();
    let after_timeout = crm.webhooks().get_delivery(&f.actor, pending[0].id).await.unwrap();
    assert_eq!((after_timeout.status, after_timeout.attempts), (DeliveryStatus::Pending, 2));
    clock.advance(Duration::minutes(7));
    crm.worker().run_until_idle().await.unwrap();
    let done = crm.webhooks().get_delivery(&f.actor, pending[0].id).await.unwrap();
    assert_eq!((done.status, done.attempts), (DeliveryStatus::Succeeded, 3));
    let log = crm.webhooks().list_attempts(&f.actor, done.id).await.unwrap();
    let classes: Vec<_> = log.iter().map(|a| (a.number, a.status, a.error_class)).collect();
    assert_eq!(
        classes,
        [(1, Some(503), Some(ErrorClass::Throttled)), (2, None, Some(ErrorClass::Timeout)), (3, Some(200), None)]
    );
    let ids: Vec<String> = transport
        .received()
        .iter()
        .filter(|r| r.url.starts_with("https://deals.") && header(r, "webhook-id") == done.message_id())
        .map(|r| header(r, "webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "the webhook-id is stable across retries");

    // Replay resends a finished delivery with the same id.
    let replayed = crm.webhooks().replay(&f.actor, done.id).await.unwrap();
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    assert!(matches!(crm.webhooks().replay(&f.actor, done.id).await, Err(CrmError::Conflict { .. })));
    crm.worker().run_until_idle().await.unwrap();
    assert_eq!(crm.webhooks().get_delivery(&f.actor, done.id).await.unwrap().attempts, 4);

    // 410 disables the endpoint, fails the delivery, and tells the listener once.
    transport.script.lock().unwrap().push(Ok(410));
    crm.deals().delete(&f.actor, deal.id).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();
    let gone = crm.webhooks().get_endpoint(&f.actor, deals).await.unwrap();
    assert!(!gone.enabled, "410 disables");
    let to_ops: Vec<serde_json::Value> = transport
        .received()
        .iter()
        .filter(|r| r.url.starts_with("https://ops."))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(to_ops.len(), 1, "one delivery.failed: {to_ops:#?}");
    assert_eq!(to_ops[0]["type"], "delivery.failed");
    assert_eq!(to_ops[0]["data"]["object"]["endpoint_id"], json!(deals));
    let events: Vec<EventType> =
        store.outbox().list(f.tenant.id, None, 1000).await.unwrap().into_iter().map(|e| e.event.event_type).collect();
    assert!(events.contains(&EventType::WebhookEndpointDisabled));
    assert!(!events.contains(&EventType::DeliverySucceeded), "no one listens for it, so it is not emitted");
    // A disabled endpoint gets nothing new.
    let to_deals_count = || transport.received().iter().filter(|r| r.url.starts_with("https://deals.")).count();
    let before = to_deals_count();
    crm.deals().create(&f.actor, deal_input("Another")).await.unwrap();
    crm.worker().run_until_idle().await.unwrap();
    assert_eq!(to_deals_count(), before);
    let _ = all;
    let _ = outcomes;
}
