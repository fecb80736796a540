//! OAuth providers, connections and sync logs. The SQL is the same on both databases, so one body
//! serves both stores: `sqlite/integration.rs` and `postgres/integration.rs` expand
//! [`integration_repository!`].
//!
//! References are composite, `(tenant_id, provider_id)` and `(tenant_id, connection_id)`, so a
//! connection or a log can only point at a parent of its own tenant: a foreign-key violation is the
//! parent missing from the tenant (`NotFound`). Deleting a provider cascades to its connections,
//! and a connection to its logs (`ON DELETE CASCADE`). The scheduler's `due_connections` walks the
//! partial index of scheduled connections across tenants, earliest first.

/// Implements `IntegrationRepository` for `$store` on database `$db`. `append_events` must be in
/// scope where it is expanded.
macro_rules! integration_repository {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use crmcore::event::DomainEvent;
            use crmcore::id::{ConnectionId, OAuthProviderId, SyncLogId, TenantId};
            use crmcore::integration::{Connection, OAuthProvider, SyncLog};
            use crmcore::page::{Page, PageRequest};
            use crmcore::ports::IntegrationRepository;
            use crmcore::{CrmError, Result};
            use sqlx::types::Json;
            use sqlx::QueryBuilder;

            use $crate::common::error::{map_err, store_err};
            use $crate::common::rows::{
                CONNECTION_COLUMNS, ConnectionRow, OAUTH_PROVIDER_COLUMNS, OAuthProviderRow, SYNC_LOG_COLUMNS,
                SyncLogRow,
            };
            use $crate::common::types::{DbId, DbTime, opt_time};

            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            /// Binds a provider's columns in [`OAUTH_PROVIDER_COLUMNS`] order (`$1` to `$13`).
            fn bind_provider<'q>(q: Query<'q>, p: &'q OAuthProvider) -> Query<'q> {
                q.bind(DbId(p.tenant_id.0))
                    .bind(DbId(p.id.0))
                    .bind(p.name.as_str())
                    .bind(p.authorize_url.as_str())
                    .bind(p.token_url.as_str())
                    .bind(p.revoke_url.as_deref())
                    .bind(p.sync_url.as_deref())
                    .bind(Json(&p.scopes))
                    .bind(p.client_id.as_str())
                    .bind(p.client_secret.as_str())
                    .bind(DbTime(p.created_at))
                    .bind(DbTime(p.updated_at))
                    .bind(p.version)
            }

            /// Binds a connection's columns in [`CONNECTION_COLUMNS`] order (`$1` to `$15`).
            fn bind_connection<'q>(q: Query<'q>, c: &'q Connection) -> Query<'q> {
                q.bind(DbId(c.tenant_id.0))
                    .bind(DbId(c.id.0))
                    .bind(DbId(c.provider_id.0))
                    .bind(DbId(c.connected_by.0))
                    .bind(c.status.as_str())
                    .bind(c.access_token.as_str())
                    .bind(c.refresh_token.as_ref().map(|s| s.as_str()))
                    .bind(opt_time(c.expires_at))
                    .bind(c.scope.as_deref())
                    .bind(c.sync_schedule.as_deref())
                    .bind(opt_time(c.next_sync_at))
                    .bind(opt_time(c.last_sync_at))
                    .bind(DbTime(c.created_at))
                    .bind(DbTime(c.updated_at))
                    .bind(c.version)
            }

            /// Binds a sync log's columns in [`SYNC_LOG_COLUMNS`] order (`$1` to `$11`).
            fn bind_log<'q>(q: Query<'q>, l: &'q SyncLog) -> Query<'q> {
                q.bind(DbId(l.tenant_id.0))
                    .bind(DbId(l.id.0))
                    .bind(DbId(l.connection_id.0))
                    .bind(l.trigger.as_str())
                    .bind(DbTime(l.started_at))
                    .bind(opt_time(l.finished_at))
                    .bind(l.status.as_str())
                    .bind(i64::from(l.records))
                    .bind(i64::from(l.created))
                    .bind(i64::from(l.updated))
                    .bind(Json(&l.errors))
            }

            fn connections(rows: Vec<ConnectionRow>) -> Result<Vec<Connection>> {
                rows.into_iter().map(ConnectionRow::into_domain).collect()
            }

            fn logs(rows: Vec<SyncLogRow>) -> Result<Vec<SyncLog>> {
                rows.into_iter().map(SyncLogRow::into_domain).collect()
            }

            #[async_trait]
            impl IntegrationRepository for $store {
                async fn insert_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO oauth_providers ({OAUTH_PROVIDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                         $8, $9, $10, $11, $12, $13)"
                    );
                    bind_provider(sqlx::query(&sql), provider)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("tenant", provider.tenant_id)))?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update_provider(&self, provider: &OAuthProvider, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = bind_provider(
                        sqlx::query(
                            "UPDATE oauth_providers SET name = $3, authorize_url = $4, token_url = $5, \
                             revoke_url = $6, sync_url = $7, scopes = $8, client_id = $9, client_secret = $10, \
                             created_at = $11, updated_at = $12, version = $13 \
                             WHERE tenant_id = $1 AND id = $2 AND version = $13 - 1",
                        ),
                        provider,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        let (tenant, id) = (provider.tenant_id, provider.id.0);
                        return Err(missing_or_stale(&mut tx, "oauth_providers", "oauth provider", tenant, id).await);
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn delete_provider(
                    &self,
                    tenant: TenantId,
                    id: OAuthProviderId,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    // Connections and their logs go with it (ON DELETE CASCADE).
                    let done = sqlx::query("DELETE FROM oauth_providers WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("oauth provider", id));
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get_provider(&self, tenant: TenantId, id: OAuthProviderId) -> Result<OAuthProvider> {
                    let sql =
                        format!("SELECT {OAUTH_PROVIDER_COLUMNS} FROM oauth_providers WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, OAuthProviderRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(OAuthProviderRow::into_domain)
                        .ok_or_else(|| CrmError::not_found("oauth provider", id))
                }

                async fn list_providers(&self, tenant: TenantId, page: PageRequest) -> Result<Page<OAuthProvider>> {
                    // The cursor condition only when there is one, so each form gets a plan of its
                    // own over the (tenant_id, id) index.
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "SELECT {OAUTH_PROVIDER_COLUMNS} FROM oauth_providers WHERE tenant_id = "
                    ));
                    q.push_bind(DbId(tenant.0));
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<OAuthProviderRow> =
                        q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    let providers = rows.into_iter().map(OAuthProviderRow::into_domain).collect();
                    Ok(Page::from_overfetch(providers, page, |p: &OAuthProvider| p.id.0))
                }

                async fn insert_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO integration_connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                         $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                    );
                    // The provider must be the tenant's: the reference is (tenant_id, provider_id).
                    bind_connection(sqlx::query(&sql), connection)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("oauth provider", connection.provider_id)))?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update_connection(&self, connection: &Connection, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = bind_connection(
                        sqlx::query(
                            "UPDATE integration_connections SET provider_id = $3, connected_by = $4, status = $5, \
                             access_token = $6, refresh_token = $7, expires_at = $8, scope = $9, \
                             sync_schedule = $10, next_sync_at = $11, last_sync_at = $12, created_at = $13, \
                             updated_at = $14, version = $15 \
                             WHERE tenant_id = $1 AND id = $2 AND version = $15 - 1",
                        ),
                        connection,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("oauth provider", connection.provider_id)))?;
                    if done.rows_affected() == 0 {
                        let (tenant, id) = (connection.tenant_id, connection.id.0);
                        return Err(missing_or_stale(&mut tx, "integration_connections", "connection", tenant, id).await);
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn delete_connection(
                    &self,
                    tenant: TenantId,
                    id: ConnectionId,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    // Its logs go with it (ON DELETE CASCADE).
                    let done = sqlx::query("DELETE FROM integration_connections WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("connection", id));
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get_connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Connection> {
                    let sql = format!(
                        "SELECT {CONNECTION_COLUMNS} FROM integration_connections WHERE tenant_id = $1 AND id = $2"
                    );
                    sqlx::query_as::<_, ConnectionRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ConnectionRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("connection", id))
                }

                async fn list_connections(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Connection>> {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "SELECT {CONNECTION_COLUMNS} FROM integration_connections WHERE tenant_id = "
                    ));
                    q.push_bind(DbId(tenant.0));
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<ConnectionRow> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    Ok(Page::from_overfetch(connections(rows)?, page, |c: &Connection| c.id.0))
                }

                async fn due_connections(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Connection>> {
                    if limit == 0 {
                        return Ok(Vec::new());
                    }
                    // Every tenant's, over the partial index of scheduled connections.
                    let sql = format!(
                        "SELECT {CONNECTION_COLUMNS} FROM integration_connections WHERE next_sync_at IS NOT NULL \
                         AND next_sync_at <= $1 ORDER BY next_sync_at, id LIMIT $2"
                    );
                    let rows: Vec<ConnectionRow> = sqlx::query_as(&sql)
                        .bind(DbTime(now))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    connections(rows)
                }

                async fn insert_sync_log(&self, log: &SyncLog) -> Result<()> {
                    let sql = format!(
                        "INSERT INTO integration_sync_logs ({SYNC_LOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                         $8, $9, $10, $11)"
                    );
                    // The connection must be the tenant's: the reference is (tenant_id, connection_id).
                    bind_log(sqlx::query(&sql), log)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("connection", log.connection_id)))?;
                    Ok(())
                }

                async fn update_sync_log(&self, log: &SyncLog) -> Result<()> {
                    let done = bind_log(
                        sqlx::query(
                            "UPDATE integration_sync_logs SET connection_id = $3, trigger = $4, started_at = $5, \
                             finished_at = $6, status = $7, records = $8, created = $9, updated = $10, errors = $11 \
                             WHERE tenant_id = $1 AND id = $2",
                        ),
                        log,
                    )
                    .execute(&self.pool)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("connection", log.connection_id)))?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("sync log", log.id));
                    }
                    Ok(())
                }

                async fn get_sync_log(&self, tenant: TenantId, id: SyncLogId) -> Result<SyncLog> {
                    let sql =
                        format!("SELECT {SYNC_LOG_COLUMNS} FROM integration_sync_logs WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, SyncLogRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(SyncLogRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("sync log", id))
                }

                async fn list_sync_logs(
                    &self,
                    tenant: TenantId,
                    connection: ConnectionId,
                    page: PageRequest,
                ) -> Result<Page<SyncLog>> {
                    // Over the (tenant_id, connection_id, id) index.
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "SELECT {SYNC_LOG_COLUMNS} FROM integration_sync_logs WHERE tenant_id = "
                    ));
                    q.push_bind(DbId(tenant.0)).push(" AND connection_id = ").push_bind(DbId(connection.0));
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<SyncLogRow> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    Ok(Page::from_overfetch(logs(rows)?, page, |l: &SyncLog| l.id.0))
                }
            }
        };
    };
}

pub(crate) use integration_repository;
