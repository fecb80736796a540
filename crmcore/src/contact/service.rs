use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Contact, ContactFilter};
use crate::actor::{Actor, Permission};
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{ContactId, MemberId};
use crate::page::{Page, PageRequest};
use crate::record::{check_expected_version, update_event};
use crate::value::{CustomFields, EmailAddress, Tag, optional_text};

/// Input for creating a contact.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewContact {
    /// E-mail address, unique in the tenant.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Responsible member.
    pub owner_id: Option<MemberId>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tenant-defined fields.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom_fields: BTreeMap<String, Value>,
}

/// Changes to a contact. Absent fields stay; `null` clears an optional field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactPatch {
    /// New e-mail, or `null` to clear.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    /// New given name, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Option<String>>,
    /// New family name, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Option<String>>,
    /// New company, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub company: Option<Option<String>>,
    /// New phone, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub phone: Option<Option<String>>,
    /// New owner, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Option<MemberId>>,
    /// Replace all tags.
    pub tags: Option<Vec<String>>,
    /// Add these tags.
    #[serde(default)]
    pub add_tags: Vec<String>,
    /// Remove these tags.
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// JSON merge patch of custom fields: `null` removes a key.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom_fields: BTreeMap<String, Value>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// Contact management.
#[derive(Debug)]
pub struct ContactService<'a> {
    crm: &'a Crm,
}

const MAX_TAGS: usize = 50;

fn contact_ref(id: ContactId) -> EntityRef {
    EntityRef { kind: EntityKind::Contact, id: id.0 }
}

fn parse_tags(v: &mut Validator, raw: &[String]) -> BTreeSet<Tag> {
    raw.iter().filter_map(|t| v.field("tags", Tag::parse(t))).collect()
}

impl<'a> ContactService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// Owners must be members of the actor's tenant: a validation error otherwise.
    async fn check_owner(&self, actor: &Actor, owner: Option<MemberId>) -> Result<()> {
        if let Some(owner) = owner {
            match self.crm.store().members().get(actor.tenant_id, owner).await {
                Err(CrmError::NotFound { .. }) => {
                    return Err(CrmError::invalid("owner_id", "unknown", format!("no member {owner}")));
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Creates a contact (needs `edit_records`). `Conflict` on `email` when another contact has it.
    pub async fn create(&self, actor: &Actor, input: NewContact) -> Result<Contact> {
        actor.require(Permission::EditRecords)?;
        let mut v = Validator::new();
        let email = input
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| v.field("email", EmailAddress::parse(e)));
        let first_name = v.check(optional_text("first_name", input.first_name.as_deref(), 200)).flatten();
        let last_name = v.check(optional_text("last_name", input.last_name.as_deref(), 200)).flatten();
        let company = v.check(optional_text("company", input.company.as_deref(), 200)).flatten();
        let phone = v.check(optional_text("phone", input.phone.as_deref(), 50)).flatten();
        let tags = parse_tags(&mut v, &input.tags);
        if tags.len() > MAX_TAGS {
            v.push(FieldError::new("tags", "too_many", format!("at most {MAX_TAGS} tags")));
        }
        let custom_fields = v.check(CustomFields::new(input.custom_fields));
        if email.is_none() && first_name.is_none() && last_name.is_none() && company.is_none() && input.email.is_none()
        {
            v.push(FieldError::new("email", "required", "a contact needs an e-mail, a name or a company"));
        }
        v.finish()?;
        self.check_owner(actor, input.owner_id).await?;
        let now = self.crm.clock().now();
        let contact = Contact {
            id: ContactId::new(),
            tenant_id: actor.tenant_id,
            email,
            first_name,
            last_name,
            company,
            phone,
            owner_id: input.owner_id,
            tags,
            custom_fields: custom_fields.unwrap_or_default(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = DomainEvent::new(
            actor,
            EventType::ContactCreated,
            contact_ref(contact.id),
            json!({ "object": contact }),
            now,
        );
        self.crm.store().contacts().insert(&contact, &[event]).await?;
        self.crm.wake_worker();
        Ok(contact)
    }

    /// Applies a patch (needs `edit_records`). A patch that changes nothing writes nothing.
    pub async fn update(&self, actor: &Actor, id: ContactId, patch: ContactPatch) -> Result<Contact> {
        actor.require(Permission::EditRecords)?;
        let repo = self.crm.store().contacts();
        let current = repo.get(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "contact")?;
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(email) = &patch.email {
            next.email = email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .and_then(|e| v.field("email", EmailAddress::parse(e)));
        }
        let texts = [
            (&patch.first_name, &mut next.first_name, "first_name", 200),
            (&patch.last_name, &mut next.last_name, "last_name", 200),
            (&patch.company, &mut next.company, "company", 200),
            (&patch.phone, &mut next.phone, "phone", 50),
        ];
        for (given, slot, field, max) in texts {
            if let Some(value) = given {
                *slot = v.check(optional_text(field, value.as_deref(), max)).flatten();
            }
        }
        if let Some(owner) = patch.owner_id {
            next.owner_id = owner;
        }
        if let Some(tags) = &patch.tags {
            next.tags = parse_tags(&mut v, tags);
        }
        next.tags.extend(parse_tags(&mut v, &patch.add_tags));
        for tag in parse_tags(&mut v, &patch.remove_tags) {
            next.tags.remove(&tag);
        }
        if next.tags.len() > MAX_TAGS {
            v.push(FieldError::new("tags", "too_many", format!("at most {MAX_TAGS} tags")));
        }
        if !patch.custom_fields.is_empty()
            && let Some(fields) = v.check(current.custom_fields.merged(&patch.custom_fields))
        {
            next.custom_fields = fields;
        }
        v.finish()?;
        if next.owner_id != current.owner_id {
            self.check_owner(actor, next.owner_id).await?;
        }
        let now = self.crm.clock().now();
        let Some(event) = update_event(actor, EventType::ContactUpdated, contact_ref(id), &current, &mut next, now)?
        else {
            return Ok(current);
        };
        repo.update(&next, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// Deletes a contact (needs `delete_records`). `Conflict` while deals refer to it.
    pub async fn delete(&self, actor: &Actor, id: ContactId) -> Result<()> {
        actor.require(Permission::DeleteRecords)?;
        let repo = self.crm.store().contacts();
        let current = repo.get(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let event =
            DomainEvent::new(actor, EventType::ContactDeleted, contact_ref(id), json!({ "object": current }), now);
        repo.delete(actor.tenant_id, id, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    /// One contact (needs `view_records`).
    pub async fn get(&self, actor: &Actor, id: ContactId) -> Result<Contact> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().contacts().get(actor.tenant_id, id).await
    }

    /// Contacts matching `filter`, newest first (needs `view_records`).
    pub async fn list(&self, actor: &Actor, filter: &ContactFilter, page: PageRequest) -> Result<Page<Contact>> {
        actor.require(Permission::ViewRecords)?;
        if filter.search.as_deref().is_some_and(|s| s.chars().count() > 200) {
            return Err(CrmError::invalid("search", "too_long", "search text exceeds 200 characters"));
        }
        self.crm.store().contacts().list(actor.tenant_id, filter, page).await
    }
}
