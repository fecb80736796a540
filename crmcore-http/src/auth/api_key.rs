//! API keys for machines: created with a role no higher than their creator's, shown once,
//! stored as the SHA-256 of the secret, revocable, optionally expiring.

use chrono::{DateTime, Utc};
use crmcore::id::{ApiKeyId, MemberId};
use crmcore::ports::ApiKey;
use crmcore::secret::{hash_token, random_token};
use crmcore::value::NonEmptyText;
use crmcore::{Actor, CrmError, Permission, Result, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::API_KEY_PREFIX;
use crate::state::AppState;

/// Characters of the secret kept in clear to recognise a key in lists.
const SHOWN_PREFIX_CHARS: usize = 12;

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyRequest {
    /// What the key is for.
    pub name: String,
    /// The role requests made with the key act with; not above the creator's.
    #[schema(value_type = String, example = "member")]
    pub role: Role,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key as listed (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Its id.
    #[schema(value_type = uuid::Uuid)]
    pub id: ApiKeyId,
    /// What it is for.
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// The role it acts with.
    #[schema(value_type = String, example = "member")]
    pub role: Role,
    /// Who created it.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub created_by: Option<MemberId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            role: key.role,
            created_by: key.created_by,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key with its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The secret to send as `Authorization: Bearer`; not retrievable later.
    pub secret: String,
}

/// Creates a key (needs `manage_api_keys`; the role may not exceed the creator's).
pub async fn create(state: &AppState, actor: &Actor, request: NewApiKeyRequest) -> Result<CreatedApiKey> {
    actor.require(Permission::ManageApiKeys)?;
    if request.role > actor.role {
        return Err(CrmError::Forbidden(format!("cannot grant role `{}` above your own", request.role)));
    }
    let name = NonEmptyText::parse("name", &request.name, 100)?;
    let now = state.crm().clock().now();
    if request.expires_at.is_some_and(|at| at <= now) {
        return Err(CrmError::invalid("expires_at", "in_past", "expiry must be in the future"));
    }
    let secret = random_token(API_KEY_PREFIX, 32)?;
    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: actor.tenant_id,
        name: name.as_str().to_owned(),
        prefix: secret.chars().take(SHOWN_PREFIX_CHARS).collect(),
        secret_hash: hash_token(&secret),
        role: request.role,
        created_by: actor.member_id(),
        created_at: now,
        expires_at: request.expires_at,
        revoked_at: None,
    };
    state.crm().store().credentials().insert_api_key(&key).await?;
    Ok(CreatedApiKey { key: key.into(), secret })
}

/// The tenant's keys, newest first (needs `manage_api_keys`).
pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<ApiKeyView>> {
    actor.require(Permission::ManageApiKeys)?;
    let keys = state.crm().store().credentials().list_api_keys(actor.tenant_id).await?;
    Ok(keys.into_iter().map(ApiKeyView::from).collect())
}

/// Revokes a key (needs `manage_api_keys`).
pub async fn revoke(state: &AppState, actor: &Actor, id: ApiKeyId) -> Result<()> {
    actor.require(Permission::ManageApiKeys)?;
    let now = state.crm().clock().now();
    state.crm().store().credentials().revoke_api_key(actor.tenant_id, id, now).await
}

/// The actor behind an API key secret: `Unauthenticated` when unknown, revoked or expired.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Actor> {
    let key = state.crm().store().credentials().find_api_key(&hash_token(secret)).await?;
    let now = state.crm().clock().now();
    match key {
        Some(key) if key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now) => {
            Ok(Actor::api_key(key.tenant_id, key.id, key.role))
        }
        _ => Err(CrmError::Unauthenticated("invalid API key".into())),
    }
}
