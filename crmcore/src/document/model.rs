//! What the document repository stores: documents (metadata), their immutable versions (each
//! pointing at a content-addressed blob), and the hash-chained audit trail.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actor::Principal;
use crate::error::{CrmError, Result};
use crate::event::EntityRef;
use crate::id::{DocumentId, MemberId, TenantId};
use crate::ports::BlobKey;
use crate::value::Tag;

/// What kind of document it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Category {
    /// A contract.
    Contract,
    /// A proposal.
    Proposal,
    /// An invoice.
    Invoice,
    /// A quote.
    Quote,
    /// A report.
    Report,
    /// A presentation.
    Presentation,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 7] = [
        Category::Contract,
        Category::Proposal,
        Category::Invoice,
        Category::Quote,
        Category::Report,
        Category::Presentation,
        Category::Other,
    ];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Contract => "contract",
            Category::Proposal => "proposal",
            Category::Invoice => "invoice",
            Category::Quote => "quote",
            Category::Report => "report",
            Category::Presentation => "presentation",
            Category::Other => "other",
        }
    }

    /// Parses [`Category::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CrmError::invalid("category", "unknown", format!("unknown category `{s}`")))
    }
}

/// A document: metadata over a list of immutable versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    /// Its id.
    pub id: DocumentId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Title.
    pub title: String,
    /// Free text.
    pub description: String,
    /// Category.
    pub category: Category,
    /// Tags.
    pub tags: Vec<Tag>,
    /// The CRM records it belongs to (contacts, deals, campaigns).
    pub links: Vec<EntityRef>,
    /// Its owner.
    pub owner_id: MemberId,
    /// Who sees it besides its owner, the members it is shared with, and admins.
    pub visibility: Visibility,
    /// The number of the newest version (1-based).
    pub latest_version: u32,
    /// In the trash since (restorable until purged).
    pub trashed_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// One immutable upload of a document's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentVersion {
    /// Its document.
    pub document_id: DocumentId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// 1 for the first upload.
    pub number: u32,
    /// SHA-256 of the content: the blob's key. Identical content is stored once.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_key: BlobKey,
    /// Bytes.
    pub size: u64,
    /// The MIME type sniffed from the bytes.
    pub mime: String,
    /// The uploaded file's name, sanitised.
    pub filename: String,
    /// Who uploaded it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub uploaded_by: Principal,
    /// The uploader's note.
    pub note: Option<String>,
    /// When this version restores an older one: that version's number.
    pub restored_from: Option<u32>,
    /// Where its text extraction stands.
    pub text_status: TextStatus,
    /// Why extraction failed, when it did.
    pub text_error: Option<String>,
    /// Uploaded at.
    pub created_at: DateTime<Utc>,
}

/// Who may see a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Visibility {
    /// Every member of the tenant (their role decides what they may do).
    #[default]
    Tenant,
    /// Only its owner, the members it is shared with, and admins.
    Private,
}

impl Visibility {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Tenant => "tenant",
            Visibility::Private => "private",
        }
    }

    /// Parses [`Visibility::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tenant" => Ok(Visibility::Tenant),
            "private" => Ok(Visibility::Private),
            _ => Err(CrmError::invalid("visibility", "unknown", format!("unknown visibility `{s}`"))),
        }
    }
}

/// Where a version's text extraction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TextStatus {
    /// Waiting for (or being retried by) the extraction job.
    #[default]
    Pending,
    /// Extracted (possibly empty: a page with no words).
    Done,
    /// Given up, with a reason (`text_error`).
    Failed,
}

impl TextStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            TextStatus::Pending => "pending",
            TextStatus::Done => "done",
            TextStatus::Failed => "failed",
        }
    }

    /// Parses [`TextStatus::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(TextStatus::Pending),
            "done" => Ok(TextStatus::Done),
            "failed" => Ok(TextStatus::Failed),
            _ => Err(CrmError::invalid("text_status", "unknown", format!("unknown text status `{s}`"))),
        }
    }
}

/// The outcome of a version's text extraction, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOutcome {
    /// The text (the search index follows when it is the latest version's).
    Done(String),
    /// Given up: why.
    Failed(String),
}

/// A document shared with one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberGrant {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The document.
    pub document_id: DocumentId,
    /// The member.
    pub member_id: MemberId,
    /// What they may do.
    pub access: Access,
    /// Who shared it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub granted_by: Principal,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// Whose view of the documents a listing or search is for: decided by the service, applied by
/// the store inside its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Sees every document of the tenant (admins, owners, system jobs).
    All,
    /// Sees tenant-wide documents, its own, and those shared with it.
    Member(MemberId),
    /// Sees tenant-wide documents only (API keys below admin).
    TenantOnly,
}

impl Viewer {
    /// Whether this viewer sees `document`, given the members it is shared with (the reference
    /// the stores are held to).
    pub fn sees(&self, document: &Document, shared_with: &[MemberId]) -> bool {
        match self {
            Viewer::All => true,
            _ if document.visibility == Visibility::Tenant => true,
            Viewer::Member(m) => document.owner_id == *m || shared_with.contains(m),
            Viewer::TenantOnly => false,
        }
    }
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditAction {
    /// A document and its first version were uploaded.
    Upload,
    /// A new version was uploaded.
    NewVersion,
    /// An old version was restored as a new one.
    RestoreVersion,
    /// Metadata changed.
    Update,
    /// Someone viewed the metadata or versions.
    View,
    /// Someone downloaded a version.
    Download,
    /// Moved to the trash.
    Trash,
    /// Taken out of the trash.
    Untrash,
    /// Deleted for good.
    Purge,
    /// A share link was created.
    Share,
    /// A share link was revoked.
    Unshare,
    /// A document was downloaded through a share link.
    ShareDownload,
    /// A document was shared with a member (or their access changed).
    Grant,
    /// A member's access was taken away.
    Ungrant,
    /// An approval was requested.
    RequestApproval,
    /// An approver approved a step.
    Approve,
    /// An approver rejected a step.
    Reject,
    /// A pending approval was withdrawn or voided.
    CancelApproval,
}

impl AuditAction {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Upload => "upload",
            AuditAction::NewVersion => "new_version",
            AuditAction::RestoreVersion => "restore_version",
            AuditAction::Update => "update",
            AuditAction::View => "view",
            AuditAction::Download => "download",
            AuditAction::Trash => "trash",
            AuditAction::Untrash => "untrash",
            AuditAction::Purge => "purge",
            AuditAction::Share => "share",
            AuditAction::Unshare => "unshare",
            AuditAction::ShareDownload => "share_download",
            AuditAction::Grant => "grant",
            AuditAction::Ungrant => "ungrant",
            AuditAction::RequestApproval => "request_approval",
            AuditAction::Approve => "approve",
            AuditAction::Reject => "reject",
            AuditAction::CancelApproval => "cancel_approval",
        }
    }

    /// Parses [`AuditAction::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        use AuditAction::*;
        [
            Upload,
            NewVersion,
            RestoreVersion,
            Update,
            View,
            Download,
            Trash,
            Untrash,
            Purge,
            Share,
            Unshare,
            ShareDownload,
            Grant,
            Ungrant,
            RequestApproval,
            Approve,
            Reject,
            CancelApproval,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| CrmError::invalid("action", "unknown", format!("unknown audit action `{s}`")))
    }
}

/// An audit entry before the store places it in its tenant's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Principal,
    /// What.
    pub action: AuditAction,
    /// Which document.
    pub document_id: Option<DocumentId>,
    /// Details (version number, filename, …).
    pub detail: Value,
    /// From where (client address), when known.
    pub source: Option<String>,
}

/// One link of a tenant's append-only audit chain: it carries the hash of the previous entry,
/// so altering, removing or reordering any entry breaks every hash after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub actor: Principal,
    /// What.
    pub action: AuditAction,
    /// Which document.
    pub document_id: Option<DocumentId>,
    /// Details.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Value,
    /// From where.
    pub source: Option<String>,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this entry's canonical content.
    pub hash: String,
}

/// The `prev_hash` of a chain's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEntry {
    /// Places `draft` after `previous` (or first in its chain): the sequence number and both
    /// hashes. Stores call this inside the transaction that appends the entry.
    pub fn chain(previous: Option<&AuditEntry>, draft: &AuditDraft) -> AuditEntry {
        let seq = previous.map_or(1, |p| p.seq + 1);
        let prev_hash = previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash.clone());
        let mut entry = AuditEntry {
            seq,
            tenant_id: draft.tenant_id,
            at: draft.at,
            actor: draft.actor,
            action: draft.action,
            document_id: draft.document_id,
            detail: draft.detail.clone(),
            source: draft.source.clone(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.expected_hash();
        entry
    }

    /// The hash this entry must carry given its content and `prev_hash`. The content is
    /// serialized canonically (sorted keys, timestamps at microseconds), so it survives a round
    /// trip through any store.
    pub fn expected_hash(&self) -> String {
        let content = json!({
            "seq": self.seq,
            "tenant_id": self.tenant_id,
            "at": self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actor": self.actor,
            "action": self.action.as_str(),
            "document_id": self.document_id,
            "detail": self.detail,
            "source": self.source,
        });
        let mut input = self.prev_hash.clone().into_bytes();
        input.push(b'\n');
        input.extend_from_slice(content.to_string().as_bytes());
        crate::ports::BlobKey::of(&input).as_str().to_owned()
    }
}

/// The result of checking a tenant's audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    /// Entries checked.
    pub entries: u64,
    /// Whether every entry links to the previous one and carries its own hash.
    pub valid: bool,
    /// The first entry that does not (its `seq`), when the chain is broken.
    pub broken_at: Option<i64>,
}

/// Which documents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    /// Trashed documents instead of live ones.
    pub trashed: bool,
    /// Only this category.
    pub category: Option<Category>,
    /// Only with this tag.
    pub tag: Option<Tag>,
    /// Only owned by this member.
    pub owner_id: Option<MemberId>,
    /// Only linked to this record.
    pub linked: Option<EntityRef>,
    /// Only created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Only created before.
    pub created_before: Option<DateTime<Utc>>,
}

impl DocumentFilter {
    /// Whether `document` passes (the reference the stores are held to).
    pub fn matches(&self, document: &Document) -> bool {
        document.trashed_at.is_some() == self.trashed
            && self.category.is_none_or(|c| document.category == c)
            && self.tag.as_ref().is_none_or(|t| document.tags.contains(t))
            && self.owner_id.is_none_or(|o| document.owner_id == o)
            && self.linked.is_none_or(|l| document.links.contains(&l))
            && self.created_from.is_none_or(|t| document.created_at >= t)
            && self.created_before.is_none_or(|t| document.created_at < t)
    }
}

/// What a member may do with a document, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Access {
    /// Read it, its versions and its comments.
    View,
    /// And comment on it.
    Comment,
    /// And change it: metadata, new versions, restores, approvals.
    Edit,
}

impl Access {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::View => "view",
            Access::Comment => "comment",
            Access::Edit => "edit",
        }
    }

    /// Parses [`Access::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        [Access::View, Access::Comment, Access::Edit]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| CrmError::invalid("access", "unknown", format!("unknown access level `{s}`")))
    }

    /// The role permission this level also needs.
    pub fn permission(self) -> crate::actor::Permission {
        match self {
            Access::View => crate::actor::Permission::ViewRecords,
            Access::Comment => crate::actor::Permission::Comment,
            Access::Edit => crate::actor::Permission::EditRecords,
        }
    }
}
