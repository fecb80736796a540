//! Adapter-private row structs and their conversion into domain values. Domain types never
//! derive `FromRow`; a row that does not convert (corrupt data) is an `Internal` error, not a panic.
//!
//! The structs derive `FromRow` generically, so the same struct decodes from SQLite and
//! PostgreSQL: the column types ([`DbId`], [`DbTime`], `Json`) decode from either.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use crmcore::actor::{Principal, Role};
use crmcore::analytics::{DealFacts, DealSnapshot, StageEntry};
use crmcore::contact::Contact;
use crmcore::deal::{Deal, DealStatus, StageChange};
use crmcore::document::{
    Access, AuditAction, AuditEntry, Category, Document, DocumentTemplate, DocumentVersion, MemberGrant, ShareLink,
    TextStatus, Visibility,
};
use crmcore::event::{DomainEvent, EntityRef, OutboxEntry};
use crmcore::integration::{Connection, ConnectionStatus, OAuthProvider, PayloadFormat, SyncLog, SyncStatus};
use crmcore::member::Member;
use crmcore::ports::{ApiKey, BlobKey, ClaimedJob, JobRecord, JobState, RefreshToken};
use crmcore::tenant::Tenant;
use crmcore::value::{Currency, CustomFields, EmailAddress, Handle, Money, Tag};
use crmcore::webhook::{
    CircuitState, DeliveryAttempt, DeliveryStatus, EndpointSecrets, ErrorClass, EventFilter, PayloadFilter,
    SealedSecret, WebhookDelivery, WebhookEndpoint, WebhookUrl,
};
use crmcore::{CrmError, Result};
use serde_json::Value;
use sqlx::types::Json;

use super::error::corrupt;
use super::types::{DbId, DbTime, ExactJson};

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

/// The analytics columns of `deals` ([`DEAL_FACTS_COLUMNS`]); strings borrowed from the row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DealFactsRow<'r> {
    pub(crate) id: DbId,
    pub(crate) owner_id: Option<DbId>,
    pub(crate) amount_minor: i64,
    pub(crate) currency: &'r str,
    pub(crate) stage: &'r str,
    pub(crate) probability: i64,
    pub(crate) expected_close: Option<NaiveDate>,
    pub(crate) status: &'r str,
    pub(crate) closed_at: Option<DbTime>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
}

impl DealFactsRow<'_> {
    /// Appends the deal to a snapshot (interning its stage key).
    pub(crate) fn push_into(self, snapshot: &mut DealSnapshot) -> Result<()> {
        let currency = Currency::parse(self.currency).map_err(|e| corrupt("deal currency", e))?;
        let facts = DealFacts {
            id: self.id.0.into(),
            owner_id: self.owner_id.map(|o| o.0.into()),
            amount: Money::new(self.amount_minor, currency).map_err(|e| corrupt("deal amount", e))?,
            stage: snapshot.stage_ref(self.stage),
            probability: u8::try_from(self.probability).map_err(|e| corrupt("deal probability", e))?,
            status: parse::<DealStatus>("deal status", self.status)?,
            expected_close: self.expected_close,
            closed_at: self.closed_at.map(|t| t.0),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        };
        snapshot.deals.push(facts);
        Ok(())
    }
}

/// SQLite's snapshot reads chunks of deals and history packed into a few large text values:
/// sqlx hands SQLite rows over one by one through a channel from a worker thread (microseconds
/// a row, more than decoding them), so 400,000 rows cost seconds and a dozen packed rows do not.
#[cfg(feature = "sqlite")]
pub(crate) mod packed {
    use chrono::NaiveDate;
    use crmcore::analytics::{DealFacts, DealSnapshot, StageEntry};
    use crmcore::value::{Currency, Money};

    use crate::common::types::parse_time_text;

    /// The separator of [`PackedDealsRow`] and [`PackedEntriesRow`] values: ASCII unit separator.
    pub(crate) const PACK_SEPARATOR: char = '\u{1f}';

    /// A chunk of deals packed by `group_concat`, one column per field, values joined by
    /// [`PACK_SEPARATOR`] in id order, `NULL`s as empty strings.
    #[derive(Debug, sqlx::FromRow)]
    pub(crate) struct PackedDealsRow<'r> {
        pub(crate) n: i64,
        pub(crate) ids: Option<&'r str>,
        pub(crate) owner_ids: Option<&'r str>,
        pub(crate) amounts: Option<&'r str>,
        pub(crate) currencies: Option<&'r str>,
        pub(crate) stages: Option<&'r str>,
        pub(crate) probabilities: Option<&'r str>,
        pub(crate) expected_closes: Option<&'r str>,
        pub(crate) statuses: Option<&'r str>,
        pub(crate) closed_ats: Option<&'r str>,
        pub(crate) created_ats: Option<&'r str>,
        pub(crate) updated_ats: Option<&'r str>,
    }

    /// A chunk of stage-history entries packed like [`PackedDealsRow`], in (deal id, seq) order.
    #[derive(Debug, sqlx::FromRow)]
    pub(crate) struct PackedEntriesRow<'r> {
        pub(crate) n: i64,
        pub(crate) deal_ids: Option<&'r str>,
        pub(crate) seqs: Option<&'r str>,
        pub(crate) stages: Option<&'r str>,
        pub(crate) changed_ats: Option<&'r str>,
    }

    /// The values of one packed column.
    fn unpack(column: Option<&str>) -> std::str::Split<'_, char> {
        column.unwrap_or_default().split(PACK_SEPARATOR)
    }

    fn unpack_id(text: &str) -> Option<uuid::Uuid> {
        uuid::Uuid::try_parse(text).ok()
    }

    fn unpack_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_time_text(text).or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()))
    }

    /// An empty value is `NULL`; `Some(None)` only for it.
    fn unpack_opt<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
        if text.is_empty() { Some(None) } else { parse(text).map(Some) }
    }

    impl PackedDealsRow<'_> {
        /// Appends the chunk's deals to `snapshot` and returns the last id so far. `None` — and the caller
        /// reads row by row instead — when anything does not unpack: a value holding the separator,
        /// a count mismatch, ids out of order, or a value that does not parse (the row path then
        /// reports it as corrupt).
        pub(crate) fn unpack_into(
            &self,
            snapshot: &mut DealSnapshot,
            after: Option<uuid::Uuid>,
        ) -> Option<Option<uuid::Uuid>> {
            if self.n == 0 {
                return Some(after);
            }
            let mut columns = [
                unpack(self.ids),
                unpack(self.owner_ids),
                unpack(self.amounts),
                unpack(self.currencies),
                unpack(self.stages),
                unpack(self.probabilities),
                unpack(self.expected_closes),
                unpack(self.statuses),
                unpack(self.closed_ats),
                unpack(self.created_ats),
                unpack(self.updated_ats),
            ];
            let mut last = after;
            for _ in 0..self.n {
                let [id, owner, amount, currency, stage, probability, close, status, closed, created, updated] =
                    columns.each_mut().map(|c| c.next());
                let id = unpack_id(id?)?;
                if last.is_some_and(|l| l >= id) {
                    return None;
                }
                last = Some(id);
                let currency = Currency::parse(currency?).ok()?;
                let facts = DealFacts {
                    id: id.into(),
                    owner_id: unpack_opt(owner?, unpack_id)?.map(Into::into),
                    amount: Money::new(amount?.parse().ok()?, currency).ok()?,
                    stage: snapshot.stage_ref(stage?),
                    probability: probability?.parse().ok()?,
                    status: status?.parse().ok()?,
                    expected_close: unpack_opt(close?, |d| d.parse::<NaiveDate>().ok())?,
                    closed_at: unpack_opt(closed?, unpack_time)?,
                    created_at: unpack_time(created?)?,
                    updated_at: unpack_time(updated?)?,
                };
                snapshot.deals.push(facts);
            }
            // Every column is used up: no value held a separator.
            columns.iter_mut().all(|c| c.next().is_none()).then_some(last)
        }
    }

    impl PackedEntriesRow<'_> {
        /// Appends the chunk's entries to `snapshot` and returns the last (deal id, seq); `None` as
        /// for [`PackedDealsRow::unpack_into`].
        pub(crate) fn unpack_into(
            &self,
            snapshot: &mut DealSnapshot,
            after: Option<(uuid::Uuid, i64)>,
        ) -> Option<Option<(uuid::Uuid, i64)>> {
            if self.n == 0 {
                return Some(after);
            }
            let mut columns = [unpack(self.deal_ids), unpack(self.seqs), unpack(self.stages), unpack(self.changed_ats)];
            let mut last = after;
            for _ in 0..self.n {
                let [deal_id, seq, stage, changed_at] = columns.each_mut().map(|c| c.next());
                let key = (unpack_id(deal_id?)?, seq?.parse::<i64>().ok()?);
                if last.is_some_and(|l| l >= key) {
                    return None;
                }
                last = Some(key);
                let stage = snapshot.stage_ref(stage?);
                snapshot.entries.push(StageEntry { deal_id: key.0.into(), stage, at: unpack_time(changed_at?)? });
            }
            columns.iter_mut().all(|c| c.next().is_none()).then_some(last)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn deals(n: i64, ids: &'static str, stages: &'static str) -> PackedDealsRow<'static> {
            let each = |v: &'static str| Some(v);
            PackedDealsRow {
                n,
                ids: Some(ids),
                owner_ids: each("\u{1f}"),
                amounts: each("100\u{1f}0"),
                currencies: each("EUR\u{1f}EUR"),
                stages: Some(stages),
                probabilities: each("10\u{1f}100"),
                expected_closes: each("2026-03-01\u{1f}"),
                statuses: each("open\u{1f}won"),
                closed_ats: each("\u{1f}2026-01-02T03:04:05.000006Z"),
                created_ats: each("2025-01-02T03:04:05.000000Z\u{1f}2025-01-02T03:04:05+00:00"),
                updated_ats: each("2025-01-02T03:04:05.000000Z\u{1f}2026-01-02T03:04:05.000006Z"),
            }
        }

        const IDS: &str = "01900000-0000-7000-8000-000000000001\u{1f}01900000-0000-7000-8000-000000000002";

        #[test]
        fn packed_deals_unpack_with_nulls_and_both_time_forms() {
            let mut snapshot = DealSnapshot::default();
            let last = deals(2, IDS, "lead\u{1f}won").unpack_into(&mut snapshot, None).expect("unpacks");
            assert_eq!(last.map(|id| id.to_string()).as_deref(), Some("01900000-0000-7000-8000-000000000002"));
            let [open, won] = [snapshot.deals[0], snapshot.deals[1]];
            assert_eq!((open.owner_id, open.amount.amount_minor, open.closed_at), (None, 100, None));
            assert_eq!(open.expected_close, NaiveDate::from_ymd_opt(2026, 3, 1));
            assert_eq!((won.expected_close, won.probability), (None, 100));
            assert_eq!(won.created_at, open.created_at);
            assert_eq!(snapshot.stage_key(won.stage), Some("won"));
        }

        #[test]
        fn anything_odd_falls_back_to_rows() {
            let mut snapshot = DealSnapshot::default();
            // A stage key holding the separator: one value too many.
            assert_eq!(deals(2, IDS, "lead\u{1f}clo\u{1f}sed").unpack_into(&mut snapshot, None), None);
            // Ids out of order.
            let backwards = "01900000-0000-7000-8000-000000000002\u{1f}01900000-0000-7000-8000-000000000001";
            assert_eq!(deals(2, backwards, "lead\u{1f}won").unpack_into(&mut DealSnapshot::default(), None), None);
            // Fewer values than the count.
            assert_eq!(deals(3, IDS, "lead\u{1f}won").unpack_into(&mut DealSnapshot::default(), None), None);
            // An empty chunk unpacks to nothing.
            let empty = PackedEntriesRow { n: 0, deal_ids: None, seqs: None, stages: None, changed_ats: None };
            assert_eq!(empty.unpack_into(&mut snapshot, None), Some(None));
        }
    }
}

/// The analytics columns of `deal_stage_history` ([`STAGE_ENTRY_COLUMNS`]).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StageEntryRow<'r> {
    pub(crate) deal_id: DbId,
    pub(crate) to_stage: &'r str,
    pub(crate) changed_at: DbTime,
}

impl StageEntryRow<'_> {
    /// Appends the entry to a snapshot (interning its stage key).
    pub(crate) fn push_into(self, snapshot: &mut DealSnapshot) {
        let stage = snapshot.stage_ref(self.to_stage);
        snapshot.entries.push(StageEntry { deal_id: self.deal_id.0.into(), stage, at: self.changed_at.0 });
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

/// `webhook_endpoints`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookEndpointRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) event_types: Json<EventFilter>,
    pub(crate) payload_filter: Json<PayloadFilter>,
    pub(crate) headers: Json<BTreeMap<String, String>>,
    pub(crate) rate_limit_per_second: Option<i64>,
    pub(crate) test_mode: bool,
    pub(crate) enabled: bool,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) secret_current: String,
    pub(crate) secret_previous: Option<String>,
    pub(crate) secret_previous_until: Option<DbTime>,
    pub(crate) consecutive_failures: i64,
    pub(crate) open_until: Option<DbTime>,
    pub(crate) openings: i64,
    pub(crate) failing_since: Option<DbTime>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
    pub(crate) format: String,
}

impl WebhookEndpointRow {
    pub(crate) fn into_domain(self) -> Result<WebhookEndpoint> {
        Ok(WebhookEndpoint {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            // Stored normalised by the same parser; `http` passes here because the tenant's
            // policy was applied when the URL was accepted.
            url: WebhookUrl::parse(&self.url, true).map_err(|e| corrupt("webhook endpoint url", e))?,
            description: self.description,
            event_types: self.event_types.0,
            payload_filter: self.payload_filter.0,
            headers: self.headers.0,
            rate_limit_per_second: self
                .rate_limit_per_second
                .map(|r| count("webhook endpoint rate limit", r))
                .transpose()?,
            test_mode: self.test_mode,
            format: PayloadFormat::parse(&self.format).map_err(|e| corrupt("webhook endpoint format", e))?,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            secrets: EndpointSecrets {
                current: SealedSecret::from_stored(self.secret_current),
                previous: self.secret_previous.map(SealedSecret::from_stored),
                previous_until: self.secret_previous_until.map(|t| t.0),
            },
            circuit: CircuitState {
                consecutive_failures: count("webhook endpoint failures", self.consecutive_failures)?,
                open_until: self.open_until.map(|t| t.0),
                openings: count("webhook endpoint openings", self.openings)?,
                failing_since: self.failing_since.map(|t| t.0),
            },
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// Columns selected for a webhook endpoint, in [`WebhookEndpointRow`] order.
pub(crate) const WEBHOOK_ENDPOINT_COLUMNS: &str = "tenant_id, id, url, description, event_types, payload_filter, \
                                                   headers, rate_limit_per_second, test_mode, enabled, \
                                                   disabled_reason, secret_current, secret_previous, \
                                                   secret_previous_until, consecutive_failures, open_until, openings, \
                                                   failing_since, created_at, updated_at, version, format";

/// `webhook_deliveries` (the lease columns stay in the store).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookDeliveryRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) endpoint_id: DbId,
    pub(crate) event_id: DbId,
    pub(crate) event_type: String,
    pub(crate) payload: Option<String>,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) schedule_attempts: i64,
    pub(crate) next_attempt_at: Option<DbTime>,
    pub(crate) last_status: Option<i64>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
}

impl WebhookDeliveryRow {
    pub(crate) fn into_domain(self) -> Result<WebhookDelivery> {
        Ok(WebhookDelivery {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            endpoint_id: self.endpoint_id.0.into(),
            event_id: self.event_id.0.into(),
            event_type: parse("webhook delivery event type", &self.event_type)?,
            payload: self.payload,
            status: DeliveryStatus::parse(&self.status).map_err(|e| corrupt("webhook delivery status", e))?,
            attempts: count("webhook delivery attempts", self.attempts)?,
            schedule_attempts: count("webhook delivery schedule attempts", self.schedule_attempts)?,
            next_attempt_at: self.next_attempt_at.map(|t| t.0),
            last_status: self.last_status.map(|s| http_status("webhook delivery last status", s)).transpose()?,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

/// Columns selected for a webhook delivery, in [`WebhookDeliveryRow`] order.
pub(crate) const WEBHOOK_DELIVERY_COLUMNS: &str = "tenant_id, id, endpoint_id, event_id, event_type, payload, status, \
                                                   attempts, schedule_attempts, next_attempt_at, last_status, \
                                                   created_at, updated_at";

/// `webhook_attempts`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookAttemptRow {
    pub(crate) delivery_id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) endpoint_id: DbId,
    pub(crate) number: i64,
    pub(crate) attempted_at: DbTime,
    pub(crate) status: Option<i64>,
    pub(crate) latency_ms: i64,
    pub(crate) request_headers: Json<Vec<(String, String)>>,
    pub(crate) response_headers: Json<Vec<(String, String)>>,
    pub(crate) response_excerpt: String,
    pub(crate) error_class: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) test_mode: bool,
}

impl WebhookAttemptRow {
    pub(crate) fn into_domain(self) -> Result<DeliveryAttempt> {
        Ok(DeliveryAttempt {
            delivery_id: self.delivery_id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            endpoint_id: self.endpoint_id.0.into(),
            number: count("webhook attempt number", self.number)?,
            attempted_at: self.attempted_at.0,
            status: self.status.map(|s| http_status("webhook attempt status", s)).transpose()?,
            latency_ms: count("webhook attempt latency", self.latency_ms)?,
            request_headers: self.request_headers.0,
            response_headers: self.response_headers.0,
            response_excerpt: self.response_excerpt,
            error_class: self
                .error_class
                .map(|c| ErrorClass::parse(&c).map_err(|e| corrupt("webhook attempt error class", e)))
                .transpose()?,
            error: self.error,
            test_mode: self.test_mode,
        })
    }
}

/// Columns selected for a webhook attempt, in [`WebhookAttemptRow`] order.
pub(crate) const WEBHOOK_ATTEMPT_COLUMNS: &str = "delivery_id, tenant_id, endpoint_id, number, attempted_at, status, \
                                                  latency_ms, request_headers, response_headers, response_excerpt, \
                                                  error_class, error, test_mode";

fn http_status(what: &str, n: i64) -> Result<u16> {
    u16::try_from(n).map_err(|e| corrupt(what, e))
}

/// `oauth_providers`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OAuthProviderRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) name: String,
    pub(crate) authorize_url: String,
    pub(crate) token_url: String,
    pub(crate) revoke_url: Option<String>,
    pub(crate) sync_url: Option<String>,
    pub(crate) scopes: Json<Vec<String>>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl OAuthProviderRow {
    pub(crate) fn into_domain(self) -> OAuthProvider {
        OAuthProvider {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            name: self.name,
            authorize_url: self.authorize_url,
            token_url: self.token_url,
            revoke_url: self.revoke_url,
            sync_url: self.sync_url,
            scopes: self.scopes.0,
            client_id: self.client_id,
            client_secret: SealedSecret::from_stored(self.client_secret),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        }
    }
}

/// Columns selected for an OAuth provider, in [`OAuthProviderRow`] order.
pub(crate) const OAUTH_PROVIDER_COLUMNS: &str = "tenant_id, id, name, authorize_url, token_url, revoke_url, sync_url, \
                                                 scopes, client_id, client_secret, created_at, updated_at, version";

/// `integration_connections`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) provider_id: DbId,
    pub(crate) connected_by: DbId,
    pub(crate) status: String,
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_at: Option<DbTime>,
    pub(crate) scope: Option<String>,
    pub(crate) sync_schedule: Option<String>,
    pub(crate) next_sync_at: Option<DbTime>,
    pub(crate) last_sync_at: Option<DbTime>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl ConnectionRow {
    pub(crate) fn into_domain(self) -> Result<Connection> {
        Ok(Connection {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            provider_id: self.provider_id.0.into(),
            connected_by: self.connected_by.0.into(),
            status: ConnectionStatus::parse(&self.status).map_err(|e| corrupt("connection status", e))?,
            access_token: SealedSecret::from_stored(self.access_token),
            refresh_token: self.refresh_token.map(SealedSecret::from_stored),
            expires_at: self.expires_at.map(|t| t.0),
            scope: self.scope,
            sync_schedule: self.sync_schedule,
            next_sync_at: self.next_sync_at.map(|t| t.0),
            last_sync_at: self.last_sync_at.map(|t| t.0),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// Columns selected for a connection, in [`ConnectionRow`] order.
pub(crate) const CONNECTION_COLUMNS: &str = "tenant_id, id, provider_id, connected_by, status, access_token, \
                                             refresh_token, expires_at, scope, sync_schedule, next_sync_at, \
                                             last_sync_at, created_at, updated_at, version";

/// `integration_sync_logs`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SyncLogRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) connection_id: DbId,
    pub(crate) trigger: String,
    pub(crate) started_at: DbTime,
    pub(crate) finished_at: Option<DbTime>,
    pub(crate) status: String,
    pub(crate) records: i64,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    pub(crate) errors: Json<Vec<String>>,
}

impl SyncLogRow {
    pub(crate) fn into_domain(self) -> Result<SyncLog> {
        Ok(SyncLog {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            connection_id: self.connection_id.0.into(),
            trigger: self.trigger,
            started_at: self.started_at.0,
            finished_at: self.finished_at.map(|t| t.0),
            status: SyncStatus::parse(&self.status).map_err(|e| corrupt("sync log status", e))?,
            records: count("sync log records", self.records)?,
            created: count("sync log created", self.created)?,
            updated: count("sync log updated", self.updated)?,
            errors: self.errors.0,
        })
    }
}

/// Columns selected for a sync log, in [`SyncLogRow`] order.
pub(crate) const SYNC_LOG_COLUMNS: &str = "tenant_id, id, connection_id, trigger, started_at, finished_at, status, \
                                           records, created, updated, errors";

/// `documents`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) category: String,
    pub(crate) tags: Json<Vec<String>>,
    pub(crate) links: Json<Vec<EntityRef>>,
    pub(crate) owner_id: DbId,
    pub(crate) latest_version: i64,
    pub(crate) trashed_at: Option<DbTime>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
    pub(crate) visibility: String,
}

impl DocumentRow {
    pub(crate) fn into_domain(self) -> Result<Document> {
        let tags = self
            .tags
            .0
            .iter()
            .map(|t| Tag::parse(t).map_err(|e| corrupt("document tag", e)))
            .collect::<Result<Vec<Tag>>>()?;
        Ok(Document {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            title: self.title,
            description: self.description,
            category: Category::parse(&self.category).map_err(|e| corrupt("document category", e))?,
            tags,
            links: self.links.0,
            owner_id: self.owner_id.0.into(),
            visibility: Visibility::parse(&self.visibility).map_err(|e| corrupt("document visibility", e))?,
            latest_version: count("document latest version", self.latest_version)?,
            trashed_at: self.trashed_at.map(|t| t.0),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// Columns selected for a document, in [`DocumentRow`] order.
pub(crate) const DOCUMENT_COLUMNS: &str = "tenant_id, id, title, description, category, tags, links, owner_id, \
                                           latest_version, trashed_at, created_at, updated_at, version, \
                                           visibility";

/// `document_versions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentVersionRow {
    pub(crate) tenant_id: DbId,
    pub(crate) document_id: DbId,
    pub(crate) number: i64,
    pub(crate) content_key: String,
    pub(crate) size: i64,
    pub(crate) mime: String,
    pub(crate) filename: String,
    pub(crate) uploaded_by: Json<Principal>,
    pub(crate) note: Option<String>,
    pub(crate) restored_from: Option<i64>,
    pub(crate) created_at: DbTime,
    pub(crate) text_status: String,
    pub(crate) text_error: Option<String>,
}

impl DocumentVersionRow {
    pub(crate) fn into_domain(self) -> Result<DocumentVersion> {
        Ok(DocumentVersion {
            document_id: self.document_id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            number: count("document version number", self.number)?,
            content_key: BlobKey::parse(&self.content_key).map_err(|e| corrupt("document content key", e))?,
            size: u64::try_from(self.size).map_err(|e| corrupt("document version size", e))?,
            mime: self.mime,
            filename: self.filename,
            uploaded_by: self.uploaded_by.0,
            note: self.note,
            restored_from: self.restored_from.map(|n| count("document version restored_from", n)).transpose()?,
            text_status: TextStatus::parse(&self.text_status).map_err(|e| corrupt("document text status", e))?,
            text_error: self.text_error,
            created_at: self.created_at.0,
        })
    }
}

/// Columns selected for a document version, in [`DocumentVersionRow`] order.
pub(crate) const DOCUMENT_VERSION_COLUMNS: &str = "tenant_id, document_id, number, content_key, size, mime, filename, \
                                                   uploaded_by, note, restored_from, created_at, text_status, \
                                                   text_error";

/// `document_templates`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentTemplateRow {
    pub(crate) tenant_id: DbId,
    pub(crate) id: DbId,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) category: String,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) created_by: Json<Principal>,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
    pub(crate) version: i64,
}

impl DocumentTemplateRow {
    pub(crate) fn into_domain(self) -> Result<DocumentTemplate> {
        Ok(DocumentTemplate {
            tenant_id: self.tenant_id.0.into(),
            id: self.id.0.into(),
            name: self.name,
            description: self.description,
            category: Category::parse(&self.category).map_err(|e| corrupt("template category", e))?,
            title: self.title,
            body: self.body,
            created_by: self.created_by.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

/// Columns selected for a template, in [`DocumentTemplateRow`] order.
pub(crate) const DOCUMENT_TEMPLATE_COLUMNS: &str =
    "tenant_id, id, name, description, category, title, body, created_by, created_at, updated_at, version";

/// `document_grants`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MemberGrantRow {
    pub(crate) tenant_id: DbId,
    pub(crate) document_id: DbId,
    pub(crate) member_id: DbId,
    pub(crate) access: String,
    pub(crate) granted_by: Json<Principal>,
    pub(crate) granted_at: DbTime,
}

impl MemberGrantRow {
    pub(crate) fn into_domain(self) -> Result<MemberGrant> {
        Ok(MemberGrant {
            tenant_id: self.tenant_id.0.into(),
            document_id: self.document_id.0.into(),
            member_id: self.member_id.0.into(),
            access: Access::parse(&self.access).map_err(|e| corrupt("document grant access", e))?,
            granted_by: self.granted_by.0,
            granted_at: self.granted_at.0,
        })
    }
}

/// Columns selected for a grant, in [`MemberGrantRow`] order.
pub(crate) const MEMBER_GRANT_COLUMNS: &str = "tenant_id, document_id, member_id, access, granted_by, granted_at";

/// `audit_entries`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditEntryRow {
    pub(crate) tenant_id: DbId,
    pub(crate) seq: i64,
    pub(crate) at: DbTime,
    pub(crate) actor: Json<Principal>,
    pub(crate) action: String,
    pub(crate) document_id: Option<DbId>,
    pub(crate) detail: ExactJson,
    pub(crate) source: Option<String>,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

impl AuditEntryRow {
    pub(crate) fn into_domain(self) -> Result<AuditEntry> {
        Ok(AuditEntry {
            seq: self.seq,
            tenant_id: self.tenant_id.0.into(),
            at: self.at.0,
            actor: self.actor.0,
            action: AuditAction::parse(&self.action).map_err(|e| corrupt("audit action", e))?,
            document_id: self.document_id.map(|d| d.0.into()),
            detail: self.detail.0,
            source: self.source,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Columns selected for an audit entry, in [`AuditEntryRow`] order.
pub(crate) const AUDIT_ENTRY_COLUMNS: &str =
    "tenant_id, seq, at, actor, action, document_id, detail, source, prev_hash, hash";

/// `share_links`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ShareLinkRow {
    pub(crate) id: DbId,
    pub(crate) tenant_id: DbId,
    pub(crate) document_id: DbId,
    pub(crate) token_hash: String,
    pub(crate) version: Option<i64>,
    pub(crate) expires_at: DbTime,
    pub(crate) password_hash: Option<String>,
    pub(crate) max_downloads: Option<i64>,
    pub(crate) downloads: i64,
    pub(crate) revoked_at: Option<DbTime>,
    pub(crate) created_by: Json<Principal>,
    pub(crate) created_at: DbTime,
}

impl ShareLinkRow {
    pub(crate) fn into_domain(self) -> Result<ShareLink> {
        Ok(ShareLink {
            id: self.id.0.into(),
            tenant_id: self.tenant_id.0.into(),
            document_id: self.document_id.0.into(),
            token_hash: self.token_hash,
            version: self.version.map(|n| count("share link version", n)).transpose()?,
            expires_at: self.expires_at.0,
            password_hash: self.password_hash,
            max_downloads: self.max_downloads.map(|n| count("share link max_downloads", n)).transpose()?,
            downloads: count("share link downloads", self.downloads)?,
            revoked_at: self.revoked_at.map(|t| t.0),
            created_by: self.created_by.0,
            created_at: self.created_at.0,
        })
    }
}

/// Columns selected for a share link, in [`ShareLinkRow`] order.
pub(crate) const SHARE_LINK_COLUMNS: &str = "id, tenant_id, document_id, token_hash, version, expires_at, \
                                             password_hash, max_downloads, downloads, revoked_at, created_by, \
                                             created_at";

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

/// Columns selected for a deal's analytics facts ([`DealFactsRow`]): no title or free text.
pub(crate) const DEAL_FACTS_COLUMNS: &str = "id, owner_id, amount_minor, currency, stage, probability, expected_close, \
                                             status, closed_at, created_at, updated_at";

/// Columns selected for a stage-history entry in a snapshot ([`StageEntryRow`]).
pub(crate) const STAGE_ENTRY_COLUMNS: &str = "deal_id, to_stage, changed_at";

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
