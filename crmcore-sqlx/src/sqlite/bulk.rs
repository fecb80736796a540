//! The set-based statements of the activity tracker's batch and of webhook deliveries on SQLite:
//! multi-row `VALUES` (SQLite prepares statements in-process, so their size costs little), in
//! chunks under SQLite's 32,766 parameters. PostgreSQL has the same functions in
//! `postgres/bulk.rs` (`UNNEST` arrays).

use crmcore::activity::{Activity, Follow, Notification};
use crmcore::webhook::{DeliveryAttempt, DeliveryOutcome, EndpointHealth, WebhookDelivery};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::common::types::{DbId, DbTime, opt_time};

/// Most bind parameters per statement.
const MAX_BINDS: usize = 30_000;

/// The start of the statement marking events dispatched by id: always through the unique index
/// of event ids (the `UNIQUE (event_id)` constraint's), as statistics gathered while the outbox
/// was small would have it scan the whole table for the list.
pub(crate) const MARK_DISPATCHED: &str = "UPDATE outbox INDEXED BY sqlite_autoindex_outbox_1 SET dispatched_at = ";

/// Appends `IN (<ids>)` (the column precedes it).
pub(crate) fn push_in(q: &mut QueryBuilder<'_, Sqlite>, ids: Vec<Uuid>) {
    q.push(" IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(DbId(id));
    }
    q.push(")");
}

pub(crate) async fn insert_activities(tx: &mut SqliteConnection, rows: &[&Activity]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_BINDS / 14) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO activities (tenant_id, id, event_id, actor, actor_member, verb, object_kind, \
             object_id, target_kind, target_id, occurred_at, updated_at, event_count, data) ",
        );
        q.push_values(chunk, |mut b, a| {
            b.push_bind(DbId(a.tenant_id.0))
                .push_bind(DbId(a.id.0))
                .push_bind(DbId(a.event_id.0))
                .push_bind(Json(a.actor))
                .push_bind(a.actor_member().map(|m| DbId(m.0)))
                .push_bind(a.verb.clone())
                .push_bind(a.object.kind.as_str())
                .push_bind(DbId(a.object.id))
                .push_bind(a.target.map(|t| t.kind.as_str()))
                .push_bind(a.target.map(|t| DbId(t.id)))
                .push_bind(DbTime(a.occurred_at))
                .push_bind(DbTime(a.updated_at))
                .push_bind(a.event_count)
                .push_bind(Json(a.data.clone()));
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Rows of three ids: (event, tenant, activity) for `activity_events`.
pub(crate) async fn insert_activity_events(
    tx: &mut SqliteConnection,
    rows: &[(Uuid, Uuid, Uuid)],
) -> Result<(), sqlx::Error> {
    insert_triples(tx, "INSERT INTO activity_events (event_id, tenant_id, activity_id) ", rows, "").await
}

/// Rows of (tenant, member, activity).
pub(crate) async fn insert_feed_items(
    tx: &mut SqliteConnection,
    rows: &[(Uuid, Uuid, Uuid)],
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO feed_items (tenant_id, member_id, activity_id) ";
    insert_triples(tx, sql, rows, " ON CONFLICT DO NOTHING").await
}

async fn insert_triples(
    tx: &mut SqliteConnection,
    head: &str,
    rows: &[(Uuid, Uuid, Uuid)],
    tail: &str,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_BINDS / 3) {
        let mut q = QueryBuilder::<Sqlite>::new(head);
        q.push_values(chunk, |mut b, (x, y, z)| {
            b.push_bind(DbId(*x)).push_bind(DbId(*y)).push_bind(DbId(*z));
        });
        q.push(tail);
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

pub(crate) async fn insert_follows(tx: &mut SqliteConnection, rows: &[&Follow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_BINDS / 5) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) ",
        );
        q.push_values(chunk, |mut b, f| {
            b.push_bind(DbId(f.tenant_id.0))
                .push_bind(DbId(f.member_id.0))
                .push_bind(f.entity.kind.as_str())
                .push_bind(DbId(f.entity.id))
                .push_bind(DbTime(f.created_at));
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Inserts the notifications whose (recipient, cause) and id are new; returns their ids.
pub(crate) async fn insert_notifications(
    tx: &mut SqliteConnection,
    rows: &[&Notification],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut created = Vec::new();
    for chunk in rows.chunks(MAX_BINDS / 12) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO notifications (tenant_id, id, recipient, kind, cause, activity_id, actor, \
             entity_kind, entity_id, verb, created_at, email_digest) ",
        );
        q.push_values(chunk, |mut b, n| {
            b.push_bind(DbId(n.tenant_id.0))
                .push_bind(DbId(n.id.0))
                .push_bind(DbId(n.recipient.0))
                .push_bind(n.kind.as_str())
                .push_bind(DbId(n.cause))
                .push_bind(DbId(n.activity_id.0))
                .push_bind(Json(n.actor))
                .push_bind(n.entity.kind.as_str())
                .push_bind(DbId(n.entity.id))
                .push_bind(n.verb.clone())
                .push_bind(DbTime(n.created_at))
                .push_bind(n.email_digest);
        });
        q.push(" ON CONFLICT DO NOTHING RETURNING id");
        let rows: Vec<(DbId,)> = q.build_query_as().fetch_all(&mut *tx).await?;
        created.extend(rows.into_iter().map(|(id,)| id.0));
    }
    Ok(created)
}

/// Inserts the deliveries whose id and (endpoint, event) are both new; returns how many.
pub(crate) async fn insert_webhook_deliveries(
    tx: &mut SqliteConnection,
    rows: &[WebhookDelivery],
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    for chunk in rows.chunks(MAX_BINDS / 13) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, status, \
             attempts, schedule_attempts, next_attempt_at, last_status, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, d| {
            b.push_bind(DbId(d.tenant_id.0))
                .push_bind(DbId(d.id.0))
                .push_bind(DbId(d.endpoint_id.0))
                .push_bind(DbId(d.event_id.0))
                .push_bind(d.event_type.as_str())
                .push_bind(d.payload.as_deref())
                .push_bind(d.status.as_str())
                .push_bind(i64::from(d.attempts))
                .push_bind(i64::from(d.schedule_attempts))
                .push_bind(opt_time(d.next_attempt_at))
                .push_bind(d.last_status.map(i64::from))
                .push_bind(DbTime(d.created_at))
                .push_bind(DbTime(d.updated_at));
        });
        q.push(" ON CONFLICT DO NOTHING");
        inserted += q.build().execute(&mut *tx).await?.rows_affected();
    }
    Ok(inserted)
}

/// Writes the outcomes (of distinct deliveries) whose lease still holds: the delivery's new state
/// without its lease, keeping a purged payload purged. Returns the ids written.
pub(crate) async fn write_webhook_outcomes(
    tx: &mut SqliteConnection,
    rows: &[&DeliveryOutcome],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut written = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_BINDS / 10) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "WITH v (v_id, v_tenant, v_lease, v_payload, v_status, v_attempts, v_schedule, v_next, v_last, \
             v_updated) AS (",
        );
        q.push_values(chunk, |mut b, o| {
            let d = &o.delivery;
            b.push_bind(DbId(d.id.0))
                .push_bind(DbId(d.tenant_id.0))
                .push_bind(DbId(o.lease.0))
                .push_bind(d.payload.as_deref())
                .push_bind(d.status.as_str())
                .push_bind(i64::from(d.attempts))
                .push_bind(i64::from(d.schedule_attempts))
                .push_bind(opt_time(d.next_attempt_at))
                .push_bind(d.last_status.map(i64::from))
                .push_bind(DbTime(d.updated_at));
        });
        q.push(
            ") UPDATE webhook_deliveries SET payload = CASE WHEN payload IS NULL THEN NULL ELSE v_payload END, \
             status = v_status, attempts = v_attempts, schedule_attempts = v_schedule, next_attempt_at = v_next, \
             last_status = v_last, updated_at = v_updated, lease_id = NULL, lease_expires_at = NULL \
             FROM v WHERE id = v_id AND tenant_id = v_tenant AND lease_id = v_lease RETURNING id",
        );
        let ids: Vec<(DbId,)> = q.build_query_as().fetch_all(&mut *tx).await?;
        written.extend(ids.into_iter().map(|(id,)| id.0));
    }
    Ok(written)
}

/// Appends attempts to the log, each under the delivery id it is paired with; an attempt whose
/// (delivery, number) is already logged is kept as it was.
pub(crate) async fn insert_webhook_attempts(
    tx: &mut SqliteConnection,
    rows: &[(Uuid, &DeliveryAttempt)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_BINDS / 13) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, number, attempted_at, status, \
             latency_ms, request_headers, response_headers, response_excerpt, error_class, error, test_mode) ",
        );
        q.push_values(chunk, |mut b, (delivery, a)| {
            b.push_bind(DbId(*delivery))
                .push_bind(DbId(a.tenant_id.0))
                .push_bind(DbId(a.endpoint_id.0))
                .push_bind(i64::from(a.number))
                .push_bind(DbTime(a.attempted_at))
                .push_bind(a.status.map(i64::from))
                .push_bind(i64::from(a.latency_ms))
                .push_bind(Json(&a.request_headers))
                .push_bind(Json(&a.response_headers))
                .push_bind(a.response_excerpt.as_str())
                .push_bind(a.error_class.map(|c| c.as_str()))
                .push_bind(a.error.as_deref())
                .push_bind(a.test_mode);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Sets the circuit of each endpoint (one entry per endpoint), disabling those whose entry says
/// so; versions stay as they are.
pub(crate) async fn update_webhook_health(
    tx: &mut SqliteConnection,
    rows: &[&EndpointHealth],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_BINDS / 7) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "WITH v (v_tenant, v_id, v_failures, v_open_until, v_openings, v_failing_since, v_disable) AS (",
        );
        q.push_values(chunk, |mut b, h| {
            b.push_bind(DbId(h.tenant_id.0))
                .push_bind(DbId(h.endpoint_id.0))
                .push_bind(i64::from(h.circuit.consecutive_failures))
                .push_bind(opt_time(h.circuit.open_until))
                .push_bind(i64::from(h.circuit.openings))
                .push_bind(opt_time(h.circuit.failing_since))
                .push_bind(h.disable.as_deref());
        });
        q.push(
            ") UPDATE webhook_endpoints SET consecutive_failures = v_failures, open_until = v_open_until, \
             openings = v_openings, failing_since = v_failing_since, enabled = enabled AND v_disable IS NULL, \
             disabled_reason = COALESCE(v_disable, disabled_reason) \
             FROM v WHERE tenant_id = v_tenant AND id = v_id",
        );
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}
