use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Member;
use crate::actor::{Actor, Permission, Role};
use crate::crm::Crm;
use crate::error::{CrmError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::MemberId;
use crate::page::{Page, PageRequest};
use crate::record::{check_expected_version, update_event};
use crate::value::{EmailAddress, Handle, NonEmptyText};

/// Input for adding a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMember {
    /// E-mail address, unique in the tenant.
    pub email: String,
    /// Name shown to others (default: the e-mail's local part).
    pub display_name: Option<String>,
    /// @handle, unique in the tenant (default: derived from the e-mail).
    pub handle: Option<String>,
    /// Role granted.
    pub role: Role,
}

/// Changes to a member; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New handle.
    pub handle: Option<String>,
    /// New role (needs `manage_members`, and `manage_owners` to grant or revoke owner).
    pub role: Option<Role>,
    /// Activate or deactivate (needs `manage_members`).
    pub active: Option<bool>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// Member management.
#[derive(Debug)]
pub struct MemberService<'a> {
    crm: &'a Crm,
}

fn member_ref(id: MemberId) -> EntityRef {
    EntityRef { kind: EntityKind::Member, id: id.0 }
}

fn check_grant(actor: &Actor, role: Role) -> Result<()> {
    actor.require(Permission::ManageMembers)?;
    if role == Role::Owner {
        actor.require(Permission::ManageOwners)?;
    }
    if role > actor.role {
        return Err(CrmError::Forbidden(format!("cannot grant role `{role}` above your own")));
    }
    Ok(())
}

impl<'a> MemberService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// Adds a member. Needs `manage_members`; nobody grants a role above their own.
    pub async fn create(&self, actor: &Actor, input: NewMember) -> Result<Member> {
        check_grant(actor, input.role)?;
        let mut v = Validator::new();
        let email = v.field("email", EmailAddress::parse(&input.email));
        let handle = match input.handle.as_deref() {
            Some(h) => v.field("handle", Handle::parse(h)),
            None => email.as_ref().map(Handle::from_email_local_part),
        };
        let display_name = match &input.display_name {
            Some(d) => {
                v.field("display_name", NonEmptyText::parse("display_name", d, 200)).map(|t| t.as_str().to_owned())
            }
            None => email.as_ref().map(|e| e.as_str().split('@').next().unwrap_or_default().to_owned()),
        };
        v.finish()?;
        let (Some(email), Some(handle), Some(display_name)) = (email, handle, display_name) else {
            unreachable!("validator finished without errors")
        };
        let now = self.crm.clock().now();
        let member = Member {
            id: MemberId::new(),
            tenant_id: actor.tenant_id,
            handle,
            display_name,
            email,
            role: input.role,
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event =
            DomainEvent::new(actor, EventType::MemberCreated, member_ref(member.id), json!({ "object": member }), now);
        self.crm.store().members().insert(&member, &[event]).await?;
        self.crm.wake_worker();
        Ok(member)
    }

    /// Updates a member. Members may change their own name and handle; role and activation need
    /// `manage_members`. The last active owner cannot be demoted or deactivated (`Conflict`).
    pub async fn update(&self, actor: &Actor, id: MemberId, patch: MemberPatch) -> Result<Member> {
        let is_self = actor.member_id() == Some(id);
        if !is_self || patch.role.is_some() || patch.active.is_some() {
            actor.require(Permission::ManageMembers)?;
        }
        let store = self.crm.store().members();
        let current = store.get(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "member")?;
        if current.role == Role::Owner && patch.role.is_some_and(|r| r != Role::Owner) {
            actor.require(Permission::ManageOwners)?;
        }
        if let Some(role) = patch.role {
            check_grant(actor, role)?;
        }
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(d) = &patch.display_name
            && let Some(d) = v.field("display_name", NonEmptyText::parse("display_name", d, 200))
        {
            next.display_name = d.as_str().to_owned();
        }
        if let Some(h) = &patch.handle
            && let Some(h) = v.field("handle", Handle::parse(h))
        {
            next.handle = h;
        }
        v.finish()?;
        next.role = patch.role.unwrap_or(next.role);
        next.active = patch.active.unwrap_or(next.active);
        let loses_owner = current.role == Role::Owner && current.active && (next.role != Role::Owner || !next.active);
        if loses_owner && store.count_active_with_role(actor.tenant_id, Role::Owner).await? <= 1 {
            return Err(CrmError::conflict(Some("role"), "a tenant keeps at least one active owner"));
        }
        let now = self.crm.clock().now();
        let Some(event) = update_event(actor, EventType::MemberUpdated, member_ref(id), &current, &mut next, now)?
        else {
            return Ok(current);
        };
        store.update(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// A member of the actor's tenant.
    pub async fn get(&self, actor: &Actor, id: MemberId) -> Result<Member> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().members().get(actor.tenant_id, id).await
    }

    /// A member by @handle.
    pub async fn find_by_handle(&self, actor: &Actor, handle: &str) -> Result<Member> {
        actor.require(Permission::ViewRecords)?;
        let handle = Handle::parse(handle)?;
        self.crm
            .store()
            .members()
            .find_by_handle(actor.tenant_id, &handle)
            .await?
            .ok_or_else(|| CrmError::not_found("member", format!("@{handle}")))
    }

    /// Members, newest first.
    pub async fn list(&self, actor: &Actor, page: PageRequest) -> Result<Page<Member>> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().members().list(actor.tenant_id, page).await
    }
}
