//! Webhook endpoints, deliveries and attempts on SQLite: the shared SQL of `common/webhook.rs`,
//! run in `BEGIN IMMEDIATE` transactions, with multi-row `VALUES` batches.

use chrono::{DateTime, Utc};
use crmcore::webhook::ClaimLimits;
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteStore, append_events, bulk, missing_or_stale};
use crate::common::types::DbTime;
use crate::common::webhook::{PENDING_ENDPOINTS, max_room, push_room};

/// The ids a claim takes. SQLite has no `LATERAL` and no per-row `LIMIT`, so each endpoint's
/// earliest due come from a correlated `IN` list over its own due index (up to the largest room),
/// are numbered per endpoint and cut at that endpoint's room; of those, the earliest due up to the
/// total.
fn push_claimable(q: &mut QueryBuilder<'_, Sqlite>, now: DateTime<Utc>, limits: &ClaimLimits<'_>) {
    q.push(PENDING_ENDPOINTS);
    push_room(q, limits);
    q.push(
        " SELECT id FROM (SELECT c.id, c.next_attempt_at, r.n, ROW_NUMBER() OVER (PARTITION BY r.id \
         ORDER BY c.next_attempt_at, c.id) AS k FROM room r JOIN webhook_deliveries c ON c.id IN (SELECT d.id \
         FROM webhook_deliveries d WHERE d.endpoint_id = r.id AND d.status = 'pending' AND d.next_attempt_at <= ",
    );
    q.push_bind(DbTime(now)).push(" AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ");
    q.push_bind(DbTime(now)).push(") ORDER BY d.next_attempt_at, d.id LIMIT ");
    q.push_bind(i64::from(max_room(limits))).push(") WHERE r.n > 0) WHERE k <= n ORDER BY next_attempt_at, id LIMIT ");
    q.push_bind(i64::from(limits.total));
}

crate::common::webhook::webhook_repository!(SqliteStore, sqlx::Sqlite);
