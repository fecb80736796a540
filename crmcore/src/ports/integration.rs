use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{ConnectionId, OAuthProviderId, SyncLogId, TenantId};
use crate::integration::{Connection, OAuthProvider, SyncLog};
use crate::page::{Page, PageRequest};

/// OAuth providers, connections and sync logs.
///
/// # Contract
/// Every read and write is scoped to the tenant it is given (`due_connections` is the one
/// cross-tenant read, for the scheduler). Versioned writes return `NotFound` when the record is
/// absent from the tenant and `Conflict` on a stale version (stored version ≠ new version − 1).
/// Every write is one transaction with its events.
#[async_trait]
pub trait IntegrationRepository: Send + Sync {
    /// Inserts a provider.
    async fn insert_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a provider (version check).
    async fn update_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()>;
    /// Deletes a provider with its connections and their logs. `NotFound` when absent.
    async fn delete_provider(&self, tenant: TenantId, id: OAuthProviderId, events: &[DomainEvent]) -> Result<()>;
    /// `NotFound` when absent from the tenant.
    async fn get_provider(&self, tenant: TenantId, id: OAuthProviderId) -> Result<OAuthProvider>;
    /// A tenant's providers, newest first.
    async fn list_providers(&self, tenant: TenantId, page: PageRequest) -> Result<Page<OAuthProvider>>;

    /// Inserts a connection; `NotFound` when its provider is absent from the tenant.
    async fn insert_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a connection (version check).
    async fn update_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()>;
    /// Deletes a connection with its logs. `NotFound` when absent.
    async fn delete_connection(&self, tenant: TenantId, id: ConnectionId, events: &[DomainEvent]) -> Result<()>;
    /// `NotFound` when absent from the tenant.
    async fn get_connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Connection>;
    /// A tenant's connections, newest first.
    async fn list_connections(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Connection>>;
    /// Connections of any tenant whose `next_sync_at` is at or before `now`, earliest first.
    async fn due_connections(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Connection>>;

    /// Inserts a sync log.
    async fn insert_sync_log(&self, log: &SyncLog) -> Result<()>;
    /// Replaces a sync log (no version: one writer, the sync that owns it). `NotFound` when absent.
    async fn update_sync_log(&self, log: &SyncLog) -> Result<()>;
    /// One log; `NotFound` when absent from the tenant.
    async fn get_sync_log(&self, tenant: TenantId, id: SyncLogId) -> Result<SyncLog>;
    /// A connection's logs, newest first.
    async fn list_sync_logs(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        page: PageRequest,
    ) -> Result<Page<SyncLog>>;
}
