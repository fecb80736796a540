//! Contacts: people and companies the tenant deals with, with tags and custom fields.

pub(crate) mod service;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use service::{ContactPatch, ContactService, NewContact};

use crate::id::{ContactId, MemberId, TenantId};
use crate::value::{CustomFields, EmailAddress, Tag};

/// A contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    /// Its id.
    pub id: ContactId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Unique within the tenant when present.
    pub email: Option<EmailAddress>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Company or organisation.
    pub company: Option<String>,
    /// Phone number, free-form.
    pub phone: Option<String>,
    /// The member responsible for it.
    pub owner_id: Option<MemberId>,
    /// Labels.
    pub tags: BTreeSet<Tag>,
    /// Tenant-defined fields.
    pub custom_fields: CustomFields,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, incremented on every update.
    pub version: i64,
}

impl Contact {
    /// "First Last", else the company, else the e-mail, else the id.
    pub fn display_name(&self) -> String {
        let name =
            [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        if !name.is_empty() {
            return name;
        }
        self.company
            .clone()
            .or_else(|| self.email.as_ref().map(ToString::to_string))
            .unwrap_or_else(|| self.id.to_string())
    }

    /// Whether the contact matches a case-insensitive search over names, e-mail and company.
    /// This is the reference the SQL adapters' `LIKE` translation must agree with.
    pub fn matches_search(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        [
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.email.as_ref().map(EmailAddress::as_str),
            self.company.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(&needle))
    }
}

/// Filters for listing contacts; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFilter {
    /// Only contacts with this tag.
    pub tag: Option<Tag>,
    /// Only contacts owned by this member.
    pub owner_id: Option<MemberId>,
    /// Case-insensitive substring of first name, last name, e-mail or company.
    pub search: Option<String>,
}

impl ContactFilter {
    /// Whether `contact` passes the filter (the domain's reference evaluation).
    pub fn matches(&self, contact: &Contact) -> bool {
        self.tag.as_ref().is_none_or(|t| contact.tags.contains(t))
            && self.owner_id.is_none_or(|o| contact.owner_id == Some(o))
            && self.search.as_deref().is_none_or(|s| contact.matches_search(s))
    }
}
