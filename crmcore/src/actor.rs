//! Who is acting: [`Actor`] = tenant + principal + role, and the permission check every service runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::id::{ApiKeyId, MemberId, TenantId};

/// A member's role in a tenant, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Read-only access.
    Viewer,
    /// Works records: create and edit contacts and deals.
    Member,
    /// Also deletes records and sends campaigns.
    Manager,
    /// Also manages members, API keys and integrations.
    Admin,
    /// Everything, including granting ownership.
    Owner,
}

impl Role {
    /// All roles, least powerful first.
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Member, Role::Manager, Role::Admin, Role::Owner];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// The least powerful role that holds `permission`.
    pub fn minimum_for(permission: Permission) -> Role {
        match permission {
            Permission::ViewRecords => Role::Viewer,
            Permission::EditRecords | Permission::Comment => Role::Member,
            Permission::DeleteRecords | Permission::SendCampaign | Permission::ManageCampaigns => Role::Manager,
            Permission::ManageMembers
            | Permission::ManageApiKeys
            | Permission::ManageIntegrations
            | Permission::ViewAuditLog => Role::Admin,
            Permission::ManageOwners => Role::Owner,
        }
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        self >= Role::minimum_for(permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| CrmError::invalid("role", "invalid", format!("unknown role `{s}`")))
    }
}

/// Something an actor may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Permission {
    /// Read contacts, deals and everything attached to them.
    ViewRecords,
    /// Create and update records.
    EditRecords,
    /// Comment on records.
    Comment,
    /// Delete records.
    DeleteRecords,
    /// Create and edit campaigns.
    ManageCampaigns,
    /// Launch, pause and resume campaigns.
    SendCampaign,
    /// Invite members and change their roles.
    ManageMembers,
    /// Grant or revoke the owner role.
    ManageOwners,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Configure webhooks and connectors.
    ManageIntegrations,
    /// Read the tenant-wide event log.
    ViewAuditLog,
}

/// The kind of principal behind an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Principal {
    /// A person.
    Member(MemberId),
    /// A machine holding an API key.
    ApiKey(ApiKeyId),
    /// crmcore itself (jobs, schedulers).
    System,
}

/// Tenant + principal + role: passed first to every service call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The tenant every operation is scoped to.
    pub tenant_id: TenantId,
    /// Who acts.
    pub principal: Principal,
    /// What they may do.
    pub role: Role,
}

impl Actor {
    /// A member acting in their tenant.
    pub fn member(tenant_id: TenantId, member_id: MemberId, role: Role) -> Self {
        Self { tenant_id, principal: Principal::Member(member_id), role }
    }

    /// An API key acting with the role it was granted.
    pub fn api_key(tenant_id: TenantId, key_id: ApiKeyId, role: Role) -> Self {
        Self { tenant_id, principal: Principal::ApiKey(key_id), role }
    }

    /// crmcore's own jobs acting in a tenant, with every permission.
    pub fn system(tenant_id: TenantId) -> Self {
        Self { tenant_id, principal: Principal::System, role: Role::Owner }
    }

    /// `Ok` when the actor holds `permission`, else [`CrmError::Forbidden`].
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(CrmError::Forbidden(format!(
                "role `{}` lacks permission `{}`",
                self.role,
                serde_json::to_value(permission).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            )))
        }
    }

    /// The member behind this actor, if a person acts.
    pub fn member_id(&self) -> Option<MemberId> {
        match self.principal {
            Principal::Member(id) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer.allows(Permission::ViewRecords));
        assert!(!Role::Viewer.allows(Permission::EditRecords));
        assert!(Role::Member.allows(Permission::EditRecords));
        assert!(!Role::Member.allows(Permission::DeleteRecords));
        assert!(Role::Admin.allows(Permission::ManageMembers));
        assert!(!Role::Admin.allows(Permission::ManageOwners));
        assert!(Role::Owner.allows(Permission::ManageOwners));
    }

    #[test]
    fn require_reports_the_missing_permission() {
        let actor = Actor::member(TenantId::new(), MemberId::new(), Role::Viewer);
        let err = actor.require(Permission::DeleteRecords).unwrap_err();
        assert_eq!(err, CrmError::Forbidden("role `viewer` lacks permission `delete_records`".into()));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
