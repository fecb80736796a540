//! Recipients: the frozen audience, one row per targeted contact, and the ledger of attempts.
//!
//! ```text
//! pending ──claim──▶ sending ──accepted──▶ sent
//!    ▲                  │ ──transient──▶ pending (retry_at, backoff) … ──exhausted──▶ failed
//!    │                  │ ──permanent──▶ failed
//!    │                  └──suppressed at dispatch──▶ suppressed
//!    └──lease expired (a crash): claimed again
//! ```
//! Invariant: once a campaign is done, `sent + failed + suppressed + cancelled = targeted`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CrmError, Result};
use crate::id::{CampaignId, ContactId, RecipientId, TenantId};
use crate::value::EmailAddress;

/// Where one recipient's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RecipientStatus {
    /// Waiting to be claimed (possibly not before `retry_at`, or held for an A/B winner).
    Pending,
    /// Claimed by a sender under a lease.
    Sending,
    /// Accepted by the mail server.
    Sent,
    /// Given up: a permanent failure, or transient failures until the attempts ran out.
    Failed,
    /// On the suppression list at freeze or dispatch time; never sent.
    Suppressed,
    /// Never sent because the campaign was cancelled.
    Cancelled,
}

impl RecipientStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Sending => "sending",
            RecipientStatus::Sent => "sent",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Suppressed => "suppressed",
            RecipientStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => RecipientStatus::Pending,
            "sending" => RecipientStatus::Sending,
            "sent" => RecipientStatus::Sent,
            "failed" => RecipientStatus::Failed,
            "suppressed" => RecipientStatus::Suppressed,
            "cancelled" => RecipientStatus::Cancelled,
            _ => return Err(CrmError::invalid("status", "unknown", format!("unknown recipient status `{s}`"))),
        })
    }
}

/// One targeted contact of a campaign, frozen at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recipient {
    /// Its id; the Message-ID is derived from it, so it is stable across retries.
    pub id: RecipientId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its campaign.
    pub campaign_id: CampaignId,
    /// The contact it was frozen from.
    pub contact_id: ContactId,
    /// Where it goes.
    pub email: EmailAddress,
    /// The contact's fields at freeze time: the template variables.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub variables: Value,
    /// The content variant (index into the campaign's variants); `None` while held for a winner.
    pub variant: Option<u16>,
    /// Where it stands.
    pub status: RecipientStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not claimed before this time (transient-failure backoff).
    pub retry_at: Option<DateTime<Utc>>,
    /// While `sending`: when the claim expires and another sender may take it.
    pub lease_until: Option<DateTime<Utc>>,
    /// The last error, for failed or retried recipients.
    pub last_error: Option<String>,
    /// When the mail server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    /// Accepted by the mail server.
    Sent,
    /// Failed; may succeed later.
    Transient,
    /// Failed for good.
    Permanent,
    /// Not sent: the address was suppressed when it was claimed.
    Suppressed,
}

impl AttemptOutcome {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Transient => "transient",
            AttemptOutcome::Permanent => "permanent",
            AttemptOutcome::Suppressed => "suppressed",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sent" => AttemptOutcome::Sent,
            "transient" => AttemptOutcome::Transient,
            "permanent" => AttemptOutcome::Permanent,
            "suppressed" => AttemptOutcome::Suppressed,
            _ => return Err(CrmError::invalid("outcome", "unknown", format!("unknown attempt outcome `{s}`"))),
        })
    }
}

/// One entry of the per-recipient ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// The recipient.
    pub recipient_id: RecipientId,
    /// 1 for the first attempt.
    pub number: u32,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The Message-ID sent.
    pub message_id: String,
    /// The mail server's response, or the error.
    pub response: String,
}

/// What a sender reports for one claimed recipient: the attempt and the status it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// The ledger entry.
    pub attempt: Attempt,
    /// The next status: `sent`, `pending` (retry at `retry_at`), `failed` or `suppressed`.
    pub status: RecipientStatus,
    /// For a retry: not before this time.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Recipient counts of one campaign, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientCounts {
    /// Frozen into the audience.
    pub targeted: u64,
    /// Waiting (including held for an A/B winner and awaiting a retry).
    pub pending: u64,
    /// Of the pending, held back until the A/B winner is known.
    pub held: u64,
    /// Claimed right now.
    pub sending: u64,
    /// Accepted by the mail server.
    pub sent: u64,
    /// Given up.
    pub failed: u64,
    /// Suppressed.
    pub suppressed: u64,
    /// Not sent because the campaign was cancelled.
    pub cancelled: u64,
}

impl RecipientCounts {
    /// Whether no recipient is waiting or in flight.
    pub fn is_done(&self) -> bool {
        self.pending == 0 && self.sending == 0
    }

    /// The ledger invariant: every targeted recipient is in exactly one state.
    pub fn balanced(&self) -> bool {
        self.pending + self.sending + self.sent + self.failed + self.suppressed + self.cancelled == self.targeted
    }
}

/// Why an address must not receive campaign mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SuppressionReason {
    /// The person unsubscribed.
    Unsubscribed,
    /// A hard bounce (or too many soft ones).
    Bounced,
    /// A spam complaint.
    Complained,
    /// Added by a person.
    Manual,
}

impl SuppressionReason {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Unsubscribed => "unsubscribed",
            SuppressionReason::Bounced => "bounced",
            SuppressionReason::Complained => "complained",
            SuppressionReason::Manual => "manual",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "unsubscribed" => SuppressionReason::Unsubscribed,
            "bounced" => SuppressionReason::Bounced,
            "complained" => SuppressionReason::Complained,
            "manual" => SuppressionReason::Manual,
            _ => return Err(CrmError::invalid("reason", "unknown", format!("unknown suppression reason `{s}`"))),
        })
    }
}

/// An address on the tenant's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suppression {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The address.
    pub email: EmailAddress,
    /// Why.
    pub reason: SuppressionReason,
    /// The campaign that caused it, if any.
    pub campaign_id: Option<CampaignId>,
    /// When.
    pub created_at: DateTime<Utc>,
}
