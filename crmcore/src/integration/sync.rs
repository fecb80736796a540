//! Sync runs: the scheduler that queues due syncs, and the sync job itself — a fresh access
//! token (refreshed before expiry, and again on a 401), the provider's contacts read and
//! upserted by e-mail, every run written to the sync log.

use std::str::FromStr as _;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::service::{access_context, connection_event, provider_context, refresh_context};
use super::{Connection, ConnectionStatus, OAuthProvider, SyncLog, SyncStatus};
use crate::actor::Actor;
use crate::contact::{ContactFilter, ContactPatch, NewContact};
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::event::EventType;
use crate::id::{ConnectionId, SyncLogId, TenantId};
use crate::jobs::Job;
use crate::page::PageRequest;
use crate::ports::OAuthTokenRequest;

/// Refresh an access token this long before it expires.
const REFRESH_MARGIN_SECS: i64 = 60;
/// Most records one sync reads.
const MAX_RECORDS: usize = 50_000;
/// Most errors one log keeps.
const MAX_ERRORS: usize = 100;
/// Due connections queued per scheduler pass.
const SCHEDULE_BATCH: u32 = 100;

/// The first time `cron` (UTC; 5 fields, or 6 with seconds) fires after `after`.
pub fn next_occurrence(cron: &str, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let invalid = |why: String| CrmError::invalid("sync_schedule", "invalid", why);
    let parsed =
        croner::Cron::from_str(cron).map_err(|e| invalid(format!("`{cron}` is not a cron expression: {e}")))?;
    // Whole seconds: cron times have no fraction.
    let after = chrono::SubsecRound::trunc_subsecs(after, 0);
    parsed.find_next_occurrence(&after, false).map_err(|e| invalid(format!("`{cron}` never fires: {e}")))
}

/// Queues a sync job (due at `now`) for every connection whose scheduled time has come, and moves its
/// `next_sync_at` on. The job's dedupe key keeps one sync per connection queued or running.
pub(crate) async fn schedule_due(crm: &Crm, now: DateTime<Utc>) -> Result<usize> {
    let repo = crm.store().integrations();
    let due = repo.due_connections(now, SCHEDULE_BATCH).await?;
    for mut connection in due.iter().cloned() {
        let job =
            Job::SyncConnection { tenant_id: connection.tenant_id, connection_id: connection.id, scheduled: true };
        crm.store().jobs().enqueue(job.to_new_job(now)?, now).await?;
        connection.next_sync_at = match &connection.sync_schedule {
            Some(cron) => next_occurrence(cron, now).ok(),
            None => None,
        };
        connection.version += 1;
        connection.updated_at = now;
        match repo.update_connection(&connection, &[]).await {
            // Another worker moved it on first: its job is the same dedupe key.
            Ok(()) | Err(CrmError::Conflict { .. } | CrmError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(due.len())
}

/// Runs one sync of a connection, writing its log. A connection gone meanwhile is no error.
pub(crate) async fn run(crm: &Crm, tenant: TenantId, id: ConnectionId, scheduled: bool) -> Result<()> {
    let repo = crm.store().integrations();
    let mut connection = match repo.get_connection(tenant, id).await {
        Ok(c) => c,
        Err(CrmError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let provider = repo.get_provider(tenant, connection.provider_id).await?;
    let mut log = SyncLog {
        id: SyncLogId::new(),
        tenant_id: tenant,
        connection_id: id,
        trigger: if scheduled { "schedule" } else { "manual" }.to_owned(),
        started_at: crm.clock().now(),
        finished_at: None,
        status: SyncStatus::Running,
        records: 0,
        created: 0,
        updated: 0,
        errors: Vec::new(),
    };
    repo.insert_sync_log(&log).await?;
    let outcome = import(crm, &mut connection, &provider, &mut log).await;
    let now = crm.clock().now();
    log.finished_at = Some(now);
    let event_type = match &outcome {
        Ok(()) => {
            log.status = SyncStatus::Succeeded;
            EventType::IntegrationSynced
        }
        Err(error) => {
            log.status = SyncStatus::Failed;
            push_error(&mut log, error.to_string());
            EventType::IntegrationSyncFailed
        }
    };
    repo.update_sync_log(&log).await?;
    // Reload: a token refresh inside `import` bumped the version.
    let mut current = repo.get_connection(tenant, id).await?;
    current.last_sync_at = Some(now);
    if matches!(outcome, Err(CrmError::Unauthenticated(_))) {
        current.status = ConnectionStatus::Reauthorize;
    }
    current.version += 1;
    current.updated_at = now;
    let mut event = connection_event(&Actor::system(tenant), event_type, &current, &provider, now);
    if let Some(data) = event.data.as_object_mut() {
        data.insert(
            "sync".into(),
            json!({"log_id": log.id, "records": log.records, "created": log.created, "updated": log.updated,
                   "errors": log.errors.len()}),
        );
    }
    repo.update_connection(&current, &[event]).await?;
    crm.wake_worker();
    Ok(())
}

fn push_error(log: &mut SyncLog, error: String) {
    if log.errors.len() < MAX_ERRORS {
        log.errors.push(error);
    }
}

/// Reads the provider's records with a fresh token (refreshing once more on a 401) and upserts
/// them as contacts.
async fn import(crm: &Crm, connection: &mut Connection, provider: &OAuthProvider, log: &mut SyncLog) -> Result<()> {
    let Some(url) = &provider.sync_url else {
        return Err(CrmError::invalid("sync_url", "required", "the provider has no sync URL"));
    };
    let oauth = crm.oauth()?;
    let token = fresh_token(crm, connection, provider, false).await?;
    let body = match oauth.get_json(url, &token).await {
        Err(CrmError::Unauthenticated(_)) => {
            let token = fresh_token(crm, connection, provider, true).await?;
            oauth.get_json(url, &token).await?
        }
        other => other?,
    };
    let items = match &body {
        Value::Array(items) => items,
        Value::Object(map) => map
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| CrmError::invalid("sync", "invalid", "the provider answered an object without `items`"))?,
        _ => return Err(CrmError::invalid("sync", "invalid", "the provider answered neither a list nor `items`")),
    };
    let actor = Actor::system(connection.tenant_id);
    for (i, item) in items.iter().take(MAX_RECORDS).enumerate() {
        log.records += 1;
        match upsert(crm, &actor, item).await {
            Ok(true) => log.created += 1,
            Ok(false) => log.updated += 1,
            Err(error) => push_error(log, format!("record {i}: {error}")),
        }
    }
    Ok(())
}

/// Creates the contact, or updates the one with its e-mail; `true` when created.
async fn upsert(crm: &Crm, actor: &Actor, item: &Value) -> Result<bool> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let email = text("email").ok_or_else(|| CrmError::invalid("email", "required", "records need an e-mail"))?;
    let input = NewContact {
        email: Some(email.clone()),
        first_name: text("first_name"),
        last_name: text("last_name"),
        company: text("company"),
        phone: text("phone"),
        ..NewContact::default()
    };
    match crm.contacts().create(actor, input).await {
        Ok(_) => Ok(true),
        Err(CrmError::Conflict { .. }) => {
            let filter = ContactFilter { search: Some(email.clone()), ..ContactFilter::default() };
            let found = crm.contacts().list(actor, &filter, PageRequest::first(20)).await?;
            let existing = found
                .items
                .into_iter()
                .find(|c| c.email.as_ref().is_some_and(|e| e.as_str().eq_ignore_ascii_case(&email)))
                .ok_or_else(|| CrmError::Internal(format!("contact {email} conflicts but cannot be found")))?;
            let patch = ContactPatch {
                first_name: text("first_name").map(Some),
                last_name: text("last_name").map(Some),
                company: text("company").map(Some),
                phone: text("phone").map(Some),
                ..ContactPatch::default()
            };
            crm.contacts().update(actor, existing.id, patch).await?;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// The connection's access token, refreshed first when it expires within the margin or when
/// `force` (after a 401). A refused refresh is `Unauthenticated`.
async fn fresh_token(crm: &Crm, connection: &mut Connection, provider: &OAuthProvider, force: bool) -> Result<String> {
    let sealer = crm.webhook_sealer();
    let now = crm.clock().now();
    let expiring = connection.expires_at.is_some_and(|at| at <= now + Duration::seconds(REFRESH_MARGIN_SECS));
    if !(force || expiring) {
        return sealer.open(&connection.access_token, &access_context(connection.id));
    }
    let Some(refresh) = &connection.refresh_token else {
        return Err(CrmError::Unauthenticated("the access token expired and there is no refresh token".into()));
    };
    let request = OAuthTokenRequest::Refresh {
        token_url: provider.token_url.clone(),
        client_id: provider.client_id.clone(),
        client_secret: sealer.open(&provider.client_secret, &provider_context(provider.id))?,
        refresh_token: sealer.open(refresh, &refresh_context(connection.id))?,
    };
    let tokens = crm.oauth()?.token(&request).await?;
    connection.access_token = sealer.seal(&tokens.access_token, &access_context(connection.id))?;
    if let Some(rotated) = &tokens.refresh_token {
        connection.refresh_token = Some(sealer.seal(rotated, &refresh_context(connection.id))?);
    }
    connection.expires_at = tokens.expires_at;
    if tokens.scope.is_some() {
        connection.scope = tokens.scope;
    }
    connection.status = ConnectionStatus::Active;
    connection.version += 1;
    connection.updated_at = now;
    crm.store().integrations().update_connection(connection, &[]).await?;
    Ok(tokens.access_token)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cron_schedules_fire_after_the_given_time() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 30).unwrap();
        assert_eq!(next_occurrence("*/15 * * * *", t).unwrap(), Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap());
        assert_eq!(next_occurrence("0 3 * * *", t).unwrap(), Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap());
        assert_eq!(next_occurrence("*/10 * * * * *", t).unwrap(), Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 40).unwrap());
        let fractional = t + Duration::milliseconds(500);
        assert_eq!(next_occurrence("* * * * * *", fractional).unwrap(), t + Duration::seconds(1));
        assert!(next_occurrence("every day", t).is_err());
        assert!(next_occurrence("61 * * * *", t).is_err());
    }
}
