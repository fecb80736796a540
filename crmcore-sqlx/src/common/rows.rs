//! Adapter-private row structs and their conversion into domain values. Domain types never
//! derive `FromRow`; a row that does not convert (corrupt data) is an `Internal` error, not a panic.
//!
//! The structs derive `FromRow` generically, so the same struct decodes from SQLite and
//! PostgreSQL: the column types ([`DbId`], [`DbTime`], `Json`) decode from either.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use crmcore::actor::{Principal, Role};
use crmcore::contact::Contact;
use crmcore::deal::{Deal, DealStatus, StageChange};
use crmcore::event::{DomainEvent, OutboxEntry};
use crmcore::member::Member;
use crmcore::ports::{ApiKey, ClaimedJob, JobRecord, JobState, RefreshToken};
use crmcore::tenant::Tenant;
use crmcore::value::{Currency, CustomFields, EmailAddress, Handle, Money, Tag};
use crmcore::{CrmError, Result};
use serde_json::Value;
use sqlx::types::Json;

use super::error::corrupt;
use super::types::{DbId, DbTime};

fn parse<T: std::str::FromStr<Err = CrmError>>(what: &str, raw: &str) -> Result<T> {
    raw.parse().map_err(|e| corrupt(what, e))
}

fn count(what: &str, n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|e| corrupt(what, e))
}

/// `tenants`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub(crate) id: DbId,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) created_at: DbTime,
}

impl TenantRow {
    pub(crate) fn into_domain(self) -> Tenant {
        Tenant { id: self.id.0.into(), name: self.name, slug: self.slug, created_at: self.created_at.0 }
    }
}

/// `members`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) handle: String,
    pub(crate) display_name: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) active: bool,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl MemberRow {
    pub(crate) fn into_domain(self) -> Result<Member> {
        Ok(Member {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            handle: Handle::parse(&self.handle).map_err(|e| corrupt("member handle", e))?,
            display_name: self.display_name,
            email: EmailAddress::parse(&self.email).map_err(|e| corrupt("member email", e))?,
            role: parse::<Role>("member role", &self.role)?,
            active: self.active,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// A member who may sign in, with their tenant and password hash (columns prefixed `t_`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LoginRow {
    #[sqlx(flatten)]
    pub(crate) member: MemberRow,
    pub(crate) t_id: DbId,
    pub(crate) t_name: String,
    pub(crate) t_slug: String,
    pub(crate) t_created_at: DbTime,
    pub(crate) password_hash: String,
}

impl LoginRow {
    pub(crate) fn into_domain(self) -> Result<crmcore::ports::LoginCandidate> {
        let tenant = TenantRow { id: self.t_id, name: self.t_name, slug: self.t_slug, created_at: self.t_created_at };
        Ok(crmcore::ports::LoginCandidate {
            tenant: tenant.into_domain(),
            member: self.member.into_domain()?,
            password_hash: self.password_hash,
        })
    }
}

/// `contacts`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContactRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) email: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) company: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) owner_id: Option<DbId>,
    pub(crate) tags: Json<Vec<String>>,
    pub(crate) custom_fields: Json<BTreeMap<String, Value>>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl ContactRow {
    pub(crate) fn into_domain(self) -> Result<Contact> {
        let tags = self
            .tags
            .0
            .iter()
            .map(|t| Tag::parse(t).map_err(|e| corrupt("contact tag", e)))
            .collect::<Result<BTreeSet<Tag>>>()?;
        Ok(Contact {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            email: self.email.map(|e| EmailAddress::parse(&e).map_err(|e| corrupt("contact email", e))).transpose()?,
            first_name: self.first_name,
            last_name: self.last_name,
            company: self.company,
            phone: self.phone,
            owner_id: self.owner_id.map(|o| o.0.into()),
            tags,
            custom_fields: CustomFields::new(self.custom_fields.0).map_err(|e| corrupt("custom fields", e))?,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// The derived columns written with a contact: JSON copies and lowercased search fields.
#[derive(Debug)]
pub(crate) struct ContactWrite {
    pub(crate) tags: Json<Vec<String>>,
    pub(crate) custom_fields: Json<BTreeMap<String, Value>>,
    pub(crate) email_lc: Option<String>,
    pub(crate) first_name_lc: Option<String>,
    pub(crate) last_name_lc: Option<String>,
    pub(crate) company_lc: Option<String>,
}

impl ContactWrite {
    pub(crate) fn of(c: &Contact) -> Self {
        use super::search::lowered;
        Self {
            tags: Json(c.tags.iter().map(|t| t.as_str().to_owned()).collect()),
            custom_fields: Json(c.custom_fields.as_map().clone()),
            email_lc: lowered(c.email.as_ref().map(EmailAddress::as_str)),
            first_name_lc: lowered(c.first_name.as_deref()),
            last_name_lc: lowered(c.last_name.as_deref()),
            company_lc: lowered(c.company.as_deref()),
        }
    }
}

/// `deals`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DealRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) title: String,
    pub(crate) contact_id: Option<DbId>,
    pub(crate) owner_id: Option<DbId>,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    pub(crate) stage: String,
    pub(crate) probability: i64,
    pub(crate) expected_close: Option<NaiveDate>,
    pub(crate) status: String,
    pub(crate) closed_at: Option<DbTime>,
    pub(crate) lost_reason: Option<String>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl DealRow {
    pub(crate) fn into_domain(self) -> Result<Deal> {
        let currency = Currency::parse(&self.currency).map_err(|e| corrupt("deal currency", e))?;
        Ok(Deal {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            title: self.title,
            contact_id: self.contact_id.map(|c| c.0.into()),
            owner_id: self.owner_id.map(|o| o.0.into()),
            amount: Money::new(self.amount_minor, currency).map_err(|e| corrupt("deal amount", e))?,
            stage: self.stage,
            probability: u8::try_from(self.probability).map_err(|e| corrupt("deal probability", e))?,
            expected_close: self.expected_close,
            status: parse::<DealStatus>("deal status", &self.status)?,
            closed_at: self.closed_at.map(|t| t.0),
            lost_reason: self.lost_reason,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// `deal_stage_history`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StageChangeRow {
    pub(crate) tenant_id: DbId,
    pub(crate) deal_id: DbId,
    pub(crate) from_stage: Option<String>,
    pub(crate) to_stage: String,
    pub(crate) changed_at: DbTime,
    pub(crate) changed_by: Json<Principal>,
}

impl StageChangeRow {
    pub(crate) fn into_domain(self) -> StageChange {
        StageChange {
            deal_id: self.deal_id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            from_stage: self.from_stage,
            to_stage: self.to_stage,
            changed_at: self.changed_at.0,
            changed_by: self.changed_by.0,
        }
    }
}

/// `api_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) secret_hash: String,
    pub(crate) role: String,
    pub(crate) created_by: Option<DbId>,
    pub(crate) created_at: DbTime,
    pub(crate) expires_at: Option<DbTime>,
    pub(crate) revoked_at: Option<DbTime>,
}

impl ApiKeyRow {
    pub(crate) fn into_domain(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            name: self.name,
            prefix: self.prefix,
            secret_hash: self.secret_hash,
            role: parse::<Role>("api key role", &self.role)?,
            created_by: self.created_by.map(|m| m.0.into()),
            created_at: self.created_at.0,
            expires_at: self.expires_at.map(|t| t.0),
            revoked_at: self.revoked_at.map(|t| t.0),
        })
    }
}

/// `refresh_tokens`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    pub(crate) id: DbId,
    pub(crate) family_id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) member_id: DbId,
    pub(crate) token_hash: String,
    pub(crate) issued_at: DbTime,
    pub(crate) expires_at: DbTime,
    pub(crate) used_at: Option<DbTime>,
    pub(crate) revoked_at: Option<DbTime>,
}

impl RefreshTokenRow {
    pub(crate) fn into_domain(self) -> RefreshToken {
        RefreshToken {
            id: self.id.0.into(),
            family_id: self.family_id.0,
            tenant_id: self.tenant_id.0.into(),
            member_id: self.member_id.0.into(),
            token_hash: self.token_hash,
            issued_at: self.issued_at.0,
            expires_at: self.expires_at.0,
            used_at: self.used_at.map(|t| t.0),
            revoked_at: self.revoked_at.map(|t| t.0),
        }
    }
}

/// `outbox`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    pub(crate) event_id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) event_type: String,
    pub(crate) occurred_at: DbTime,
    pub(crate) actor: Json<Principal>,
    pub(crate) subject_kind: String,
    pub(crate) subject_id: DbId,
    pub(crate) data: Json<Value>,
    pub(crate) dispatched_at: Option<DbTime>,
}

impl OutboxRow {
    pub(crate) fn into_domain(self) -> Result<OutboxEntry> {
        Ok(OutboxEntry {
            seq: self.seq,
            event: DomainEvent {
                id: self.event_id.0.into(),
                tenant_id: self.tenant_id.0.into(),
                event_type: parse("event type", &self.event_type)?,
                occurred_at: self.occurred_at.0,
                actor: self.actor.0,
                subject: crmcore::event::EntityRef {
                    kind: parse("event subject kind", &self.subject_kind)?,
                    id: self.subject_id.0,
                },
                data: self.data.0,
            },
            dispatched_at: self.dispatched_at.map(|t| t.0),
        })
    }
}

/// Columns selected for an outbox entry.
pub(crate) const OUTBOX_COLUMNS: &str = "seq, event_id, tenant_id, event_type, occurred_at, actor, subject_kind, \
                                         subject_id, data, dispatched_at";

/// `jobs`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    pub(crate) id: DbId,
    pub(crate) kind: String,
    pub(crate) payload: Json<Value>,
    pub(crate) tenant_id: Option<DbId>,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) max_attempts: i64,
    pub(crate) run_at: DbTime,
    pub(crate) lease_id: Option<DbId>,
    pub(crate) lease_expires_at: Option<DbTime>,
    pub(crate) dedupe_key: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
}

/// Columns selected for a job.
pub(crate) const JOB_COLUMNS: &str = "id, kind, payload, tenant_id, state, attempts, max_attempts, run_at, lease_id, \
                                      lease_expires_at, dedupe_key, last_error, created_at, updated_at";

impl JobRow {
    pub(crate) fn into_record(self) -> Result<JobRecord> {
        Ok(JobRecord {
            id: self.id.0.into(),
            kind: self.kind,
            payload: self.payload.0,
            tenant_id: self.tenant_id.map(|t| t.0.into()),
            state: parse::<JobState>("job state", &self.state)?,
            attempts: count("job attempts", self.attempts)?,
            max_attempts: count("job max_attempts", self.max_attempts)?,
            run_at: self.run_at.0,
            dedupe_key: self.dedupe_key,
            last_error: self.last_error,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }

    pub(crate) fn into_claimed(self) -> Result<ClaimedJob> {
        let (Some(lease), Some(until)) = (self.lease_id, self.lease_expires_at) else {
            return Err(corrupt("job lease", "claimed job without a lease"));
        };
        Ok(ClaimedJob {
            id: self.id.0.into(),
            kind: self.kind,
            payload: self.payload.0,
            tenant_id: self.tenant_id.map(|t| t.0.into()),
            attempt: count("job attempts", self.attempts)?,
            max_attempts: count("job max_attempts", self.max_attempts)?,
            lease: lease.0.into(),
            lease_expires_at: until.0,
        })
    }
}

/// Columns selected for a member.
pub(crate) const MEMBER_COLUMNS: &str =
    "tenant_id, id, handle, display_name, email, role, active, created_at, updated_at, version";

/// Columns selected for a contact.
pub(crate) const CONTACT_COLUMNS: &str = "tenant_id, id, email, first_name, last_name, company, phone, owner_id, \
                                          tags, custom_fields, created_at, updated_at, version";

/// Columns selected for a deal.
pub(crate) const DEAL_COLUMNS: &str = "tenant_id, id, title, contact_id, owner_id, amount_minor, currency, stage, \
                                       probability, expected_close, status, closed_at, lost_reason, created_at, \
                                       updated_at, version";

/// Columns selected for an API key.
pub(crate) const API_KEY_COLUMNS: &str =
    "id, tenant_id, name, prefix, secret_hash, role, created_by, created_at, expires_at, revoked_at";

/// Columns selected for a refresh token.
pub(crate) const REFRESH_TOKEN_COLUMNS: &str =
    "id, family_id, tenant_id, member_id, token_hash, issued_at, expires_at, used_at, revoked_at";

/// Queue stats from counts `[due, scheduled, running, dead]` and the oldest due `run_at`.
pub(crate) fn queue_stats(
    now: chrono::DateTime<chrono::Utc>,
    counts: [i64; 4],
    oldest_due: Option<chrono::DateTime<chrono::Utc>>,
) -> crmcore::ports::QueueStats {
    let n = |x: i64| u64::try_from(x).unwrap_or(0);
    crmcore::ports::QueueStats {
        due: n(counts[0]),
        scheduled: n(counts[1]),
        running: n(counts[2]),
        dead: n(counts[3]),
        oldest_due_age_secs: oldest_due.map_or(0, |t| n((now - t).num_seconds())),
    }
}
