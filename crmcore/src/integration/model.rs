//! What the integration repository stores: OAuth 2.0 provider configurations, the connections
//! made through them (tokens sealed), and the log of every sync run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{ConnectionId, MemberId, OAuthProviderId, SyncLogId, TenantId};
use crate::webhook::SealedSecret;

/// An OAuth 2.0 provider a tenant connects to (authorization-code flow with PKCE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthProvider {
    /// Its id.
    pub id: OAuthProviderId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// A name for people.
    pub name: String,
    /// Where people authorize (the provider's authorization endpoint).
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint (RFC 7009), if the provider has one.
    pub revoke_url: Option<String>,
    /// What a sync reads: a URL answering a JSON array of contacts (`email`, `first_name`,
    /// `last_name`, `company`, `phone`), or `{"items": [...]}`.
    pub sync_url: Option<String>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret, sealed.
    pub client_secret: SealedSecret,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConnectionStatus {
    /// Tokens work.
    Active,
    /// The provider refused the refresh token: the connection must be authorized again.
    Reauthorize,
}

impl ConnectionStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::Reauthorize => "reauthorize",
        }
    }

    /// Parses [`ConnectionStatus::as_str`].
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "active" => Ok(ConnectionStatus::Active),
            "reauthorize" => Ok(ConnectionStatus::Reauthorize),
            _ => Err(crate::error::CrmError::invalid("status", "unknown", format!("unknown connection status `{s}`"))),
        }
    }
}

/// A tenant's authorized link to a provider: sealed tokens and an optional sync schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The provider.
    pub provider_id: OAuthProviderId,
    /// Who authorized it.
    pub connected_by: MemberId,
    /// Where it stands.
    pub status: ConnectionStatus,
    /// The access token, sealed.
    pub access_token: SealedSecret,
    /// The refresh token, sealed.
    pub refresh_token: Option<SealedSecret>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes the provider granted.
    pub scope: Option<String>,
    /// A cron expression (5 fields, or 6 with seconds), UTC.
    pub sync_schedule: Option<String>,
    /// When the next scheduled sync is due.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// When the last sync finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SyncStatus {
    /// Still running (or its worker died; the next run starts a new log).
    Running,
    /// Every record was read; some may have been refused (see `errors`).
    Succeeded,
    /// The sync could not run (no token, provider unreachable or refusing).
    Failed,
}

impl SyncStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Running => "running",
            SyncStatus::Succeeded => "succeeded",
            SyncStatus::Failed => "failed",
        }
    }

    /// Parses [`SyncStatus::as_str`].
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "running" => Ok(SyncStatus::Running),
            "succeeded" => Ok(SyncStatus::Succeeded),
            "failed" => Ok(SyncStatus::Failed),
            _ => Err(crate::error::CrmError::invalid("status", "unknown", format!("unknown sync status `{s}`"))),
        }
    }
}

/// One sync run of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncLog {
    /// Its id.
    pub id: SyncLogId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The connection.
    pub connection_id: ConnectionId,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Started at.
    pub started_at: DateTime<Utc>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub status: SyncStatus,
    /// Records read.
    pub records: u32,
    /// Records created.
    pub created: u32,
    /// Records updated.
    pub updated: u32,
    /// Errors (bounded), each naming the record or the failure.
    pub errors: Vec<String>,
}
