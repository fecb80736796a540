//! The set-based statements of the activity tracker's batch and of webhook deliveries on
//! PostgreSQL: each takes its rows as one array per column (`UNNEST`), so the statement text never
//! changes with the batch size — it is prepared once per connection, and PostgreSQL neither parses
//! nor plans thousands of parameters per batch. Lists of ids are one `= ANY($n)` array for the
//! same reason. SQLite has the same functions in `sqlite/bulk.rs` (multi-row `VALUES`).

use chrono::{DateTime, Utc};
use crmcore::activity::{Activity, Follow, Notification};
use crmcore::webhook::{DeliveryAttempt, DeliveryOutcome, EndpointHealth, WebhookDelivery};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// The start of the statement marking events dispatched by id.
pub(crate) const MARK_DISPATCHED: &str = "UPDATE outbox SET dispatched_at = ";

/// Appends `= ANY(<ids as one array>)` (the column precedes it).
pub(crate) fn push_in(q: &mut QueryBuilder<'_, Postgres>, ids: Vec<Uuid>) {
    q.push(" = ANY(").push_bind(ids).push(")");
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(crate) async fn insert_activities(tx: &mut PgConnection, rows: &[&Activity]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO activities (tenant_id, id, event_id, actor, actor_member, verb, object_kind, object_id, \
         target_kind, target_id, occurred_at, updated_at, event_count, data) \
         SELECT t, i, e, a::jsonb, am, v, ok, oi, tk, ti, oa, ua, n, d::jsonb FROM UNNEST($1::uuid[], $2::uuid[], \
         $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::text[], $10::uuid[], \
         $11::timestamptz[], $12::timestamptz[], $13::int8[], $14::text[]) \
         AS r(t, i, e, a, am, v, ok, oi, tk, ti, oa, ua, n, d)",
    )
    .bind(rows.iter().map(|a| a.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.event_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| json(&a.actor)).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.actor_member().map(|m| m.0)).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.verb.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.object.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.object.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.target.map(|t| t.kind.as_str())).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.target.map(|t| t.id)).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.occurred_at).collect::<Vec<DateTime<Utc>>>())
    .bind(rows.iter().map(|a| a.updated_at).collect::<Vec<DateTime<Utc>>>())
    .bind(rows.iter().map(|a| a.event_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| json(&a.data)).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}

/// Rows of three ids: (event, tenant, activity) for `activity_events`.
pub(crate) async fn insert_activity_events(
    tx: &mut PgConnection,
    rows: &[(Uuid, Uuid, Uuid)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO activity_events (event_id, tenant_id, activity_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[])",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}

pub(crate) async fn insert_follows(tx: &mut PgConnection, rows: &[&Follow]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[]) ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|f| f.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.member_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.entity.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.entity.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.created_at).collect::<Vec<DateTime<Utc>>>())
    .execute(tx)
    .await
    .map(drop)
}

/// Rows of (tenant, member, activity).
pub(crate) async fn insert_feed_items(tx: &mut PgConnection, rows: &[(Uuid, Uuid, Uuid)]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_items (tenant_id, member_id, activity_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}

/// Inserts the notifications whose (recipient, cause) and id are new; returns their ids.
pub(crate) async fn insert_notifications(
    tx: &mut PgConnection,
    rows: &[&Notification],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "INSERT INTO notifications (tenant_id, id, recipient, kind, cause, activity_id, actor, entity_kind, entity_id, \
         verb, created_at, email_digest) \
         SELECT t, i, r, k, c, a, ac::jsonb, ek, ei, v, ca, ed FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], \
         $4::text[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::timestamptz[], \
         $12::bool[]) AS n(t, i, r, k, c, a, ac, ek, ei, v, ca, ed) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(rows.iter().map(|n| n.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.recipient.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.cause).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.activity_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| json(&n.actor)).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.entity.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.entity.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.verb.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|n| n.created_at).collect::<Vec<DateTime<Utc>>>())
    .bind(rows.iter().map(|n| n.email_digest).collect::<Vec<_>>())
    .fetch_all(tx)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Inserts the deliveries whose id and (endpoint, event) are both new; returns how many.
pub(crate) async fn insert_webhook_deliveries(
    tx: &mut PgConnection,
    rows: &[WebhookDelivery],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, status, attempts, \
         schedule_attempts, next_attempt_at, last_status, created_at, updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
         $8::int8[], $9::int8[], $10::timestamptz[], $11::int8[], $12::timestamptz[], $13::timestamptz[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|d| d.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.endpoint_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.event_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.payload.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.status.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| i64::from(d.attempts)).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| i64::from(d.schedule_attempts)).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.next_attempt_at).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(rows.iter().map(|d| d.last_status.map(i64::from)).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.created_at).collect::<Vec<DateTime<Utc>>>())
    .bind(rows.iter().map(|d| d.updated_at).collect::<Vec<DateTime<Utc>>>())
    .execute(tx)
    .await?;
    Ok(done.rows_affected())
}

/// Writes the outcomes (of distinct deliveries) whose lease still holds: the delivery's new state
/// without its lease, keeping a purged payload purged. Returns the ids written.
pub(crate) async fn write_webhook_outcomes(
    tx: &mut PgConnection,
    rows: &[&DeliveryOutcome],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "UPDATE webhook_deliveries d SET payload = CASE WHEN d.payload IS NULL THEN NULL ELSE v.payload END, \
         status = v.status, attempts = v.attempts, schedule_attempts = v.schedule_attempts, \
         next_attempt_at = v.next_attempt_at, last_status = v.last_status, updated_at = v.updated_at, \
         lease_id = NULL, lease_expires_at = NULL \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int8[], $7::int8[], \
         $8::timestamptz[], $9::int8[], $10::timestamptz[]) AS v(id, tenant_id, lease_id, payload, status, attempts, \
         schedule_attempts, next_attempt_at, last_status, updated_at) \
         WHERE d.id = v.id AND d.tenant_id = v.tenant_id AND d.lease_id = v.lease_id RETURNING d.id",
    )
    .bind(rows.iter().map(|o| o.delivery.id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.delivery.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.lease.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.delivery.payload.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.delivery.status.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| i64::from(o.delivery.attempts)).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| i64::from(o.delivery.schedule_attempts)).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.delivery.next_attempt_at).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(rows.iter().map(|o| o.delivery.last_status.map(i64::from)).collect::<Vec<_>>())
    .bind(rows.iter().map(|o| o.delivery.updated_at).collect::<Vec<DateTime<Utc>>>())
    .fetch_all(tx)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Appends attempts to the log, each under the delivery id it is paired with; an attempt whose
/// (delivery, number) is already logged is kept as it was.
pub(crate) async fn insert_webhook_attempts(
    tx: &mut PgConnection,
    rows: &[(Uuid, &DeliveryAttempt)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, number, attempted_at, status, latency_ms, \
         request_headers, response_headers, response_excerpt, error_class, error, test_mode) \
         SELECT d, t, e, n, at, s, l, rq::jsonb, rs::jsonb, x, c, err, tm FROM UNNEST($1::uuid[], $2::uuid[], \
         $3::uuid[], $4::int8[], $5::timestamptz[], $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[], \
         $11::text[], $12::text[], $13::bool[]) AS a(d, t, e, n, at, s, l, rq, rs, x, c, err, tm) \
         ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|(d, _)| *d).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.tenant_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.endpoint_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| i64::from(a.number)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.attempted_at).collect::<Vec<DateTime<Utc>>>())
    .bind(rows.iter().map(|(_, a)| a.status.map(i64::from)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| i64::from(a.latency_ms)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| json(&a.request_headers)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| json(&a.response_headers)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.response_excerpt.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.error_class.map(|c| c.as_str())).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.error.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, a)| a.test_mode).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}

/// Sets the circuit of each endpoint (one entry per endpoint), disabling those whose entry says
/// so; versions stay as they are. The rows are locked in id order first: concurrent senders
/// updating the same endpoints then queue instead of deadlocking.
pub(crate) async fn update_webhook_health(tx: &mut PgConnection, rows: &[&EndpointHealth]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|h| h.endpoint_id.0).collect();
    sqlx::query("SELECT 1::int8 FROM webhook_endpoints WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE webhook_endpoints e SET consecutive_failures = v.failures, open_until = v.open_until, \
         openings = v.openings, failing_since = v.failing_since, enabled = e.enabled AND v.disable IS NULL, \
         disabled_reason = COALESCE(v.disable, e.disabled_reason) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::timestamptz[], $5::int8[], $6::timestamptz[], \
         $7::text[]) AS v(tenant_id, id, failures, open_until, openings, failing_since, disable) \
         WHERE e.tenant_id = v.tenant_id AND e.id = v.id",
    )
    .bind(rows.iter().map(|h| h.tenant_id.0).collect::<Vec<_>>())
    .bind(&ids)
    .bind(rows.iter().map(|h| i64::from(h.circuit.consecutive_failures)).collect::<Vec<_>>())
    .bind(rows.iter().map(|h| h.circuit.open_until).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(rows.iter().map(|h| i64::from(h.circuit.openings)).collect::<Vec<_>>())
    .bind(rows.iter().map(|h| h.circuit.failing_since).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(rows.iter().map(|h| h.disable.as_deref()).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}
