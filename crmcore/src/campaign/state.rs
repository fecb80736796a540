//! The campaign lifecycle.
//!
//! ```text
//! draft ──schedule──▶ scheduled ──(send_at)──▶ sending ──(all done)──▶ sent
//!   │  ◀──unschedule──┘    │                    │  ▲                    │
//!   └──────launch──────────┼───────────────────▶│  └──resume── paused   │
//!                          │                    └──pause──────▶ │       │
//!                          └──cancel──▶ cancelled ◀──cancel─────┴───────┘ (not from sent)
//! sent ──retry_failed──▶ sending
//! ```
//! Only a draft can be edited. Transitions are checked here, so every embedder gets the same rules.

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// Where a campaign is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CampaignStatus {
    /// Being written; editable.
    Draft,
    /// Waiting for its send time.
    Scheduled,
    /// Freezing its audience and sending.
    Sending,
    /// Stopped by a person; resumable.
    Paused,
    /// Every recipient is done.
    Sent,
    /// Stopped for good.
    Cancelled,
}

/// Something a person (or the scheduler) asks a campaign to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Set a send time.
    Schedule,
    /// Back to draft from scheduled.
    Unschedule,
    /// Start sending now (also what the scheduler does at the send time).
    Launch,
    /// Stop claiming new recipients.
    Pause,
    /// Continue a paused campaign.
    Resume,
    /// Stop for good.
    Cancel,
    /// Every recipient is done.
    Complete,
    /// Send again to recipients whose delivery failed.
    RetryFailed,
}

impl Transition {
    /// Stable name, used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Schedule => "schedule",
            Transition::Unschedule => "unschedule",
            Transition::Launch => "launch",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::Cancel => "cancel",
            Transition::Complete => "complete",
            Transition::RetryFailed => "retry_failed",
        }
    }
}

impl CampaignStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Sent => "sent",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "draft" => CampaignStatus::Draft,
            "scheduled" => CampaignStatus::Scheduled,
            "sending" => CampaignStatus::Sending,
            "paused" => CampaignStatus::Paused,
            "sent" => CampaignStatus::Sent,
            "cancelled" => CampaignStatus::Cancelled,
            _ => return Err(CrmError::invalid("status", "unknown", format!("unknown campaign status `{s}`"))),
        })
    }

    /// The status after `transition`, or `Conflict` on `status` when the lifecycle forbids it.
    pub fn apply(self, transition: Transition) -> Result<CampaignStatus> {
        use CampaignStatus::*;
        use Transition::*;
        let next = match (self, transition) {
            (Draft, Schedule) => Scheduled,
            (Scheduled, Unschedule) => Draft,
            (Draft | Scheduled, Launch) => Sending,
            (Sending, Pause) => Paused,
            (Paused, Resume) => Sending,
            (Draft | Scheduled | Sending | Paused, Cancel) => Cancelled,
            (Sending, Complete) => Sent,
            (Sent, RetryFailed) => Sending,
            _ => {
                return Err(CrmError::conflict(
                    Some("status"),
                    format!("a {} campaign cannot {}", self.as_str(), transition.as_str()),
                ));
            }
        };
        Ok(next)
    }

    /// Whether content, audience and settings may still change.
    pub fn is_editable(self) -> bool {
        self == CampaignStatus::Draft
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_allows_only_the_drawn_transitions() {
        use CampaignStatus::*;
        use Transition::*;
        let all = [Draft, Scheduled, Sending, Paused, Sent, Cancelled];
        let transitions = [Schedule, Unschedule, Launch, Pause, Resume, Cancel, Complete, RetryFailed];
        let mut allowed = 0;
        for status in all {
            for t in transitions {
                if status.apply(t).is_ok() {
                    allowed += 1;
                }
            }
        }
        assert_eq!(allowed, 12);
        assert_eq!(Paused.apply(Resume).unwrap(), Sending);
        assert!(matches!(Sent.apply(Cancel), Err(CrmError::Conflict { .. })));
        assert!(matches!(Cancelled.apply(Resume), Err(CrmError::Conflict { .. })));
        for s in all {
            assert_eq!(CampaignStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
