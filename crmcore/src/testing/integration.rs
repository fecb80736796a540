//! Contract checks for integrations: providers, connections and sync logs round-trip every
//! field, keep versions and tenants apart, cascade on delete, and the scheduler's due query.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::fixtures::{Fixture, now};
use crate::actor::Actor;
use crate::error::CrmError;
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{ConnectionId, OAuthProviderId, SyncLogId, TenantId};
use crate::integration::{Connection, ConnectionStatus, OAuthProvider, SyncLog, SyncStatus};
use crate::page::PageRequest;
use crate::ports::Store;
use crate::webhook::SealedSecret;

fn provider(tenant: TenantId, name: &str) -> OAuthProvider {
    let at = now();
    OAuthProvider {
        id: OAuthProviderId::new(),
        tenant_id: tenant,
        name: name.into(),
        authorize_url: "https://id.example.com/authorize".into(),
        token_url: "https://id.example.com/token".into(),
        revoke_url: Some("https://id.example.com/revoke".into()),
        sync_url: None,
        scopes: vec!["contacts.read".into(), "offline".into()],
        client_id: "client-1".into(),
        client_secret: SealedSecret::from_stored("v1:c2VhbGVk".into()),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn connection(p: &OAuthProvider, member: crate::id::MemberId) -> Connection {
    let at = now();
    Connection {
        id: ConnectionId::new(),
        tenant_id: p.tenant_id,
        provider_id: p.id,
        connected_by: member,
        status: ConnectionStatus::Active,
        access_token: SealedSecret::from_stored("v1:YWNjZXNz".into()),
        refresh_token: Some(SealedSecret::from_stored("v1:cmVmcmVzaA==".into())),
        expires_at: Some(at + Duration::hours(1)),
        scope: Some("contacts.read".into()),
        sync_schedule: Some("*/5 * * * *".into()),
        next_sync_at: Some(at + Duration::minutes(5)),
        last_sync_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

/// Providers, connections and logs round-trip, keep versions and tenants apart, cascade on
/// delete; the scheduler sees due connections of every tenant, earliest first.
pub async fn integration_providers_connections_and_logs(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Integrations A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Integrations B").await;
    let repo = store.integrations();

    let mut p = provider(a.tenant.id, "CRM Sync");
    repo.insert_provider(&p, &[]).await.unwrap();
    assert_eq!(repo.get_provider(a.tenant.id, p.id).await.unwrap(), p);
    assert!(matches!(repo.get_provider(b.tenant.id, p.id).await, Err(CrmError::NotFound { .. })));
    p.name = "Renamed".into();
    p.sync_url = Some("https://api.example.com/contacts".into());
    p.revoke_url = None;
    p.version = 2;
    repo.update_provider(&p, &[]).await.unwrap();
    assert_eq!(repo.get_provider(a.tenant.id, p.id).await.unwrap(), p);
    assert!(matches!(repo.update_provider(&p, &[]).await, Err(CrmError::Conflict { .. })), "stale version");
    let second = provider(a.tenant.id, "Second");
    repo.insert_provider(&second, &[]).await.unwrap();
    repo.insert_provider(&provider(b.tenant.id, "Theirs"), &[]).await.unwrap();
    let page = repo.list_providers(a.tenant.id, PageRequest::first(1)).await.unwrap();
    assert_eq!(page.items.iter().map(|x| x.id).collect::<Vec<_>>(), [second.id], "newest first");
    let rest = PageRequest::parse(Some(10), page.next_cursor.as_deref()).unwrap();
    assert_eq!(
        repo.list_providers(a.tenant.id, rest).await.unwrap().items.iter().map(|x| x.id).collect::<Vec<_>>(),
        [p.id]
    );

    // Connections: only to a provider of their tenant; every field round-trips.
    let mut c = connection(&p, a.owner.id);
    let foreign = Connection { tenant_id: b.tenant.id, ..connection(&p, b.owner.id) };
    assert!(matches!(repo.insert_connection(&foreign, &[]).await, Err(CrmError::NotFound { .. })));
    let event = DomainEvent::new(
        &a.actor,
        EventType::IntegrationConnected,
        EntityRef { kind: EntityKind::Integration, id: c.id.0 },
        json!({"object": {"id": c.id}}),
        now(),
    );
    let before = store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len();
    repo.insert_connection(&c, std::slice::from_ref(&event)).await.unwrap();
    assert_eq!(store.outbox().list(a.tenant.id, None, 1000).await.unwrap().len(), before + 1, "events go in with it");
    assert_eq!(repo.get_connection(a.tenant.id, c.id).await.unwrap(), c);
    assert!(matches!(repo.get_connection(b.tenant.id, c.id).await, Err(CrmError::NotFound { .. })));
    c.status = ConnectionStatus::Reauthorize;
    c.refresh_token = None;
    c.expires_at = None;
    c.scope = None;
    c.sync_schedule = None;
    c.last_sync_at = Some(now());
    c.version = 2;
    repo.update_connection(&c, &[]).await.unwrap();
    assert_eq!(repo.get_connection(a.tenant.id, c.id).await.unwrap(), c);
    assert!(matches!(repo.update_connection(&c, &[]).await, Err(CrmError::Conflict { .. })));
    let wrong_tenant = Connection { tenant_id: b.tenant.id, version: 3, ..c.clone() };
    assert!(matches!(repo.update_connection(&wrong_tenant, &[]).await, Err(CrmError::NotFound { .. })));

    // Due connections across tenants, earliest first, limited.
    let t = now();
    let mut soon = connection(&p, a.owner.id);
    soon.next_sync_at = Some(t - Duration::seconds(10));
    let theirs_provider = provider(b.tenant.id, "B's");
    repo.insert_provider(&theirs_provider, &[]).await.unwrap();
    let mut theirs = connection(&theirs_provider, b.owner.id);
    theirs.next_sync_at = Some(t - Duration::seconds(20));
    let mut later = connection(&second, a.owner.id);
    later.next_sync_at = Some(t + Duration::minutes(1));
    for x in [&soon, &theirs, &later] {
        repo.insert_connection(x, &[]).await.unwrap();
    }
    let due: Vec<ConnectionId> = repo.due_connections(t, 10).await.unwrap().into_iter().map(|x| x.id).collect();
    assert_eq!(due, [theirs.id, soon.id]);
    assert_eq!(repo.due_connections(t, 1).await.unwrap().len(), 1);
    let list = repo.list_connections(a.tenant.id, PageRequest::first(10)).await.unwrap();
    assert_eq!(list.items.iter().map(|x| x.id).collect::<Vec<_>>(), [later.id, soon.id, c.id]);

    // Sync logs.
    let mut log = SyncLog {
        id: SyncLogId::new(),
        tenant_id: a.tenant.id,
        connection_id: soon.id,
        trigger: "schedule".into(),
        started_at: t,
        finished_at: None,
        status: SyncStatus::Running,
        records: 0,
        created: 0,
        updated: 0,
        errors: vec![],
    };
    repo.insert_sync_log(&log).await.unwrap();
    log.finished_at = Some(t + Duration::seconds(2));
    log.status = SyncStatus::Succeeded;
    (log.records, log.created, log.updated) = (12, 10, 1);
    log.errors = vec!["record 3: e-mail is invalid".into()];
    repo.update_sync_log(&log).await.unwrap();
    assert_eq!(repo.get_sync_log(a.tenant.id, log.id).await.unwrap(), log);
    assert!(matches!(repo.get_sync_log(b.tenant.id, log.id).await, Err(CrmError::NotFound { .. })));
    let second_log = SyncLog { id: SyncLogId::new(), trigger: "manual".into(), ..log.clone() };
    repo.insert_sync_log(&second_log).await.unwrap();
    let logs = repo.list_sync_logs(a.tenant.id, soon.id, PageRequest::first(10)).await.unwrap();
    assert_eq!(logs.items.iter().map(|l| l.id).collect::<Vec<_>>(), [second_log.id, log.id]);
    assert!(repo.list_sync_logs(b.tenant.id, soon.id, PageRequest::first(10)).await.unwrap().items.is_empty());
    let stray = SyncLog { id: SyncLogId::new(), tenant_id: b.tenant.id, ..log.clone() };
    assert!(
        matches!(repo.insert_sync_log(&stray).await, Err(CrmError::NotFound { .. })),
        "log of a foreign connection"
    );

    // Deletes cascade: a connection takes its logs, a provider its connections.
    assert!(matches!(repo.delete_connection(b.tenant.id, soon.id, &[]).await, Err(CrmError::NotFound { .. })));
    repo.delete_connection(a.tenant.id, soon.id, &[]).await.unwrap();
    assert!(matches!(repo.get_sync_log(a.tenant.id, log.id).await, Err(CrmError::NotFound { .. })));
    repo.delete_provider(a.tenant.id, p.id, &[]).await.unwrap();
    assert!(matches!(repo.get_connection(a.tenant.id, c.id).await, Err(CrmError::NotFound { .. })));
    assert!(repo.get_connection(a.tenant.id, later.id).await.is_ok(), "other providers' connections stay");
    assert!(matches!(repo.delete_provider(a.tenant.id, p.id, &[]).await, Err(CrmError::NotFound { .. })));
    let _ = Actor::system(a.tenant.id);
}
