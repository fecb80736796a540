use async_trait::async_trait;

use crate::actor::Role;
use crate::analytics::DealSnapshot;
use crate::contact::{Contact, ContactFilter};
use crate::deal::{Deal, DealFilter, StageChange};
use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{ContactId, DealId, MemberId, TenantId};
use crate::member::Member;
use crate::page::{Page, PageRequest};
use crate::tenant::Tenant;
use crate::value::{EmailAddress, Handle};

/// Tenants.
#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Creates a tenant together with its first member (its owner) and the events, atomically.
    /// MUST return `Conflict` (field `slug`) when the slug is taken; then nothing is written.
    async fn create(&self, tenant: &Tenant, owner: &Member, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent.
    async fn get(&self, id: TenantId) -> Result<Tenant>;
    /// Looks a tenant up by slug (a pre-authentication lookup); `None` when absent.
    async fn find_by_slug(&self, slug: &str) -> Result<Option<Tenant>>;
}

/// Members of a tenant.
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// Inserts a member. MUST return `Conflict` (field `handle` or `email`) when either is taken
    /// in the tenant, `NotFound` when the tenant does not exist.
    async fn insert(&self, member: &Member, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a member whose stored version is `member.version - 1`. MUST return `NotFound` when
    /// absent from the tenant, `Conflict` when the version moved on or handle/email are taken.
    async fn update(&self, member: &Member, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: MemberId) -> Result<Member>;
    /// By handle within the tenant.
    async fn find_by_handle(&self, tenant: TenantId, handle: &Handle) -> Result<Option<Member>>;
    /// By e-mail within the tenant.
    async fn find_by_email(&self, tenant: TenantId, email: &EmailAddress) -> Result<Option<Member>>;
    /// Newest first.
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Member>>;
    /// How many active members hold `role`.
    async fn count_active_with_role(&self, tenant: TenantId, role: Role) -> Result<u64>;
    /// Those of `ids` that are active members of the tenant (any order; unknown ids are left out).
    async fn active_ids(&self, tenant: TenantId, ids: &[MemberId]) -> Result<Vec<MemberId>>;
}

/// Contacts.
#[async_trait]
pub trait ContactRepository: Send + Sync {
    /// Inserts a contact. MUST return `Conflict` (field `email`) when another contact of the
    /// tenant has the same e-mail, `NotFound` when its owner is absent from the tenant.
    async fn insert(&self, contact: &Contact, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a contact whose stored version is `contact.version - 1`. MUST return `NotFound`
    /// when absent from the tenant, `Conflict` on a stale version or a duplicate e-mail, `NotFound`
    /// when its owner is absent from the tenant.
    async fn update(&self, contact: &Contact, events: &[DomainEvent]) -> Result<()>;
    /// Deletes a contact. MUST return `NotFound` when absent from the tenant and `Conflict` when
    /// deals still refer to it.
    async fn delete(&self, tenant: TenantId, id: ContactId, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: ContactId) -> Result<Contact>;
    /// Newest first, filtered exactly as [`ContactFilter::matches`].
    async fn list(&self, tenant: TenantId, filter: &ContactFilter, page: PageRequest) -> Result<Page<Contact>>;
}

/// Deals and their stage history.
#[async_trait]
pub trait DealRepository: Send + Sync {
    /// Inserts a deal and its first stage-history entry. MUST return `NotFound` when its contact
    /// or owner is absent from the tenant.
    async fn insert(&self, deal: &Deal, first_stage: &StageChange, events: &[DomainEvent]) -> Result<()>;
    /// Replaces a deal whose stored version is `deal.version - 1`, appending `stage_change` to its
    /// history when given. MUST return `NotFound` when it, its contact or its owner is absent from
    /// the tenant, `Conflict` on a stale version.
    async fn update(&self, deal: &Deal, stage_change: Option<&StageChange>, events: &[DomainEvent]) -> Result<()>;
    /// Deletes a deal and its history. MUST return `NotFound` when absent from the tenant.
    async fn delete(&self, tenant: TenantId, id: DealId, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: DealId) -> Result<Deal>;
    /// Newest first, filtered exactly as [`DealFilter::matches`].
    async fn list(&self, tenant: TenantId, filter: &DealFilter, page: PageRequest) -> Result<Page<Deal>>;
    /// The deal's stage changes, oldest first. MUST return `NotFound` when the deal is absent.
    async fn stage_history(&self, tenant: TenantId, id: DealId) -> Result<Vec<StageChange>>;
    /// The analytics facts of every deal of the tenant and every stage change of those deals, in
    /// one consistent read. MUST return the deals ordered by id ascending and the entries ordered
    /// by deal id, then oldest first (write order) within a deal; MUST return nothing from other
    /// tenants. It MUST equal [`DealSnapshot::from_deals`] of what [`get`](Self::get) and
    /// [`stage_history`](Self::stage_history) return.
    async fn snapshot(&self, tenant: TenantId) -> Result<DealSnapshot>;
}
