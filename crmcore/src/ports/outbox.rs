use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::event::OutboxEntry;
use crate::id::{EventId, TenantId};

/// The event outbox. Events are appended only by repository mutations (in their transaction).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` undispatched events of all tenants, in ascending `seq`.
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxEntry>>;
    /// Marks events dispatched at `at`. Idempotent: already-dispatched or unknown ids are ignored.
    async fn mark_dispatched(&self, ids: &[EventId], at: DateTime<Utc>) -> Result<()>;
    /// A tenant's events with `seq > after`, ascending, at most `limit`.
    async fn list(&self, tenant: TenantId, after: Option<i64>, limit: u32) -> Result<Vec<OutboxEntry>>;
}
