//! [`Dataset`]: deals joined with their stage history, scoped to one currency, ready for every
//! metric. Built once per call; every metric is a pass over it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Days, Utc};

use super::AnalyticsParams;
use super::snapshot::{DealFacts, DealSnapshot, StageEntry};
use crate::deal::{DealStatus, Pipeline, StageKind};
use crate::error::{CrmError, Result};
use crate::value::Currency;

/// A stage visit: (stage position in the pipeline, entered at).
pub(crate) type Visit = (usize, DateTime<Utc>);

/// One deal with the facts every metric needs, precomputed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub(crate) deal: &'a DealFacts,
    /// Its stage visits, oldest first, in the dataset's shared buffer: `visits[start..end]`.
    /// Visits to stages the pipeline no longer has are dropped.
    start: u32,
    end: u32,
    /// The furthest open stage (by position) the deal ever entered.
    pub(crate) furthest_open: Option<usize>,
    /// The last stage change or update.
    pub(crate) last_touch: DateTime<Utc>,
}

/// Deals + stage history + `now`, scoped to one currency and optionally one owner: the input of
/// every analytics function.
#[derive(Debug, Clone)]
pub struct Dataset<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) now: DateTime<Utc>,
    pub(crate) currency: Option<Currency>,
    pub(crate) facts: Vec<Facts<'a>>,
    /// Every deal's visits, back to back (one allocation for all deals).
    visits: Arc<Vec<Visit>>,
    /// `now - stale_days`: open deals last touched then or before are stale.
    stale_before: Option<DateTime<Utc>>,
    pub(crate) params: AnalyticsParams,
}

impl<'a> Dataset<'a> {
    /// The deals of `snapshot` matching `params`' currency and owner, joined with their stage
    /// history. `Validation` on `currency` when none is given and the deals use several, or when
    /// `params` are invalid. A snapshot out of order is sorted first; stage references it did not
    /// make are ignored.
    pub fn new(
        pipeline: &'a Pipeline,
        snapshot: &'a DealSnapshot,
        now: DateTime<Utc>,
        params: &AnalyticsParams,
    ) -> Result<Self> {
        params.validate()?;
        let currency = match params.currency.as_deref() {
            Some(code) => Some(Currency::parse(code)?),
            None => single_currency(&snapshot.deals)?,
        };
        let mut deals: Vec<&DealFacts> = snapshot
            .deals
            .iter()
            .filter(|d| currency.is_none_or(|c| d.amount.currency == c))
            .filter(|d| params.owner_id.is_none_or(|o| d.owner_id == Some(o)))
            .collect();
        if !deals.is_sorted_by_key(|d| d.id) {
            deals.sort_by_key(|d| d.id);
        }
        let key = |e: &StageEntry| (e.deal_id, e.at);
        let entries: Cow<'_, [StageEntry]> = if snapshot.entries.is_sorted_by_key(key) {
            Cow::Borrowed(&snapshot.entries)
        } else {
            let mut sorted = snapshot.entries.clone();
            sorted.sort_by_key(key);
            Cow::Owned(sorted)
        };
        // Snapshot stage reference → pipeline position, resolved once per key.
        let stages = pipeline.stages();
        let position: Vec<Option<usize>> =
            snapshot.stages().iter().map(|key| stages.iter().position(|s| s.key == *key)).collect();
        let position = |stage: super::snapshot::StageRef| position.get(stage.index()).copied().flatten();
        let is_open = |pos: usize| stages[pos].kind == StageKind::Open;
        let mut facts = Vec::with_capacity(deals.len());
        let mut visits: Vec<Visit> = Vec::with_capacity(entries.len().max(deals.len()));
        let mut next = 0;
        for deal in deals {
            while next < entries.len() && entries[next].deal_id < deal.id {
                next += 1;
            }
            let start = visits.len();
            while next < entries.len() && entries[next].deal_id == deal.id {
                let entry = &entries[next];
                if let Some(pos) = position(entry.stage) {
                    visits.push((pos, entry.at));
                }
                next += 1;
            }
            if visits.len() == start {
                // A deal without history (imported): treat its current stage as entered at creation.
                if let Some(pos) = position(deal.stage) {
                    visits.push((pos, deal.created_at));
                }
            }
            let own = &visits[start..];
            let furthest_open = own.iter().map(|v| v.0).filter(|&p| is_open(p)).max();
            let last_change = own.last().map_or(deal.created_at, |v| v.1);
            facts.push(Facts {
                deal,
                start: start as u32,
                end: visits.len() as u32,
                furthest_open,
                last_touch: last_change.max(deal.updated_at),
            });
        }
        let stale_before = now.checked_sub_days(Days::new(u64::from(params.stale_days())));
        Ok(Self { pipeline, now, currency, facts, visits: Arc::new(visits), stale_before, params: params.clone() })
    }

    /// The stage visits of a deal, oldest first.
    pub(crate) fn visits(&self, f: &Facts<'_>) -> &[Visit] {
        self.visits.get(f.start as usize..f.end as usize).unwrap_or_default()
    }

    /// The position of the stage a deal is in now (its last visit).
    pub(crate) fn current_stage(&self, f: &Facts<'_>) -> Option<usize> {
        self.visits(f).last().map(|v| v.0)
    }

    /// When a deal entered its current stage.
    pub(crate) fn entered_current(&self, f: &Facts<'_>) -> DateTime<Utc> {
        self.visits(f).last().map_or(f.deal.created_at, |v| v.1)
    }

    /// Whether a deal was in an open stage at `at` (from its history).
    pub(crate) fn open_at(&self, f: &Facts<'_>, at: DateTime<Utc>) -> bool {
        if f.deal.created_at >= at {
            return false;
        }
        // Visits are oldest first: the last one before `at` is the stage the deal was in.
        let visits = self.visits(f);
        let before = visits.partition_point(|v| v.1 < at);
        match before.checked_sub(1).map(|i| visits[i]) {
            Some((pos, _)) => self.pipeline.stages()[pos].kind == StageKind::Open,
            None => f.deal.status == DealStatus::Open,
        }
    }

    /// The currency analysed; `None` when there are no deals.
    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// How many deals are in scope.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether no deal is in scope.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// The clock's `now` the metrics are computed at.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The parameters in effect.
    pub fn params(&self) -> &AnalyticsParams {
        &self.params
    }

    /// Positions of the pipeline's open stages, in order.
    pub(crate) fn open_stages(&self) -> Vec<usize> {
        let stages = self.pipeline.stages();
        (0..stages.len()).filter(|&i| stages[i].kind == StageKind::Open).collect()
    }

    /// Whether an open deal has had no stage change or update for `stale_days`.
    pub(crate) fn is_stale(&self, f: &Facts<'_>) -> bool {
        // `last_touch + stale_days <= now`, with the subtraction done once.
        f.deal.status == DealStatus::Open && self.stale_before.is_some_and(|before| f.last_touch <= before)
    }

    /// A copy without the stale open deals (the health score treats them as out of play).
    pub(crate) fn without_stale(&self) -> Dataset<'a> {
        let facts = self.facts.iter().filter(|f| !self.is_stale(f)).copied().collect();
        Dataset { facts, visits: Arc::clone(&self.visits), params: self.params.clone(), ..*self }
    }
}

/// The one currency all deals use; `None` without deals; `Validation` when there are several.
fn single_currency(deals: &[DealFacts]) -> Result<Option<Currency>> {
    let mut found: Option<Currency> = None;
    let mut others = Vec::new();
    for deal in deals {
        match found {
            None => found = Some(deal.amount.currency),
            Some(c) if c == deal.amount.currency => {}
            Some(_) => {
                if !others.contains(&deal.amount.currency) {
                    others.push(deal.amount.currency);
                }
            }
        }
    }
    if others.is_empty() {
        return Ok(found);
    }
    others.extend(found);
    others.sort_by(|a, b| a.as_str().cmp(b.as_str()).then(Ordering::Equal));
    let list = others.iter().map(Currency::as_str).collect::<Vec<_>>().join(", ");
    Err(CrmError::invalid("currency", "ambiguous", format!("deals use several currencies ({list}); choose one")))
}
