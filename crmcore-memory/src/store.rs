//! [`MemoryStore`]: the whole store behind one mutex. Each method takes the lock once, checks
//! every constraint, and only then mutates state and appends events, so a failing call leaves
//! nothing behind — the same guarantee a database transaction gives.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use crmcore::actor::Role;
use crmcore::analytics::DealSnapshot;
use crmcore::contact::{Contact, ContactFilter};
use crmcore::deal::{Deal, DealFilter, StageChange};
use crmcore::event::{DomainEvent, OutboxEntry};
use crmcore::id::{ApiKeyId, ContactId, DealId, EventId, JobId, LeaseId, MemberId, TenantId};
use crmcore::member::Member;
use crmcore::page::{Page, PageRequest};
use crmcore::ports::{
    ApiKey, ClaimedJob, ContactRepository, CredentialRepository, DealRepository, Enqueued, JobQueue, JobRecord,
    JobState, LoginCandidate, MemberRepository, NewJob, Outbox, QueueStats, RefreshToken, RefreshTokenUse, Store,
    TenantRepository,
};
use crmcore::tenant::Tenant;
use crmcore::value::{EmailAddress, Handle};
use crmcore::{CrmError, Result};
use uuid::Uuid;

mod activity;
mod approval;
mod campaign;
mod deal_facts;
mod document;
mod integration;
mod webhook;

/// Every port of [`Store`] in memory. Cheap to create; nothing is persisted.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tenants: HashMap<TenantId, Tenant>,
    members: BTreeMap<MemberId, Member>,
    contacts: BTreeMap<ContactId, Contact>,
    /// Unique index of contact e-mails per tenant, so uniqueness checks do not scan.
    contact_emails: HashMap<(TenantId, EmailAddress), ContactId>,
    deals: BTreeMap<DealId, Deal>,
    stage_history: HashMap<DealId, Vec<StageChange>>,
    /// Per-tenant analytics snapshots kept ready (`store/deal_facts.rs`).
    deal_facts: deal_facts::DealFactsCache,
    passwords: HashMap<MemberId, String>,
    api_keys: BTreeMap<ApiKeyId, ApiKey>,
    refresh_tokens: HashMap<String, RefreshToken>,
    outbox: BTreeMap<i64, OutboxEntry>,
    event_seq: HashMap<EventId, i64>,
    next_seq: i64,
    jobs: BTreeMap<JobId, StoredJob>,
    /// Activities, comments, follows and notifications (`store/activity.rs`).
    activity: activity::ActivityState,
    /// Campaigns, recipients, suppressions and engagement (`store/campaign.rs`).
    campaign: campaign::CampaignState,
    /// Webhook endpoints, deliveries and attempts (`store/webhook.rs`).
    webhook: webhook::WebhookState,
    /// OAuth providers, connections and sync logs (`store/integration.rs`).
    integration: integration::IntegrationState,
    /// Documents, versions and audit chains (`store/document.rs`).
    document: document::DocumentState,
    /// Approval workflows (`store/approval.rs`).
    approvals: approval::Approvals,
}

#[derive(Debug, Clone)]
struct StoredJob {
    record: JobRecord,
    lease: Option<(LeaseId, DateTime<Utc>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half a mutation: mutations happen only
        // after all checks pass, so the state is consistent even if poisoned.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn append(&mut self, events: &[DomainEvent]) {
        for event in events {
            self.next_seq += 1;
            self.event_seq.insert(event.id, self.next_seq);
            self.outbox
                .insert(self.next_seq, OutboxEntry { seq: self.next_seq, event: event.clone(), dispatched_at: None });
        }
    }

    /// Marks outbox events dispatched at `at`, keeping an earlier time; unknown ids are ignored.
    fn mark_dispatched(&mut self, ids: &[EventId], at: DateTime<Utc>) {
        for id in ids {
            if let Some(seq) = self.event_seq.get(id).copied()
                && let Some(entry) = self.outbox.get_mut(&seq)
            {
                entry.dispatched_at.get_or_insert(at);
            }
        }
    }

    fn check_member_unique(&self, member: &Member) -> Result<()> {
        for other in self.members.values().filter(|m| m.tenant_id == member.tenant_id && m.id != member.id) {
            if other.handle == member.handle {
                return Err(CrmError::conflict(Some("handle"), format!("handle @{} is taken", member.handle)));
            }
            if other.email == member.email {
                return Err(CrmError::conflict(Some("email"), format!("a member with e-mail {} exists", member.email)));
            }
        }
        Ok(())
    }

    fn check_member_exists(&self, tenant: TenantId, id: Option<MemberId>) -> Result<()> {
        match id {
            Some(id) if !owned(&self.members, &id, tenant, |m| m.tenant_id) => Err(CrmError::not_found("member", id)),
            _ => Ok(()),
        }
    }

    fn check_contact_email(&self, contact: &Contact) -> Result<()> {
        let Some(email) = &contact.email else { return Ok(()) };
        match self.contact_emails.get(&(contact.tenant_id, email.clone())) {
            Some(holder) if *holder != contact.id => {
                Err(CrmError::conflict(Some("email"), format!("a contact with e-mail {email} exists")))
            }
            _ => Ok(()),
        }
    }

    /// Stores a contact, keeping the e-mail index in step.
    fn put_contact(&mut self, contact: &Contact) {
        if let Some(old) = self.contacts.insert(contact.id, contact.clone())
            && let Some(email) = old.email
        {
            self.contact_emails.remove(&(old.tenant_id, email));
        }
        if let Some(email) = &contact.email {
            self.contact_emails.insert((contact.tenant_id, email.clone()), contact.id);
        }
    }

    fn check_version<T>(
        stored: Option<&T>,
        tenant_of: impl Fn(&T) -> TenantId,
        version_of: impl Fn(&T) -> i64,
        tenant: TenantId,
        new_version: i64,
        entity: &'static str,
        id: impl std::fmt::Display,
    ) -> Result<()> {
        match stored {
            Some(s) if tenant_of(s) == tenant => {
                if version_of(s) == new_version - 1 {
                    Ok(())
                } else {
                    Err(CrmError::conflict(Some("version"), format!("{entity} {id} was changed concurrently")))
                }
            }
            _ => Err(CrmError::not_found(entity, id)),
        }
    }

    fn check_deal_refs(&self, deal: &Deal) -> Result<()> {
        if let Some(contact) = deal.contact_id
            && !owned(&self.contacts, &contact, deal.tenant_id, |c| c.tenant_id)
        {
            return Err(CrmError::not_found("contact", contact));
        }
        self.check_member_exists(deal.tenant_id, deal.owner_id)
    }
}

/// Whether `map` holds `id` in `tenant`.
fn owned<K: Ord, V>(map: &BTreeMap<K, V>, id: &K, tenant: TenantId, tenant_of: impl Fn(&V) -> TenantId) -> bool {
    map.get(id).is_some_and(|v| tenant_of(v) == tenant)
}

/// Newest-first keyset page over a map ordered by id.
fn page_of<K: Ord + Copy, V: Clone>(
    map: &BTreeMap<K, V>,
    request: PageRequest,
    keep: impl Fn(&V) -> bool,
    from_uuid: impl Fn(Uuid) -> K,
    id_of: impl Fn(&V) -> Uuid,
) -> Page<V> {
    let rows: Vec<V> = match request.after {
        Some(after) => map
            .range(..from_uuid(after))
            .rev()
            .map(|(_, v)| v)
            .filter(|v| keep(v))
            .take(request.limit as usize + 1)
            .cloned()
            .collect(),
        None => map.values().rev().filter(|v| keep(v)).take(request.limit as usize + 1).cloned().collect(),
    };
    Page::from_overfetch(rows, request, id_of)
}

#[async_trait]
impl Store for MemoryStore {
    fn tenants(&self) -> &dyn TenantRepository {
        self
    }
    fn members(&self) -> &dyn MemberRepository {
        self
    }
    fn contacts(&self) -> &dyn ContactRepository {
        self
    }
    fn deals(&self) -> &dyn DealRepository {
        self
    }
    fn campaigns(&self) -> &dyn crmcore::ports::CampaignRepository {
        self
    }
    fn webhooks(&self) -> &dyn crmcore::ports::WebhookRepository {
        self
    }
    fn integrations(&self) -> &dyn crmcore::ports::IntegrationRepository {
        self
    }
    fn documents(&self) -> &dyn crmcore::ports::DocumentRepository {
        self
    }
    fn approvals(&self) -> &dyn crmcore::ports::ApprovalRepository {
        self
    }
    fn credentials(&self) -> &dyn CredentialRepository {
        self
    }
    fn activities(&self) -> &dyn crmcore::ports::ActivityRepository {
        self
    }
    fn comments(&self) -> &dyn crmcore::ports::CommentRepository {
        self
    }
    fn follows(&self) -> &dyn crmcore::ports::FollowRepository {
        self
    }
    fn notifications(&self) -> &dyn crmcore::ports::NotificationRepository {
        self
    }
    fn outbox(&self) -> &dyn Outbox {
        self
    }
    fn jobs(&self) -> &dyn JobQueue {
        self
    }
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl TenantRepository for MemoryStore {
    async fn create(&self, tenant: &Tenant, owner: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if s.tenants.values().any(|t| t.slug == tenant.slug) {
            return Err(CrmError::conflict(Some("slug"), format!("tenant `{}` exists", tenant.slug)));
        }
        if s.tenants.contains_key(&tenant.id) {
            return Err(CrmError::conflict(Some("id"), "tenant id exists"));
        }
        s.check_member_unique(owner)?;
        s.tenants.insert(tenant.id, tenant.clone());
        s.members.insert(owner.id, owner.clone());
        s.append(events);
        Ok(())
    }

    async fn get(&self, id: TenantId) -> Result<Tenant> {
        self.lock().tenants.get(&id).cloned().ok_or_else(|| CrmError::not_found("tenant", id))
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        Ok(self.lock().tenants.values().find(|t| t.slug == slug).cloned())
    }
}

#[async_trait]
impl MemberRepository for MemoryStore {
    async fn insert(&self, member: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if !s.tenants.contains_key(&member.tenant_id) {
            return Err(CrmError::not_found("tenant", member.tenant_id));
        }
        if s.members.contains_key(&member.id) {
            return Err(CrmError::conflict(Some("id"), "member id exists"));
        }
        s.check_member_unique(member)?;
        s.members.insert(member.id, member.clone());
        s.append(events);
        Ok(())
    }

    async fn update(&self, member: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        State::check_version(
            s.members.get(&member.id),
            |m| m.tenant_id,
            |m| m.version,
            member.tenant_id,
            member.version,
            "member",
            member.id,
        )?;
        s.check_member_unique(member)?;
        s.members.insert(member.id, member.clone());
        s.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: MemberId) -> Result<Member> {
        self.lock()
            .members
            .get(&id)
            .filter(|m| m.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("member", id))
    }

    async fn find_by_handle(&self, tenant: TenantId, handle: &Handle) -> Result<Option<Member>> {
        Ok(self.lock().members.values().find(|m| m.tenant_id == tenant && &m.handle == handle).cloned())
    }

    async fn find_by_email(&self, tenant: TenantId, email: &EmailAddress) -> Result<Option<Member>> {
        Ok(self.lock().members.values().find(|m| m.tenant_id == tenant && &m.email == email).cloned())
    }

    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Member>> {
        Ok(page_of(&self.lock().members, page, |m| m.tenant_id == tenant, MemberId, |m| m.id.0))
    }

    async fn count_active_with_role(&self, tenant: TenantId, role: Role) -> Result<u64> {
        Ok(self.lock().members.values().filter(|m| m.tenant_id == tenant && m.active && m.role == role).count() as u64)
    }

    async fn active_ids(&self, tenant: TenantId, ids: &[MemberId]) -> Result<Vec<MemberId>> {
        let s = self.lock();
        let mut out: Vec<MemberId> = ids
            .iter()
            .copied()
            .filter(|id| s.members.get(id).is_some_and(|m| m.tenant_id == tenant && m.active))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[async_trait]
impl ContactRepository for MemoryStore {
    async fn insert(&self, contact: &Contact, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if s.contacts.contains_key(&contact.id) {
            return Err(CrmError::conflict(Some("id"), "contact id exists"));
        }
        s.check_contact_email(contact)?;
        s.check_member_exists(contact.tenant_id, contact.owner_id)?;
        s.put_contact(contact);
        s.append(events);
        Ok(())
    }

    async fn update(&self, contact: &Contact, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        State::check_version(
            s.contacts.get(&contact.id),
            |c| c.tenant_id,
            |c| c.version,
            contact.tenant_id,
            contact.version,
            "contact",
            contact.id,
        )?;
        s.check_contact_email(contact)?;
        s.check_member_exists(contact.tenant_id, contact.owner_id)?;
        s.put_contact(contact);
        s.append(events);
        Ok(())
    }

    async fn delete(&self, tenant: TenantId, id: ContactId, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if !owned(&s.contacts, &id, tenant, |c| c.tenant_id) {
            return Err(CrmError::not_found("contact", id));
        }
        if s.deals.values().any(|d| d.tenant_id == tenant && d.contact_id == Some(id)) {
            return Err(CrmError::conflict(Some("contact_id"), format!("deals still refer to contact {id}")));
        }
        if let Some(email) = s.contacts.remove(&id).and_then(|c| c.email) {
            s.contact_emails.remove(&(tenant, email));
        }
        s.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: ContactId) -> Result<Contact> {
        self.lock()
            .contacts
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("contact", id))
    }

    async fn list(&self, tenant: TenantId, filter: &ContactFilter, page: PageRequest) -> Result<Page<Contact>> {
        Ok(page_of(&self.lock().contacts, page, |c| c.tenant_id == tenant && filter.matches(c), ContactId, |c| c.id.0))
    }
}

#[async_trait]
impl DealRepository for MemoryStore {
    async fn insert(&self, deal: &Deal, first_stage: &StageChange, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if s.deals.contains_key(&deal.id) {
            return Err(CrmError::conflict(Some("id"), "deal id exists"));
        }
        s.check_deal_refs(deal)?;
        s.deals.insert(deal.id, deal.clone());
        s.stage_history.insert(deal.id, vec![first_stage.clone()]);
        s.deal_facts.touch(deal.tenant_id, deal.id);
        s.append(events);
        Ok(())
    }

    async fn update(&self, deal: &Deal, stage_change: Option<&StageChange>, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        State::check_version(
            s.deals.get(&deal.id),
            |d| d.tenant_id,
            |d| d.version,
            deal.tenant_id,
            deal.version,
            "deal",
            deal.id,
        )?;
        s.check_deal_refs(deal)?;
        s.deals.insert(deal.id, deal.clone());
        if let Some(change) = stage_change {
            s.stage_history.entry(deal.id).or_default().push(change.clone());
        }
        s.deal_facts.touch(deal.tenant_id, deal.id);
        s.append(events);
        Ok(())
    }

    async fn delete(&self, tenant: TenantId, id: DealId, events: &[DomainEvent]) -> Result<()> {
        let mut s = self.lock();
        if !owned(&s.deals, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("deal", id));
        }
        s.deals.remove(&id);
        s.stage_history.remove(&id);
        s.deal_facts.touch(tenant, id);
        s.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: DealId) -> Result<Deal> {
        self.lock()
            .deals
            .get(&id)
            .filter(|d| d.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("deal", id))
    }

    async fn list(&self, tenant: TenantId, filter: &DealFilter, page: PageRequest) -> Result<Page<Deal>> {
        Ok(page_of(&self.lock().deals, page, |d| d.tenant_id == tenant && filter.matches(d), DealId, |d| d.id.0))
    }

    async fn stage_history(&self, tenant: TenantId, id: DealId) -> Result<Vec<StageChange>> {
        let s = self.lock();
        if !owned(&s.deals, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("deal", id));
        }
        Ok(s.stage_history.get(&id).cloned().unwrap_or_default())
    }

    async fn snapshot(&self, tenant: TenantId) -> Result<DealSnapshot> {
        // The cached facts, refreshed with the deals written since the last call.
        let mut guard = self.lock();
        let s = &mut *guard;
        Ok(s.deal_facts.snapshot(tenant, &s.deals, &s.stage_history))
    }
}

#[async_trait]
impl CredentialRepository for MemoryStore {
    async fn set_password(
        &self,
        tenant: TenantId,
        member: MemberId,
        password_hash: &str,
        _now: DateTime<Utc>,
    ) -> Result<()> {
        let mut s = self.lock();
        s.check_member_exists(tenant, Some(member))?;
        s.passwords.insert(member, password_hash.to_owned());
        Ok(())
    }

    async fn login_candidates(&self, email: &EmailAddress) -> Result<Vec<LoginCandidate>> {
        let s = self.lock();
        let candidates = s
            .members
            .values()
            .filter(|m| m.active && &m.email == email)
            .filter_map(|m| {
                let hash = s.passwords.get(&m.id)?;
                let tenant = s.tenants.get(&m.tenant_id)?;
                Some(LoginCandidate { tenant: tenant.clone(), member: m.clone(), password_hash: hash.clone() })
            })
            .collect();
        Ok(candidates)
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut s = self.lock();
        if !s.tenants.contains_key(&key.tenant_id) {
            return Err(CrmError::not_found("tenant", key.tenant_id));
        }
        if s.api_keys.values().any(|k| k.secret_hash == key.secret_hash) || s.api_keys.contains_key(&key.id) {
            return Err(CrmError::conflict(Some("secret"), "api key exists"));
        }
        s.api_keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>> {
        Ok(self.lock().api_keys.values().find(|k| k.secret_hash == secret_hash).cloned())
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>> {
        Ok(self.lock().api_keys.values().rev().filter(|k| k.tenant_id == tenant).cloned().collect())
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: DateTime<Utc>) -> Result<()> {
        let mut s = self.lock();
        let key = s
            .api_keys
            .get_mut(&id)
            .filter(|k| k.tenant_id == tenant)
            .ok_or_else(|| CrmError::not_found("api key", id))?;
        key.revoked_at.get_or_insert(now);
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let mut s = self.lock();
        s.check_member_exists(token.tenant_id, Some(token.member_id))?;
        if s.refresh_tokens.contains_key(&token.token_hash) {
            return Err(CrmError::conflict(Some("token"), "refresh token exists"));
        }
        s.refresh_tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn use_refresh_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<RefreshTokenUse> {
        let mut s = self.lock();
        let Some(token) = s.refresh_tokens.get_mut(token_hash) else { return Ok(RefreshTokenUse::Unknown) };
        if token.used_at.is_some() {
            return Ok(RefreshTokenUse::AlreadyUsed(token.clone()));
        }
        let before = token.clone();
        token.used_at = Some(now);
        Ok(RefreshTokenUse::Fresh(before))
    }

    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
        Ok(self.lock().refresh_tokens.get(token_hash).cloned())
    }

    async fn revoke_refresh_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        for token in self.lock().refresh_tokens.values_mut().filter(|t| t.family_id == family_id) {
            token.revoked_at.get_or_insert(now);
        }
        Ok(())
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        Ok(self.lock().outbox.values().filter(|e| e.dispatched_at.is_none()).take(limit as usize).cloned().collect())
    }

    async fn mark_dispatched(&self, ids: &[EventId], at: DateTime<Utc>) -> Result<()> {
        self.lock().mark_dispatched(ids, at);
        Ok(())
    }

    async fn list(&self, tenant: TenantId, after: Option<i64>, limit: u32) -> Result<Vec<OutboxEntry>> {
        let s = self.lock();
        let start = after.map_or(0, |a| a.saturating_add(1));
        Ok(s.outbox
            .range(start..)
            .map(|(_, e)| e)
            .filter(|e| e.event.tenant_id == tenant)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

impl StoredJob {
    fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.record.state {
            JobState::Pending => self.record.run_at <= now,
            JobState::Running => self.lease.is_some_and(|(_, until)| until <= now),
            JobState::Completed | JobState::Dead => false,
        }
    }

    fn held_by(&mut self, lease: LeaseId) -> Result<&mut Self> {
        match self.lease {
            Some((current, _)) if current == lease && self.record.state == JobState::Running => Ok(self),
            _ => Err(CrmError::conflict(
                Some("lease"),
                format!("job {} is no longer held by this lease", self.record.id),
            )),
        }
    }
}

impl MemoryStore {
    fn with_held_job(&self, id: JobId, lease: LeaseId, f: impl FnOnce(&mut StoredJob)) -> Result<()> {
        let mut s = self.lock();
        let job = s.jobs.get_mut(&id).ok_or_else(|| CrmError::not_found("job", id))?;
        f(job.held_by(lease)?);
        Ok(())
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued> {
        let mut s = self.lock();
        if let Some(key) = &job.dedupe_key {
            let live = s.jobs.values().find(|j| {
                j.record.dedupe_key.as_ref() == Some(key)
                    && matches!(j.record.state, JobState::Pending | JobState::Running)
            });
            if let Some(live) = live {
                return Ok(Enqueued { id: live.record.id, created: false });
            }
        }
        let id = JobId::new();
        let record = JobRecord {
            id,
            kind: job.kind,
            payload: job.payload,
            tenant_id: job.tenant_id,
            state: JobState::Pending,
            attempts: 0,
            max_attempts: job.max_attempts.max(1),
            run_at: job.run_at,
            dedupe_key: job.dedupe_key,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        s.jobs.insert(id, StoredJob { record, lease: None });
        Ok(Enqueued { id, created: true })
    }

    async fn claim(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<ClaimedJob>> {
        let mut s = self.lock();
        let mut due: Vec<(DateTime<Utc>, JobId)> =
            s.jobs.values().filter(|j| j.claimable(now)).map(|j| (j.record.run_at, j.record.id)).collect();
        due.sort();
        due.truncate(limit as usize);
        let until = now + lease;
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            let Some(job) = s.jobs.get_mut(&id) else { continue };
            let lease_id = LeaseId::new();
            job.lease = Some((lease_id, until));
            job.record.state = JobState::Running;
            job.record.attempts += 1;
            job.record.updated_at = now;
            claimed.push(ClaimedJob {
                id,
                kind: job.record.kind.clone(),
                payload: job.record.payload.clone(),
                tenant_id: job.record.tenant_id,
                attempt: job.record.attempts,
                max_attempts: job.record.max_attempts,
                lease: lease_id,
                lease_expires_at: until,
            });
        }
        Ok(claimed)
    }

    async fn complete(&self, id: JobId, lease: LeaseId, now: DateTime<Utc>) -> Result<()> {
        self.with_held_job(id, lease, |job| {
            job.record.state = JobState::Completed;
            job.record.updated_at = now;
            job.lease = None;
        })
    }

    async fn retry(
        &self,
        id: JobId,
        lease: LeaseId,
        run_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with_held_job(id, lease, |job| {
            job.record.state = JobState::Pending;
            job.record.run_at = run_at;
            job.record.last_error = Some(error.to_owned());
            job.record.updated_at = now;
            job.lease = None;
        })
    }

    async fn dead_letter(&self, id: JobId, lease: LeaseId, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.with_held_job(id, lease, |job| {
            job.record.state = JobState::Dead;
            job.record.last_error = Some(error.to_owned());
            job.record.updated_at = now;
            job.lease = None;
        })
    }

    async fn extend_lease(&self, id: JobId, lease: LeaseId, until: DateTime<Utc>) -> Result<()> {
        self.with_held_job(id, lease, |job| job.lease = Some((lease, until)))
    }

    async fn get(&self, id: JobId) -> Result<JobRecord> {
        self.lock().jobs.get(&id).map(|j| j.record.clone()).ok_or_else(|| CrmError::not_found("job", id))
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<QueueStats> {
        let s = self.lock();
        let mut stats = QueueStats::default();
        for job in s.jobs.values() {
            match job.record.state {
                JobState::Pending if job.record.run_at <= now => {
                    stats.due += 1;
                    let age = (now - job.record.run_at).num_seconds().max(0) as u64;
                    stats.oldest_due_age_secs = stats.oldest_due_age_secs.max(age);
                }
                JobState::Pending => stats.scheduled += 1,
                JobState::Running => stats.running += 1,
                JobState::Dead => stats.dead += 1,
                JobState::Completed => {}
            }
        }
        Ok(stats)
    }
}
