//! Deals: opportunities moving through pipeline stages, with a full stage history.

mod pipeline;
mod service;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use pipeline::{Pipeline, Stage, StageKind};
pub use service::{DealPatch, DealService, NewDeal};

use crate::actor::Principal;
use crate::id::{ContactId, DealId, MemberId, TenantId};
use crate::value::Money;

/// Whether a deal is still in play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DealStatus {
    /// In an open stage.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

impl DealStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }
}

impl std::str::FromStr for DealStatus {
    type Err = crate::CrmError;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "open" => Ok(DealStatus::Open),
            "won" => Ok(DealStatus::Won),
            "lost" => Ok(DealStatus::Lost),
            _ => Err(crate::CrmError::invalid("status", "invalid", format!("unknown deal status `{s}`"))),
        }
    }
}

/// A deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deal {
    /// Its id.
    pub id: DealId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What is being sold.
    pub title: String,
    /// The contact it is with.
    pub contact_id: Option<ContactId>,
    /// The member responsible.
    pub owner_id: Option<MemberId>,
    /// Value in minor units of a currency.
    pub amount: Money,
    /// Current pipeline stage key.
    pub stage: String,
    /// Win probability in percent, 0..=100.
    pub probability: u8,
    /// When it is expected to close.
    pub expected_close: Option<NaiveDate>,
    /// Open, won or lost; follows the stage's kind.
    pub status: DealStatus,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, incremented on every update.
    pub version: i64,
}

/// One entry of a deal's stage history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageChange {
    /// The deal.
    pub deal_id: DealId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The stage left, `None` for the deal's first stage.
    pub from_stage: Option<String>,
    /// The stage entered.
    pub to_stage: String,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// Who moved it.
    pub changed_by: Principal,
}

/// Filters for listing deals; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFilter {
    /// Only deals in this stage.
    pub stage: Option<String>,
    /// Only deals with this status.
    pub status: Option<DealStatus>,
    /// Only deals owned by this member.
    pub owner_id: Option<MemberId>,
    /// Only deals with this contact.
    pub contact_id: Option<ContactId>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
}

impl DealFilter {
    /// Whether `deal` passes the filter (the domain's reference evaluation).
    pub fn matches(&self, deal: &Deal) -> bool {
        self.stage.as_ref().is_none_or(|s| &deal.stage == s)
            && self.status.is_none_or(|s| deal.status == s)
            && self.owner_id.is_none_or(|o| deal.owner_id == Some(o))
            && self.contact_id.is_none_or(|c| deal.contact_id == Some(c))
            && self.search.as_deref().is_none_or(|s| deal.title.to_lowercase().contains(&s.to_lowercase()))
    }
}
