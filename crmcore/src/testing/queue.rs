//! Contract checks for the durable job queue.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::fixtures::now;
use crate::error::CrmError;
use crate::id::{JobId, LeaseId, TenantId};
use crate::ports::{JobState, NewJob, Store};

fn job(kind: &str, at: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: json!({"n": 1}),
        tenant_id: None,
        run_at: at,
        dedupe_key: None,
        max_attempts: 3,
    }
}

/// Enqueue, claim (attempt 1, leased), complete; completed jobs are not claimed again.
pub async fn queue_enqueue_claim_complete(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    let tenant = TenantId::new();
    let enqueued = q.enqueue(NewJob { tenant_id: Some(tenant), ..job("demo", t0) }, t0).await.unwrap();
    assert!(enqueued.created);
    let record = q.get(enqueued.id).await.unwrap();
    assert_eq!((record.state, record.attempts, record.tenant_id), (JobState::Pending, 0, Some(tenant)));
    assert_eq!(record.payload, json!({"n": 1}));

    let claimed = q.claim(t0, Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!((c.id, c.kind.as_str(), c.attempt, c.max_attempts), (enqueued.id, "demo", 1, 3));
    assert_eq!(c.lease_expires_at, t0 + Duration::seconds(30));
    assert_eq!(q.get(c.id).await.unwrap().state, JobState::Running);
    assert!(q.claim(t0, Duration::seconds(30), 10).await.unwrap().is_empty(), "leased jobs are not claimable");

    q.complete(c.id, c.lease, t0).await.unwrap();
    assert_eq!(q.get(c.id).await.unwrap().state, JobState::Completed);
    assert!(q.claim(t0 + Duration::hours(1), Duration::seconds(30), 10).await.unwrap().is_empty());
    assert!(
        matches!(q.complete(c.id, c.lease, t0).await, Err(CrmError::Conflict { .. })),
        "completing twice conflicts"
    );
    assert!(matches!(q.get(JobId::new()).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(q.complete(JobId::new(), LeaseId::new(), t0).await, Err(CrmError::NotFound { .. })));
}

/// A dedupe key admits one live job; once it completes, the key is free again.
pub async fn queue_dedupe_key_holds_while_live(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    let keyed = |k: &str| NewJob { dedupe_key: Some(k.into()), ..job("keyed", t0) };
    let first = q.enqueue(keyed("k1"), t0).await.unwrap();
    let second = q.enqueue(keyed("k1"), t0).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    assert!(q.enqueue(keyed("k2"), t0).await.unwrap().created, "another key is another job");

    let claimed = q.claim(t0, Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let running = q.enqueue(keyed("k1"), t0).await.unwrap();
    assert_eq!((running.id, running.created), (first.id, false), "a running job still holds its key");
    let c = claimed.iter().find(|c| c.id == first.id).unwrap();
    q.complete(c.id, c.lease, t0).await.unwrap();
    let fresh = q.enqueue(keyed("k1"), t0).await.unwrap();
    assert!(fresh.created && fresh.id != first.id, "the key is free after completion");

    let concurrent: Vec<_> = futures::future::join_all((0..8).map(|_| q.enqueue(keyed("race"), t0))).await;
    let ids: HashSet<_> = concurrent.into_iter().map(|r| r.unwrap().id).collect();
    assert_eq!(ids.len(), 1, "concurrent enqueues with one key yield one job");
}

/// Jobs scheduled for later are not claimed before their time, then claimed in `run_at` order.
pub async fn queue_future_jobs_wait_for_their_time(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    let late = q.enqueue(job("late", t0 + Duration::minutes(10)), t0).await.unwrap();
    let soon = q.enqueue(job("soon", t0 + Duration::minutes(1)), t0).await.unwrap();
    assert!(q.claim(t0, Duration::seconds(30), 10).await.unwrap().is_empty());
    let at_5 = q.claim(t0 + Duration::minutes(5), Duration::seconds(30), 10).await.unwrap();
    assert_eq!(at_5.iter().map(|c| c.id).collect::<Vec<_>>(), vec![soon.id]);
    q.complete(soon.id, at_5[0].lease, t0 + Duration::minutes(5)).await.unwrap();
    let at_11 = q.claim(t0 + Duration::minutes(11), Duration::seconds(30), 10).await.unwrap();
    assert_eq!(at_11.iter().map(|c| c.id).collect::<Vec<_>>(), vec![late.id]);

    let ordered: Vec<JobId> = {
        let mut ids = Vec::new();
        for minutes in [3, 1, 2] {
            ids.push((minutes, q.enqueue(job("o", t0 + Duration::minutes(minutes)), t0).await.unwrap().id));
        }
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    };
    q.complete(late.id, at_11[0].lease, t0 + Duration::minutes(11)).await.unwrap();
    let claimed = q.claim(t0 + Duration::minutes(4), Duration::seconds(30), 2).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.id).collect::<Vec<_>>(),
        ordered[..2].to_vec(),
        "oldest run_at first, limit holds"
    );
}

/// When a lease expires the job is claimed again (attempt 2), and the old lease can no longer
/// complete, retry, dead-letter or extend it. Extending a live lease keeps the job.
pub async fn queue_expired_lease_is_reclaimed_and_stale_lease_conflicts(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    let id = q.enqueue(job("crashy", t0), t0).await.unwrap().id;
    let first = q.claim(t0, Duration::seconds(10), 1).await.unwrap().remove(0);
    assert!(q.claim(t0 + Duration::seconds(9), Duration::seconds(10), 1).await.unwrap().is_empty());
    let second = q.claim(t0 + Duration::seconds(10), Duration::seconds(10), 1).await.unwrap().remove(0);
    assert_eq!((second.id, second.attempt), (id, 2));
    assert_ne!(first.lease, second.lease);
    let t = t0 + Duration::seconds(11);
    let conflict = |r: crate::Result<()>| matches!(r, Err(CrmError::Conflict { .. }));
    assert!(conflict(q.complete(id, first.lease, t).await));
    assert!(conflict(q.retry(id, first.lease, t, "x", t).await));
    assert!(conflict(q.dead_letter(id, first.lease, "x", t).await));
    assert!(conflict(q.extend_lease(id, first.lease, t + Duration::hours(1)).await));

    q.extend_lease(id, second.lease, t0 + Duration::minutes(5)).await.unwrap();
    assert!(
        q.claim(t0 + Duration::minutes(4), Duration::seconds(10), 1).await.unwrap().is_empty(),
        "extended lease holds"
    );
    q.complete(id, second.lease, t0 + Duration::minutes(4)).await.unwrap();
    assert_eq!(q.get(id).await.unwrap().attempts, 2);
}

/// Retry reschedules with the error recorded; dead-lettering parks the job for good.
pub async fn queue_retry_and_dead_letter(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    let id = q.enqueue(job("flaky", t0), t0).await.unwrap().id;
    let c = q.claim(t0, Duration::seconds(30), 1).await.unwrap().remove(0);
    q.retry(id, c.lease, t0 + Duration::seconds(60), "smtp 421", t0).await.unwrap();
    let record = q.get(id).await.unwrap();
    assert_eq!(
        (record.state, record.last_error.as_deref(), record.run_at),
        (JobState::Pending, Some("smtp 421"), t0 + Duration::seconds(60))
    );
    assert!(q.claim(t0 + Duration::seconds(59), Duration::seconds(30), 1).await.unwrap().is_empty());
    let c2 = q.claim(t0 + Duration::seconds(60), Duration::seconds(30), 1).await.unwrap().remove(0);
    assert_eq!(c2.attempt, 2);
    q.dead_letter(id, c2.lease, "smtp 550", t0 + Duration::seconds(61)).await.unwrap();
    let dead = q.get(id).await.unwrap();
    assert_eq!((dead.state, dead.last_error.as_deref()), (JobState::Dead, Some("smtp 550")));
    assert!(q.claim(t0 + Duration::days(1), Duration::seconds(30), 10).await.unwrap().is_empty());
    assert_eq!(q.stats(t0).await.unwrap().dead, 1);
}

/// Many concurrent claimers: every job is claimed exactly once while its lease holds.
pub async fn queue_concurrent_claimers_never_share_a_job(store: Arc<dyn Store>) {
    let t0 = now();
    let mut ids = HashSet::new();
    for i in 0..120 {
        ids.insert(store.jobs().enqueue(job(&format!("bulk{i}"), t0), t0).await.unwrap().id);
    }
    let claimers = (0..6).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.jobs().claim(t0, Duration::minutes(5), 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.id));
            }
        })
    });
    let mut all = Vec::new();
    for handle in claimers.collect::<Vec<_>>() {
        all.extend(handle.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "no job was claimed twice");
    assert_eq!(unique, ids, "every job was claimed");
}

/// Stats count due, scheduled, running and dead jobs and the oldest due job's wait.
pub async fn queue_stats_report_depth_and_age(store: Arc<dyn Store>) {
    let q = store.jobs();
    let t0 = now();
    q.enqueue(job("old", t0 - Duration::seconds(90)), t0).await.unwrap();
    q.enqueue(job("due", t0), t0).await.unwrap();
    q.enqueue(job("later", t0 + Duration::hours(1)), t0).await.unwrap();
    let stats = q.stats(t0).await.unwrap();
    assert_eq!((stats.due, stats.scheduled, stats.running, stats.dead), (2, 1, 0, 0));
    assert_eq!(stats.oldest_due_age_secs, 90);
    q.claim(t0, Duration::seconds(30), 1).await.unwrap();
    let stats = q.stats(t0).await.unwrap();
    assert_eq!((stats.due, stats.running), (1, 1));
}
