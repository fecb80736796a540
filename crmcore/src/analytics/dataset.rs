//! [`Dataset`]: deals joined with their stage history, scoped to one currency, ready for every
//! metric. Built once per call; every metric is a pass over it.

use std::cmp::Ordering;

use chrono::{DateTime, Days, Utc};

use super::AnalyticsParams;
use crate::deal::{Deal, DealStatus, Pipeline, StageChange, StageKind};
use crate::error::{CrmError, Result};
use crate::value::Currency;

/// One deal with the facts every metric needs, precomputed.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    pub(crate) deal: &'a Deal,
    /// Stage visits, oldest first: (stage position in the pipeline, entered at). Visits to
    /// stages the pipeline no longer has are dropped.
    pub(crate) visits: Vec<(usize, DateTime<Utc>)>,
    /// The furthest open stage (by position) the deal ever entered.
    pub(crate) furthest_open: Option<usize>,
    /// The last stage change or update.
    pub(crate) last_touch: DateTime<Utc>,
}

impl Facts<'_> {
    /// When the deal entered its current stage.
    pub(crate) fn entered_current(&self) -> DateTime<Utc> {
        self.visits.last().map_or(self.deal.created_at, |v| v.1)
    }

    /// Whether the deal was in an open stage at `at` (from its history).
    pub(crate) fn open_at(&self, at: DateTime<Utc>, pipeline: &Pipeline) -> bool {
        if self.deal.created_at >= at {
            return false;
        }
        let last = self.visits.iter().take_while(|v| v.1 < at).last();
        match last {
            Some(&(pos, _)) => pipeline.stages()[pos].kind == StageKind::Open,
            None => self.deal.status == DealStatus::Open,
        }
    }
}

/// Deals + stage history + `now`, scoped to one currency and optionally one owner: the input of
/// every analytics function.
#[derive(Debug, Clone)]
pub struct Dataset<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) now: DateTime<Utc>,
    pub(crate) currency: Option<Currency>,
    pub(crate) facts: Vec<Facts<'a>>,
    pub(crate) params: AnalyticsParams,
}

impl<'a> Dataset<'a> {
    /// Joins `deals` with `history` (any order) for the deals matching `params`' currency and
    /// owner. `Validation` on `currency` when none is given and the deals use several, or when
    /// `params` are invalid.
    pub fn new(
        pipeline: &'a Pipeline,
        deals: &'a [Deal],
        history: &'a [StageChange],
        now: DateTime<Utc>,
        params: &AnalyticsParams,
    ) -> Result<Self> {
        params.validate()?;
        let currency = match params.currency.as_deref() {
            Some(code) => Some(Currency::parse(code)?),
            None => single_currency(deals)?,
        };
        let mut deals: Vec<&Deal> = deals
            .iter()
            .filter(|d| currency.is_none_or(|c| d.amount.currency == c))
            .filter(|d| params.owner_id.is_none_or(|o| d.owner_id == Some(o)))
            .collect();
        // Stores return both sorted by deal id; sorting sorted input is linear.
        deals.sort_by_key(|d| d.id);
        let mut changes: Vec<&StageChange> = history.iter().collect();
        changes.sort_by(|a, b| a.deal_id.cmp(&b.deal_id).then(a.changed_at.cmp(&b.changed_at)));
        let position = |key: &str| pipeline.stages().iter().position(|s| s.key == key);
        let mut facts = Vec::with_capacity(deals.len());
        let mut next = 0;
        for deal in deals {
            while next < changes.len() && changes[next].deal_id < deal.id {
                next += 1;
            }
            let mut visits = Vec::new();
            while next < changes.len() && changes[next].deal_id == deal.id {
                let change = changes[next];
                if change.tenant_id == deal.tenant_id {
                    if let Some(pos) = position(&change.to_stage) {
                        visits.push((pos, change.changed_at));
                    }
                }
                next += 1;
            }
            if visits.is_empty() {
                // A deal without history (imported): treat its current stage as entered at creation.
                if let Some(pos) = position(&deal.stage) {
                    visits.push((pos, deal.created_at));
                }
            }
            let furthest_open =
                visits.iter().map(|v| v.0).filter(|&p| pipeline.stages()[p].kind == StageKind::Open).max();
            let last_change = visits.last().map_or(deal.created_at, |v| v.1);
            facts.push(Facts { deal, visits, furthest_open, last_touch: last_change.max(deal.updated_at) });
        }
        Ok(Self { pipeline, now, currency, facts, params: params.clone() })
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
        f.deal.status == DealStatus::Open && f.last_touch + Days::new(u64::from(self.params.stale_days())) <= self.now
    }

    /// A copy without the stale open deals (the health score treats them as out of play).
    pub(crate) fn without_stale(&self) -> Dataset<'a> {
        let facts = self.facts.iter().filter(|f| !self.is_stale(f)).cloned().collect();
        Dataset { facts, params: self.params.clone(), ..*self }
    }
}

/// The one currency all deals use; `None` without deals; `Validation` when there are several.
fn single_currency(deals: &[Deal]) -> Result<Option<Currency>> {
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
