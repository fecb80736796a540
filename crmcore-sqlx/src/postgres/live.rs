//! [`PgLiveUpdates`]: the [`LiveUpdates`] port over PostgreSQL `LISTEN/NOTIFY`, so every server
//! process on one database hears what any of them (or a separate worker) committed.
//!
//! Publishing sends `SELECT pg_notify(channel, payload)` on a pooled connection, outside any
//! transaction: callers publish only after their commit, and PostgreSQL delivers a notification
//! only once the statement that sent it has committed, so nobody hears of an uncommitted change.
//! Payloads are small JSON batches of ids (a [`LiveUpdate`] is a tenant, a member and at most a
//! notification id), split to stay under PostgreSQL's 8000-byte limit.
//!
//! Each instance also delivers its own updates to its local subscribers at once, and tags its
//! payloads with a random origin id so its listener skips them when they come back: local
//! subscribers neither wait for the round trip nor hear anything twice.
//!
//! One background task holds a `PgListener` (a dedicated pooled connection) and forwards
//! notifications from other processes to local subscribers. When the connection drops, sqlx
//! reconnects and re-listens; notifications sent meanwhile are lost, which subscribers treat like
//! a lagging channel (they re-read their counts on their next update). The task ends when the
//! pool closes or the last clone of the [`PgLiveUpdates`] is dropped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crmcore::activity::LiveUpdate;
use crmcore::ports::{InProcessLiveUpdates, LiveUpdates};
use crmcore::{CrmError, Result};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::common::error::store_err;

/// PostgreSQL rejects notification payloads of 8000 bytes or more; stay well below.
const MAX_PAYLOAD: usize = 7500;
/// PostgreSQL truncates identifiers (channel names) to 63 bytes.
const MAX_CHANNEL: usize = 63;
/// How long the listener waits before retrying after an error it could not recover from.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One `pg_notify` payload: who sent it and the updates it carries.
#[derive(Debug, Deserialize)]
struct Message {
    /// The sending [`PgLiveUpdates`] instance.
    o: Uuid,
    /// The updates, in publish order (decoded one by one, so an unknown kind skips only itself).
    u: Vec<serde_json::Value>,
}

/// Live updates shared by every process on one PostgreSQL database (and schema) through
/// `LISTEN/NOTIFY`. Cheap to clone: clones share one listener.
#[derive(Debug, Clone)]
pub struct PgLiveUpdates {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    channel: String,
    origin: Uuid,
    local: InProcessLiveUpdates,
    listener: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgLiveUpdates {
    /// Starts listening on `pool`'s database. The channel is named after the pool's current
    /// schema, so stores isolated by [`PgStore::connect_with_schema`](super::PgStore::connect_with_schema)
    /// do not hear each other. Must be called within a Tokio runtime; returns once the listener
    /// is subscribed, so anything published afterwards (by any process) reaches it.
    pub async fn connect(pool: &PgPool) -> Result<Self> {
        let (schema,): (String,) =
            sqlx::query_as("SELECT current_schema()::text").fetch_one(pool).await.map_err(store_err)?;
        let channel = channel_name(&schema);
        let mut listener = PgListener::connect_with(pool).await.map_err(store_err)?;
        listener.listen(&channel).await.map_err(store_err)?;
        let origin = Uuid::now_v7();
        let local = InProcessLiveUpdates::default();
        let task = tokio::spawn(forward(listener, pool.clone(), origin, local.clone()));
        Ok(Self { inner: Arc::new(Inner { pool: pool.clone(), channel, origin, local, listener: task }) })
    }

    /// The notification channel this instance publishes and listens on.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }
}

/// `crmcore_live_<schema>`, cut to PostgreSQL's identifier length.
fn channel_name(schema: &str) -> String {
    let mut name = format!("crmcore_live_{schema}");
    if name.len() > MAX_CHANNEL {
        let mut end = MAX_CHANNEL;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// Splits updates into payloads under [`MAX_PAYLOAD`] bytes each.
fn payloads(origin: Uuid, updates: &[LiveUpdate]) -> Result<Vec<String>> {
    let encode = |e: serde_json::Error| CrmError::Internal(format!("encoding a live update: {e}"));
    let head = format!("{{\"o\":\"{origin}\",\"u\":[");
    let mut out = Vec::new();
    let mut current = head.clone();
    let mut count = 0usize;
    for update in updates {
        let item = serde_json::to_string(update).map_err(encode)?;
        // `]}` closes the payload; a comma separates items.
        if count > 0 && current.len() + item.len() + 3 > MAX_PAYLOAD {
            current.push_str("]}");
            out.push(std::mem::replace(&mut current, head.clone()));
            count = 0;
        }
        if count > 0 {
            current.push(',');
        }
        current.push_str(&item);
        count += 1;
    }
    if count > 0 {
        current.push_str("]}");
        out.push(current);
    }
    Ok(out)
}

/// Forwards other processes' notifications to local subscribers until the pool closes.
async fn forward(mut listener: PgListener, pool: PgPool, origin: Uuid, local: InProcessLiveUpdates) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => deliver(notification.payload(), origin, &local),
            // The connection dropped; sqlx reconnects and re-listens on the next call. What was
            // sent meanwhile is lost.
            Ok(None) => tracing::warn!("live-update listener lost its connection; reconnecting"),
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "live-update listener failed; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

fn deliver(payload: &str, origin: Uuid, local: &InProcessLiveUpdates) {
    let message: Message = match serde_json::from_str(payload) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "ignoring a malformed live-update notification");
            return;
        }
    };
    if message.o == origin {
        return; // Already delivered locally when published.
    }
    for value in message.u {
        match serde_json::from_value::<LiveUpdate>(value) {
            Ok(update) => local.deliver(update),
            // A newer process may send kinds of update this one does not know: skip them.
            Err(error) => tracing::debug!(%error, "skipping an unknown live update"),
        }
    }
}

#[async_trait]
impl LiveUpdates for PgLiveUpdates {
    async fn publish(&self, updates: &[LiveUpdate]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        // Local subscribers first: they need no round trip, and hear it even if NOTIFY fails.
        self.inner.local.publish(updates).await?;
        for payload in payloads(self.inner.origin, updates)? {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&self.inner.channel)
                .bind(payload)
                .execute(&self.inner.pool)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveUpdate> {
        self.inner.local.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use crmcore::activity::LiveChange;
    use crmcore::id::{MemberId, TenantId};

    use super::*;

    fn update() -> LiveUpdate {
        LiveUpdate { tenant_id: TenantId::new(), member_id: MemberId::new(), change: LiveChange::InboxChanged }
    }

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_update_in_order() {
        let origin = Uuid::now_v7();
        let updates: Vec<LiveUpdate> = (0..500).map(|_| update()).collect();
        let sent = payloads(origin, &updates).unwrap();
        assert!(sent.len() > 1);
        let mut back = Vec::new();
        for payload in &sent {
            assert!(payload.len() < 8000, "{}", payload.len());
            let message: Message = serde_json::from_str(payload).unwrap();
            assert_eq!(message.o, origin);
            back.extend(message.u.into_iter().map(|value| serde_json::from_value::<LiveUpdate>(value).unwrap()));
        }
        assert_eq!(back, updates);
        assert!(payloads(origin, &[]).unwrap().is_empty());
    }

    #[test]
    fn own_payloads_are_skipped_and_others_delivered() {
        let local = InProcessLiveUpdates::default();
        let mut rx = local.subscribe();
        let mine = Uuid::now_v7();
        let one = update();
        deliver(&payloads(mine, std::slice::from_ref(&one)).unwrap()[0], mine, &local);
        assert!(rx.try_recv().is_err());
        deliver(&payloads(Uuid::now_v7(), std::slice::from_ref(&one)).unwrap()[0], mine, &local);
        assert_eq!(rx.try_recv().unwrap(), one);
        deliver("not json", mine, &local);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "crmcore_live_public");
        assert_eq!(channel_name(&"s".repeat(63)).len(), 63);
    }
}
