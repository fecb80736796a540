//! Contract checks for analytics: the snapshot read returns exactly what the per-deal reads
//! return, nothing from other tenants, and the metrics computed from it match an independent
//! recomputation from the public per-deal API.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::fixtures::Fixture;
use crate::actor::Role;
use crate::analytics::{AnalyticsParams, DealSnapshot};
use crate::crm::Crm;
use crate::deal::{Deal, DealFilter, DealStatus, NewDeal, StageChange, StageKind};
use crate::id::DealId;
use crate::page::PageRequest;
use crate::ports::{ManualClock, Store};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).single().expect("valid start")
}

/// A small deterministic generator (xorshift), so every store sees the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// Creates `count` deals over ~14 months on a manual clock, moving each through the pipeline:
/// some won, some lost, some left open, some moved back a stage.
pub async fn generate_history(f: &Fixture, clock: &ManualClock, count: usize, seed: u64) -> Vec<DealId> {
    let mut rng = Rng(seed | 1);
    let open: Vec<String> =
        f.crm.pipeline().stages().iter().filter(|s| s.kind == StageKind::Open).map(|s| s.key.clone()).collect();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        clock.set(start() + Duration::hours((i as i64) * 24 * 420 / count as i64));
        let close = NaiveDate::from_ymd_opt(2025, 1 + (rng.next(12) as u32), 1 + rng.next(28) as u32);
        let input = NewDeal {
            title: format!("Deal {i}"),
            contact_id: None,
            owner_id: None,
            amount_minor: if rng.next(10) == 0 { 0 } else { 1_000 * (1 + rng.next(500) as i64) },
            currency: "EUR".into(),
            stage: None,
            probability: None,
            expected_close: if rng.next(8) == 0 { None } else { close },
        };
        let deal = f.crm.deals().create(&f.actor, input).await.expect("deal created");
        ids.push(deal.id);
        let steps = rng.next(open.len() as u64 + 1) as usize;
        for step in 1..=steps.min(open.len() - 1) {
            clock.advance(Duration::hours(1 + rng.next(24 * 20) as i64));
            f.crm.deals().move_stage(&f.actor, deal.id, &open[step], None).await.expect("moved");
            if rng.next(12) == 0 {
                clock.advance(Duration::hours(1 + rng.next(24 * 5) as i64));
                f.crm.deals().move_stage(&f.actor, deal.id, &open[step - 1], None).await.expect("moved back");
                clock.advance(Duration::hours(1 + rng.next(24 * 5) as i64));
                f.crm.deals().move_stage(&f.actor, deal.id, &open[step], None).await.expect("moved on");
            }
        }
        clock.advance(Duration::hours(1 + rng.next(24 * 30) as i64));
        match rng.next(3) {
            0 => drop(f.crm.deals().move_stage(&f.actor, deal.id, "won", None).await.expect("won")),
            1 => drop(f.crm.deals().move_stage(&f.actor, deal.id, "lost", Some("price")).await.expect("lost")),
            _ => {}
        }
    }
    ids
}

async fn all_deals(f: &Fixture) -> Vec<Deal> {
    let mut out = Vec::new();
    let mut page = PageRequest::parse(Some(200), None).expect("page");
    loop {
        let got = f.crm.deals().list(&f.actor, &DealFilter::default(), page).await.expect("list");
        out.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page = PageRequest::parse(Some(200), Some(&cursor)).expect("cursor"),
            None => break,
        }
    }
    out.sort_by_key(|d| d.id);
    out
}

/// `snapshot` returns the facts of every deal of the tenant (by id) and every stage change (by
/// deal, oldest first), equal to the per-deal reads, and nothing of another tenant; the analytics
/// computed from it match an independent recomputation from the per-deal API.
pub async fn analytics_snapshot_agrees_and_isolates(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(start()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock.clone()).build().expect("crm");
    let f = Fixture::with_crm(crm.clone(), "Analytics").await;
    let other = Fixture::with_crm(crm.clone(), "Elsewhere").await;
    generate_history(&f, &clock, 60, 7).await;
    generate_history(&other, &clock, 10, 11).await;
    // Past every generated change, so nothing lies in the future.
    clock.set(start() + Duration::days(540));

    let snapshot = store.deals().snapshot(f.tenant.id).await.expect("snapshot");
    let listed = all_deals(&f).await;
    let mut expected: Vec<StageChange> = Vec::new();
    for deal in &listed {
        expected.extend(store.deals().stage_history(f.tenant.id, deal.id).await.expect("history"));
    }
    // Field by field, in the contract's order: deals by id, entries by deal then write order.
    let ids = |deals: &[Deal]| deals.iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(snapshot.deals.iter().map(|d| d.id).collect::<Vec<_>>(), ids(&listed), "deals by id");
    for (facts, deal) in snapshot.deals.iter().zip(&listed) {
        assert_eq!(snapshot.stage_key(facts.stage), Some(deal.stage.as_str()));
        let want = (deal.owner_id, deal.amount, deal.probability, deal.status, deal.expected_close);
        assert_eq!((facts.owner_id, facts.amount, facts.probability, facts.status, facts.expected_close), want);
        let want = (deal.closed_at, deal.created_at, deal.updated_at);
        assert_eq!((facts.closed_at, facts.created_at, facts.updated_at), want, "times of {}", deal.id);
    }
    let entries: Vec<_> =
        snapshot.entries.iter().map(|e| (e.deal_id, snapshot.stage_key(e.stage).unwrap_or("?"), e.at)).collect();
    let want: Vec<_> = expected.iter().map(|c| (c.deal_id, c.to_stage.as_str(), c.changed_at)).collect();
    assert_eq!(entries, want, "snapshot entries = per-deal history, by deal then oldest first");
    assert_eq!(snapshot, DealSnapshot::from_deals(&listed, &expected));
    let theirs = store.deals().snapshot(other.tenant.id).await.expect("other snapshot");
    let their_ids = ids(&all_deals(&other).await);
    assert_eq!(their_ids.len(), 10);
    assert_eq!(theirs.deals.iter().map(|d| d.id).collect::<Vec<_>>(), their_ids, "only their deals");
    assert!(theirs.entries.iter().all(|e| their_ids.contains(&e.deal_id)), "only their history");
    let none = store.deals().snapshot(crate::id::TenantId::new()).await.expect("empty");
    assert!(none.deals.is_empty() && none.entries.is_empty());

    // Independent recomputation from the per-deal reads.
    let pipeline = crm.pipeline();
    let open_keys: Vec<&str> =
        pipeline.stages().iter().filter(|s| s.kind == StageKind::Open).map(|s| s.key.as_str()).collect();
    let histories: HashMap<DealId, Vec<StageChange>> =
        listed.iter().map(|d| (d.id, expected.iter().filter(|c| c.deal_id == d.id).cloned().collect())).collect();
    let furthest = |d: &Deal| -> Option<usize> {
        if d.status == DealStatus::Won {
            return Some(open_keys.len());
        }
        histories[&d.id].iter().filter_map(|c| open_keys.iter().position(|k| *k == c.to_stage)).max()
    };
    let params = AnalyticsParams { target_minor: Some(10_000_000), ..Default::default() };
    let report = crm.analytics().report(&f.actor, &params).await.expect("report");

    // Funnel: reached(step) = deals whose furthest step is at or beyond it.
    assert_eq!(report.funnel.cohort, listed.len() as u64);
    for (i, step) in report.funnel.steps.iter().enumerate() {
        let reached = listed.iter().filter(|d| furthest(d).is_some_and(|x| x >= i)).count() as u64;
        assert_eq!(step.count, reached, "funnel step {}", step.stage);
    }
    let won = listed.iter().filter(|d| d.status == DealStatus::Won).count() as u64;
    let lost = listed.iter().filter(|d| d.status == DealStatus::Lost).count() as u64;
    assert_eq!((report.funnel.won, report.funnel.lost), (won, lost));

    // Stage metrics: open deals per stage through the filtered list; visit durations from history.
    for metric in &report.stage_metrics.stages {
        let filter =
            DealFilter { stage: Some(metric.stage.clone()), status: Some(DealStatus::Open), ..Default::default() };
        let open = f.crm.deals().list(&f.actor, &filter, PageRequest::parse(Some(200), None).unwrap()).await.unwrap();
        assert_eq!(metric.open_count, open.items.len() as u64, "open in {}", metric.stage);
        assert_eq!(metric.open_amount_minor, open.items.iter().map(|d| d.amount.amount_minor).sum::<i64>());
        let durations: Vec<f64> = histories
            .values()
            .flat_map(|h| {
                h.windows(2)
                    .filter(|w| w[0].to_stage == metric.stage)
                    .map(|w| (w[1].changed_at - w[0].changed_at).num_milliseconds() as f64 / 86_400_000.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(metric.completed_visits, durations.len() as u64);
        if !durations.is_empty() {
            let avg = durations.iter().sum::<f64>() / durations.len() as f64;
            assert!((metric.avg_days_in_stage.unwrap() - avg).abs() < 1e-9, "avg days in {}", metric.stage);
        }
        assert_eq!(metric.reached, metric.advanced + metric.dropped + metric.still_open);
    }

    // Weighted pipeline: Σ amount × probability over open deals.
    let open: Vec<&Deal> = listed.iter().filter(|d| d.status == DealStatus::Open).collect();
    let weighted: i128 = open.iter().map(|d| i128::from(d.amount.amount_minor) * i128::from(d.probability)).sum();
    assert_eq!(report.pipeline.open_count, open.len() as u64);
    assert_eq!(i128::from(report.pipeline.weighted_minor), (weighted + 50) / 100);

    // Velocity over the last 90 days.
    let period = report.velocity.current.period;
    let closed_in = |s: DealStatus| {
        listed.iter().filter(|d| d.status == s && d.closed_at.is_some_and(|c| period.contains(c))).count() as u64
    };
    assert_eq!(report.velocity.current.won, closed_in(DealStatus::Won));
    assert_eq!(report.velocity.current.lost, closed_in(DealStatus::Lost));

    // The health score is in range and names every component.
    let score = report.health.score.expect("score");
    assert!((0.0..=100.0).contains(&score));
    assert_eq!(report.health.components.len(), 6);

    // Forecast: 17 complete months of history is enough for the trend model.
    let forecast = report.forecast.as_ref().expect("forecast");
    assert_eq!(forecast.model, "ols_trend");
    let series_total: f64 = forecast.history.iter().map(|p| p.value).sum();
    let won_before_this_month: i64 = listed
        .iter()
        .filter(|d| d.status == DealStatus::Won)
        .filter(|d| d.closed_at.is_some_and(|c| c < Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()))
        .map(|d| d.amount.amount_minor)
        .sum();
    assert!((series_total - won_before_this_month as f64 / 100.0).abs() < 1e-6);

    // Viewers may read analytics; the other tenant's numbers are its own.
    let viewer = f.member("analyst", Role::Viewer).await;
    let viewer = crate::actor::Actor::member(f.tenant.id, viewer.id, Role::Viewer);
    let funnel = crm.analytics().funnel(&viewer, &AnalyticsParams::default()).await.expect("viewer reads");
    assert_eq!(funnel.cohort, listed.len() as u64);
    let theirs = crm.analytics().funnel(&other.actor, &AnalyticsParams::default()).await.expect("other tenant");
    assert_eq!(theirs.cohort, 10);
}

/// The tenant's snapshot built from the per-deal reads.
async fn snapshot_from_reads(store: &Arc<dyn Store>, f: &Fixture) -> DealSnapshot {
    let listed = all_deals(f).await;
    let mut history = Vec::new();
    for deal in &listed {
        history.extend(store.deals().stage_history(f.tenant.id, deal.id).await.expect("history"));
    }
    DealSnapshot::from_deals(&listed, &history)
}

/// A snapshot taken after deals were moved, edited, deleted and created equals the per-deal
/// reads again: a store that keeps snapshots ready must follow every write.
pub async fn analytics_snapshot_follows_every_write(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(start()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock.clone()).build().expect("crm");
    let f = Fixture::with_crm(crm.clone(), "Snapshots").await;
    let ids = generate_history(&f, &clock, 24, 3).await;
    clock.set(start() + Duration::days(500));
    assert_eq!(store.deals().snapshot(f.tenant.id).await.expect("snapshot"), snapshot_from_reads(&store, &f).await);

    // One write of each kind, then a snapshot after each.
    crm.deals().move_stage(&f.actor, ids[3], "won", None).await.expect("won");
    assert_eq!(store.deals().snapshot(f.tenant.id).await.expect("after move"), snapshot_from_reads(&store, &f).await);
    let patch = crate::deal::DealPatch { amount_minor: Some(123_456), ..Default::default() };
    crm.deals().update(&f.actor, ids[5], patch).await.expect("edited");
    assert_eq!(store.deals().snapshot(f.tenant.id).await.expect("after edit"), snapshot_from_reads(&store, &f).await);
    crm.deals().delete(&f.actor, ids[0]).await.expect("deleted");
    assert_eq!(store.deals().snapshot(f.tenant.id).await.expect("after delete"), snapshot_from_reads(&store, &f).await);

    // Several writes between snapshots, including a deal created and deleted in between.
    clock.advance(Duration::days(1));
    let extra = generate_history(&f, &clock, 3, 5).await;
    crm.deals().delete(&f.actor, extra[1]).await.expect("deleted new");
    crm.deals().move_stage(&f.actor, ids[7], "lost", Some("timing")).await.expect("lost");
    crm.deals().delete(&f.actor, ids[23]).await.expect("deleted last");
    let snapshot = store.deals().snapshot(f.tenant.id).await.expect("after several");
    assert_eq!(snapshot.deals.len(), 24 - 2 + 3 - 1);
    assert_eq!(snapshot, snapshot_from_reads(&store, &f).await);
}
