//! The integration service: what `crm.integrations()` returns. OAuth 2.0 providers, the
//! authorization-code flow with PKCE and a sealed `state`, connections with sealed tokens,
//! disconnect with revocation, sync schedules, "sync now" and the sync log. Every call needs
//! `manage_integrations`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Connection, ConnectionStatus, OAuthProvider, SyncLog};
use crate::actor::{Actor, Permission, Principal};
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{ConnectionId, MemberId, OAuthProviderId, TenantId};
use crate::jobs::Job;
use crate::page::{Page, PageRequest};
use crate::ports::OAuthTokenRequest;
use crate::secret::random_token;
use crate::webhook::{SealedSecret, WebhookUrl};

/// How long an authorization may take between start and callback.
const STATE_TTL_MINUTES: i64 = 10;
/// The sealing context of authorization states.
const STATE_CONTEXT: &str = "crmcore oauth state v1";

/// Input for registering a provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProvider {
    /// A name for people.
    pub name: String,
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint (RFC 7009).
    pub revoke_url: Option<String>,
    /// A URL answering the contacts a sync imports.
    pub sync_url: Option<String>,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Client id.
    pub client_id: String,
    /// Client secret (sealed at rest, never shown again).
    pub client_secret: String,
}

/// A provider as shown: everything but the client secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderView {
    /// Its id.
    pub id: OAuthProviderId,
    /// Name.
    pub name: String,
    /// Authorization endpoint.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Revocation endpoint.
    pub revoke_url: Option<String>,
    /// Sync source.
    pub sync_url: Option<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Client id.
    pub client_id: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Version.
    pub version: i64,
}

impl From<&OAuthProvider> for ProviderView {
    fn from(p: &OAuthProvider) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            authorize_url: p.authorize_url.clone(),
            token_url: p.token_url.clone(),
            revoke_url: p.revoke_url.clone(),
            sync_url: p.sync_url.clone(),
            scopes: p.scopes.clone(),
            client_id: p.client_id.clone(),
            created_at: p.created_at,
            version: p.version,
        }
    }
}

/// A connection as shown: everything but its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionView {
    /// Its id.
    pub id: ConnectionId,
    /// The provider.
    pub provider_id: OAuthProviderId,
    /// Who authorized it.
    pub connected_by: MemberId,
    /// Where it stands.
    pub status: ConnectionStatus,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Cron schedule (UTC).
    pub sync_schedule: Option<String>,
    /// Next scheduled sync.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// Last sync finished at.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Version.
    pub version: i64,
}

impl From<&Connection> for ConnectionView {
    fn from(c: &Connection) -> Self {
        Self {
            id: c.id,
            provider_id: c.provider_id,
            connected_by: c.connected_by,
            status: c.status,
            expires_at: c.expires_at,
            scope: c.scope.clone(),
            sync_schedule: c.sync_schedule.clone(),
            next_sync_at: c.next_sync_at,
            last_sync_at: c.last_sync_at,
            created_at: c.created_at,
            version: c.version,
        }
    }
}

/// Where to send the person to authorize, and the `state` the callback must bring back.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationStart {
    /// The provider's authorization URL with `response_type=code`, `client_id`, `redirect_uri`,
    /// `scope`, `state`, `code_challenge` and `code_challenge_method=S256`.
    pub authorize_url: String,
    /// Sealed (AES-GCM) and time-limited: tenant, member, provider, redirect URI and the PKCE
    /// verifier, which therefore never leaves the server in the clear.
    pub state: String,
}

#[derive(Serialize, Deserialize)]
struct State {
    tenant: TenantId,
    member: MemberId,
    provider: OAuthProviderId,
    redirect_uri: String,
    verifier: String,
    expires_at: DateTime<Utc>,
}

/// Integrations.
#[derive(Debug, Clone, Copy)]
pub struct IntegrationService<'a> {
    crm: &'a Crm,
}

impl<'a> IntegrationService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    fn url(&self, v: &mut Validator, field: &str, raw: &str) -> Option<String> {
        let parsed = WebhookUrl::parse(raw, self.crm.webhook_config().allow_http);
        v.field(field, parsed).map(|u| u.to_string())
    }

    /// Registers a provider.
    pub async fn create_provider(&self, actor: &Actor, input: NewProvider) -> Result<ProviderView> {
        actor.require(Permission::ManageIntegrations)?;
        let mut v = Validator::new();
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            v.push(FieldError::new("name", "invalid", "a name of 1 to 200 characters"));
        }
        let authorize_url = self.url(&mut v, "authorize_url", &input.authorize_url);
        let token_url = self.url(&mut v, "token_url", &input.token_url);
        let revoke_url = input.revoke_url.as_deref().and_then(|u| self.url(&mut v, "revoke_url", u));
        let sync_url = input.sync_url.as_deref().and_then(|u| self.url(&mut v, "sync_url", u));
        if input.client_id.trim().is_empty() {
            v.push(FieldError::new("client_id", "required", "the client id is required"));
        }
        if input.client_secret.is_empty() {
            v.push(FieldError::new("client_secret", "required", "the client secret is required"));
        }
        for (i, scope) in input.scopes.iter().enumerate() {
            if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
                v.push(FieldError::new(format!("scopes[{i}]"), "invalid", "scopes are non-empty, without spaces"));
            }
        }
        v.finish()?;
        let (Some(authorize_url), Some(token_url)) = (authorize_url, token_url) else {
            return Err(CrmError::Internal("validation passed without values".into()));
        };
        let now = self.crm.clock().now();
        let id = OAuthProviderId::new();
        let provider = OAuthProvider {
            id,
            tenant_id: actor.tenant_id,
            name,
            authorize_url,
            token_url,
            revoke_url,
            sync_url,
            scopes: input.scopes,
            client_id: input.client_id.trim().to_owned(),
            client_secret: self.seal(&input.client_secret, &provider_context(id))?,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.crm.store().integrations().insert_provider(&provider, &[]).await?;
        Ok(ProviderView::from(&provider))
    }

    /// Removes a provider with its connections (their tokens are revoked first, best effort).
    pub async fn delete_provider(&self, actor: &Actor, id: OAuthProviderId) -> Result<()> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().integrations();
        let provider = repo.get_provider(actor.tenant_id, id).await?;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let connections = repo.list_connections(actor.tenant_id, page).await?;
            for c in connections.items.iter().filter(|c| c.provider_id == id) {
                self.revoke(&provider, c).await;
            }
            match connections.next_cursor {
                Some(cursor) => page = PageRequest::parse(Some(PageRequest::MAX_LIMIT), Some(&cursor))?,
                None => break,
            }
        }
        repo.delete_provider(actor.tenant_id, id, &[]).await
    }

    /// One provider.
    pub async fn get_provider(&self, actor: &Actor, id: OAuthProviderId) -> Result<ProviderView> {
        actor.require(Permission::ManageIntegrations)?;
        Ok(ProviderView::from(&self.crm.store().integrations().get_provider(actor.tenant_id, id).await?))
    }

    /// The tenant's providers, newest first.
    pub async fn list_providers(&self, actor: &Actor, page: PageRequest) -> Result<Page<ProviderView>> {
        actor.require(Permission::ManageIntegrations)?;
        let page = self.crm.store().integrations().list_providers(actor.tenant_id, page).await?;
        Ok(Page { items: page.items.iter().map(ProviderView::from).collect(), next_cursor: page.next_cursor })
    }

    /// Starts the authorization-code flow with PKCE (S256) for the acting member.
    pub async fn start_authorization(
        &self,
        actor: &Actor,
        provider: OAuthProviderId,
        redirect_uri: &str,
    ) -> Result<AuthorizationStart> {
        actor.require(Permission::ManageIntegrations)?;
        let Principal::Member(member) = actor.principal else {
            return Err(CrmError::Forbidden("only members connect integrations".into()));
        };
        let provider = self.crm.store().integrations().get_provider(actor.tenant_id, provider).await?;
        let redirect = url::Url::parse(redirect_uri)
            .map_err(|e| CrmError::invalid("redirect_uri", "invalid", format!("not a URL: {e}")))?;
        if !matches!(redirect.scheme(), "https" | "http") || redirect.fragment().is_some() {
            return Err(CrmError::invalid("redirect_uri", "invalid", "an http(s) URL without a fragment"));
        }
        let verifier = random_token("", 32)?;
        let challenge = pkce_challenge(&verifier);
        let state = State {
            tenant: actor.tenant_id,
            member,
            provider: provider.id,
            redirect_uri: redirect.to_string(),
            verifier,
            expires_at: self.crm.clock().now() + Duration::minutes(STATE_TTL_MINUTES),
        };
        let plain = serde_json::to_string(&state).map_err(|e| CrmError::Internal(e.to_string()))?;
        let state = self.crm.webhook_sealer().seal(&plain, STATE_CONTEXT)?.as_str().to_owned();
        let mut url = url::Url::parse(&provider.authorize_url)
            .map_err(|e| CrmError::Internal(format!("stored authorize URL is invalid: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect.as_str())
            .append_pair("scope", &provider.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(AuthorizationStart { authorize_url: url.to_string(), state })
    }

    /// Completes the flow: checks the `state` (sealed, unexpired, issued to this member in this
    /// tenant), exchanges the code with the PKCE verifier, and stores the connection with its
    /// tokens sealed. `Unauthenticated` when the state is forged or expired, or the provider
    /// refuses the code.
    pub async fn complete_authorization(&self, actor: &Actor, state: &str, code: &str) -> Result<ConnectionView> {
        actor.require(Permission::ManageIntegrations)?;
        let refused = || CrmError::Unauthenticated("the authorization state is invalid or expired".into());
        let plain = self
            .crm
            .webhook_sealer()
            .open(&SealedSecret::from_stored(state.to_owned()), STATE_CONTEXT)
            .map_err(|_| refused())?;
        let state: State = serde_json::from_str(&plain).map_err(|_| refused())?;
        let now = self.crm.clock().now();
        if state.expires_at < now
            || state.tenant != actor.tenant_id
            || actor.principal != Principal::Member(state.member)
        {
            return Err(refused());
        }
        if code.is_empty() || code.len() > 4096 {
            return Err(CrmError::invalid("code", "invalid", "the authorization code is missing"));
        }
        let repo = self.crm.store().integrations();
        let provider = repo.get_provider(actor.tenant_id, state.provider).await?;
        let request = OAuthTokenRequest::AuthorizationCode {
            token_url: provider.token_url.clone(),
            client_id: provider.client_id.clone(),
            client_secret: self.open(&provider.client_secret, &provider_context(provider.id))?,
            code: code.to_owned(),
            redirect_uri: state.redirect_uri,
            code_verifier: state.verifier,
        };
        let tokens = self.crm.oauth()?.token(&request).await?;
        let id = ConnectionId::new();
        let connection = Connection {
            id,
            tenant_id: actor.tenant_id,
            provider_id: provider.id,
            connected_by: state.member,
            status: ConnectionStatus::Active,
            access_token: self.seal(&tokens.access_token, &access_context(id))?,
            refresh_token: tokens.refresh_token.as_deref().map(|t| self.seal(t, &refresh_context(id))).transpose()?,
            expires_at: tokens.expires_at,
            scope: tokens.scope,
            sync_schedule: None,
            next_sync_at: None,
            last_sync_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = connection_event(actor, EventType::IntegrationConnected, &connection, &provider, now);
        repo.insert_connection(&connection, &[event]).await?;
        self.crm.wake_worker();
        Ok(ConnectionView::from(&connection))
    }

    /// The tenant's connections, newest first.
    pub async fn list_connections(&self, actor: &Actor, page: PageRequest) -> Result<Page<ConnectionView>> {
        actor.require(Permission::ManageIntegrations)?;
        let page = self.crm.store().integrations().list_connections(actor.tenant_id, page).await?;
        Ok(Page { items: page.items.iter().map(ConnectionView::from).collect(), next_cursor: page.next_cursor })
    }

    /// One connection.
    pub async fn get_connection(&self, actor: &Actor, id: ConnectionId) -> Result<ConnectionView> {
        actor.require(Permission::ManageIntegrations)?;
        Ok(ConnectionView::from(&self.crm.store().integrations().get_connection(actor.tenant_id, id).await?))
    }

    /// Sets (or, with `None`, removes) a connection's sync schedule: a cron expression in UTC,
    /// five fields (minute precision) or six (with seconds).
    pub async fn set_schedule(&self, actor: &Actor, id: ConnectionId, cron: Option<&str>) -> Result<ConnectionView> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().integrations();
        let mut connection = repo.get_connection(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let cron = cron.map(str::trim).filter(|c| !c.is_empty());
        connection.next_sync_at = cron.map(|c| super::sync::next_occurrence(c, now)).transpose()?;
        connection.sync_schedule = cron.map(str::to_owned);
        connection.version += 1;
        connection.updated_at = now;
        repo.update_connection(&connection, &[]).await?;
        Ok(ConnectionView::from(&connection))
    }

    /// Queues a sync now. Returns `false` when one is already queued or running (syncs of one
    /// connection never overlap, across every worker).
    pub async fn sync_now(&self, actor: &Actor, id: ConnectionId) -> Result<bool> {
        actor.require(Permission::ManageIntegrations)?;
        self.crm.store().integrations().get_connection(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let job = Job::SyncConnection { tenant_id: actor.tenant_id, connection_id: id, scheduled: false };
        let queued = self.crm.store().jobs().enqueue(job.to_new_job(now)?, now).await?;
        self.crm.wake_worker();
        Ok(queued.created)
    }

    /// A connection's sync logs, newest first.
    pub async fn sync_logs(&self, actor: &Actor, id: ConnectionId, page: PageRequest) -> Result<Page<SyncLog>> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().integrations();
        repo.get_connection(actor.tenant_id, id).await?;
        repo.list_sync_logs(actor.tenant_id, id, page).await
    }

    /// Disconnects: revokes the tokens at the provider (when it has a revocation endpoint; a
    /// failure there is logged, not fatal) and deletes the connection with its logs.
    pub async fn disconnect(&self, actor: &Actor, id: ConnectionId) -> Result<()> {
        actor.require(Permission::ManageIntegrations)?;
        let repo = self.crm.store().integrations();
        let connection = repo.get_connection(actor.tenant_id, id).await?;
        let provider = repo.get_provider(actor.tenant_id, connection.provider_id).await?;
        self.revoke(&provider, &connection).await;
        let now = self.crm.clock().now();
        let event = connection_event(actor, EventType::IntegrationDisconnected, &connection, &provider, now);
        repo.delete_connection(actor.tenant_id, id, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    async fn revoke(&self, provider: &OAuthProvider, connection: &Connection) {
        let Some(url) = &provider.revoke_url else { return };
        let Ok(oauth) = self.crm.oauth() else { return };
        let Ok(client_secret) = self.open(&provider.client_secret, &provider_context(provider.id)) else { return };
        let mut tokens = Vec::new();
        if let Some(refresh) = &connection.refresh_token {
            tokens.extend(self.open(refresh, &refresh_context(connection.id)).ok().map(|t| (t, "refresh_token")));
        }
        tokens.extend(
            self.open(&connection.access_token, &access_context(connection.id)).ok().map(|t| (t, "access_token")),
        );
        for (token, hint) in tokens {
            if let Err(error) = oauth.revoke(url, &provider.client_id, &client_secret, &token, hint).await {
                tracing::warn!(connection = %connection.id, %error, "token revocation failed; deleting anyway");
            }
        }
    }

    fn seal(&self, plain: &str, context: &str) -> Result<SealedSecret> {
        self.crm.webhook_sealer().seal(plain, context)
    }

    fn open(&self, sealed: &SealedSecret, context: &str) -> Result<String> {
        self.crm.webhook_sealer().open(sealed, context)
    }
}

/// `BASE64URL(SHA-256(verifier))` without padding (RFC 7636 S256).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::secret::sha256(verifier.as_bytes()))
}

pub(crate) fn provider_context(id: OAuthProviderId) -> String {
    format!("oauth provider {id}")
}

pub(crate) fn access_context(id: ConnectionId) -> String {
    format!("oauth access {id}")
}

pub(crate) fn refresh_context(id: ConnectionId) -> String {
    format!("oauth refresh {id}")
}

pub(crate) fn connection_event(
    actor: &Actor,
    event_type: EventType,
    connection: &Connection,
    provider: &OAuthProvider,
    now: DateTime<Utc>,
) -> DomainEvent {
    let subject = EntityRef { kind: EntityKind::Integration, id: connection.id.0 };
    let mut object = serde_json::to_value(ConnectionView::from(connection)).unwrap_or_default();
    if let Some(map) = object.as_object_mut() {
        map.insert("name".into(), json!(provider.name));
    }
    DomainEvent::new(actor, event_type, subject, json!({ "object": object }), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
