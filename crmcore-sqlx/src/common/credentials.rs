//! Password hashes, API keys and refresh tokens. The SQL is the same on SQLite and PostgreSQL,
//! so one body implements the port for both stores: `sqlite.rs` and `postgres.rs` each expand
//! [`credential_repository!`] for their store type.

/// Implements `CredentialRepository` for a store with a `pool` field.
macro_rules! credential_repository {
    ($store:ty) => {
        const _: () = {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use crmcore::id::{ApiKeyId, MemberId, TenantId};
        use crmcore::ports::{ApiKey, CredentialRepository, LoginCandidate, RefreshToken, RefreshTokenUse};
        use crmcore::value::EmailAddress;
        use crmcore::{CrmError, Result};
        use uuid::Uuid;

        use $crate::common::error::{map_err, store_err};
        use $crate::common::rows::{API_KEY_COLUMNS, ApiKeyRow, LoginRow, REFRESH_TOKEN_COLUMNS, RefreshTokenRow};
        use $crate::common::types::{DbId, DbTime, opt_id, opt_time};

        #[async_trait]
        impl CredentialRepository for $store {
            async fn set_password(
                &self,
                tenant: TenantId,
                member: MemberId,
                password_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO password_credentials (tenant_id, member_id, password_hash, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, member_id) \
                     DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
                )
                .bind(DbId(tenant.0))
                .bind(DbId(member.0))
                .bind(password_hash)
                .bind(DbTime(now))
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, || CrmError::not_found("member", member)))?;
                Ok(())
            }

            async fn login_candidates(&self, email: &EmailAddress) -> Result<Vec<LoginCandidate>> {
                let rows = sqlx::query_as::<_, LoginRow>(
                    "SELECT m.tenant_id, m.id, m.handle, m.display_name, m.email, m.role, m.active, m.created_at, \
                     m.updated_at, m.version, t.id AS t_id, t.name AS t_name, t.slug AS t_slug, \
                     t.created_at AS t_created_at, p.password_hash \
                     FROM members m \
                     JOIN password_credentials p ON p.tenant_id = m.tenant_id AND p.member_id = m.id \
                     JOIN tenants t ON t.id = m.tenant_id \
                     WHERE m.email = $1 AND m.active = TRUE ORDER BY t.slug",
                )
                .bind(email.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(store_err)?;
                rows.into_iter().map(LoginRow::into_domain).collect()
            }

            async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, role, created_by, created_at, \
                     expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(DbId(key.id.0))
                .bind(DbId(key.tenant_id.0))
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.secret_hash)
                .bind(key.role.as_str())
                .bind(opt_id(key.created_by.map(|m| m.0)))
                .bind(DbTime(key.created_at))
                .bind(opt_time(key.expires_at))
                .bind(opt_time(key.revoked_at))
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, || CrmError::not_found("tenant", key.tenant_id)))?;
                Ok(())
            }

            async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>> {
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1");
                sqlx::query_as::<_, ApiKeyRow>(&sql)
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?
                    .map(ApiKeyRow::into_domain)
                    .transpose()
            }

            async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>> {
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC");
                let rows =
                    sqlx::query_as::<_, ApiKeyRow>(&sql).bind(DbId(tenant.0)).fetch_all(&self.pool).await.map_err(store_err)?;
                rows.into_iter().map(ApiKeyRow::into_domain).collect()
            }

            async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: DateTime<Utc>) -> Result<()> {
                let done =
                    sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .bind(DbTime(now))
                        .execute(&self.pool)
                        .await
                        .map_err(store_err)?;
                if done.rows_affected() == 0 {
                    return Err(CrmError::not_found("api key", id));
                }
                Ok(())
            }

            async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, family_id, tenant_id, member_id, token_hash, issued_at, expires_at, \
                     used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(DbId(t.id.0))
                .bind(DbId(t.family_id))
                .bind(DbId(t.tenant_id.0))
                .bind(DbId(t.member_id.0))
                .bind(&t.token_hash)
                .bind(DbTime(t.issued_at))
                .bind(DbTime(t.expires_at))
                .bind(opt_time(t.used_at))
                .bind(opt_time(t.revoked_at))
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, || CrmError::not_found("member", t.member_id)))?;
                Ok(())
            }

            async fn use_refresh_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<RefreshTokenUse> {
                // One statement: of two concurrent uses, exactly one sees `used_at IS NULL`.
                let sql = format!(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                     RETURNING {REFRESH_TOKEN_COLUMNS}"
                );
                let fresh = sqlx::query_as::<_, RefreshTokenRow>(&sql)
                    .bind(token_hash)
                    .bind(DbTime(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                if let Some(row) = fresh {
                    let mut before = row.into_domain();
                    before.used_at = None;
                    return Ok(RefreshTokenUse::Fresh(before));
                }
                let sql = format!("SELECT {REFRESH_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
                let spent = sqlx::query_as::<_, RefreshTokenRow>(&sql)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                Ok(match spent {
                    Some(row) => RefreshTokenUse::AlreadyUsed(row.into_domain()),
                    None => RefreshTokenUse::Unknown,
                })
            }

            async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
                let sql = format!("SELECT {REFRESH_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
                let row = sqlx::query_as::<_, RefreshTokenRow>(&sql)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                Ok(row.map(RefreshTokenRow::into_domain))
            }

            async fn revoke_refresh_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE family_id = $1")
                    .bind(DbId(family_id))
                    .bind(DbTime(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_err)?;
                Ok(())
            }
        }
        };
    };
}

pub(crate) use credential_repository;
