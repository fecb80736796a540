//! [`DealSnapshot`]: what analytics reads from a store in one go — per deal only the facts the
//! metrics use, and the stage history as one flat list of (deal, stage, instant) entries.
//!
//! Why not `Vec<Deal>` + `Vec<StageChange>`: for 100,000 deals those cost ~800,000 string
//! allocations (titles, stage keys, lost reasons, `from_stage`, `to_stage`) and, in SQL stores,
//! decoding columns no metric reads (titles, JSON principals). Here a deal is a `Copy` value and
//! stage keys are stored once per snapshot and referenced by a [`StageRef`].

use chrono::{DateTime, NaiveDate, Utc};

use crate::deal::{Deal, DealStatus, StageChange};
use crate::id::{DealId, MemberId};
use crate::value::Money;

/// A stage key of one [`DealSnapshot`], interned by [`DealSnapshot::stage_ref`]. Only meaningful
/// for the snapshot that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StageRef(u32);

impl StageRef {
    /// Its index in [`DealSnapshot::stages`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The facts analytics reads about one deal (no title, contact or free text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealFacts {
    /// The deal.
    pub id: DealId,
    /// Its owner.
    pub owner_id: Option<MemberId>,
    /// Amount and currency.
    pub amount: Money,
    /// Current stage.
    pub stage: StageRef,
    /// Win probability, percent.
    pub probability: u8,
    /// Open, won or lost.
    pub status: DealStatus,
    /// Expected close date.
    pub expected_close: Option<NaiveDate>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// One stage change: the deal entered `stage` at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageEntry {
    /// The deal.
    pub deal_id: DealId,
    /// The stage entered.
    pub stage: StageRef,
    /// When.
    pub at: DateTime<Utc>,
}

/// One tenant's deals and stage history, as [`DealRepository::snapshot`] returns them.
///
/// `deals` are ordered by id ascending; `entries` by deal id, then oldest first within a deal
/// (the order the history was written in). Equality compares stage keys, not [`StageRef`]s, so
/// two snapshots that interned the same keys in a different order are equal.
///
/// [`DealRepository::snapshot`]: crate::ports::DealRepository::snapshot
#[derive(Debug, Clone, Default)]
pub struct DealSnapshot {
    stages: Vec<String>,
    /// The deals, by id.
    pub deals: Vec<DealFacts>,
    /// The stage history, by deal then oldest first.
    pub entries: Vec<StageEntry>,
}

impl DealSnapshot {
    /// An empty snapshot with room for `deals` deals and `entries` stage changes.
    pub fn with_capacity(deals: usize, entries: usize) -> Self {
        Self { stages: Vec::new(), deals: Vec::with_capacity(deals), entries: Vec::with_capacity(entries) }
    }

    /// The reference of a stage key, adding it on first use. Pipelines have a handful of stages,
    /// so a linear scan beats hashing.
    pub fn stage_ref(&mut self, key: &str) -> StageRef {
        match self.stages.iter().position(|s| s == key) {
            Some(i) => StageRef(i as u32),
            None => {
                self.stages.push(key.to_owned());
                StageRef(self.stages.len() as u32 - 1)
            }
        }
    }

    /// The key of a stage reference; `None` for a reference this snapshot did not make.
    pub fn stage_key(&self, stage: StageRef) -> Option<&str> {
        self.stages.get(stage.index()).map(String::as_str)
    }

    /// Every stage key referenced, in the order first seen.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// Appends the facts of a deal (the caller keeps the id order).
    pub fn push_deal(&mut self, deal: &Deal) {
        let stage = self.stage_ref(&deal.stage);
        self.deals.push(DealFacts {
            id: deal.id,
            owner_id: deal.owner_id,
            amount: deal.amount,
            stage,
            probability: deal.probability,
            status: deal.status,
            expected_close: deal.expected_close,
            closed_at: deal.closed_at,
            created_at: deal.created_at,
            updated_at: deal.updated_at,
        });
    }

    /// Appends a stage change (the caller keeps the order).
    pub fn push_change(&mut self, change: &StageChange) {
        let stage = self.stage_ref(&change.to_stage);
        self.entries.push(StageEntry { deal_id: change.deal_id, stage, at: change.changed_at });
    }

    /// The snapshot of full deals and their history, in any order: deals are sorted by id,
    /// changes by deal then time (stable, so equal instants keep their order), and changes of
    /// deals not in `deals` or of another tenant are dropped.
    pub fn from_deals(deals: &[Deal], history: &[StageChange]) -> Self {
        let mut deals: Vec<&Deal> = deals.iter().collect();
        deals.sort_by_key(|d| d.id);
        let tenant_of = |id: DealId| deals.binary_search_by_key(&id, |d| d.id).ok().map(|i| deals[i].tenant_id);
        let mut changes: Vec<&StageChange> =
            history.iter().filter(|c| tenant_of(c.deal_id) == Some(c.tenant_id)).collect();
        changes.sort_by_key(|c| (c.deal_id, c.changed_at));
        let mut snapshot = Self::with_capacity(deals.len(), changes.len());
        for deal in deals {
            snapshot.push_deal(deal);
        }
        for change in changes {
            snapshot.push_change(change);
        }
        snapshot
    }
}

impl PartialEq for DealSnapshot {
    fn eq(&self, other: &Self) -> bool {
        let same_deal = |a: &DealFacts, b: &DealFacts| {
            DealFacts { stage: b.stage, ..*a } == *b && self.stage_key(a.stage) == other.stage_key(b.stage)
        };
        let same_entry = |a: &StageEntry, b: &StageEntry| {
            (a.deal_id, a.at) == (b.deal_id, b.at) && self.stage_key(a.stage) == other.stage_key(b.stage)
        };
        self.deals.len() == other.deals.len()
            && self.entries.len() == other.entries.len()
            && self.deals.iter().zip(&other.deals).all(|(a, b)| same_deal(a, b))
            && self.entries.iter().zip(&other.entries).all(|(a, b)| same_entry(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_keys_are_interned_and_compared_by_key() {
        let mut a = DealSnapshot::default();
        let mut b = DealSnapshot::default();
        let (lead, won) = (a.stage_ref("lead"), a.stage_ref("won"));
        assert_eq!(a.stage_ref("lead"), lead);
        assert_eq!(a.stages(), ["lead", "won"]);
        let (won_b, lead_b) = (b.stage_ref("won"), b.stage_ref("lead"));
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let deal_id = DealId::new();
        a.entries.push(StageEntry { deal_id, stage: lead, at });
        b.entries.push(StageEntry { deal_id, stage: lead_b, at });
        assert_eq!(a, b, "same keys, different refs");
        b.entries[0].stage = won_b;
        assert_ne!(a, b);
        a.entries[0].stage = won;
        assert_eq!(a, b);
        assert_eq!(a.stage_key(StageRef(7)), None);
    }
}
