//! Integration repository checks the contract suite does not make, on both backends: duplicate
//! ids, refused writes leaving neither row nor event, the parent each `NotFound` names, ties in
//! the scheduler's due order, log paging, and the webhook endpoint `format` column.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use crmcore::CrmError;
use crmcore::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crmcore::id::{ConnectionId, OAuthProviderId, SyncLogId, TenantId};
use crmcore::integration::{Connection, ConnectionStatus, OAuthProvider, PayloadFormat, SyncLog, SyncStatus};
use crmcore::page::PageRequest;
use crmcore::ports::Store;
use crmcore::testing::Fixture;
use crmcore::webhook::{NewEndpoint, SealedSecret};

/// Raw SQL on the store's database, for states the port cannot reach.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
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

fn provider(tenant: TenantId) -> OAuthProvider {
    let at = now();
    OAuthProvider {
        id: OAuthProviderId::new(),
        tenant_id: tenant,
        name: "Provider".into(),
        authorize_url: "https://id.example.com/authorize".into(),
        token_url: "https://id.example.com/token".into(),
        revoke_url: None,
        sync_url: Some("https://api.example.com/contacts".into()),
        scopes: vec![],
        client_id: "client".into(),
        client_secret: SealedSecret::from_stored("v1:c2VjcmV0".into()),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn connection(p: &OAuthProvider, f: &Fixture, next_sync_at: Option<DateTime<Utc>>) -> Connection {
    let at = now();
    Connection {
        id: ConnectionId::new(),
        tenant_id: p.tenant_id,
        provider_id: p.id,
        connected_by: f.owner.id,
        status: ConnectionStatus::Active,
        access_token: SealedSecret::from_stored("v1:dG9rZW4=".into()),
        refresh_token: None,
        expires_at: None,
        scope: None,
        sync_schedule: next_sync_at.map(|_| "0 * * * *".into()),
        next_sync_at,
        last_sync_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn log(c: &Connection, at: DateTime<Utc>) -> SyncLog {
    SyncLog {
        id: SyncLogId::new(),
        tenant_id: c.tenant_id,
        connection_id: c.id,
        trigger: "manual".into(),
        started_at: at,
        finished_at: None,
        status: SyncStatus::Running,
        records: 0,
        created: 0,
        updated: 0,
        errors: vec![],
    }
}

fn event(f: &Fixture, kind: EventType, id: uuid::Uuid) -> DomainEvent {
    DomainEvent::new(&f.actor, kind, EntityRef { kind: EntityKind::Integration, id }, serde_json::json!({}), now())
}

fn missing(result: crmcore::Result<()>) -> &'static str {
    match result {
        Err(CrmError::NotFound { entity, .. }) => entity,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn conflict_field(result: crmcore::Result<()>) -> Option<String> {
    match result {
        Err(CrmError::Conflict { field, .. }) => field,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Duplicate ids conflict on `id`; a refused write names its missing parent and leaves neither
/// row nor event behind; deletes append their events and cascade.
async fn refused_writes_name_the_parent_and_leave_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let a = Fixture::new(store.clone(), "Refused A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Refused B").await;
    let repo = store.integrations();
    let outbox = || async { store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len() };

    let p = provider(a.tenant.id);
    repo.insert_provider(&p, &[]).await.unwrap();
    assert_eq!(conflict_field(repo.insert_provider(&p, &[]).await).as_deref(), Some("id"));
    assert_eq!(missing(repo.insert_provider(&provider(TenantId::new()), &[]).await), "tenant");
    let theirs = provider(b.tenant.id);
    repo.insert_provider(&theirs, &[]).await.unwrap();

    let before = outbox().await;
    let orphan = Connection { provider_id: OAuthProviderId::new(), ..connection(&p, &a, None) };
    let connected = event(&a, EventType::IntegrationConnected, orphan.id.0);
    assert_eq!(missing(repo.insert_connection(&orphan, std::slice::from_ref(&connected)).await), "oauth provider");
    assert_eq!(outbox().await, before, "no event without its row");

    let c = connection(&p, &a, Some(now()));
    repo.insert_connection(&c, &[]).await.unwrap();
    assert_eq!(conflict_field(repo.insert_connection(&c, &[]).await).as_deref(), Some("id"));
    let moved = Connection { provider_id: theirs.id, version: 2, ..c.clone() };
    assert_eq!(missing(repo.update_connection(&moved, std::slice::from_ref(&connected)).await), "oauth provider");
    assert_eq!(repo.get_connection(a.tenant.id, c.id).await.unwrap(), c, "unchanged");
    assert_eq!(outbox().await, before);
    let stale_provider = OAuthProvider { version: 5, ..p.clone() };
    assert!(matches!(repo.update_provider(&stale_provider, &[]).await, Err(CrmError::Conflict { .. })));
    let foreign_provider = OAuthProvider { tenant_id: b.tenant.id, version: 2, ..p.clone() };
    assert_eq!(missing(repo.update_provider(&foreign_provider, &[]).await), "oauth provider");

    let l = log(&c, now());
    repo.insert_sync_log(&l).await.unwrap();
    assert_eq!(conflict_field(repo.insert_sync_log(&l).await).as_deref(), Some("id"));
    assert_eq!(missing(repo.update_sync_log(&log(&c, now())).await), "sync log");
    assert_eq!(missing(repo.update_sync_log(&SyncLog { tenant_id: b.tenant.id, ..l.clone() }).await), "sync log");
    let stray = SyncLog { connection_id: ConnectionId::new(), ..l.clone() };
    assert_eq!(missing(repo.update_sync_log(&stray).await), "connection");
    assert_eq!(repo.get_sync_log(a.tenant.id, l.id).await.unwrap(), l, "unchanged");
    assert_eq!(
        missing(repo.insert_sync_log(&log(&Connection { id: ConnectionId::new(), ..c.clone() }, now())).await),
        "connection"
    );

    // Deletes append their events and take the children with them.
    let removed = event(&a, EventType::IntegrationDisconnected, p.id.0);
    repo.delete_provider(a.tenant.id, p.id, std::slice::from_ref(&removed)).await.unwrap();
    assert_eq!(outbox().await, before + 1);
    assert!(matches!(repo.get_connection(a.tenant.id, c.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(repo.get_sync_log(a.tenant.id, l.id).await, Err(CrmError::NotFound { .. })));
    assert!(repo.due_connections(now() + Duration::days(1), 10).await.unwrap().is_empty());
    assert_eq!(missing(repo.delete_connection(a.tenant.id, c.id, &[]).await), "connection");
    assert!(repo.get_provider(b.tenant.id, theirs.id).await.is_ok(), "another tenant's provider stays");
}

/// Due connections come earliest first, ties by id, `next_sync_at == now` included, unscheduled
/// ones never; logs page newest first without gaps or overlap.
async fn due_order_and_log_paging(store: Arc<dyn Store>, _raw: Raw) {
    let a = Fixture::new(store.clone(), "Due A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Due B").await;
    let repo = store.integrations();
    let (pa, pb) = (provider(a.tenant.id), provider(b.tenant.id));
    repo.insert_provider(&pa, &[]).await.unwrap();
    repo.insert_provider(&pb, &[]).await.unwrap();
    let t = now();
    let tie = [connection(&pb, &b, Some(t)), connection(&pa, &a, Some(t)), connection(&pb, &b, Some(t))];
    let earlier = connection(&pa, &a, Some(t - Duration::microseconds(1)));
    let later = connection(&pa, &a, Some(t + Duration::microseconds(1)));
    let unscheduled = connection(&pa, &a, None);
    for c in tie.iter().chain([&earlier, &later, &unscheduled]) {
        repo.insert_connection(c, &[]).await.unwrap();
    }
    let due: Vec<ConnectionId> = repo.due_connections(t, 100).await.unwrap().into_iter().map(|c| c.id).collect();
    let mut ties: Vec<ConnectionId> = tie.iter().map(|c| c.id).collect();
    ties.sort();
    assert_eq!(due, [vec![earlier.id], ties.clone()].concat());
    let first_two: Vec<ConnectionId> = repo.due_connections(t, 2).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(first_two, [earlier.id, ties[0]]);
    assert!(repo.due_connections(t, 0).await.unwrap().is_empty());

    let c = &tie[1];
    let mut logs: Vec<SyncLogId> = Vec::new();
    for i in 0..5 {
        let l = log(c, t + Duration::seconds(i));
        repo.insert_sync_log(&l).await.unwrap();
        logs.push(l.id);
    }
    logs.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::parse(Some(2), cursor.as_deref()).unwrap();
        let got = repo.list_sync_logs(a.tenant.id, c.id, page).await.unwrap();
        seen.extend(got.items.iter().map(|l| l.id));
        match got.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, logs, "newest first, no gaps or overlap");
    assert!(repo.list_sync_logs(a.tenant.id, earlier.id, PageRequest::first(10)).await.unwrap().items.is_empty());
}

/// The endpoint `format` defaults to `standard`, reads back what is stored and refuses anything
/// but the three formats.
async fn endpoint_format_is_stored_and_checked(store: Arc<dyn Store>, raw: Raw) {
    let f = Fixture::new(store.clone(), "Format").await;
    let input = NewEndpoint { url: "https://format.example.com/".into(), ..NewEndpoint::default() };
    let id = f.crm.webhooks().create_endpoint(&f.actor, input).await.unwrap().endpoint.id;
    let stored = store.webhooks().get_endpoint(f.tenant.id, id).await.unwrap();
    assert_eq!(stored.format, PayloadFormat::Standard);
    let mut slack = stored.clone();
    slack.format = PayloadFormat::Slack;
    slack.version += 1;
    store.webhooks().update_endpoint(&slack, &[]).await.unwrap();
    assert_eq!(store.webhooks().get_endpoint(f.tenant.id, id).await.unwrap(), slack);
    let bad = raw.execute(&format!("UPDATE webhook_endpoints SET format = 'email' WHERE id = '{id}'")).await;
    assert!(bad.is_err(), "CHECK refuses an unknown format");
    raw.execute(&format!("UPDATE webhook_endpoints SET format = 'teams' WHERE id = '{id}'")).await.unwrap();
    assert_eq!(store.webhooks().get_endpoint(f.tenant.id, id).await.unwrap().format, PayloadFormat::Teams);
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
    refused_writes_name_the_parent_and_leave_nothing,
    due_order_and_log_paging,
    endpoint_format_is_stored_and_checked,
);
