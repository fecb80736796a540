//! Webhook endpoints, deliveries and attempts on PostgreSQL: the shared SQL of
//! `common/webhook.rs`, with `LATERAL` + `SKIP LOCKED` claims and `UNNEST` batches.

use chrono::{DateTime, Utc};
use crmcore::webhook::ClaimLimits;
use sqlx::{Postgres, QueryBuilder};

use super::{PgStore, append_events, bulk, missing_or_stale};
use crate::common::types::DbTime;
use crate::common::webhook::{PENDING_ENDPOINTS, push_room};

/// The ids a claim takes: for each endpoint with room, a `LATERAL` walk of its own due index
/// from the earliest, taking up to its room and passing over rows other claims hold locked; of
/// those, the earliest due up to the total.
fn push_claimable(q: &mut QueryBuilder<'_, Postgres>, now: DateTime<Utc>, limits: &ClaimLimits<'_>) {
    q.push(PENDING_ENDPOINTS);
    push_room(q, limits);
    q.push(
        " SELECT c.id FROM room r CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d \
         WHERE d.endpoint_id = r.id AND d.status = 'pending' AND d.next_attempt_at <= ",
    );
    q.push_bind(DbTime(now)).push(" AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ");
    q.push_bind(DbTime(now)).push(") ORDER BY d.next_attempt_at, d.id LIMIT r.n FOR UPDATE SKIP LOCKED) c");
    q.push(" WHERE r.n > 0 ORDER BY c.next_attempt_at, c.id LIMIT ").push_bind(i64::from(limits.total));
}

crate::common::webhook::webhook_repository!(PgStore, sqlx::Postgres);
