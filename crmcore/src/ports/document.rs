use async_trait::async_trait;

use crate::document::{
    Access, ApprovalVoid, AuditDraft, AuditEntry, Document, DocumentFilter, DocumentTemplate, DocumentVersion,
    MemberGrant, SearchRequest, ShareLink, StoredHit, TextOutcome, Viewer,
};
use crate::error::Result;
use crate::event::DomainEvent;
use crate::id::{DocumentId, DocumentTemplateId, MemberId, ShareLinkId, TenantId};
use crate::page::{Page, PageRequest};
use crate::ports::BlobKey;

/// Documents, their versions and the tenant's hash-chained audit trail.
///
/// # Contract
/// Every write is one transaction with its events and its audit entry: the entry is appended to
/// the tenant's chain with [`AuditEntry::chain`] over the chain's last entry, read inside the
/// same transaction and serialized per tenant, so concurrent writers never fork the chain.
/// Versioned writes need the stored document version to be `document.version - 1` (`Conflict`
/// otherwise, `NotFound` when absent from the tenant).
///
/// Search: stores index [`SearchText::of`](crate::document::SearchText::of) for every document —
/// title and tags on every write, the body when the latest version's text is recorded (a new
/// version empties it until its own text is) — and answer [`DocumentRepository::search`] with
/// exactly the documents [`SearchQuery::matches`](crate::document::SearchQuery::matches), of the
/// tenant, live, passing the filter and seen by the viewer ([`Viewer::sees`]), inside one query;
/// of those, the [`RANK_WINDOW`](crate::document::search::RANK_WINDOW) newest (by id) are ranked
/// and paged, the rest left out.
#[async_trait]
pub trait DocumentRepository: Send + Sync {
    /// Inserts a document with its first version.
    async fn insert(
        &self,
        document: &Document,
        first: &DocumentVersion,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<()>;
    /// Adds a version (its `number` is `document.latest_version`) and replaces the document.
    /// The document's pending approval is cancelled with it: `void` MUST be that approval as
    /// cancelled (written like [`ApprovalRepository::update`](crate::ports::ApprovalRepository::update),
    /// its audit entry after the version's), and MUST be `None` only when none is pending; the
    /// call MUST return `Conflict` (field `approval`) otherwise, writing nothing.
    async fn add_version(
        &self,
        document: &Document,
        version: &DocumentVersion,
        audit: &AuditDraft,
        events: &[DomainEvent],
        void: Option<&ApprovalVoid>,
    ) -> Result<()>;
    /// Replaces a document's metadata (title, tags, trash state…).
    async fn update(&self, document: &Document, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()>;
    /// MUST return `NotFound` when absent from the tenant.
    async fn get(&self, tenant: TenantId, id: DocumentId) -> Result<Document>;
    /// Documents matching `filter` that `viewer` sees, newest first.
    async fn list(
        &self,
        tenant: TenantId,
        viewer: Viewer,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<Document>>;
    /// Live documents matching the search that `viewer` sees, best first: at most
    /// `request.limit` after skipping `request.offset`, each with its latest text. Ties rank the
    /// newer document first.
    async fn search(&self, tenant: TenantId, viewer: Viewer, request: &SearchRequest) -> Result<Vec<StoredHit>>;
    /// A document's versions, oldest first (`NotFound` when the document is absent).
    async fn versions(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<DocumentVersion>>;
    /// One version; `NotFound` when absent.
    async fn get_version(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<DocumentVersion>;
    /// Deletes a document and its versions for good. Returns the content keys of its versions
    /// that no version (of any document, any tenant) references any more: the blobs to delete.
    async fn purge(
        &self,
        tenant: TenantId,
        id: DocumentId,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<Vec<BlobKey>>;
    /// Of `keys`, those no version references (blobs stored for uploads that never committed).
    async fn unreferenced(&self, keys: &[BlobKey]) -> Result<Vec<BlobKey>>;
    /// Appends a standalone entry (a view, a download) to the tenant's chain.
    async fn record_audit(&self, audit: &AuditDraft) -> Result<AuditEntry>;
    /// The tenant's chain from `after_seq` (exclusive), ascending, at most `limit`.
    async fn audit_entries(&self, tenant: TenantId, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>>;
    /// One document's entries of the tenant's chain, newest first: those before `before_seq`
    /// (all when `None`), at most `limit`.
    async fn document_audit_entries(
        &self,
        tenant: TenantId,
        document: DocumentId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// Records a version's extraction outcome (and indexes the text when the version is its
    /// document's latest); `NotFound` when the version is absent.
    async fn set_text(&self, tenant: TenantId, id: DocumentId, number: u32, outcome: &TextOutcome) -> Result<()>;
    /// A version's extracted text (`None` until done); `NotFound` when the version is absent.
    async fn version_text(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<Option<String>>;

    /// Shares a document with a member, or changes their access (one grant per member).
    /// `NotFound` when the document or the member is absent from the tenant.
    async fn put_grant(&self, grant: &MemberGrant, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()>;
    /// Takes a member's access away; `NotFound` when they had none.
    async fn remove_grant(
        &self,
        tenant: TenantId,
        id: DocumentId,
        member: MemberId,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<()>;
    /// The members a document is shared with, in the order they were granted.
    async fn grants(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<MemberGrant>>;
    /// A member's grant on a document, if any.
    async fn grant_of(&self, tenant: TenantId, id: DocumentId, member: MemberId) -> Result<Option<Access>>;

    /// Inserts a template; `Conflict` on `name` when the tenant has one of that name.
    async fn insert_template(&self, template: &DocumentTemplate) -> Result<()>;
    /// Replaces a template whose stored version is `template.version - 1` (`Conflict`
    /// otherwise, also on a taken `name`; `NotFound` when absent).
    async fn update_template(&self, template: &DocumentTemplate) -> Result<()>;
    /// One template; `NotFound` when absent from the tenant.
    async fn get_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<DocumentTemplate>;
    /// The tenant's templates, by name.
    async fn templates(&self, tenant: TenantId) -> Result<Vec<DocumentTemplate>>;
    /// Deletes a template; `NotFound` when absent from the tenant.
    async fn delete_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<()>;

    /// Inserts a share link; `NotFound` when its document is absent from the tenant.
    async fn insert_share_link(&self, link: &ShareLink, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()>;
    /// A document's share links, newest first.
    async fn share_links(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<ShareLink>>;
    /// One share link of the tenant; `NotFound` when absent.
    async fn get_share_link(&self, tenant: TenantId, id: ShareLinkId) -> Result<ShareLink>;
    /// The link whose token hashes to `token_hash`, of any tenant.
    async fn find_share_link(&self, token_hash: &str) -> Result<Option<ShareLink>>;
    /// Marks a link revoked at `at` (keeping the first revocation time); `NotFound` when absent.
    async fn revoke_share_link(
        &self,
        tenant: TenantId,
        id: ShareLinkId,
        at: chrono::DateTime<chrono::Utc>,
        audit: &AuditDraft,
    ) -> Result<ShareLink>;
    /// Counts one download, atomically: only while the link is not revoked, not expired at `now`
    /// and under its download limit (`Conflict` naming why otherwise); appends `audit`. Returns
    /// the link as counted.
    async fn use_share_link(
        &self,
        id: ShareLinkId,
        now: chrono::DateTime<chrono::Utc>,
        audit: &AuditDraft,
    ) -> Result<ShareLink>;
}
