use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use crate::actor::{Actor, Role};
use crate::contact::{Contact, NewContact};
use crate::crm::Crm;
use crate::member::{Member, NewMember};
use crate::ports::Store;
use crate::tenant::{NewOwner, Tenant};

/// A tenant with an owner, and a `Crm` over the store under test.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The CRM over the store under test.
    pub crm: Crm,
    /// The tenant.
    pub tenant: Tenant,
    /// Its owner.
    pub owner: Member,
    /// The owner as an actor.
    pub actor: Actor,
}

impl Fixture {
    /// Creates a tenant named `name` with an owner in `store`.
    pub async fn new(store: Arc<dyn Store>, name: &str) -> Self {
        let crm = Crm::builder().shared_store(store).build().expect("crm builds");
        Self::with_crm(crm, name).await
    }

    /// Creates another tenant in the same CRM.
    pub async fn with_crm(crm: Crm, name: &str) -> Self {
        let slug = crate::tenant::slugify(name).expect("valid name");
        let owner =
            NewOwner { email: format!("owner@{slug}.test"), display_name: Some(format!("{name} Owner")), handle: None };
        let (tenant, owner) = crm.tenants().create(name, owner).await.expect("tenant created");
        let actor = Actor::member(tenant.id, owner.id, Role::Owner);
        Self { crm, tenant, owner, actor }
    }

    /// Adds a member with `role`.
    pub async fn member(&self, handle: &str, role: Role) -> Member {
        let input = NewMember {
            email: format!("{handle}@{}.test", self.tenant.slug),
            display_name: Some(handle.to_owned()),
            handle: Some(handle.to_owned()),
            role,
        };
        self.crm.members().create(&self.actor, input).await.expect("member created")
    }

    /// Adds a contact with an e-mail.
    pub async fn contact(&self, email: &str) -> Contact {
        let input = NewContact { email: Some(email.to_owned()), ..NewContact::default() };
        self.crm.contacts().create(&self.actor, input).await.expect("contact created")
    }
}

/// Now, at the microsecond precision every store keeps.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
