//! `create-admin`: the bootstrap path to a first sign-in. Creates the tenant with the member as
//! owner, or, when the tenant exists, adds the member (or promotes and reactivates them) as owner;
//! then sets their password.

use crmcore::member::{Member, MemberPatch, NewMember};
use crmcore::tenant::{NewOwner, Tenant, slugify};
use crmcore::value::EmailAddress;
use crmcore::{Actor, Crm, Result, Role};

use crate::auth::password::PasswordHasher;

/// Ensures `email` is an active owner of tenant `tenant_name` with `password`.
pub async fn create_admin(
    crm: &Crm,
    hasher: &PasswordHasher,
    tenant_name: &str,
    email: &str,
    password: &str,
) -> Result<(Tenant, Member)> {
    PasswordHasher::check_policy(password)?;
    let email = EmailAddress::parse(email)?;
    let slug = slugify(tenant_name)?;
    let (tenant, member) = match crm.tenants().find_by_slug(&slug).await? {
        None => {
            let owner = NewOwner { email: email.as_str().to_owned(), display_name: None, handle: None };
            crm.tenants().create(tenant_name, owner).await?
        }
        Some(tenant) => {
            let system = Actor::system(tenant.id);
            let member = match crm.store().members().find_by_email(tenant.id, &email).await? {
                Some(existing) => {
                    let patch = MemberPatch { role: Some(Role::Owner), active: Some(true), ..MemberPatch::default() };
                    crm.members().update(&system, existing.id, patch).await?
                }
                None => {
                    let new = NewMember {
                        email: email.as_str().to_owned(),
                        display_name: None,
                        handle: None,
                        role: Role::Owner,
                    };
                    crm.members().create(&system, new).await?
                }
            };
            (tenant, member)
        }
    };
    let hash = hasher.hash(password).await?;
    crm.store().credentials().set_password(tenant.id, member.id, &hash, crm.clock().now()).await?;
    Ok((tenant, member))
}
