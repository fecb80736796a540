//! `GET /api/v1/stream`: Server-Sent Events for the signed-in member.
//!
//! The stream subscribes to the CRM's live updates *before* reading the initial unread count,
//! so nothing committed in between is missed. Events:
//! - `unread_count` `{"unread_count": n}` — first, and after every change to the inbox;
//! - `notification` — a new notification, as the inbox lists it.
//!
//! Updates are published only after the transaction that created them committed, so a client
//! never sees a notification it cannot then read. A subscriber that falls behind re-reads its
//! count instead of replaying what it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use crmcore::activity::{LiveChange, LiveUpdate};
use crmcore::{Actor, Crm, CrmError};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::auth::CurrentActor;
use crate::error::ApiError;
use crate::state::AppState;

/// Ends every live stream when the flag turns `true` (set by [`crate::serve`] at shutdown).
/// Without it (the router embedded elsewhere) streams last until the client disconnects.
#[derive(Debug, Clone)]
pub(crate) struct StreamShutdown(pub(crate) tokio::sync::watch::Receiver<bool>);

struct Live {
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    crm: Crm,
    actor: Actor,
    updates: broadcast::Receiver<LiveUpdate>,
    queued: Vec<Event>,
    started: bool,
}

fn event(name: &str, data: serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Live {
    async fn count_event(&self) -> Option<Event> {
        match self.crm.activity().unread_count(&self.actor).await {
            Ok(n) => Some(event("unread_count", json!({ "unread_count": n }))),
            Err(error) => {
                tracing::warn!(%error, "stream could not read the unread count");
                None
            }
        }
    }

    /// The events an update makes for this member (none when it is someone else's).
    async fn events_for(&self, update: LiveUpdate) -> Vec<Event> {
        if update.tenant_id != self.actor.tenant_id || Some(update.member_id) != self.actor.member_id() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let LiveChange::Notification { notification_id } = update.change {
            // Read it back through the inbox so the client gets exactly what the inbox shows.
            let store = self.crm.store().notifications();
            let page = crmcore::page::PageRequest::first(20);
            if let Ok(page) = store.list(update.tenant_id, update.member_id, Default::default(), page).await
                && let Some(n) = page.items.into_iter().find(|n| n.id == notification_id)
                && let Ok(value) = serde_json::to_value(&n)
            {
                out.push(event("notification", value));
            }
        }
        out.extend(self.count_event().await);
        out
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.queued.pop() {
                return Some((Ok(event), self));
            }
            if !self.started {
                self.started = true;
                if let Some(event) = self.count_event().await {
                    return Some((Ok(event), self));
                }
                continue;
            }
            let received = match self.shutdown.as_mut() {
                Some(stop) if *stop.borrow() => return None,
                Some(stop) => {
                    let mut stop = stop.clone();
                    tokio::select! {
                        received = self.updates.recv() => received,
                        _ = stop.wait_for(|s| *s) => return None,
                    }
                }
                None => self.updates.recv().await,
            };
            match received {
                Ok(update) => {
                    let mut events = self.events_for(update).await;
                    events.reverse();
                    self.queued = events;
                }
                Err(RecvError::Lagged(_)) => {
                    if let Some(event) = self.count_event().await {
                        return Some((Ok(event), self));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The live stream of the signed-in member's notifications and unread count.
#[utoipa::path(get, path = "/api/v1/stream", tag = "activity", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream",
                description = "Server-Sent Events: `unread_count` (`{\"unread_count\": n}`) first and after every inbox change, \
                               `notification` (a Notification) for each new one; keep-alive comments every 15 s"),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    shutdown: Option<axum::Extension<StreamShutdown>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if actor.member_id().is_none() {
        return Err(CrmError::Forbidden("only members have a notification stream".into()).into());
    }
    let crm = state.crm().clone();
    let updates = crm.live_updates().subscribe();
    let shutdown = shutdown.map(|axum::Extension(StreamShutdown(rx))| rx);
    let live = Live { shutdown, crm, actor, updates, queued: Vec::new(), started: false };
    let stream = futures::stream::unfold(live, Live::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
