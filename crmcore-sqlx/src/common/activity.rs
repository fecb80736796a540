//! Activities, feeds, comments, follows and notifications. The SQL is the same on SQLite and
//! PostgreSQL, so one body implements the four repositories for both stores: `sqlite/activity.rs`
//! and `postgres/activity.rs` each expand [`activity_repositories!`] for their store, with their
//! own `begin()` (SQLite's takes the write lock up front) and `append_events`.
//!
//! `apply` is one transaction that starts by claiming the event id in `activity_events`: a
//! replayed event finds it taken and writes nothing. Member feeds are fanned out on write into
//! `feed_items`, so a feed page is one indexed range joined to `activities`, whatever the member
//! follows. Unread counts are a `COUNT` over a partial index, so they always equal the list.

/// Implements the activity, comment, follow and notification repositories for `$store` on
/// database `$db`; `append_events` must be in scope where it is expanded.
macro_rules! activity_repositories {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use crmcore::activity::{
                Activity, ActivityId, ActivityWrite, Applied, Comment, CommentId, Delivery, EventEffects, FeedFilter, FeedScope,
                Follow, Follower, InboxFilter, Notification, NotificationId, NotificationKind, NotificationPreferences,
            };
            use crmcore::actor::Principal;
            use crmcore::event::{DomainEvent, EntityRef};
            use crmcore::id::{EventId, MemberId, TenantId};
            use std::collections::{HashMap, HashSet};
            use crmcore::page::{Page, PageRequest};
            use crmcore::ports::{ActivityRepository, CommentRepository, FollowRepository, NotificationRepository};
            use crmcore::{CrmError, Result};
            use serde_json::Value;
            use sqlx::types::Json;
            use sqlx::QueryBuilder;

            use $crate::common::error::{corrupt, map_err, store_err};
            use $crate::common::types::{DbId, DbTime, opt_id, opt_time};

            const ACTIVITY_COLUMNS: &str = "a.tenant_id, a.id, a.event_id, a.actor, a.verb, a.object_kind, a.object_id, \
                                            a.target_kind, a.target_id, a.occurred_at, a.updated_at, a.event_count, a.data";
            const COMMENT_COLUMNS: &str = "tenant_id, id, entity_kind, entity_id, in_reply_to, author, body, mentions, created_at, \
                                           edited_at, deleted_at, version";
            const NOTIFICATION_COLUMNS: &str = "tenant_id, id, recipient, kind, cause, activity_id, actor, entity_kind, entity_id, \
                                                verb, created_at, read_at, email_digest, emailed_at";

            fn parse<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
                value.parse().map_err(|_| corrupt(what, format!("unknown value `{value}`")))
            }

            #[derive(Debug, sqlx::FromRow)]
            struct ActivityRow {
                tenant_id: DbId,
                id: DbId,
                event_id: DbId,
                actor: Json<Principal>,
                verb: String,
                object_kind: String,
                object_id: DbId,
                target_kind: Option<String>,
                target_id: Option<DbId>,
                occurred_at: DbTime,
                updated_at: DbTime,
                event_count: i64,
                data: Json<Value>,
            }

            impl ActivityRow {
                fn into_domain(self) -> Result<Activity> {
                    let target = match (self.target_kind, self.target_id) {
                        (Some(kind), Some(id)) => Some(EntityRef { kind: parse("activity target kind", &kind)?, id: id.0 }),
                        _ => None,
                    };
                    Ok(Activity {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        event_id: self.event_id.0.into(),
                        actor: self.actor.0,
                        verb: self.verb,
                        object: EntityRef { kind: parse("activity object kind", &self.object_kind)?, id: self.object_id.0 },
                        target,
                        occurred_at: self.occurred_at.0,
                        updated_at: self.updated_at.0,
                        event_count: self.event_count,
                        data: self.data.0,
                    })
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct CommentRow {
                tenant_id: DbId,
                id: DbId,
                entity_kind: String,
                entity_id: DbId,
                in_reply_to: Option<DbId>,
                author: Json<Principal>,
                body: String,
                mentions: Json<Vec<MemberId>>,
                created_at: DbTime,
                edited_at: Option<DbTime>,
                deleted_at: Option<DbTime>,
                version: i64,
            }

            impl CommentRow {
                fn into_domain(self) -> Result<Comment> {
                    Ok(Comment {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        entity: EntityRef { kind: parse("comment entity kind", &self.entity_kind)?, id: self.entity_id.0 },
                        in_reply_to: self.in_reply_to.map(|p| p.0.into()),
                        author: self.author.0,
                        body: self.body,
                        mentions: self.mentions.0,
                        created_at: self.created_at.0,
                        edited_at: self.edited_at.map(|t| t.0),
                        deleted_at: self.deleted_at.map(|t| t.0),
                        version: self.version,
                    })
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct NotificationRow {
                tenant_id: DbId,
                id: DbId,
                recipient: DbId,
                kind: String,
                cause: DbId,
                activity_id: DbId,
                actor: Json<Principal>,
                entity_kind: String,
                entity_id: DbId,
                verb: String,
                created_at: DbTime,
                read_at: Option<DbTime>,
                email_digest: bool,
                emailed_at: Option<DbTime>,
            }

            impl NotificationRow {
                fn into_domain(self) -> Result<Notification> {
                    Ok(Notification {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        recipient: self.recipient.0.into(),
                        kind: parse::<NotificationKind>("notification kind", &self.kind)?,
                        cause: self.cause.0,
                        activity_id: self.activity_id.0.into(),
                        actor: self.actor.0,
                        entity: EntityRef { kind: parse("notification entity kind", &self.entity_kind)?, id: self.entity_id.0 },
                        verb: self.verb,
                        created_at: self.created_at.0,
                        read_at: self.read_at.map(|t| t.0),
                        email_digest: self.email_digest,
                        emailed_at: self.emailed_at.map(|t| t.0),
                    })
                }
            }

            fn actor_member(actor: Principal) -> Option<DbId> {
                match actor {
                    Principal::Member(id) => Some(DbId(id.0)),
                    _ => None,
                }
            }

            /// Most bind parameters per statement (SQLite allows 32,766, PostgreSQL 65,535).
            const MAX_BINDS: usize = 30_000;

            /// What one [`ActivityRepository::apply_batch`] writes, planned before any statement runs.
            #[derive(Default)]
            struct BatchPlan {
                /// What each item of the batch did (notifications are filled in once inserted).
                applied: Vec<Applied>,
                inserts: Vec<Activity>,
                /// Index in `inserts` of each activity the batch inserts.
                inserted: HashMap<ActivityId, usize>,
                /// Merges into stored activities: tenant, final data, final time, how many.
                merges: HashMap<ActivityId, (TenantId, Value, DateTime<Utc>, i64)>,
                events: Vec<(EventId, TenantId, ActivityId)>,
                follows: Vec<Follow>,
                follow_keys: HashSet<(TenantId, MemberId, EntityRef)>,
                feed: Vec<(TenantId, MemberId, ActivityId)>,
                feed_keys: HashSet<(TenantId, MemberId, ActivityId)>,
                /// (index in `applied`, tenant, draft, cause, activity, time of the activity then).
                notes: Vec<(usize, TenantId, crmcore::activity::NotificationDraft, uuid::Uuid, ActivityId, DateTime<Utc>)>,
                note_keys: HashSet<(TenantId, MemberId, uuid::Uuid)>,
                note_ids: HashSet<NotificationId>,
            }

            fn push_filter(q: &mut QueryBuilder<'_, $db>, filter: &FeedFilter) {
                if let Some(verb) = &filter.verb {
                    q.push(" AND a.verb = ").push_bind(verb.clone());
                }
                if let Some(kind) = filter.object_kind {
                    q.push(" AND a.object_kind = ").push_bind(kind.as_str());
                }
                if let Some(actor) = filter.actor {
                    q.push(" AND a.actor_member = ").push_bind(DbId(actor.0));
                }
            }

            #[async_trait]
            impl ActivityRepository for $store {
                async fn apply(&self, effects: &EventEffects, _now: DateTime<Utc>) -> Result<Applied> {
                    let tenant = DbId(effects.tenant_id.0);
                    let activity_id = match &effects.activity {
                        ActivityWrite::Insert(a) => a.id,
                        ActivityWrite::Merge { into, .. } => *into,
                    };
                    let mut tx = self.begin().await?;
                    let existing: Option<(DbId,)> = sqlx::query_as("SELECT activity_id FROM activity_events WHERE event_id = $1")
                        .bind(DbId(effects.event_id.0))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if let Some((existing,)) = existing {
                        tx.rollback().await.map_err(store_err)?;
                        return Ok(Applied { fresh: false, activity_id: existing.0.into(), notifications: Vec::new() });
                    }
                    match &effects.activity {
                        ActivityWrite::Insert(a) => {
                            if a.tenant_id != effects.tenant_id {
                                return Err(CrmError::invalid("tenant_id", "mismatch", "activity of another tenant"));
                            }
                            sqlx::query(
                                "INSERT INTO activities (tenant_id, id, event_id, actor, actor_member, verb, object_kind, \
                                 object_id, target_kind, target_id, occurred_at, updated_at, event_count, data) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                            )
                            .bind(tenant)
                            .bind(DbId(a.id.0))
                            .bind(DbId(a.event_id.0))
                            .bind(Json(&a.actor))
                            .bind(actor_member(a.actor))
                            .bind(&a.verb)
                            .bind(a.object.kind.as_str())
                            .bind(DbId(a.object.id))
                            .bind(a.target.map(|t| t.kind.as_str()))
                            .bind(opt_id(a.target.map(|t| t.id)))
                            .bind(DbTime(a.occurred_at))
                            .bind(DbTime(a.updated_at))
                            .bind(a.event_count)
                            .bind(Json(&a.data))
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| map_err(e, || CrmError::not_found("tenant", effects.tenant_id)))?;
                        }
                        ActivityWrite::Merge { into, data, updated_at } => {
                            let done = sqlx::query(
                                "UPDATE activities SET data = $3, updated_at = $4, event_count = event_count + 1 \
                                 WHERE tenant_id = $1 AND id = $2",
                            )
                            .bind(tenant)
                            .bind(DbId(into.0))
                            .bind(Json(data))
                            .bind(DbTime(*updated_at))
                            .execute(&mut *tx)
                            .await
                            .map_err(store_err)?;
                            if done.rows_affected() == 0 {
                                return Err(CrmError::not_found("activity", into));
                            }
                        }
                    }
                    sqlx::query("INSERT INTO activity_events (event_id, tenant_id, activity_id) VALUES ($1, $2, $3)")
                        .bind(DbId(effects.event_id.0))
                        .bind(tenant)
                        .bind(DbId(activity_id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    for f in effects.follows.iter().filter(|f| f.tenant_id == effects.tenant_id) {
                        sqlx::query(
                            "INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) \
                             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM members WHERE tenant_id = $1 AND id = $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant)
                        .bind(DbId(f.member_id.0))
                        .bind(f.entity.kind.as_str())
                        .bind(DbId(f.entity.id))
                        .bind(DbTime(f.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    }
                    for member in &effects.audience {
                        sqlx::query(
                            "INSERT INTO feed_items (tenant_id, member_id, activity_id) \
                             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM members WHERE tenant_id = $1 AND id = $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant)
                        .bind(DbId(member.0))
                        .bind(DbId(activity_id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    }
                    let mut created = Vec::new();
                    if !effects.notifications.is_empty() {
                        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.tenant_id = $1 AND a.id = $2");
                        let activity = sqlx::query_as::<_, ActivityRow>(&sql)
                            .bind(tenant)
                            .bind(DbId(activity_id.0))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_err)?
                            .into_domain()?;
                        let entity = activity.target.unwrap_or(activity.object);
                        for draft in &effects.notifications {
                            let n = Notification {
                                id: draft.id,
                                tenant_id: effects.tenant_id,
                                recipient: draft.recipient,
                                kind: draft.kind,
                                cause: draft.cause.unwrap_or(activity_id.0),
                                activity_id,
                                actor: activity.actor,
                                entity,
                                verb: activity.verb.clone(),
                                created_at: activity.updated_at,
                                read_at: None,
                                email_digest: draft.email_digest,
                                emailed_at: None,
                            };
                            let done = sqlx::query(
                                "INSERT INTO notifications (tenant_id, id, recipient, kind, cause, activity_id, actor, \
                                 entity_kind, entity_id, verb, created_at, email_digest) \
                                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
                                 WHERE EXISTS (SELECT 1 FROM members WHERE tenant_id = $1 AND id = $3) ON CONFLICT DO NOTHING",
                            )
                            .bind(tenant)
                            .bind(DbId(n.id.0))
                            .bind(DbId(n.recipient.0))
                            .bind(n.kind.as_str())
                            .bind(DbId(n.cause))
                            .bind(DbId(activity_id.0))
                            .bind(Json(&n.actor))
                            .bind(entity.kind.as_str())
                            .bind(DbId(entity.id))
                            .bind(&n.verb)
                            .bind(DbTime(n.created_at))
                            .bind(n.email_digest)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_err)?;
                            if done.rows_affected() > 0 {
                                created.push(n);
                            }
                        }
                    }
                    tx.commit().await.map_err(store_err)?;
                    Ok(Applied { fresh: true, activity_id, notifications: created })
                }

                async fn apply_batch(
                    &self,
                    batch: &[EventEffects],
                    dispatched: &[EventId],
                    now: DateTime<Utc>,
                ) -> Result<Vec<Applied>> {
                    let mut tx = self.begin().await?;
                    // Events applied before.
                    let mut recorded: HashMap<EventId, ActivityId> = HashMap::new();
                    let event_ids: Vec<EventId> = batch.iter().map(|e| e.event_id).collect();
                    for chunk in event_ids.chunks(MAX_BINDS) {
                        let mut q = QueryBuilder::<$db>::new("SELECT event_id, activity_id FROM activity_events WHERE event_id");
                        bulk::push_in(&mut q, chunk.iter().map(|e| e.0).collect());
                        let rows: Vec<(DbId, DbId)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(store_err)?;
                        recorded.extend(rows.into_iter().map(|(e, a)| (EventId::from(e.0), ActivityId::from(a.0))));
                    }

                    // What the batch writes, in order; merges into an activity the batch inserts are folded into
                    // its row, merges into stored activities are grouped per activity.
                    let mut plan = BatchPlan::default();
                    for effects in batch {
                        if let Some(existing) = recorded.get(&effects.event_id) {
                            plan.applied.push(Applied { fresh: false, activity_id: *existing, notifications: Vec::new() });
                            continue;
                        }
                        let tenant = effects.tenant_id;
                        let (activity_id, at) = match &effects.activity {
                            ActivityWrite::Insert(a) => {
                                if a.tenant_id != tenant {
                                    return Err(CrmError::invalid("tenant_id", "mismatch", "activity of another tenant"));
                                }
                                plan.inserted.insert(a.id, plan.inserts.len());
                                plan.inserts.push(a.clone());
                                (a.id, a.updated_at)
                            }
                            ActivityWrite::Merge { into, data, updated_at } => {
                                match plan.inserted.get(into) {
                                    Some(&i) if plan.inserts[i].tenant_id == tenant => {
                                        let a = &mut plan.inserts[i];
                                        a.data = data.clone();
                                        a.updated_at = *updated_at;
                                        a.event_count += 1;
                                    }
                                    Some(_) => return Err(CrmError::not_found("activity", into)),
                                    None => {
                                        let merge = plan.merges.entry(*into).or_insert_with(|| (tenant, Value::Null, *updated_at, 0));
                                        if merge.0 != tenant {
                                            return Err(CrmError::not_found("activity", into));
                                        }
                                        merge.1 = data.clone();
                                        merge.2 = *updated_at;
                                        merge.3 += 1;
                                    }
                                }
                                (*into, *updated_at)
                            }
                        };
                        recorded.insert(effects.event_id, activity_id);
                        plan.events.push((effects.event_id, tenant, activity_id));
                        for f in effects.follows.iter().filter(|f| f.tenant_id == tenant) {
                            if plan.follow_keys.insert((tenant, f.member_id, f.entity)) {
                                plan.follows.push(f.clone());
                            }
                        }
                        for member in &effects.audience {
                            if plan.feed_keys.insert((tenant, *member, activity_id)) {
                                plan.feed.push((tenant, *member, activity_id));
                            }
                        }
                        for draft in &effects.notifications {
                            let cause = draft.cause.unwrap_or(activity_id.0);
                            if plan.note_keys.insert((tenant, draft.recipient, cause)) && plan.note_ids.insert(draft.id) {
                                plan.notes.push((plan.applied.len(), tenant, draft.clone(), cause, activity_id, at));
                            }
                        }
                        plan.applied.push(Applied { fresh: true, activity_id, notifications: Vec::new() });
                    }

                    // Merges into stored activities; what notifications need of them comes back.
                    let mut described: HashMap<ActivityId, (Principal, String, EntityRef)> = HashMap::new();
                    for a in &plan.inserts {
                        described.insert(a.id, (a.actor, a.verb.clone(), a.target.unwrap_or(a.object)));
                    }
                    for (into, (tenant, data, updated_at, count)) in &plan.merges {
                        #[derive(sqlx::FromRow)]
                        struct Described {
                            actor: Json<Principal>,
                            verb: String,
                            object_kind: String,
                            object_id: DbId,
                            target_kind: Option<String>,
                            target_id: Option<DbId>,
                        }
                        let row: Option<Described> = sqlx::query_as(
                            "UPDATE activities SET data = $3, updated_at = $4, event_count = event_count + $5 \
                             WHERE tenant_id = $1 AND id = $2 \
                             RETURNING actor, verb, object_kind, object_id, target_kind, target_id",
                        )
                        .bind(DbId(tenant.0))
                        .bind(DbId(into.0))
                        .bind(Json(data))
                        .bind(DbTime(*updated_at))
                        .bind(*count)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                        let Some(row) = row else { return Err(CrmError::not_found("activity", into)) };
                        let entity = match (row.target_kind, row.target_id) {
                            (Some(kind), Some(id)) => EntityRef { kind: parse("activity target kind", &kind)?, id: id.0 },
                            _ => EntityRef { kind: parse("activity object kind", &row.object_kind)?, id: row.object_id.0 },
                        };
                        described.insert(*into, (row.actor.0, row.verb, entity));
                    }

                    let inserts: Vec<&Activity> = plan.inserts.iter().collect();
                    bulk::insert_activities(&mut tx, &inserts).await.map_err(|e| {
                        let tenant = inserts.first().map(|a| a.tenant_id.to_string()).unwrap_or_default();
                        map_err(e, || CrmError::not_found("tenant", tenant))
                    })?;
                    let events: Vec<_> = plan.events.iter().map(|(e, t, a)| (e.0, t.0, a.0)).collect();
                    bulk::insert_activity_events(&mut tx, &events).await.map_err(store_err)?;

                    // Follows, feed items and notifications only for members of the tenant.
                    let mut members: Vec<(TenantId, MemberId)> = plan.follows.iter().map(|f| (f.tenant_id, f.member_id)).collect();
                    members.extend(plan.feed.iter().map(|f| (f.0, f.1)));
                    members.extend(plan.notes.iter().map(|n| (n.1, n.2.recipient)));
                    members.sort_by_key(|(t, m)| (t.0, m.0));
                    members.dedup();
                    let mut known: HashSet<(TenantId, MemberId)> = HashSet::new();
                    for group in members.chunk_by(|a, b| a.0 == b.0) {
                        let tenant = group[0].0;
                        for chunk in group.chunks(MAX_BINDS - 1) {
                            let mut q = QueryBuilder::<$db>::new("SELECT id FROM members WHERE tenant_id = ");
                            q.push_bind(DbId(tenant.0)).push(" AND id");
                            bulk::push_in(&mut q, chunk.iter().map(|(_, m)| m.0).collect());
                            let rows: Vec<(DbId,)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(store_err)?;
                            known.extend(rows.into_iter().map(|(m,)| (tenant, MemberId::from(m.0))));
                        }
                    }
                    let follows: Vec<&Follow> = plan.follows.iter().filter(|f| known.contains(&(f.tenant_id, f.member_id))).collect();
                    bulk::insert_follows(&mut tx, &follows).await.map_err(store_err)?;
                    let feed: Vec<_> =
                        plan.feed.iter().filter(|f| known.contains(&(f.0, f.1))).map(|(t, m, a)| (t.0, m.0, a.0)).collect();
                    bulk::insert_feed_items(&mut tx, &feed).await.map_err(store_err)?;
                    let mut notes: Vec<(usize, Notification)> = Vec::new();
                    for (index, tenant, draft, cause, activity_id, at) in &plan.notes {
                        if !known.contains(&(*tenant, draft.recipient)) {
                            continue;
                        }
                        let Some((actor, verb, entity)) = described.get(activity_id) else {
                            return Err(CrmError::not_found("activity", activity_id));
                        };
                        notes.push((*index, Notification {
                            id: draft.id,
                            tenant_id: *tenant,
                            recipient: draft.recipient,
                            kind: draft.kind,
                            cause: *cause,
                            activity_id: *activity_id,
                            actor: *actor,
                            entity: *entity,
                            verb: verb.clone(),
                            created_at: *at,
                            read_at: None,
                            email_digest: draft.email_digest,
                            emailed_at: None,
                        }));
                    }
                    let rows: Vec<&Notification> = notes.iter().map(|(_, n)| n).collect();
                    let created: HashSet<uuid::Uuid> = bulk::insert_notifications(&mut tx, &rows).await.map_err(store_err)?.into_iter().collect();
                    for (index, n) in notes {
                        if created.contains(&n.id.0) {
                            if let Some(applied) = plan.applied.get_mut(index) {
                                applied.notifications.push(n);
                            }
                        }
                    }

                    for chunk in dispatched.chunks(MAX_BINDS - 1) {
                        let mut q = QueryBuilder::<$db>::new(bulk::MARK_DISPATCHED);
                        q.push_bind(DbTime(now)).push(" WHERE dispatched_at IS NULL AND event_id");
                        bulk::push_in(&mut q, chunk.iter().map(|e| e.0).collect());
                        q.build().execute(&mut *tx).await.map_err(store_err)?;
                    }
                    tx.commit().await.map_err(store_err)?;
                    Ok(plan.applied)
                }

                async fn applied_events(&self, events: &[EventId]) -> Result<Vec<(EventId, ActivityId)>> {
                    let mut out = Vec::new();
                    for chunk in events.chunks(MAX_BINDS) {
                        let mut q = QueryBuilder::<$db>::new("SELECT event_id, activity_id FROM activity_events WHERE event_id");
                        bulk::push_in(&mut q, chunk.iter().map(|e| e.0).collect());
                        let rows: Vec<(DbId, DbId)> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                        out.extend(rows.into_iter().map(|(e, a)| (EventId::from(e.0), ActivityId::from(a.0))));
                    }
                    Ok(out)
                }

                async fn latest_for_objects(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Activity>> {
                    // Per object kind, one statement: the activities of the listed objects that have no
                    // newer one (an index probe each on `activities_object`).
                    let mut kinds: Vec<&str> = entities.iter().map(|e| e.kind.as_str()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    let mut out = Vec::with_capacity(entities.len());
                    for kind in kinds {
                        let ids: Vec<uuid::Uuid> = entities.iter().filter(|e| e.kind.as_str() == kind).map(|e| e.id).collect();
                        for chunk in ids.chunks(MAX_BINDS - 2) {
                            let mut q = QueryBuilder::<$db>::new(format!("SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.tenant_id = "));
                            q.push_bind(DbId(tenant.0)).push(" AND a.object_kind = ").push_bind(kind).push(" AND a.object_id");
                            bulk::push_in(&mut q, chunk.to_vec());
                            q.push(
                                " AND NOT EXISTS (SELECT 1 FROM activities b WHERE b.tenant_id = a.tenant_id \
                                 AND b.object_kind = a.object_kind AND b.object_id = a.object_id AND b.id > a.id)",
                            );
                            let rows = q.build_query_as::<ActivityRow>().fetch_all(&self.pool).await.map_err(store_err)?;
                            for row in rows {
                                out.push(row.into_domain()?);
                            }
                        }
                    }
                    Ok(out)
                }

                async fn latest_for_object(&self, tenant: TenantId, entity: EntityRef) -> Result<Option<Activity>> {
                    let sql = format!(
                        "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.tenant_id = $1 AND a.object_kind = $2 \
                         AND a.object_id = $3 ORDER BY a.id DESC LIMIT 1"
                    );
                    sqlx::query_as::<_, ActivityRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(entity.kind.as_str())
                        .bind(DbId(entity.id))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ActivityRow::into_domain)
                        .transpose()
                }

                async fn get(&self, tenant: TenantId, id: ActivityId) -> Result<Activity> {
                    let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.tenant_id = $1 AND a.id = $2");
                    sqlx::query_as::<_, ActivityRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ActivityRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("activity", id))
                }

                async fn feed(
                    &self,
                    tenant: TenantId,
                    scope: FeedScope,
                    filter: &FeedFilter,
                    page: PageRequest,
                ) -> Result<Page<Activity>> {
                    let mut q = QueryBuilder::<$db>::new(format!("SELECT {ACTIVITY_COLUMNS} FROM "));
                    let order_column = match scope {
                        FeedScope::Member(member) => {
                            q.push("feed_items f JOIN activities a ON a.tenant_id = f.tenant_id AND a.id = f.activity_id ");
                            q.push("WHERE f.tenant_id = ").push_bind(DbId(tenant.0));
                            q.push(" AND f.member_id = ").push_bind(DbId(member.0));
                            "f.activity_id"
                        }
                        FeedScope::Entity(entity) => {
                            q.push("activities a WHERE a.tenant_id = ").push_bind(DbId(tenant.0));
                            q.push(" AND ((a.object_kind = ").push_bind(entity.kind.as_str());
                            q.push(" AND a.object_id = ").push_bind(DbId(entity.id));
                            q.push(") OR (a.target_kind = ").push_bind(entity.kind.as_str());
                            q.push(" AND a.target_id = ").push_bind(DbId(entity.id));
                            q.push("))");
                            "a.id"
                        }
                        FeedScope::Tenant => {
                            q.push("activities a WHERE a.tenant_id = ").push_bind(DbId(tenant.0));
                            "a.id"
                        }
                    };
                    push_filter(&mut q, filter);
                    if let Some(after) = page.after {
                        q.push(format!(" AND {order_column} < ")).push_bind(DbId(after));
                    }
                    q.push(format!(" ORDER BY {order_column} DESC LIMIT ")).push_bind(i64::from(page.limit) + 1);
                    let rows = q.build_query_as::<ActivityRow>().fetch_all(&self.pool).await.map_err(store_err)?;
                    let items = rows.into_iter().map(ActivityRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(items, page, |a| a.id.0))
                }
            }

            #[async_trait]
            impl CommentRepository for $store {
                async fn insert(&self, c: &Comment, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO comments (tenant_id, id, entity_kind, entity_id, in_reply_to, author, body, mentions, \
                         created_at, edited_at, deleted_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(DbId(c.tenant_id.0))
                    .bind(DbId(c.id.0))
                    .bind(c.entity.kind.as_str())
                    .bind(DbId(c.entity.id))
                    .bind(opt_id(c.in_reply_to.map(|p| p.0)))
                    .bind(Json(&c.author))
                    .bind(&c.body)
                    .bind(Json(&c.mentions))
                    .bind(DbTime(c.created_at))
                    .bind(opt_time(c.edited_at))
                    .bind(opt_time(c.deleted_at))
                    .bind(c.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match e {
                        sqlx::Error::Database(ref db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                            CrmError::conflict(Some("id"), "comment id exists")
                        }
                        e => map_err(e, || match c.in_reply_to {
                            Some(parent) => CrmError::not_found("comment", parent),
                            None => CrmError::not_found("tenant", c.tenant_id),
                        }),
                    })?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update(&self, c: &Comment, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE comments SET body = $3, mentions = $4, edited_at = $5, deleted_at = $6, version = $7 \
                         WHERE tenant_id = $1 AND id = $2 AND version = $7 - 1",
                    )
                    .bind(DbId(c.tenant_id.0))
                    .bind(DbId(c.id.0))
                    .bind(&c.body)
                    .bind(Json(&c.mentions))
                    .bind(opt_time(c.edited_at))
                    .bind(opt_time(c.deleted_at))
                    .bind(c.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        let exists: Option<(i64,)> =
                            sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM comments WHERE tenant_id = $1 AND id = $2")
                                .bind(DbId(c.tenant_id.0))
                                .bind(DbId(c.id.0))
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(store_err)?;
                        return Err(match exists {
                            Some(_) => CrmError::conflict(Some("version"), format!("comment {} was changed concurrently", c.id)),
                            None => CrmError::not_found("comment", c.id),
                        });
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get(&self, tenant: TenantId, id: CommentId) -> Result<Comment> {
                    let sql = format!("SELECT {COMMENT_COLUMNS} FROM comments WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, CommentRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(CommentRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("comment", id))
                }

                async fn list(&self, tenant: TenantId, entity: EntityRef, page: PageRequest) -> Result<Page<Comment>> {
                    let mut q = QueryBuilder::<$db>::new(format!("SELECT {COMMENT_COLUMNS} FROM comments WHERE tenant_id = "));
                    q.push_bind(DbId(tenant.0));
                    q.push(" AND entity_kind = ").push_bind(entity.kind.as_str());
                    q.push(" AND entity_id = ").push_bind(DbId(entity.id));
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows = q.build_query_as::<CommentRow>().fetch_all(&self.pool).await.map_err(store_err)?;
                    let items = rows.into_iter().map(CommentRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(items, page, |c| c.id.0))
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct FollowRow {
                tenant_id: DbId,
                member_id: DbId,
                entity_kind: String,
                entity_id: DbId,
                created_at: DbTime,
            }

            impl FollowRow {
                fn into_domain(self) -> Result<Follow> {
                    Ok(Follow {
                        tenant_id: self.tenant_id.0.into(),
                        member_id: self.member_id.0.into(),
                        entity: EntityRef { kind: parse("follow entity kind", &self.entity_kind)?, id: self.entity_id.0 },
                        created_at: self.created_at.0,
                    })
                }
            }

            #[async_trait]
            impl FollowRepository for $store {
                async fn follow(&self, f: &Follow) -> Result<bool> {
                    let done = sqlx::query(
                        "INSERT INTO follows (tenant_id, member_id, entity_kind, entity_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(DbId(f.tenant_id.0))
                    .bind(DbId(f.member_id.0))
                    .bind(f.entity.kind.as_str())
                    .bind(DbId(f.entity.id))
                    .bind(DbTime(f.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("member", f.member_id)))?;
                    Ok(done.rows_affected() > 0)
                }

                async fn unfollow(&self, tenant: TenantId, member: MemberId, entity: EntityRef) -> Result<bool> {
                    let done = sqlx::query(
                        "DELETE FROM follows WHERE tenant_id = $1 AND member_id = $2 AND entity_kind = $3 AND entity_id = $4",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(member.0))
                    .bind(entity.kind.as_str())
                    .bind(DbId(entity.id))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn following(&self, tenant: TenantId, member: MemberId, limit: u32) -> Result<Vec<Follow>> {
                    let rows = sqlx::query_as::<_, FollowRow>(
                        "SELECT tenant_id, member_id, entity_kind, entity_id, created_at FROM follows \
                         WHERE tenant_id = $1 AND member_id = $2 ORDER BY created_at DESC, entity_id DESC LIMIT $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(member.0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    rows.into_iter().map(FollowRow::into_domain).collect()
                }

                async fn followers(&self, tenant: TenantId, entities: &[EntityRef]) -> Result<Vec<Follower>> {
                    if entities.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT f.tenant_id, f.member_id, f.entity_kind, f.entity_id, f.created_at, m.active FROM follows f \
                         JOIN members m ON m.tenant_id = f.tenant_id AND m.id = f.member_id WHERE f.tenant_id = ",
                    );
                    // One id list per kind (`bulk::push_in`): an index probe per id on both databases,
                    // where a long OR of pairs costs milliseconds to plan.
                    let mut kinds: Vec<&str> = entities.iter().map(|e| e.kind.as_str()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    q.push_bind(DbId(tenant.0)).push(" AND (");
                    for (i, kind) in kinds.iter().enumerate() {
                        if i > 0 {
                            q.push(" OR ");
                        }
                        q.push("(f.entity_kind = ").push_bind(*kind).push(" AND f.entity_id");
                        bulk::push_in(&mut q, entities.iter().filter(|e| e.kind.as_str() == *kind).map(|e| e.id).collect());
                        q.push(")");
                    }
                    q.push(")");
                    #[derive(sqlx::FromRow)]
                    struct Row {
                        #[sqlx(flatten)]
                        follow: FollowRow,
                        active: bool,
                    }
                    let rows = q.build_query_as::<Row>().fetch_all(&self.pool).await.map_err(store_err)?;
                    rows.into_iter().map(|r| Ok(Follower { follow: r.follow.into_domain()?, active: r.active })).collect()
                }
            }

            #[async_trait]
            impl NotificationRepository for $store {
                async fn list(
                    &self,
                    tenant: TenantId,
                    recipient: MemberId,
                    filter: InboxFilter,
                    page: PageRequest,
                ) -> Result<Page<Notification>> {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant_id = "));
                    q.push_bind(DbId(tenant.0)).push(" AND recipient = ").push_bind(DbId(recipient.0));
                    if filter.unread_only {
                        q.push(" AND read_at IS NULL");
                    }
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows = q.build_query_as::<NotificationRow>().fetch_all(&self.pool).await.map_err(store_err)?;
                    let items = rows.into_iter().map(NotificationRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(items, page, |n| n.id.0))
                }

                async fn unread_count(&self, tenant: TenantId, recipient: MemberId) -> Result<u64> {
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND recipient = $2 AND read_at IS NULL",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(recipient.0))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn set_read(
                    &self,
                    tenant: TenantId,
                    recipient: MemberId,
                    id: NotificationId,
                    at: Option<DateTime<Utc>>,
                ) -> Result<()> {
                    let done = sqlx::query(
                        "UPDATE notifications SET read_at = CASE WHEN $4 IS NULL THEN NULL ELSE COALESCE(read_at, $4) END \
                         WHERE tenant_id = $1 AND recipient = $2 AND id = $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(recipient.0))
                    .bind(DbId(id.0))
                    .bind(opt_time(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("notification", id));
                    }
                    Ok(())
                }

                async fn mark_all_read(&self, tenant: TenantId, recipient: MemberId, at: DateTime<Utc>) -> Result<u64> {
                    let done = sqlx::query(
                        "UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND recipient = $2 AND read_at IS NULL",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(recipient.0))
                    .bind(DbTime(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(done.rows_affected())
                }

                async fn preferences(
                    &self,
                    tenant: TenantId,
                    members: &[MemberId],
                ) -> Result<Vec<(MemberId, NotificationPreferences)>> {
                    if members.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT member_id, kind, delivery FROM notification_preferences WHERE tenant_id = ",
                    );
                    q.push_bind(DbId(tenant.0)).push(" AND member_id IN (");
                    let mut list = q.separated(", ");
                    for m in members {
                        list.push_bind(DbId(m.0));
                    }
                    q.push(") ORDER BY member_id");
                    let rows: Vec<(DbId, String, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    let mut out: Vec<(MemberId, NotificationPreferences)> = Vec::new();
                    for (member, kind, delivery) in rows {
                        let member: MemberId = member.0.into();
                        let kind: NotificationKind = parse("notification kind", &kind)?;
                        let delivery: Delivery = parse("delivery", &delivery)?;
                        match out.last_mut() {
                            Some((m, prefs)) if *m == member => {
                                prefs.kinds.insert(kind, delivery);
                            }
                            _ => {
                                let mut prefs = NotificationPreferences::default();
                                prefs.kinds.insert(kind, delivery);
                                out.push((member, prefs));
                            }
                        }
                    }
                    Ok(out)
                }

                async fn set_preference(
                    &self,
                    tenant: TenantId,
                    member: MemberId,
                    kind: NotificationKind,
                    delivery: Delivery,
                ) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO notification_preferences (tenant_id, member_id, kind, delivery) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, member_id, kind) DO UPDATE SET delivery = excluded.delivery",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(member.0))
                    .bind(kind.as_str())
                    .bind(delivery.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("member", member)))?;
                    Ok(())
                }

                async fn digest_pending(&self, limit: u32) -> Result<Vec<Notification>> {
                    let sql = format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE email_digest = TRUE AND emailed_at IS NULL \
                         AND read_at IS NULL ORDER BY tenant_id, recipient, id LIMIT $1"
                    );
                    let rows = sqlx::query_as::<_, NotificationRow>(&sql)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(NotificationRow::into_domain).collect()
                }

                async fn mark_emailed(&self, ids: &[NotificationId], at: DateTime<Utc>) -> Result<()> {
                    if ids.is_empty() {
                        return Ok(());
                    }
                    let mut q = QueryBuilder::<$db>::new("UPDATE notifications SET emailed_at = ");
                    q.push_bind(DbTime(at)).push(" WHERE emailed_at IS NULL AND id IN (");
                    let mut list = q.separated(", ");
                    for id in ids {
                        list.push_bind(DbId(id.0));
                    }
                    q.push(")");
                    q.build().execute(&self.pool).await.map_err(store_err)?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use activity_repositories;
