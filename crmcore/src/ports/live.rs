//! The live-update fan-out: after a commit, who should hear about what (for Server-Sent Events).

use std::fmt::Debug;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::activity::LiveUpdate;
use crate::error::Result;

/// Carries [`LiveUpdate`]s from the process that committed a change to every subscriber —
/// in this process, or (with a shared backend such as PostgreSQL `LISTEN/NOTIFY`) in all.
///
/// # Contract
/// Callers publish only after the change committed. Every subscriber receives each update
/// published after it subscribed, at most once, in publish order per publisher; a subscriber
/// that falls behind may miss updates (`RecvError::Lagged`) and should re-read its state.
#[async_trait]
pub trait LiveUpdates: Send + Sync + Debug {
    /// Publishes updates to every subscriber.
    async fn publish(&self, updates: &[LiveUpdate]) -> Result<()>;
    /// A receiver of every update published from now on.
    fn subscribe(&self) -> broadcast::Receiver<LiveUpdate>;
}

/// In-process fan-out over a `tokio::sync::broadcast` channel: the default, and all a single
/// server needs.
#[derive(Debug, Clone)]
pub struct InProcessLiveUpdates {
    sender: broadcast::Sender<LiveUpdate>,
}

impl InProcessLiveUpdates {
    /// A channel buffering up to `capacity` updates per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity.max(1)).0 }
    }

    /// Delivers an update to this process's subscribers (for adapters that receive updates
    /// from elsewhere, e.g. a database notification channel).
    pub fn deliver(&self, update: LiveUpdate) {
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.sender.send(update);
    }
}

impl Default for InProcessLiveUpdates {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[async_trait]
impl LiveUpdates for InProcessLiveUpdates {
    async fn publish(&self, updates: &[LiveUpdate]) -> Result<()> {
        for update in updates {
            self.deliver(update.clone());
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveUpdate> {
        self.sender.subscribe()
    }
}
