//! OAuth providers, connections and sync logs in memory, under the store's one lock.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::event::DomainEvent;
use crmcore::id::{ConnectionId, OAuthProviderId, SyncLogId, TenantId};
use crmcore::integration::{Connection, OAuthProvider, SyncLog};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::IntegrationRepository;
use crmcore::{CrmError, Result};

use super::{MemoryStore, State, owned, page_of};

/// The integration part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct IntegrationState {
    providers: BTreeMap<OAuthProviderId, OAuthProvider>,
    connections: BTreeMap<ConnectionId, Connection>,
    logs: BTreeMap<SyncLogId, SyncLog>,
}

impl State {
    fn drop_connection(&mut self, id: ConnectionId) {
        self.integration.connections.remove(&id);
        self.integration.logs.retain(|_, l| l.connection_id != id);
    }
}

#[async_trait]
impl IntegrationRepository for MemoryStore {
    async fn insert_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if state.integration.providers.contains_key(&provider.id) {
            return Err(CrmError::conflict(Some("id"), format!("provider {} exists", provider.id)));
        }
        state.integration.providers.insert(provider.id, provider.clone());
        state.append(events);
        Ok(())
    }

    async fn update_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        State::check_version(
            state.integration.providers.get(&provider.id),
            |p| p.tenant_id,
            |p| p.version,
            provider.tenant_id,
            provider.version,
            "oauth provider",
            provider.id,
        )?;
        state.integration.providers.insert(provider.id, provider.clone());
        state.append(events);
        Ok(())
    }

    async fn delete_provider(&self, tenant: TenantId, id: OAuthProviderId, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.integration.providers, &id, tenant, |p| p.tenant_id) {
            return Err(CrmError::not_found("oauth provider", id));
        }
        state.integration.providers.remove(&id);
        let gone: Vec<ConnectionId> =
            state.integration.connections.values().filter(|c| c.provider_id == id).map(|c| c.id).collect();
        for connection in gone {
            state.drop_connection(connection);
        }
        state.append(events);
        Ok(())
    }

    async fn get_provider(&self, tenant: TenantId, id: OAuthProviderId) -> Result<OAuthProvider> {
        let state = self.lock();
        state
            .integration
            .providers
            .get(&id)
            .filter(|p| p.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("oauth provider", id))
    }

    async fn list_providers(&self, tenant: TenantId, page: PageRequest) -> Result<Page<OAuthProvider>> {
        let state = self.lock();
        Ok(page_of(&state.integration.providers, page, |p| p.tenant_id == tenant, OAuthProviderId, |p| p.id.0))
    }

    async fn insert_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.integration.providers, &connection.provider_id, connection.tenant_id, |p| p.tenant_id) {
            return Err(CrmError::not_found("oauth provider", connection.provider_id));
        }
        if state.integration.connections.contains_key(&connection.id) {
            return Err(CrmError::conflict(Some("id"), format!("connection {} exists", connection.id)));
        }
        state.integration.connections.insert(connection.id, connection.clone());
        state.append(events);
        Ok(())
    }

    async fn update_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        State::check_version(
            state.integration.connections.get(&connection.id),
            |c| c.tenant_id,
            |c| c.version,
            connection.tenant_id,
            connection.version,
            "connection",
            connection.id,
        )?;
        state.integration.connections.insert(connection.id, connection.clone());
        state.append(events);
        Ok(())
    }

    async fn delete_connection(&self, tenant: TenantId, id: ConnectionId, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.integration.connections, &id, tenant, |c| c.tenant_id) {
            return Err(CrmError::not_found("connection", id));
        }
        state.drop_connection(id);
        state.append(events);
        Ok(())
    }

    async fn get_connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Connection> {
        let state = self.lock();
        state
            .integration
            .connections
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("connection", id))
    }

    async fn list_connections(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Connection>> {
        let state = self.lock();
        Ok(page_of(&state.integration.connections, page, |c| c.tenant_id == tenant, ConnectionId, |c| c.id.0))
    }

    async fn due_connections(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Connection>> {
        let state = self.lock();
        let mut due: Vec<Connection> = state
            .integration
            .connections
            .values()
            .filter(|c| c.next_sync_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        due.sort_by_key(|c| (c.next_sync_at, c.id));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn insert_sync_log(&self, log: &SyncLog) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.integration.connections, &log.connection_id, log.tenant_id, |c| c.tenant_id) {
            return Err(CrmError::not_found("connection", log.connection_id));
        }
        state.integration.logs.insert(log.id, log.clone());
        Ok(())
    }

    async fn update_sync_log(&self, log: &SyncLog) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.integration.logs, &log.id, log.tenant_id, |l| l.tenant_id) {
            return Err(CrmError::not_found("sync log", log.id));
        }
        state.integration.logs.insert(log.id, log.clone());
        Ok(())
    }

    async fn get_sync_log(&self, tenant: TenantId, id: SyncLogId) -> Result<SyncLog> {
        let state = self.lock();
        state
            .integration
            .logs
            .get(&id)
            .filter(|l| l.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("sync log", id))
    }

    async fn list_sync_logs(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        page: PageRequest,
    ) -> Result<Page<SyncLog>> {
        let state = self.lock();
        let keep = |l: &SyncLog| l.tenant_id == tenant && l.connection_id == connection;
        Ok(page_of(&state.integration.logs, page, keep, SyncLogId, |l| l.id.0))
    }
}
