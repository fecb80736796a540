//! Tenants: the isolation boundary. Every record belongs to exactly one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::id::TenantId;

/// An organisation using crmcore; all data is partitioned by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Unique URL-safe name, used to pick a tenant at login.
    pub slug: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Derives a slug from a name: lowercase ASCII letters and digits joined by single dashes.
pub fn slugify(name: &str) -> Result<String> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').chars().take(63).collect::<String>();
    if slug.is_empty() {
        return Err(CrmError::invalid("tenant", "invalid", "tenant name needs at least one letter or digit"));
    }
    Ok(slug)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slugify("  Acme, Inc. ").unwrap(), "acme-inc");
        assert!(super::slugify("!!!").is_err());
    }
}

mod service {
    use serde::Deserialize;
    use serde_json::json;

    use super::{Tenant, slugify};
    use crate::actor::{Actor, Role};
    use crate::crm::Crm;
    use crate::error::{Result, Validator};
    use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
    use crate::id::{MemberId, TenantId};
    use crate::member::Member;
    use crate::value::{EmailAddress, Handle, NonEmptyText};

    /// The first owner of a new tenant.
    #[derive(Debug, Clone, Deserialize)]
    pub struct NewOwner {
        /// E-mail address.
        pub email: String,
        /// Display name (default: the e-mail's local part).
        pub display_name: Option<String>,
        /// @handle (default: derived from the e-mail).
        pub handle: Option<String>,
    }

    /// Creates tenants. The one service called without an [`Actor`]: it creates the tenant that
    /// actors belong to, so host apps call it from their own sign-up or admin tooling.
    #[derive(Debug)]
    pub struct TenantService<'a> {
        crm: &'a Crm,
    }

    impl<'a> TenantService<'a> {
        pub(crate) fn new(crm: &'a Crm) -> Self {
            Self { crm }
        }

        /// Creates a tenant named `name` with `owner` as its first member (role owner).
        /// `Conflict` on `slug` when a tenant with the same slug exists.
        pub async fn create(&self, name: &str, owner: NewOwner) -> Result<(Tenant, Member)> {
            let mut v = Validator::new();
            let name = v.field("name", NonEmptyText::parse("name", name, 200));
            let slug = v.field("name", slugify(name.as_ref().map_or("", |n| n.as_str())));
            let email = v.field("owner.email", EmailAddress::parse(&owner.email));
            let handle = match owner.handle.as_deref() {
                Some(h) => v.field("owner.handle", Handle::parse(h)),
                None => email.as_ref().map(Handle::from_email_local_part),
            };
            let display_name = match (&owner.display_name, &email) {
                (Some(d), _) => v
                    .field("owner.display_name", NonEmptyText::parse("display_name", d, 200))
                    .map(|t| t.as_str().to_owned()),
                (None, Some(e)) => Some(e.as_str().split('@').next().unwrap_or_default().to_owned()),
                (None, None) => None,
            };
            v.finish()?;
            let (Some(name), Some(slug), Some(email), Some(handle), Some(display_name)) =
                (name, slug, email, handle, display_name)
            else {
                unreachable!("validator finished without errors")
            };
            let now = self.crm.clock().now();
            let tenant = Tenant { id: TenantId::new(), name: name.as_str().to_owned(), slug, created_at: now };
            let member = Member {
                id: MemberId::new(),
                tenant_id: tenant.id,
                handle,
                display_name,
                email,
                role: Role::Owner,
                active: true,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let system = Actor::system(tenant.id);
            let events = [
                DomainEvent::new(
                    &system,
                    EventType::TenantCreated,
                    EntityRef { kind: EntityKind::Tenant, id: tenant.id.0 },
                    json!({"object": tenant}),
                    now,
                ),
                DomainEvent::new(
                    &system,
                    EventType::MemberCreated,
                    EntityRef { kind: EntityKind::Member, id: member.id.0 },
                    json!({"object": member}),
                    now,
                ),
            ];
            self.crm.store().tenants().create(&tenant, &member, &events).await?;
            self.crm.wake_worker();
            Ok((tenant, member))
        }

        /// A tenant by id (`NotFound` when absent).
        pub async fn get(&self, id: TenantId) -> Result<Tenant> {
            self.crm.store().tenants().get(id).await
        }

        /// A tenant by slug.
        pub async fn find_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
            self.crm.store().tenants().find_by_slug(slug).await
        }
    }
}

pub use service::{NewOwner, TenantService};
