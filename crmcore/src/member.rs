//! Members: the people of a tenant, with a unique `@handle` and a role.

mod service;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use service::{MemberPatch, MemberService, NewMember};

use crate::actor::Role;
use crate::id::{MemberId, TenantId};
use crate::value::{EmailAddress, Handle};

/// A person in a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Unique within the tenant; used for @mentions.
    pub handle: Handle,
    /// Name shown to others.
    pub display_name: String,
    /// Unique within the tenant.
    pub email: EmailAddress,
    /// What the member may do.
    pub role: Role,
    /// Deactivated members keep their history but cannot sign in.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, incremented on every update.
    pub version: i64,
}
