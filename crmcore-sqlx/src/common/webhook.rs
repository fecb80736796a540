//! Webhook endpoints, deliveries and the attempt log. The SQL is the same on both databases
//! except for the claim's body (`{sqlite,postgres}/webhook.rs`: a `LATERAL` join with `FOR UPDATE
//! SKIP LOCKED` on PostgreSQL, a correlated `IN` list on SQLite) and the batch statements
//! (multi-row `VALUES` on SQLite, `UNNEST` arrays on PostgreSQL: `{sqlite,postgres}/bulk.rs`), so
//! one body serves both stores: `sqlite/webhook.rs` and `postgres/webhook.rs` expand
//! [`webhook_repository!`].
//!
//! Deliveries are their own queue, indexed per endpoint: pending deliveries by (endpoint, due
//! time). A claim visits the endpoints with pending deliveries ([`PENDING_ENDPOINTS`], one index
//! probe each) and takes of each its earliest due, no more than the room the worker gave it, then
//! the earliest of those: an endpoint with thousands of deliveries queued behind its in-flight cap
//! costs a claim nothing, where a walk of one global due order would step over all of them. It is
//! one `UPDATE … WHERE id IN (…) RETURNING`: on SQLite the write lock taken by `BEGIN IMMEDIATE`
//! makes it exclusive, on PostgreSQL `SKIP LOCKED` lets concurrent senders take disjoint batches.
//! An outcome is written only `WHERE lease_id` is still the claim's, which also releases the
//! lease.

use crmcore::webhook::ClaimLimits;
use sqlx::{Database, Encode, QueryBuilder, Type};

use super::types::DbId;

/// `pending(id)`: every endpoint with pending deliveries (plus a final `NULL`), found by a loose
/// scan of the per-endpoint index, one probe per endpoint, however many deliveries each has.
///
/// `tenant_id IS NOT NULL` (always true) reads the row: PostgreSQL then scans the index plainly
/// rather than index-only, and a plain scan marks the entries of deliveries that are no longer
/// pending as dead, so the next probe steps over them for free instead of checking each again.
pub(crate) const PENDING_ENDPOINTS: &str = "WITH RECURSIVE pending(id) AS (\
     SELECT (SELECT endpoint_id FROM webhook_deliveries WHERE status = 'pending' AND tenant_id IS NOT NULL \
     ORDER BY endpoint_id LIMIT 1) \
     UNION ALL \
     SELECT (SELECT d.endpoint_id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.endpoint_id > p.id \
     AND d.tenant_id IS NOT NULL ORDER BY d.endpoint_id LIMIT 1) FROM pending p WHERE p.id IS NOT NULL)";

/// Pushes `, room(id, n) AS (…)`, to follow [`PENDING_ENDPOINTS`]: each endpoint with pending
/// deliveries and how many of them the claim may take.
pub(crate) fn push_room<'a, DB>(q: &mut QueryBuilder<'a, DB>, limits: &ClaimLimits<'_>)
where
    DB: Database,
    DbId: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    q.push(", room(id, n) AS (SELECT p.id, ");
    if limits.room.is_empty() {
        q.push_bind(i64::from(limits.per_endpoint));
    } else {
        q.push("CASE p.id");
        for (endpoint, room) in limits.room {
            q.push(" WHEN ").push_bind(DbId(endpoint.0)).push(" THEN ").push_bind(i64::from(*room));
        }
        q.push(" ELSE ").push_bind(i64::from(limits.per_endpoint)).push(" END");
    }
    q.push(" FROM pending p WHERE p.id IS NOT NULL)");
}

/// The most any one endpoint may give a claim (never more than the claim's total).
pub(crate) fn max_room(limits: &ClaimLimits<'_>) -> u32 {
    limits.room.iter().map(|(_, n)| *n).chain([limits.per_endpoint]).max().unwrap_or(0).min(limits.total)
}

/// Implements `WebhookRepository` for `$store` on database `$db`. `append_events`, the backend's
/// `bulk` module and its `push_claimable` (the claim's `SELECT` of delivery ids) must be in scope
/// where it is expanded.
macro_rules! webhook_repository {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::{HashMap, HashSet};

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use crmcore::event::DomainEvent;
            use crmcore::id::{DeliveryId, LeaseId, TenantId, WebhookEndpointId};
            use crmcore::page::{Page, PageRequest};
            use crmcore::ports::WebhookRepository;
            use crmcore::webhook::{
                ClaimLimits, DeliveryAttempt, DeliveryFilter, DeliveryOutcome, EndpointHealth, WebhookDelivery,
                WebhookEndpoint,
            };
            use crmcore::{CrmError, Result};
            use sqlx::types::Json;
            use sqlx::QueryBuilder;

            use $crate::common::error::{map_err, store_err};
            use $crate::common::rows::{
                WEBHOOK_ATTEMPT_COLUMNS, WEBHOOK_DELIVERY_COLUMNS, WEBHOOK_ENDPOINT_COLUMNS, WebhookAttemptRow,
                WebhookDeliveryRow, WebhookEndpointRow,
            };
            use $crate::common::types::{DbId, DbTime, opt_time};
            use $crate::common::webhook::PENDING_ENDPOINTS;

            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            /// Binds an endpoint's columns in [`WEBHOOK_ENDPOINT_COLUMNS`] order (`$1` to `$22`).
            fn bind_endpoint<'q>(q: Query<'q>, e: &'q WebhookEndpoint) -> Query<'q> {
                q.bind(DbId(e.tenant_id.0))
                    .bind(DbId(e.id.0))
                    .bind(e.url.as_str())
                    .bind(e.description.as_str())
                    .bind(Json(&e.event_types))
                    .bind(Json(&e.payload_filter))
                    .bind(Json(&e.headers))
                    .bind(e.rate_limit_per_second.map(i64::from))
                    .bind(e.test_mode)
                    .bind(e.enabled)
                    .bind(e.disabled_reason.as_deref())
                    .bind(e.secrets.current.as_str())
                    .bind(e.secrets.previous.as_ref().map(|s| s.as_str()))
                    .bind(opt_time(e.secrets.previous_until))
                    .bind(i64::from(e.circuit.consecutive_failures))
                    .bind(opt_time(e.circuit.open_until))
                    .bind(i64::from(e.circuit.openings))
                    .bind(opt_time(e.circuit.failing_since))
                    .bind(DbTime(e.created_at))
                    .bind(DbTime(e.updated_at))
                    .bind(e.version)
                    .bind(e.format.as_str())
            }

            fn endpoints(rows: Vec<WebhookEndpointRow>) -> Result<Vec<WebhookEndpoint>> {
                rows.into_iter().map(WebhookEndpointRow::into_domain).collect()
            }

            fn deliveries(rows: Vec<WebhookDeliveryRow>) -> Result<Vec<WebhookDelivery>> {
                rows.into_iter().map(WebhookDeliveryRow::into_domain).collect()
            }

            fn is_foreign_key(err: &sqlx::Error) -> bool {
                matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
            }

            /// The outcomes in rounds of distinct deliveries, each outcome in the round after the
            /// previous one of its delivery. Written round after round, a delivery listed twice
            /// behaves as if written one by one: the first outcome holding the lease releases it,
            /// so the later ones find it gone.
            fn rounds(outcomes: &[DeliveryOutcome]) -> Vec<Vec<&DeliveryOutcome>> {
                let mut seen: HashMap<DeliveryId, usize> = HashMap::with_capacity(outcomes.len());
                let mut rounds: Vec<Vec<&DeliveryOutcome>> = Vec::new();
                for outcome in outcomes {
                    let round = seen.entry(outcome.delivery.id).or_insert(0);
                    if rounds.len() <= *round {
                        rounds.push(Vec::new());
                    }
                    rounds[*round].push(outcome);
                    *round += 1;
                }
                rounds
            }

            /// One entry per endpoint, as if applied in order: the last circuit, and the last
            /// reason to disable (a disable is never undone by a later entry).
            fn merged(health: &[EndpointHealth]) -> Vec<EndpointHealth> {
                let mut merged: Vec<EndpointHealth> = Vec::with_capacity(health.len());
                let mut at: HashMap<(TenantId, WebhookEndpointId), usize> = HashMap::with_capacity(health.len());
                for h in health {
                    match at.get(&(h.tenant_id, h.endpoint_id)) {
                        Some(&i) => {
                            let disable = h.disable.clone().or_else(|| merged[i].disable.take());
                            merged[i] = EndpointHealth { disable, ..h.clone() };
                        }
                        None => {
                            at.insert((h.tenant_id, h.endpoint_id), merged.len());
                            merged.push(h.clone());
                        }
                    }
                }
                merged
            }

            impl $store {
                /// Why a batch of deliveries broke a foreign key: the first endpoint absent from
                /// its delivery's tenant.
                async fn missing_endpoint(&self, deliveries: &[WebhookDelivery]) -> CrmError {
                    let mut checked = HashSet::new();
                    for d in deliveries {
                        if !checked.insert((d.tenant_id, d.endpoint_id)) {
                            continue;
                        }
                        let found: std::result::Result<Option<(i64,)>, _> = sqlx::query_as(
                            "SELECT version FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(DbId(d.tenant_id.0))
                        .bind(DbId(d.endpoint_id.0))
                        .fetch_optional(&self.pool)
                        .await;
                        match found {
                            Ok(Some(_)) => {}
                            Ok(None) => return CrmError::not_found("webhook endpoint", d.endpoint_id),
                            Err(e) => return store_err(e),
                        }
                    }
                    // Deleted and recreated in between: report the batch's first.
                    let first = deliveries.first().map(|d| d.endpoint_id.to_string()).unwrap_or_default();
                    CrmError::not_found("webhook endpoint", first)
                }
            }

            #[async_trait]
            impl WebhookRepository for $store {
                async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO webhook_endpoints ({WEBHOOK_ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                         $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
                    );
                    bind_endpoint(sqlx::query(&sql), endpoint)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("tenant", endpoint.tenant_id)))?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update_endpoint(&self, endpoint: &WebhookEndpoint, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = bind_endpoint(
                        sqlx::query(
                            "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, \
                             payload_filter = $6, headers = $7, rate_limit_per_second = $8, test_mode = $9, \
                             enabled = $10, disabled_reason = $11, secret_current = $12, secret_previous = $13, \
                             secret_previous_until = $14, consecutive_failures = $15, open_until = $16, \
                             openings = $17, failing_since = $18, created_at = $19, updated_at = $20, version = $21, \
                             format = $22 WHERE tenant_id = $1 AND id = $2 AND version = $21 - 1",
                        ),
                        endpoint,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        let (tenant, id) = (endpoint.tenant_id, endpoint.id.0);
                        return Err(missing_or_stale(&mut tx, "webhook_endpoints", "webhook endpoint", tenant, id).await);
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn delete_endpoint(
                    &self,
                    tenant: TenantId,
                    id: WebhookEndpointId,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    // Deliveries and their attempts go with it (ON DELETE CASCADE).
                    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("webhook endpoint", id));
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get_endpoint(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<WebhookEndpoint> {
                    let sql =
                        format!("SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, WebhookEndpointRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(WebhookEndpointRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("webhook endpoint", id))
                }

                async fn list_endpoints(&self, tenant: TenantId, page: PageRequest) -> Result<Page<WebhookEndpoint>> {
                    let sql = format!(
                        "SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 \
                         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                    );
                    let rows: Vec<WebhookEndpointRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(page.after.map(DbId))
                        .bind(i64::from(page.limit) + 1)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    Ok(Page::from_overfetch(endpoints(rows)?, page, |e: &WebhookEndpoint| e.id.0))
                }

                async fn enabled_endpoints(&self, tenants: &[TenantId]) -> Result<Vec<WebhookEndpoint>> {
                    let mut found = Vec::new();
                    for chunk in tenants.chunks(1000) {
                        let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
                            "SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled AND tenant_id"
                        ));
                        bulk::push_in(&mut q, chunk.iter().map(|t| t.0).collect());
                        let rows: Vec<WebhookEndpointRow> =
                            q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                        found.extend(endpoints(rows)?);
                    }
                    Ok(found)
                }

                async fn insert_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<u64> {
                    if deliveries.is_empty() {
                        return Ok(0);
                    }
                    let mut tx = self.begin().await?;
                    match bulk::insert_webhook_deliveries(&mut tx, deliveries).await {
                        Ok(inserted) => {
                            tx.commit().await.map_err(store_err)?;
                            Ok(inserted)
                        }
                        // An endpoint absent from its delivery's tenant (deleted meanwhile).
                        Err(e) if is_foreign_key(&e) => {
                            drop(tx);
                            Err(self.missing_endpoint(deliveries).await)
                        }
                        Err(e) => Err(store_err(e)),
                    }
                }

                async fn claim_due(
                    &self,
                    now: DateTime<Utc>,
                    lease: LeaseId,
                    until: DateTime<Utc>,
                    limits: ClaimLimits<'_>,
                ) -> Result<Vec<WebhookDelivery>> {
                    if limits.total == 0 {
                        return Ok(Vec::new());
                    }
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new("UPDATE webhook_deliveries SET lease_id = ");
                    q.push_bind(DbId(lease.0)).push(", lease_expires_at = ").push_bind(DbTime(until));
                    q.push(" WHERE id IN (");
                    push_claimable(&mut q, now, &limits);
                    q.push(format!(") RETURNING {WEBHOOK_DELIVERY_COLUMNS}"));
                    let mut tx = self.begin().await?;
                    let rows: Vec<WebhookDeliveryRow> =
                        q.build_query_as().fetch_all(&mut *tx).await.map_err(store_err)?;
                    tx.commit().await.map_err(store_err)?;
                    let mut claimed = deliveries(rows)?;
                    // RETURNING keeps no order: earliest due first.
                    claimed.sort_by_key(|d| (d.next_attempt_at, d.id));
                    Ok(claimed)
                }

                async fn record_outcomes(
                    &self,
                    outcomes: &[DeliveryOutcome],
                    health: &[EndpointHealth],
                    events: &[DomainEvent],
                ) -> Result<u64> {
                    if outcomes.is_empty() && health.is_empty() && events.is_empty() {
                        return Ok(0);
                    }
                    let health = merged(health);
                    let mut tx = self.begin().await?;
                    let mut attempts: Vec<(uuid::Uuid, &DeliveryAttempt)> = Vec::new();
                    let mut written = 0u64;
                    for round in rounds(outcomes) {
                        let ids: HashSet<uuid::Uuid> = bulk::write_webhook_outcomes(&mut tx, &round)
                            .await
                            .map_err(store_err)?
                            .into_iter()
                            .collect();
                        written += ids.len() as u64;
                        for o in round.into_iter().filter(|o| ids.contains(&o.delivery.id.0)) {
                            attempts.extend(o.attempt.as_ref().map(|a| (o.delivery.id.0, a)));
                        }
                    }
                    if !attempts.is_empty() {
                        bulk::insert_webhook_attempts(&mut tx, &attempts).await.map_err(store_err)?;
                    }
                    if !health.is_empty() {
                        let health: Vec<&EndpointHealth> = health.iter().collect();
                        bulk::update_webhook_health(&mut tx, &health).await.map_err(store_err)?;
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(written)
                }

                async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
                    // A pending delivery is due at its `next_attempt_at`, or when its lease ends if
                    // that is later. Walking an endpoint's deliveries in due order, the first one
                    // not held past its time gives that endpoint's upper bound; only the ones
                    // before it (all held, so no more than are in flight) can be due earlier, at
                    // their lease's end. The earliest over the endpoints is the answer.
                    let sql = format!(
                        "{PENDING_ENDPOINTS}, free(id, due_at) AS (SELECT p.id, (SELECT d.next_attempt_at \
                         FROM webhook_deliveries d WHERE d.endpoint_id = p.id AND d.status = 'pending' \
                         AND d.next_attempt_at IS NOT NULL \
                         AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= d.next_attempt_at) \
                         ORDER BY d.next_attempt_at LIMIT 1) FROM pending p WHERE p.id IS NOT NULL) \
                         SELECT MIN(due_at) FROM (SELECT due_at FROM free \
                         UNION ALL SELECT (SELECT MIN(d.lease_expires_at) FROM webhook_deliveries d \
                         WHERE d.endpoint_id = f.id AND d.status = 'pending' AND d.next_attempt_at < f.due_at \
                         AND d.lease_expires_at > d.next_attempt_at) FROM free f WHERE f.due_at IS NOT NULL \
                         UNION ALL SELECT (SELECT MIN(d.lease_expires_at) FROM webhook_deliveries d \
                         WHERE d.endpoint_id = f.id AND d.status = 'pending' AND d.next_attempt_at IS NOT NULL \
                         AND d.lease_expires_at > d.next_attempt_at) FROM free f WHERE f.due_at IS NULL) t"
                    );
                    let (at,): (Option<DbTime>,) =
                        sqlx::query_as(&sql).fetch_one(&self.pool).await.map_err(store_err)?;
                    Ok(at.map(|t| t.0))
                }

                async fn get_delivery(&self, tenant: TenantId, id: DeliveryId) -> Result<WebhookDelivery> {
                    let sql = format!(
                        "SELECT {WEBHOOK_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2"
                    );
                    sqlx::query_as::<_, WebhookDeliveryRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(WebhookDeliveryRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("webhook delivery", id))
                }

                async fn list_deliveries(
                    &self,
                    tenant: TenantId,
                    filter: DeliveryFilter,
                    page: PageRequest,
                ) -> Result<Page<WebhookDelivery>> {
                    // Only the conditions given, so each combination gets a plan of its own (by
                    // endpoint: the (tenant, endpoint, id) index; otherwise (tenant, id)).
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "SELECT {WEBHOOK_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = "
                    ));
                    q.push_bind(DbId(tenant.0));
                    if let Some(endpoint) = filter.endpoint_id {
                        q.push(" AND endpoint_id = ").push_bind(DbId(endpoint.0));
                    }
                    if let Some(status) = filter.status {
                        q.push(" AND status = ").push_bind(status.as_str());
                    }
                    if let Some(event) = filter.event_id {
                        q.push(" AND event_id = ").push_bind(DbId(event.0));
                    }
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<WebhookDeliveryRow> =
                        q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    Ok(Page::from_overfetch(deliveries(rows)?, page, |d: &WebhookDelivery| d.id.0))
                }

                async fn list_attempts(&self, tenant: TenantId, delivery: DeliveryId) -> Result<Vec<DeliveryAttempt>> {
                    let sql = format!(
                        "SELECT {WEBHOOK_ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = $1 \
                         AND tenant_id = $2 ORDER BY number"
                    );
                    let rows: Vec<WebhookAttemptRow> = sqlx::query_as(&sql)
                        .bind(DbId(delivery.0))
                        .bind(DbId(tenant.0))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(WebhookAttemptRow::into_domain).collect()
                }

                async fn requeue(
                    &self,
                    tenant: TenantId,
                    endpoint: WebhookEndpointId,
                    ids: Option<&[DeliveryId]>,
                    since: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> Result<u64> {
                    const REQUEUE: &str = "UPDATE webhook_deliveries SET status = 'pending', schedule_attempts = 0, \
                                           next_attempt_at = ";
                    let build = |q: &mut QueryBuilder<$db>| {
                        q.push_bind(DbTime(now)).push(", updated_at = ").push_bind(DbTime(now));
                        q.push(", lease_id = NULL, lease_expires_at = NULL WHERE tenant_id = ");
                        q.push_bind(DbId(tenant.0)).push(" AND endpoint_id = ").push_bind(DbId(endpoint.0));
                        // Purged deliveries have nothing to send again.
                        q.push(" AND payload IS NOT NULL");
                    };
                    let mut tx = self.begin().await?;
                    let mut count = 0;
                    match ids {
                        Some(ids) => {
                            for chunk in ids.chunks(1000) {
                                let mut q: QueryBuilder<$db> = QueryBuilder::new(REQUEUE);
                                build(&mut q);
                                q.push(" AND status <> 'pending' AND id");
                                bulk::push_in(&mut q, chunk.iter().map(|d| d.0).collect());
                                count += q.build().execute(&mut *tx).await.map_err(store_err)?.rows_affected();
                            }
                        }
                        None => {
                            let mut q: QueryBuilder<$db> = QueryBuilder::new(REQUEUE);
                            build(&mut q);
                            q.push(" AND status = 'failed' AND created_at >= ").push_bind(DbTime(since));
                            count += q.build().execute(&mut *tx).await.map_err(store_err)?.rows_affected();
                        }
                    }
                    tx.commit().await.map_err(store_err)?;
                    Ok(count)
                }

                async fn purge_payloads(&self, before: DateTime<Utc>) -> Result<u64> {
                    let done = sqlx::query(
                        "UPDATE webhook_deliveries SET payload = NULL WHERE status <> 'pending' AND created_at < $1 \
                         AND payload IS NOT NULL",
                    )
                    .bind(DbTime(before))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use webhook_repository;
