//! The set-based statements of the activity tracker's batch on PostgreSQL: each takes its rows as
//! one array per column (`UNNEST`), so the statement text never changes with the batch size — it
//! is prepared once per connection, and PostgreSQL neither parses nor plans thousands of
//! parameters per batch. Lists of ids are one `= ANY($n)` array for the same reason. SQLite has
//! the same functions in `sqlite/bulk.rs` (multi-row `VALUES`).

use chrono::{DateTime, Utc};
use crmcore::activity::{Activity, Follow, Notification};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

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
