//! E-mail campaigns: segments, templates, the campaign state machine, the frozen audience and a
//! send that never skips or doubles a recipient.
//!
//! - [`segment`]: the rule tree that picks the audience, evaluated by the domain and compiled to
//!   SQL by the stores.
//! - [`state`]: the campaign lifecycle, enforced here for every embedder.
//! - [`recipient`]: one row per targeted contact, its status, and the ledger of every attempt.
//! - [`ab_test`]: winner choice by a two-proportion z-test (Bonferroni-corrected), and the
//!   deterministic variant assignment.
//! - [`bounce`]: RFC 3464 delivery-status and RFC 5965 complaint reports.
//! - [`service`]: [`CampaignService`], what `crm.campaigns()` returns.
//! - `send` (crate-private): the job that freezes the audience and sends in leased batches.
//!
//! A send is crash-safe because a recipient is marked `sending` under a lease before the message
//! goes out and `sent` only after the mail server accepted it: a crash leaves at most the batch in
//! flight to be sent again when its lease expires, and nobody is skipped.

pub mod ab_test;
pub mod bounce;
pub mod bounces;
pub mod recipient;
pub mod segment;
pub(crate) mod send;
pub mod service;
pub mod state;
pub mod tracking;
pub mod unsubscribe;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use bounces::{BounceRecord, IngestOutcome};
pub use recipient::{
    Attempt, AttemptOutcome, Recipient, RecipientCounts, RecipientOutcome, RecipientStatus, Suppression,
    SuppressionReason,
};
pub use segment::{Condition, SegmentPreview, SegmentRule};
pub use send::CampaignConfig;
pub use service::{CampaignPatch, CampaignService, NewCampaign, NewEmailTemplate, TemplatePatch};
pub use state::CampaignStatus;
pub use tracking::{CampaignStats, EngagementCount, EngagementSummary, LinkStats, TrackingConfig, VariantReport};
pub use unsubscribe::{LinkConfig, UnsubscribeLinks, UnsubscribeTarget};

use crate::actor::Principal;
use crate::id::{CampaignId, EmailTemplateId, TenantId};
use crate::value::EmailAddress;

/// A reusable e-mail template: subject, HTML, optional text part, and declared variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailTemplate {
    /// Its id.
    pub id: EmailTemplateId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// A name for the library.
    pub name: String,
    /// Subject template.
    pub subject: String,
    /// HTML template (auto-escaped).
    pub html: String,
    /// Plain-text template; derived from the HTML when absent.
    pub text: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// One variant of a campaign's content. A campaign without an A/B test has exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Variant {
    /// A short label, e.g. `A`.
    pub name: String,
    /// Relative share of the test sample (1–1000).
    pub weight: u32,
    /// The template it sends.
    pub template_id: EmailTemplateId,
    /// Replaces the template's subject when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// What an A/B test optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AbMetric {
    /// Unique opens per sent.
    Opens,
    /// Unique clicks per sent.
    Clicks,
    /// Conversions per sent.
    Conversions,
}

/// A/B test settings: a test phase on a sample, then the winner goes to the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AbTest {
    /// Share of the audience in the test phase, 1–100 %.
    pub sample_percent: u8,
    /// The metric compared.
    pub metric: AbMetric,
    /// Significance level, e.g. 0.05 (Bonferroni-corrected for more than two variants).
    pub alpha: f64,
    /// Minutes after the test phase is sent before the winner is chosen.
    pub decide_after_minutes: u32,
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Internal name.
    pub name: String,
    /// Where it is in its lifecycle.
    pub status: CampaignStatus,
    /// Sender address.
    pub from_email: EmailAddress,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Where replies go.
    pub reply_to: Option<EmailAddress>,
    /// Who receives it.
    pub segment: SegmentRule,
    /// The content variants (one unless A/B testing).
    pub variants: Vec<Variant>,
    /// A/B test settings, when testing.
    pub ab_test: Option<AbTest>,
    /// The variant chosen after the test phase.
    pub winner: Option<u16>,
    /// When the A/B winner is to be chosen (set once the test phase is sent).
    pub ab_decide_at: Option<DateTime<Utc>>,
    /// How the A/B winner was chosen: the test statistics.
    pub ab_decision: Option<ab_test::WinnerDecision>,
    /// Each variant's static links, frozen at launch: click redirects look targets up here.
    pub links: Vec<Vec<String>>,
    /// Messages per second for this campaign.
    pub rate_limit_per_second: Option<u32>,
    /// When a scheduled campaign starts.
    pub send_at: Option<DateTime<Utc>>,
    /// Whether the audience has been fully frozen into recipients.
    pub audience_frozen: bool,
    /// Freezing resumes after this contact id.
    #[serde(skip)]
    pub freeze_cursor: Option<uuid::Uuid>,
    /// Who created it.
    pub created_by: Principal,
    /// When it was launched.
    pub launched_at: Option<DateTime<Utc>>,
    /// When every recipient was done.
    pub completed_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}
