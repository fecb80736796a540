//! The set-based statements of the activity tracker's batch on SQLite: multi-row `VALUES` (SQLite
//! prepares statements in-process, so their size costs little), in chunks under SQLite's 32,766
//! parameters. PostgreSQL has the same functions in `postgres/bulk.rs` (`UNNEST` arrays).

use crmcore::activity::{Activity, Follow, Notification};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::common::types::{DbId, DbTime};

/// Most bind parameters per statement.
const MAX_BINDS: usize = 30_000;

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
