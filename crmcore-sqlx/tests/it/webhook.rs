//! Webhook repository checks the contract suite does not make, on both backends: concurrent
//! claimers, outcome batches with repeated or stale entries, purged payloads, the idle worker's
//! wake-up time and references to endpoints of another tenant.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use crmcore::CrmError;
use crmcore::id::{DeliveryId, EventId, LeaseId, TenantId, WebhookEndpointId};
use crmcore::ports::Store;
use crmcore::testing::Fixture;
use crmcore::webhook::{
    CircuitState, ClaimLimits, DeliveryAttempt, DeliveryOutcome, DeliveryStatus, EndpointHealth, NewEndpoint,
    WebhookDelivery,
};

/// Raw SQL on the store's database, for states the port cannot reach.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn execute(&self, sql: &str) {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .expect("raw SQL runs");
    }
}

async fn sqlite() -> (Arc<dyn Store>, Raw) {
    let store = crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite store opens");
    let raw = Raw::Sqlite(store.pool().clone());
    (Arc::new(store), raw)
}

async fn postgres() -> Option<(Arc<dyn Store>, Raw)> {
    let url = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store connects");
    let raw = Raw::Postgres(store.pool().clone());
    Some((Arc::new(store), raw))
}

fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::microseconds(1)).unwrap()
}

async fn endpoint(f: &Fixture, url: &str) -> WebhookEndpointId {
    let input = NewEndpoint { url: url.into(), ..NewEndpoint::default() };
    f.crm.webhooks().create_endpoint(&f.actor, input).await.unwrap().endpoint.id
}

fn delivery(tenant: TenantId, endpoint: WebhookEndpointId, at: DateTime<Utc>) -> WebhookDelivery {
    WebhookDelivery {
        id: DeliveryId::new(),
        tenant_id: tenant,
        endpoint_id: endpoint,
        event_id: EventId::new(),
        event_type: crmcore::event::EventType::ContactCreated,
        payload: Some("{}".into()),
        status: DeliveryStatus::Pending,
        attempts: 0,
        schedule_attempts: 0,
        next_attempt_at: Some(at),
        last_status: None,
        created_at: at,
        updated_at: at,
    }
}

fn attempt(d: &WebhookDelivery, number: u32, at: DateTime<Utc>) -> DeliveryAttempt {
    DeliveryAttempt {
        delivery_id: d.id,
        tenant_id: d.tenant_id,
        endpoint_id: d.endpoint_id,
        number,
        attempted_at: at,
        status: Some(200),
        latency_ms: 1,
        request_headers: vec![],
        response_headers: vec![],
        response_excerpt: String::new(),
        error_class: None,
        error: None,
        test_mode: false,
    }
}

fn done(d: &WebhookDelivery, at: DateTime<Utc>) -> WebhookDelivery {
    WebhookDelivery {
        status: DeliveryStatus::Succeeded,
        attempts: d.attempts + 1,
        schedule_attempts: d.schedule_attempts + 1,
        next_attempt_at: None,
        last_status: Some(200),
        updated_at: at,
        ..d.clone()
    }
}

/// Six claimers racing over 150 deliveries take each exactly once.
async fn concurrent_claimers_never_share_a_delivery(store: Arc<dyn Store>, _raw: Raw) {
    let f = Fixture::new(store.clone(), "Claim race").await;
    let e = endpoint(&f, "https://race.example.com/").await;
    let t0 = now();
    let batch: Vec<WebhookDelivery> = (0..150).map(|i| delivery(f.tenant.id, e, t0 - Duration::seconds(i))).collect();
    assert_eq!(store.webhooks().insert_deliveries(&batch).await.unwrap(), 150);
    let claimers = (0..6).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let lease = LeaseId::new();
                let claimed = store
                    .webhooks()
                    .claim_due(t0, lease, t0 + Duration::minutes(1), ClaimLimits::total(7))
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                assert!(claimed.windows(2).all(|w| w[0].next_attempt_at <= w[1].next_attempt_at), "due order");
                mine.extend(claimed.into_iter().map(|d| d.id));
            }
        })
    });
    let mut all = Vec::new();
    for handle in claimers.collect::<Vec<_>>() {
        all.extend(handle.await.unwrap());
    }
    let unique: HashSet<DeliveryId> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "no delivery was claimed twice");
    assert_eq!(unique, batch.iter().map(|d| d.id).collect(), "every delivery was claimed");
}

/// A batch naming a delivery twice writes it as if one outcome followed the other; a stale lease
/// before the current one does not hide it; a purged payload stays purged; attempts are logged
/// only for written outcomes; duplicate health entries merge in order.
async fn outcome_batches_behave_like_sequential_writes(store: Arc<dyn Store>, raw: Raw) {
    let f = Fixture::new(store.clone(), "Outcome batch").await;
    let repo = store.webhooks();
    let e = endpoint(&f, "https://batch.example.com/").await;
    let t0 = now();
    let (a, b, c) = (delivery(f.tenant.id, e, t0), delivery(f.tenant.id, e, t0), delivery(f.tenant.id, e, t0));
    repo.insert_deliveries(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
    let lease = LeaseId::new();
    assert_eq!(repo.claim_due(t0, lease, t0 + Duration::minutes(1), ClaimLimits::total(10)).await.unwrap().len(), 3);
    // `c` loses its payload while in flight (retention never purges pending deliveries through
    // the port; the write must not bring a payload back however it went).
    raw.execute(&format!("UPDATE webhook_deliveries SET payload = NULL WHERE id = '{}'", c.id)).await;

    let t1 = t0 + Duration::seconds(1);
    let outcome = |d: &WebhookDelivery, lease, n| DeliveryOutcome {
        delivery: done(d, t1),
        lease,
        attempt: Some(attempt(d, n, t1)),
    };
    let health = |failures, disable: Option<&str>| EndpointHealth {
        tenant_id: f.tenant.id,
        endpoint_id: e,
        circuit: CircuitState { consecutive_failures: failures, ..CircuitState::default() },
        disable: disable.map(str::to_owned),
    };
    let written = repo
        .record_outcomes(
            &[
                outcome(&a, lease, 1),
                outcome(&a, lease, 2),
                outcome(&b, LeaseId::new(), 3),
                outcome(&b, lease, 1),
                outcome(&c, lease, 1),
            ],
            &[health(4, Some("first")), health(7, None)],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(written, 3, "a once, b under its current lease, c");
    let numbers = |id| {
        let repo = store.webhooks();
        let tenant = f.tenant.id;
        async move { repo.list_attempts(tenant, id).await.unwrap().iter().map(|a| a.number).collect::<Vec<_>>() }
    };
    assert_eq!(numbers(a.id).await, [1]);
    assert_eq!(numbers(b.id).await, [1]);
    assert_eq!(repo.get_delivery(f.tenant.id, a.id).await.unwrap(), done(&a, t1));
    let c_now = repo.get_delivery(f.tenant.id, c.id).await.unwrap();
    assert_eq!((c_now.status, c_now.payload), (DeliveryStatus::Succeeded, None), "a purged payload stays purged");
    let endpoint = repo.get_endpoint(f.tenant.id, e).await.unwrap();
    assert_eq!(endpoint.circuit.consecutive_failures, 7, "the last circuit wins");
    assert_eq!((endpoint.enabled, endpoint.disabled_reason.as_deref()), (false, Some("first")), "disable sticks");
    assert_eq!(endpoint.version, 1);
    // Written outcomes released their lease: writing again finds none.
    assert_eq!(repo.record_outcomes(&[outcome(&a, lease, 9)], &[], &[]).await.unwrap(), 0);
    assert_eq!(numbers(a.id).await, [1]);
}

/// An idle worker sleeps until the earliest pending delivery is due, or until its lease ends when
/// it is held past its time.
async fn next_due_waits_for_held_deliveries(store: Arc<dyn Store>, _raw: Raw) {
    let f = Fixture::new(store.clone(), "Next due").await;
    let repo = store.webhooks();
    let e = endpoint(&f, "https://due.example.com/").await;
    let t0 = now();
    assert_eq!(repo.next_due().await.unwrap(), None);
    let first = delivery(f.tenant.id, e, t0);
    let second = delivery(f.tenant.id, e, t0 + Duration::seconds(20));
    repo.insert_deliveries(&[first.clone(), second.clone()]).await.unwrap();
    assert_eq!(repo.next_due().await.unwrap(), Some(t0));
    repo.claim_due(t0, LeaseId::new(), t0 + Duration::seconds(30), ClaimLimits::total(1)).await.unwrap();
    assert_eq!(repo.next_due().await.unwrap(), Some(t0 + Duration::seconds(20)), "the free one comes first");
    repo.claim_due(t0 + Duration::seconds(20), LeaseId::new(), t0 + Duration::seconds(25), ClaimLimits::total(1))
        .await
        .unwrap();
    assert_eq!(repo.next_due().await.unwrap(), Some(t0 + Duration::seconds(25)), "both held: the earlier lease end");
}

/// Deliveries must name an endpoint of their own tenant; a batch with one that does not inserts
/// nothing. Empty inputs answer without touching anything.
async fn deliveries_reference_endpoints_of_their_tenant(store: Arc<dyn Store>, _raw: Raw) {
    let a = Fixture::new(store.clone(), "Refs A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Refs B").await;
    let repo = store.webhooks();
    let ea = endpoint(&a, "https://a.example.com/").await;
    let t0 = now();
    let ok = delivery(a.tenant.id, ea, t0);
    let foreign = delivery(b.tenant.id, ea, t0);
    let gone = delivery(a.tenant.id, WebhookEndpointId::new(), t0);
    for bad in [foreign, gone] {
        let err = repo.insert_deliveries(&[ok.clone(), bad.clone()]).await.unwrap_err();
        assert!(matches!(&err, CrmError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains(&bad.endpoint_id.to_string()), "{err}");
    }
    assert!(matches!(repo.get_delivery(a.tenant.id, ok.id).await, Err(CrmError::NotFound { .. })), "all or nothing");
    assert_eq!(repo.insert_deliveries(&[]).await.unwrap(), 0);
    assert!(repo.enabled_endpoints(&[]).await.unwrap().is_empty());
    assert_eq!(repo.requeue(a.tenant.id, ea, Some(&[]), t0, t0).await.unwrap(), 0);
    assert_eq!(repo.record_outcomes(&[], &[], &[]).await.unwrap(), 0);
    assert!(repo.claim_due(t0, LeaseId::new(), t0, ClaimLimits::total(0)).await.unwrap().is_empty());
}

macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let (store, raw) = super::sqlite().await;
                    super::$check(store, raw).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some((store, raw)) = super::postgres().await else {
                        eprintln!("skipped {}: store not configured", stringify!($check));
                        return;
                    };
                    super::$check(store, raw).await;
                }
            )*
        }
    };
}

on_both!(
    concurrent_claimers_never_share_a_delivery,
    outcome_batches_behave_like_sequential_writes,
    next_due_waits_for_held_deliveries,
    deliveries_reference_endpoints_of_their_tenant,
);
