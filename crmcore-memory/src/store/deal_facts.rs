//! A per-tenant [`DealSnapshot`] kept ready for analytics, so
//! [`DealRepository::snapshot`](crmcore::ports::DealRepository::snapshot) copies two flat arrays
//! instead of walking every stored [`Deal`] and its history (one cache miss per string).
//!
//! Writes only note the deal id as dirty (O(log n)); the next snapshot re-reads the dirty deals
//! and merges them into the cached arrays in one linear pass. When most deals are dirty (a bulk
//! load) the cache is rebuilt from the deals instead. The cached snapshot is therefore always
//! exactly what a fresh walk of `deals` + `stage_history` would produce.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crmcore::analytics::{DealFacts, DealSnapshot, StageEntry};
use crmcore::deal::{Deal, StageChange};
use crmcore::id::{DealId, TenantId};

/// The cached snapshots of every tenant that has deals.
#[derive(Debug, Default)]
pub(super) struct DealFactsCache {
    tenants: HashMap<TenantId, TenantFacts>,
}

#[derive(Debug, Default)]
struct TenantFacts {
    /// The snapshot as of the last refresh (`None` before the first one).
    snapshot: Option<DealSnapshot>,
    /// Deals written since then.
    dirty: BTreeSet<DealId>,
}

impl DealFactsCache {
    /// Notes that a deal of `tenant` was inserted, updated or deleted.
    pub(super) fn touch(&mut self, tenant: TenantId, deal: DealId) {
        let facts = self.tenants.entry(tenant).or_default();
        if facts.snapshot.is_some() {
            facts.dirty.insert(deal);
        }
    }

    /// The tenant's snapshot, brought up to date with `deals` and `history` first.
    pub(super) fn snapshot(
        &mut self,
        tenant: TenantId,
        deals: &BTreeMap<DealId, Deal>,
        history: &HashMap<DealId, Vec<StageChange>>,
    ) -> DealSnapshot {
        let facts = self.tenants.entry(tenant).or_default();
        let dirty = std::mem::take(&mut facts.dirty);
        let snapshot = match facts.snapshot.take() {
            // Merging re-reads every dirty deal at random; past a quarter, one ordered walk wins.
            Some(cached) if dirty.len() <= cached.deals.len() / 4 => merge(cached, &dirty, tenant, deals, history),
            _ => build(tenant, deals, history),
        };
        facts.snapshot.insert(snapshot).clone()
    }
}

/// The snapshot of a tenant from scratch: deals by id, each followed by its history as written.
fn build(
    tenant: TenantId,
    deals: &BTreeMap<DealId, Deal>,
    history: &HashMap<DealId, Vec<StageChange>>,
) -> DealSnapshot {
    let mut snapshot = DealSnapshot::default();
    for deal in deals.values().filter(|d| d.tenant_id == tenant) {
        snapshot.push_deal(deal);
        for change in history.get(&deal.id).into_iter().flatten() {
            snapshot.push_change(change);
        }
    }
    snapshot
}

/// `cached` with the facts and history of the `dirty` deals replaced by their current ones
/// (dropped when the deal is gone), keeping both arrays in deal-id order.
fn merge(
    mut cached: DealSnapshot,
    dirty: &BTreeSet<DealId>,
    tenant: TenantId,
    deals: &BTreeMap<DealId, Deal>,
    history: &HashMap<DealId, Vec<StageChange>>,
) -> DealSnapshot {
    if dirty.is_empty() {
        return cached;
    }
    let old_deals = std::mem::take(&mut cached.deals);
    let old_entries = std::mem::take(&mut cached.entries);
    // `cached` keeps its interned stages and now collects the dirty deals' current facts.
    for id in dirty {
        let Some(deal) = deals.get(id).filter(|d| d.tenant_id == tenant) else { continue };
        cached.push_deal(deal);
        for change in history.get(id).into_iter().flatten() {
            cached.push_change(change);
        }
    }
    let dirty: Vec<DealId> = dirty.iter().copied().collect();
    cached.deals = merge_sorted(&old_deals, &cached.deals, &dirty, |d: &DealFacts| d.id);
    cached.entries = merge_sorted(&old_entries, &cached.entries, &dirty, |e: &StageEntry| e.deal_id);
    cached
}

/// `old` without the items of `dirty` deals, merged with `new` (the dirty deals' current items);
/// all three ordered by deal id, and items of one deal keep their order.
fn merge_sorted<T: Copy>(old: &[T], new: &[T], dirty: &[DealId], id: impl Fn(&T) -> DealId) -> Vec<T> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut d, mut n) = (0, 0);
    for item in old {
        let item_id = id(item);
        while n < new.len() && id(&new[n]) < item_id {
            out.push(new[n]);
            n += 1;
        }
        while d < dirty.len() && dirty[d] < item_id {
            d += 1;
        }
        if dirty.get(d) != Some(&item_id) {
            out.push(*item);
        }
    }
    out.extend_from_slice(&new[n..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_dirty_items_in_place() {
        let ids: Vec<DealId> = {
            let mut ids: Vec<DealId> = (0..5).map(|_| DealId::new()).collect();
            ids.sort();
            ids
        };
        // (deal index, sequence within the deal)
        let old = [(0, 0), (1, 0), (1, 1), (3, 0), (4, 0)];
        let new = [(1, 0), (2, 0), (2, 1)];
        let dirty = [ids[1], ids[2], ids[4]];
        let merged = merge_sorted(&old, &new, &dirty, |&(i, _)| ids[i]);
        assert_eq!(merged, [(0, 0), (1, 0), (2, 0), (2, 1), (3, 0)]);
    }
}
