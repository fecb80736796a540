//! The document service: what `crm.documents()` returns. Uploads (sniffed, allowlisted,
//! content-addressed: identical bytes are stored once), immutable versions and restores, the
//! trash, purge with deferred blob collection, downloads, and the audit trail with `verify`.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use futures::{Stream, StreamExt as _};

use super::upload::{Inspector, sanitize_filename};
use super::{
    Access, AuditAction, AuditDraft, AuditEntry, Category, ChainReport, CreatedShareLink, Document, DocumentFilter,
    DocumentVersion, MemberGrant, NewShareLink, SearchHit, SearchRequest, SearchResults, ShareLink, ShareLinkView,
    TextStatus, Viewer, Visibility,
};
use crate::actor::{Actor, Permission, Principal};
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType, diff};
use crate::id::{DocumentId, MemberId, ShareLinkId};
use crate::jobs::Job;
use crate::page::{Page, PageRequest};
use crate::ports::{BlobKey, BlobReader};
use crate::record::{check_expected_version, to_json};
use crate::value::Tag;

/// Document settings.
#[derive(Debug, Clone)]
pub struct DocumentConfig {
    /// Largest upload, in bytes.
    pub max_upload_bytes: u64,
    /// How long a purged document's blobs wait before they are deleted (an upload of the same
    /// content meanwhile keeps them).
    pub blob_grace: Duration,
    /// The OCR language (tesseract's name, e.g. `eng`).
    pub ocr_language: String,
    /// The resolution scanned PDF pages are rendered at for OCR.
    pub ocr_dpi: u32,
    /// Most pages of one PDF that are OCRed (the rest keep their text layer, if any).
    pub max_ocr_pages: usize,
}

impl Default for DocumentConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            blob_grace: Duration::minutes(10),
            ocr_language: "eng".into(),
            ocr_dpi: 300,
            max_ocr_pages: 100,
        }
    }
}

/// Metadata of a new document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewDocument {
    /// Title (default: the file name).
    pub title: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Category (default `other`).
    pub category: Option<Category>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Linked contacts, deals or campaigns.
    #[serde(default)]
    pub links: Vec<EntityRef>,
    /// A note on the first version.
    pub note: Option<String>,
    /// Who sees it (default: the whole tenant).
    #[serde(default)]
    pub visibility: Visibility,
}

impl NewDocument {
    /// A document titled `title`, everything else default.
    pub fn default_with_title(title: &str) -> Self {
        Self {
            title: Some(title.to_owned()),
            description: String::new(),
            category: None,
            tags: Vec::new(),
            links: Vec::new(),
            note: None,
            visibility: Visibility::Tenant,
        }
    }
}

/// One uploaded file.
#[derive(Clone)]
pub struct FileUpload {
    /// The client's file name (sanitised before it is stored).
    pub filename: String,
    /// The client's declared type, if any (checked against the sniffed one).
    pub declared_type: Option<String>,
    /// The content.
    pub bytes: Vec<u8>,
}

/// A file streamed into the blob store and checked, not yet part of any document: hand it to
/// [`DocumentService::upload_staged`] or [`DocumentService::upload_version_staged`], or give it
/// back with [`DocumentService::discard`].
#[derive(Debug)]
pub struct StagedFile {
    key: BlobKey,
    size: u64,
    mime: &'static str,
    filename: String,
}

impl StagedFile {
    /// The content's key.
    pub fn key(&self) -> &BlobKey {
        &self.key
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The sniffed MIME type.
    pub fn mime(&self) -> &'static str {
        self.mime
    }

    /// The sanitised file name.
    pub fn filename(&self) -> &str {
        &self.filename
    }
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUpload").field("filename", &self.filename).field("bytes", &self.bytes.len()).finish()
    }
}

/// Changes to a document's metadata. Absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentPatch {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category: Option<Category>,
    /// Replace all tags.
    pub tags: Option<Vec<String>>,
    /// Replace all links.
    pub links: Option<Vec<EntityRef>>,
    /// New owner.
    pub owner_id: Option<MemberId>,
    /// New visibility (only its owner or an admin may change it).
    pub visibility: Option<Visibility>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Source(pub Option<String>);

/// Documents.
#[derive(Debug, Clone, Copy)]
pub struct DocumentService<'a> {
    crm: &'a Crm,
}

/// Whose view of the documents `actor` has: admins, owners and system jobs see everything.
pub(crate) fn viewer_of(actor: &Actor) -> Viewer {
    match actor.principal {
        Principal::System => Viewer::All,
        _ if actor.role >= crate::actor::Role::Admin => Viewer::All,
        Principal::Member(m) => Viewer::Member(m),
        _ => Viewer::TenantOnly,
    }
}

fn document_ref(id: DocumentId) -> EntityRef {
    EntityRef { kind: EntityKind::Document, id: id.0 }
}

impl<'a> DocumentService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// The CRM this service runs on.
    pub(super) fn crm(&self) -> &'a Crm {
        self.crm
    }

    /// Approval workflows of documents.
    pub fn approvals(&self) -> super::ApprovalService<'a> {
        super::ApprovalService::new(self.crm)
    }

    fn draft(&self, actor: &Actor, action: AuditAction, id: DocumentId, detail: Value, source: &Source) -> AuditDraft {
        AuditDraft {
            tenant_id: actor.tenant_id,
            at: self.crm.clock().now(),
            actor: actor.principal,
            action,
            document_id: Some(id),
            detail,
            source: source.0.clone(),
        }
    }

    /// Streams a file into the blob store, checking it on the way (needs `edit_records`): the
    /// size cap, the type sniffed from the bytes against the allowlist, the name and the
    /// declared type, image sizes, and PDFs parsed when they are small enough to hold. At most
    /// a few MiB are in memory at any time, whatever the size. A file refused, or a `chunks`
    /// error, leaves nothing stored.
    pub async fn stage<S, B>(
        &self,
        actor: &Actor,
        filename: &str,
        declared_type: Option<&str>,
        chunks: S,
    ) -> Result<StagedFile>
    where
        S: Stream<Item = Result<B>> + Send,
        B: AsRef<[u8]> + Send,
    {
        actor.require(Permission::EditRecords)?;
        let max = self.crm.document_config().max_upload_bytes;
        let filename = sanitize_filename(filename);
        let mut inspector = Inspector::new(&filename, declared_type);
        let blobs = self.crm.blobs()?;
        let mut writer = blobs.writer().await?;
        let checked = async {
            let mut chunks = std::pin::pin!(chunks);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                let bytes = chunk.as_ref();
                if inspector.size() + bytes.len() as u64 > max {
                    return Err(CrmError::invalid("file", "too_large", format!("files are at most {max} bytes")));
                }
                inspector.push(bytes)?;
                writer.write(bytes).await?;
            }
            let size = inspector.size();
            let inspected = inspector.finish()?;
            // What is parsed later must parse now: a truncated or encrypted PDF is refused
            // before anything is stored.
            if let (Some(pdf), Ok(reader)) = (&inspected.pdf, self.crm.pdf_reader()) {
                reader.text_pages(pdf).await?;
            }
            Ok((inspected.mime, size))
        };
        match checked.await {
            Ok((mime, size)) => Ok(StagedFile { key: writer.finish().await?, size, mime, filename }),
            Err(error) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "a refused upload's spooled bytes could not be removed");
                }
                Err(error)
            }
        }
    }

    /// Gives back a staged file no document took: its blob is collected after the grace period
    /// unless a version references it by then.
    pub async fn discard(&self, file: StagedFile) {
        let now = self.crm.clock().now();
        let job = Job::CollectBlobs { keys: vec![file.key.as_str().to_owned()] };
        let queued = match job.to_new_job(now + self.crm.document_config().blob_grace) {
            Ok(job) => self.crm.store().jobs().enqueue(job, now).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(error) = queued {
            tracing::warn!(%error, key = %file.key, "a discarded upload's blob was not queued for collection");
        }
    }

    /// The version numbered `number` of `document` holding `file`.
    fn version_of(
        &self,
        actor: &Actor,
        document: DocumentId,
        number: u32,
        file: &StagedFile,
        note: Option<String>,
    ) -> Result<DocumentVersion> {
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            return Err(CrmError::invalid("note", "too_long", "notes are at most 1000 characters"));
        }
        Ok(DocumentVersion {
            document_id: document,
            tenant_id: actor.tenant_id,
            number,
            content_key: file.key.clone(),
            size: file.size,
            mime: file.mime.to_owned(),
            filename: file.filename.clone(),
            uploaded_by: actor.principal,
            note,
            restored_from: None,
            text_status: TextStatus::Pending,
            text_error: None,
            created_at: self.crm.clock().now(),
        })
    }

    /// A reader of a version's content.
    fn reader(&self, version: &DocumentVersion) -> Result<BlobReader> {
        Ok(BlobReader::new(self.crm.shared_blobs()?, version.content_key.clone(), version.size))
    }

    /// Checks a new document's metadata before its file is read (needs `edit_records`, as a
    /// member): the same checks [`upload_staged`](Self::upload_staged) makes, so a server can
    /// refuse bad metadata sent ahead of a large file before storing a byte of it.
    pub async fn check_new(&self, actor: &Actor, input: &NewDocument) -> Result<()> {
        self.checked_new(actor, input, "file").await.map(|_| ())
    }

    /// The owner, title and tags of a new document; its checks.
    async fn checked_new(
        &self,
        actor: &Actor,
        input: &NewDocument,
        filename: &str,
    ) -> Result<(MemberId, String, Vec<Tag>)> {
        actor.require(Permission::EditRecords)?;
        let Principal::Member(owner) = actor.principal else {
            return Err(CrmError::Forbidden("documents are owned by members; upload as a member".into()));
        };
        let mut v = Validator::new();
        let title = input.title.clone().unwrap_or_else(|| sanitize_filename(filename));
        let title = check_title(&mut v, &title);
        check_description(&mut v, &input.description);
        let tags = check_tags(&mut v, &input.tags);
        check_links(&mut v, &input.links);
        v.finish()?;
        self.check_links_exist(actor, &input.links).await?;
        Ok((owner, title, tags))
    }

    /// Uploads a new document with its first version (needs `edit_records`). The bytes are
    /// checked as [`stage`](Self::stage) checks them.
    pub async fn upload(
        &self,
        actor: &Actor,
        input: NewDocument,
        file: FileUpload,
        source: &Source,
    ) -> Result<(Document, DocumentVersion)> {
        let checked = self.checked_new(actor, &input, &file.filename).await?;
        let staged = self.stage_bytes(actor, &file).await?;
        let created = self.create(actor, input, checked, &staged, source).await;
        if created.is_err() {
            self.discard(staged).await;
        }
        created
    }

    async fn stage_bytes(&self, actor: &Actor, file: &FileUpload) -> Result<StagedFile> {
        let chunks = futures::stream::iter([Ok::<_, CrmError>(file.bytes.as_slice())]);
        self.stage(actor, &file.filename, file.declared_type.as_deref(), chunks).await
    }

    /// Creates a document whose first version holds a staged file (needs `edit_records`). A
    /// refused request gives the file back ([`discard`](Self::discard)).
    pub async fn upload_staged(
        &self,
        actor: &Actor,
        input: NewDocument,
        file: StagedFile,
        source: &Source,
    ) -> Result<(Document, DocumentVersion)> {
        let created = match self.checked_new(actor, &input, &file.filename).await {
            Ok(checked) => self.create(actor, input, checked, &file, source).await,
            Err(error) => Err(error),
        };
        match created {
            Ok(created) => Ok(created),
            Err(error) => {
                self.discard(file).await;
                Err(error)
            }
        }
    }

    async fn create(
        &self,
        actor: &Actor,
        input: NewDocument,
        (owner, title, tags): (MemberId, String, Vec<Tag>),
        file: &StagedFile,
        source: &Source,
    ) -> Result<(Document, DocumentVersion)> {
        let id = DocumentId::new();
        let first = self.version_of(actor, id, 1, file, input.note)?;
        let now = self.crm.clock().now();
        let document = Document {
            id,
            tenant_id: actor.tenant_id,
            title,
            description: input.description.trim().to_owned(),
            category: input.category.unwrap_or(Category::Other),
            tags,
            links: input.links,
            owner_id: owner,
            visibility: input.visibility,
            latest_version: 1,
            trashed_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let detail = json!({"version": 1, "filename": first.filename, "size": first.size, "mime": first.mime});
        let audit = self.draft(actor, AuditAction::Upload, id, detail, source);
        let event = DomainEvent::new(
            actor,
            EventType::DocumentCreated,
            document_ref(id),
            json!({"object": to_json(&document)?, "version": to_json(&first)?}),
            now,
        );
        self.crm.store().documents().insert(&document, &first, &audit, &[event]).await?;
        self.crm.wake_worker();
        Ok((document, first))
    }

    /// Uploads a new version of a document (needs `edit_records` and edit access).
    pub async fn upload_version(
        &self,
        actor: &Actor,
        id: DocumentId,
        file: FileUpload,
        note: Option<String>,
        source: &Source,
    ) -> Result<DocumentVersion> {
        self.authorize(actor, id, Access::Edit).await?;
        let staged = self.stage_bytes(actor, &file).await?;
        self.upload_version_staged(actor, id, staged, note, source).await
    }

    /// Adds a staged file as a document's new version (needs `edit_records` and edit access).
    /// A refused request gives the file back ([`discard`](Self::discard)).
    pub async fn upload_version_staged(
        &self,
        actor: &Actor,
        id: DocumentId,
        file: StagedFile,
        note: Option<String>,
        source: &Source,
    ) -> Result<DocumentVersion> {
        let added = async {
            let current = self.authorize(actor, id, Access::Edit).await?;
            let version = self.version_of(actor, id, current.latest_version + 1, &file, note)?;
            self.add_version(actor, current, version, AuditAction::NewVersion, source).await
        };
        match added.await {
            Ok(version) => Ok(version),
            Err(error) => {
                self.discard(file).await;
                Err(error)
            }
        }
    }

    /// Restores an old version as a new one (same content, no new bytes stored).
    pub async fn restore_version(
        &self,
        actor: &Actor,
        id: DocumentId,
        number: u32,
        source: &Source,
    ) -> Result<DocumentVersion> {
        let current = self.authorize(actor, id, Access::Edit).await?;
        let old = self.crm.store().documents().get_version(actor.tenant_id, id, number).await?;
        let version = DocumentVersion {
            number: current.latest_version + 1,
            uploaded_by: actor.principal,
            note: Some(format!("restored from version {number}")),
            restored_from: Some(number),
            text_status: TextStatus::Pending,
            text_error: None,
            created_at: self.crm.clock().now(),
            ..old
        };
        self.add_version(actor, current, version, AuditAction::RestoreVersion, source).await
    }

    async fn add_version(
        &self,
        actor: &Actor,
        current: Document,
        version: DocumentVersion,
        action: AuditAction,
        source: &Source,
    ) -> Result<DocumentVersion> {
        let now = self.crm.clock().now();
        let mut next = current.clone();
        next.latest_version = version.number;
        next.version += 1;
        next.updated_at = now;
        let detail = json!({"version": version.number, "filename": version.filename, "size": version.size,
                            "restored_from": version.restored_from});
        let audit = self.draft(actor, action, current.id, detail, source);
        let event = DomainEvent::new(
            actor,
            EventType::DocumentVersionAdded,
            document_ref(current.id),
            json!({"object": to_json(&next)?, "version": to_json(&version)?}),
            now,
        );
        super::add_version_voiding_approval(self.crm, actor, &next, &version, &audit, event, source).await?;
        self.crm.wake_worker();
        Ok(version)
    }

    /// Changes metadata (needs `edit_records`).
    pub async fn update(
        &self,
        actor: &Actor,
        id: DocumentId,
        patch: DocumentPatch,
        source: &Source,
    ) -> Result<Document> {
        let current = self.authorize(actor, id, Access::Edit).await?;
        check_expected_version(patch.expected_version, &current, "document")?;
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(title) = &patch.title {
            next.title = check_title(&mut v, title);
        }
        if let Some(description) = &patch.description {
            check_description(&mut v, description);
            next.description = description.trim().to_owned();
        }
        if let Some(category) = patch.category {
            next.category = category;
        }
        if let Some(tags) = &patch.tags {
            next.tags = check_tags(&mut v, tags);
        }
        if let Some(links) = &patch.links {
            check_links(&mut v, links);
            next.links = links.clone();
        }
        v.finish()?;
        if let Some(links) = &patch.links {
            self.check_links_exist(actor, links).await?;
        }
        if patch.owner_id.is_some() || patch.visibility.is_some() {
            let is_owner = actor.member_id() == Some(current.owner_id);
            if !is_owner && viewer_of(actor) != Viewer::All {
                return Err(CrmError::Forbidden(
                    "only the document's owner or an admin may change its owner or visibility".into(),
                ));
            }
        }
        if let Some(owner) = patch.owner_id {
            self.crm.store().members().get(actor.tenant_id, owner).await?;
            next.owner_id = owner;
        }
        if let Some(visibility) = patch.visibility {
            next.visibility = visibility;
        }
        self.save(actor, current, next, EventType::DocumentUpdated, AuditAction::Update, source).await
    }

    /// Moves a document to the trash (needs `delete_records`).
    pub async fn trash(&self, actor: &Actor, id: DocumentId, source: &Source) -> Result<Document> {
        actor.require(Permission::DeleteRecords)?;
        let current = self.authorize(actor, id, Access::Edit).await?;
        let mut next = current.clone();
        next.trashed_at = Some(self.crm.clock().now());
        self.save(actor, current, next, EventType::DocumentTrashed, AuditAction::Trash, source).await
    }

    /// Takes a document out of the trash (needs `delete_records`).
    pub async fn untrash(&self, actor: &Actor, id: DocumentId, source: &Source) -> Result<Document> {
        actor.require(Permission::DeleteRecords)?;
        let current = self.visible(actor, id, Access::Edit).await?;
        if current.trashed_at.is_none() {
            return Err(CrmError::conflict(Some("trashed_at"), "the document is not in the trash"));
        }
        let mut next = current.clone();
        next.trashed_at = None;
        self.save(actor, current, next, EventType::DocumentRestored, AuditAction::Untrash, source).await
    }

    /// Deletes a trashed document and its versions for good (needs `delete_records`). Blobs no
    /// version references any more are collected after the grace period.
    pub async fn purge(&self, actor: &Actor, id: DocumentId, source: &Source) -> Result<()> {
        actor.require(Permission::DeleteRecords)?;
        let repo = self.crm.store().documents();
        let current = self.visible(actor, id, Access::Edit).await?;
        if current.trashed_at.is_none() {
            return Err(CrmError::conflict(Some("trashed_at"), "only documents in the trash can be purged"));
        }
        let now = self.crm.clock().now();
        let audit = self.draft(actor, AuditAction::Purge, id, json!({"title": current.title}), source);
        let event = DomainEvent::new(
            actor,
            EventType::DocumentPurged,
            document_ref(id),
            json!({"object": to_json(&current)?}),
            now,
        );
        let keys = repo.purge(actor.tenant_id, id, &audit, &[event]).await?;
        if !keys.is_empty() {
            let job = Job::CollectBlobs { keys: keys.iter().map(|k| k.as_str().to_owned()).collect() };
            let at = now + self.crm.document_config().blob_grace;
            self.crm.store().jobs().enqueue(job.to_new_job(at)?, now).await?;
        }
        self.crm.wake_worker();
        Ok(())
    }

    /// One document (needs `view_records` and view access; trashed ones too); the view is
    /// audited.
    pub async fn get(&self, actor: &Actor, id: DocumentId, source: &Source) -> Result<Document> {
        let document = self.visible(actor, id, Access::View).await?;
        let draft = self.draft(actor, AuditAction::View, id, Value::Null, source);
        self.crm.store().documents().record_audit(&draft).await?;
        Ok(document)
    }

    /// Documents matching `filter` that the actor may see, newest first.
    pub async fn list(&self, actor: &Actor, filter: &DocumentFilter, page: PageRequest) -> Result<Page<Document>> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().documents().list(actor.tenant_id, viewer_of(actor), filter, page).await
    }

    /// Full-text search over the title, tags and latest text of the live documents the actor
    /// may see (the store filters by permission inside its query), best first, with the title
    /// and a snippet highlighted.
    pub async fn search(&self, actor: &Actor, request: &SearchRequest) -> Result<SearchResults> {
        actor.require(Permission::ViewRecords)?;
        if !(1..=100).contains(&request.limit) {
            return Err(CrmError::invalid("limit", "out_of_range", "between 1 and 100"));
        }
        let mut ask = request.clone();
        ask.filter.trashed = false;
        ask.limit = request.limit + 1;
        let mut stored = self.crm.store().documents().search(actor.tenant_id, viewer_of(actor), &ask).await?;
        let more = stored.len() > request.limit as usize;
        stored.truncate(request.limit as usize);
        let hits = stored
            .into_iter()
            .map(|hit| SearchHit {
                title_html: super::search::highlight(&hit.document.title, &request.query),
                snippet_html: hit
                    .text
                    .as_deref()
                    .map(|t| super::search::snippet(t, &request.query))
                    .unwrap_or_default(),
                document: hit.document,
            })
            .collect();
        Ok(SearchResults { hits, next_offset: more.then(|| request.offset + request.limit) })
    }

    /// A version's extracted text (`None` until extraction is done).
    pub async fn text(&self, actor: &Actor, id: DocumentId, number: u32) -> Result<Option<String>> {
        Ok(self.version_text(actor, id, number).await?.1)
    }

    /// A version (its extraction status and error) with its extracted text.
    pub async fn version_text(
        &self,
        actor: &Actor,
        id: DocumentId,
        number: u32,
    ) -> Result<(DocumentVersion, Option<String>)> {
        self.visible(actor, id, Access::View).await?;
        let repo = self.crm.store().documents();
        let version = repo.get_version(actor.tenant_id, id, number).await?;
        let text = repo.version_text(actor.tenant_id, id, number).await?;
        Ok((version, text))
    }

    /// Shares a document with a member at `access` (needs edit access), or changes their access.
    pub async fn share_with(
        &self,
        actor: &Actor,
        id: DocumentId,
        member: MemberId,
        access: Access,
        source: &Source,
    ) -> Result<MemberGrant> {
        let document = self.authorize(actor, id, Access::Edit).await?;
        if member == document.owner_id {
            return Err(CrmError::invalid("member_id", "owner", "the owner already has full access"));
        }
        let now = self.crm.clock().now();
        let grant = MemberGrant {
            tenant_id: actor.tenant_id,
            document_id: id,
            member_id: member,
            access,
            granted_by: actor.principal,
            granted_at: now,
        };
        let audit = self.draft(actor, AuditAction::Grant, id, json!({"member_id": member, "access": access}), source);
        let event = DomainEvent::new(
            actor,
            EventType::DocumentShared,
            document_ref(id),
            json!({"object": to_json(&document)?, "grant": to_json(&grant)?}),
            now,
        );
        self.crm.store().documents().put_grant(&grant, &audit, &[event]).await?;
        self.crm.wake_worker();
        Ok(grant)
    }

    /// Takes a member's access away (needs edit access); `NotFound` when they had none.
    pub async fn unshare_with(&self, actor: &Actor, id: DocumentId, member: MemberId, source: &Source) -> Result<()> {
        let document = self.authorize(actor, id, Access::Edit).await?;
        let now = self.crm.clock().now();
        let audit = self.draft(actor, AuditAction::Ungrant, id, json!({"member_id": member}), source);
        let event = DomainEvent::new(
            actor,
            EventType::DocumentUnshared,
            document_ref(id),
            json!({"object": to_json(&document)?, "member_id": member}),
            now,
        );
        self.crm.store().documents().remove_grant(actor.tenant_id, id, member, &audit, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    /// The members a document is shared with.
    pub async fn grants(&self, actor: &Actor, id: DocumentId) -> Result<Vec<MemberGrant>> {
        self.visible(actor, id, Access::View).await?;
        self.crm.store().documents().grants(actor.tenant_id, id).await
    }

    /// What `actor` may do with a document (`None`: it may not even see it).
    pub async fn access_of(&self, actor: &Actor, document: &Document) -> Result<Option<Access>> {
        Ok(match viewer_of(actor) {
            Viewer::All => Some(Access::Edit),
            _ if document.visibility == Visibility::Tenant => Some(Access::Edit),
            Viewer::Member(m) if m == document.owner_id => Some(Access::Edit),
            Viewer::Member(m) => self.crm.store().documents().grant_of(actor.tenant_id, document.id, m).await?,
            Viewer::TenantOnly => None,
        })
    }

    /// The document (trashed or not) if `actor` may act on it at `access`: `NotFound` when the
    /// actor may not see it, `Forbidden` when its role or its access falls short.
    pub async fn visible(&self, actor: &Actor, id: DocumentId, access: Access) -> Result<Document> {
        actor.require(access.permission())?;
        let document = self.crm.store().documents().get(actor.tenant_id, id).await?;
        match self.access_of(actor, &document).await? {
            None => Err(CrmError::not_found("document", id)),
            Some(has) if has < access => Err(CrmError::Forbidden(format!(
                "this document is shared with you for {}; this needs {}",
                has.as_str(),
                access.as_str()
            ))),
            Some(_) => Ok(document),
        }
    }

    /// A document's versions, oldest first.
    pub async fn versions(&self, actor: &Actor, id: DocumentId) -> Result<Vec<DocumentVersion>> {
        self.visible(actor, id, Access::View).await?;
        self.crm.store().documents().versions(actor.tenant_id, id).await
    }

    /// A version's content (the latest when `number` is `None`), to read in pieces; the download
    /// is audited.
    pub async fn download(
        &self,
        actor: &Actor,
        id: DocumentId,
        number: Option<u32>,
        source: &Source,
    ) -> Result<(DocumentVersion, BlobReader)> {
        let document = self.visible(actor, id, Access::View).await?;
        let repo = self.crm.store().documents();
        let version = repo.get_version(actor.tenant_id, id, number.unwrap_or(document.latest_version)).await?;
        let content = self.reader(&version)?;
        let detail = json!({"version": version.number, "size": version.size});
        repo.record_audit(&self.draft(actor, AuditAction::Download, id, detail, source)).await?;
        Ok((version, content))
    }

    /// The tenant's audit trail from `after_seq`, oldest first (needs `view_audit_log`).
    pub async fn audit_trail(&self, actor: &Actor, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::ViewAuditLog)?;
        self.crm.store().documents().audit_entries(actor.tenant_id, after_seq, limit.clamp(1, 1000)).await
    }

    /// One document's audit entries, newest first, before `before_seq` (needs `view_audit_log`
    /// and sight of the document; a purged document's entries are still listed).
    pub async fn document_audit(
        &self,
        actor: &Actor,
        id: DocumentId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::ViewAuditLog)?;
        let entries = self
            .crm
            .store()
            .documents()
            .document_audit_entries(actor.tenant_id, id, before_seq, limit.clamp(1, 1000))
            .await?;
        if entries.is_empty() {
            // Nothing recorded: the document does not exist for this actor.
            self.visible(actor, id, Access::View).await?;
        }
        Ok(entries)
    }

    /// Walks the tenant's whole audit chain and checks every link and hash.
    pub async fn verify_audit_trail(&self, actor: &Actor) -> Result<ChainReport> {
        actor.require(Permission::ViewAuditLog)?;
        let repo = self.crm.store().documents();
        let mut previous: Option<AuditEntry> = None;
        let mut entries = 0;
        loop {
            let after = previous.as_ref().map_or(0, |p| p.seq);
            let batch = repo.audit_entries(actor.tenant_id, after, 1000).await?;
            if batch.is_empty() {
                return Ok(ChainReport { entries, valid: true, broken_at: None });
            }
            for entry in batch {
                entries += 1;
                let expected_prev = previous.as_ref().map_or(super::GENESIS_HASH, |p| p.hash.as_str());
                let expected_seq = previous.as_ref().map_or(1, |p| p.seq + 1);
                if entry.seq != expected_seq || entry.prev_hash != expected_prev || entry.hash != entry.expected_hash()
                {
                    return Ok(ChainReport { entries, valid: false, broken_at: Some(entry.seq) });
                }
                previous = Some(entry);
            }
        }
    }

    /// Creates a share link (needs `edit_records`); the token is returned once.
    pub async fn share(
        &self,
        actor: &Actor,
        id: DocumentId,
        input: NewShareLink,
        source: &Source,
    ) -> Result<CreatedShareLink> {
        let document = self.authorize(actor, id, Access::Edit).await?;
        let now = self.crm.clock().now();
        let expires_at = super::share::expiry(now, input.expires_in_hours)?;
        if let Some(number) = input.version {
            self.crm.store().documents().get_version(actor.tenant_id, id, number).await?;
        }
        if input.max_downloads == Some(0) {
            return Err(CrmError::invalid("max_downloads", "out_of_range", "allow at least one download"));
        }
        let password_hash = match &input.password {
            Some(p) if !(8..=200).contains(&p.chars().count()) => {
                return Err(CrmError::invalid("password", "invalid", "passwords are 8 to 200 characters"));
            }
            Some(p) => Some(super::share::hash_password(super::share::NewShareLinkSecret(p))?),
            None => None,
        };
        let token = crate::secret::random_token(super::share::TOKEN_PREFIX, 32)?;
        let link = ShareLink {
            id: ShareLinkId::new(),
            tenant_id: actor.tenant_id,
            document_id: document.id,
            token_hash: crate::secret::hash_token(&token),
            version: input.version,
            expires_at,
            password_hash,
            max_downloads: input.max_downloads,
            downloads: 0,
            revoked_at: None,
            created_by: actor.principal,
            created_at: now,
        };
        let detail = json!({"link_id": link.id, "expires_at": expires_at, "password": link.password_hash.is_some(),
                            "max_downloads": link.max_downloads});
        let audit = self.draft(actor, AuditAction::Share, id, detail, source);
        self.crm.store().documents().insert_share_link(&link, &audit, &[]).await?;
        Ok(CreatedShareLink { link: ShareLinkView::from(&link), token })
    }

    /// A document's share links, newest first.
    pub async fn share_links(&self, actor: &Actor, id: DocumentId) -> Result<Vec<ShareLinkView>> {
        self.visible(actor, id, Access::View).await?;
        let links = self.crm.store().documents().share_links(actor.tenant_id, id).await?;
        Ok(links.iter().map(ShareLinkView::from).collect())
    }

    /// Revokes a share link (needs `edit_records` and edit access to its document).
    pub async fn revoke_share_link(&self, actor: &Actor, link: ShareLinkId, source: &Source) -> Result<ShareLinkView> {
        actor.require(Permission::EditRecords)?;
        let repo = self.crm.store().documents();
        // Edit access to its document (a link of a document the actor may not see is absent).
        let found = repo.get_share_link(actor.tenant_id, link).await?;
        self.visible(actor, found.document_id, Access::Edit).await.map_err(|e| match e {
            CrmError::NotFound { .. } => CrmError::not_found("share link", link),
            other => other,
        })?;
        let now = self.crm.clock().now();
        let draft = AuditDraft {
            tenant_id: actor.tenant_id,
            at: now,
            actor: actor.principal,
            action: AuditAction::Unshare,
            document_id: Some(found.document_id),
            detail: json!({"link_id": link}),
            source: source.0.clone(),
        };
        let revoked = repo.revoke_share_link(actor.tenant_id, link, now, &draft).await?;
        Ok(ShareLinkView::from(&revoked))
    }

    /// Serves a share link to anyone holding its token: the document's (or pinned) version and
    /// its bytes. An unknown, revoked or expired link, or a trashed document, is `NotFound` (the
    /// same answer whatever the reason); a missing or wrong password is `Unauthenticated`; a used
    /// up download limit is `Conflict`. Each download is counted and audited.
    pub async fn open_share_link(
        &self,
        token: &str,
        password: Option<&str>,
        source: &Source,
    ) -> Result<(ShareLinkView, Document, DocumentVersion, BlobReader)> {
        let dead = || CrmError::not_found("share link", "this link");
        if !token.starts_with(super::share::TOKEN_PREFIX) || token.len() > 100 {
            return Err(dead());
        }
        let repo = self.crm.store().documents();
        let link = repo.find_share_link(&crate::secret::hash_token(token)).await?.ok_or_else(dead)?;
        let now = self.crm.clock().now();
        if matches!(link.refusal(now), Some("revoked" | "expired")) {
            return Err(dead());
        }
        if let Some(phc) = &link.password_hash {
            match password {
                None => return Err(CrmError::Unauthenticated("this link needs its password".into())),
                Some(p) if !super::share::password_matches(p, phc) => {
                    return Err(CrmError::Unauthenticated("wrong password".into()));
                }
                Some(_) => {}
            }
        }
        let document = repo.get(link.tenant_id, link.document_id).await.map_err(|_| dead())?;
        if document.trashed_at.is_some() {
            return Err(dead());
        }
        let number = link.version.unwrap_or(document.latest_version);
        let version = repo.get_version(link.tenant_id, document.id, number).await?;
        let content = self.reader(&version)?;
        let audit = AuditDraft {
            tenant_id: link.tenant_id,
            at: now,
            actor: Principal::System,
            action: AuditAction::ShareDownload,
            document_id: Some(document.id),
            detail: json!({"link_id": link.id, "version": number}),
            source: source.0.clone(),
        };
        let counted = repo.use_share_link(link.id, now, &audit).await?;
        Ok((ShareLinkView::from(&counted), document, version, content))
    }

    /// The live (untrashed) document if `actor` may act on it at `access`: `NotFound` when the
    /// actor may not even see it, `Forbidden` when it may see but not act.
    pub async fn authorize(&self, actor: &Actor, id: DocumentId, access: Access) -> Result<Document> {
        let document = self.visible(actor, id, access).await?;
        if document.trashed_at.is_some() {
            return Err(CrmError::conflict(Some("trashed_at"), "the document is in the trash"));
        }
        Ok(document)
    }

    async fn save(
        &self,
        actor: &Actor,
        current: Document,
        mut next: Document,
        event_type: EventType,
        action: AuditAction,
        source: &Source,
    ) -> Result<Document> {
        let changes = diff(&to_json(&current)?, &to_json(&next)?, &["version", "updated_at"]);
        if changes.is_empty() {
            return Ok(current);
        }
        let now = self.crm.clock().now();
        next.version = current.version + 1;
        next.updated_at = now;
        let audit =
            self.draft(actor, action, current.id, json!({"changes": changes.keys().collect::<Vec<_>>()}), source);
        let event = DomainEvent::new(
            actor,
            event_type,
            document_ref(current.id),
            json!({"object": to_json(&next)?, "changes": changes}),
            now,
        );
        self.crm.store().documents().update(&next, &audit, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    async fn check_links_exist(&self, actor: &Actor, links: &[EntityRef]) -> Result<()> {
        let store = self.crm.store();
        for link in links {
            match link.kind {
                EntityKind::Contact => {
                    store.contacts().get(actor.tenant_id, crate::id::ContactId(link.id)).await.map(drop)?
                }
                EntityKind::Deal => store.deals().get(actor.tenant_id, crate::id::DealId(link.id)).await.map(drop)?,
                EntityKind::Campaign => {
                    store.campaigns().get(actor.tenant_id, crate::id::CampaignId(link.id)).await.map(drop)?
                }
                _ => {
                    return Err(CrmError::invalid(
                        "links",
                        "unsupported",
                        "documents link to contacts, deals or campaigns",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Deletes blobs that are still unreferenced after the grace period.
pub(crate) async fn collect_blobs(crm: &Crm, keys: &[String]) -> Result<()> {
    let keys: Vec<BlobKey> = keys.iter().filter_map(|k| BlobKey::parse(k).ok()).collect();
    let unreferenced = crm.store().documents().unreferenced(&keys).await?;
    let blobs = crm.blobs()?;
    for key in unreferenced {
        blobs.delete(&key).await?;
    }
    Ok(())
}

fn check_title(v: &mut Validator, raw: &str) -> String {
    let title = raw.trim();
    if title.is_empty() || title.chars().count() > 300 {
        v.push(FieldError::new("title", "invalid", "a title of 1 to 300 characters"));
    }
    title.to_owned()
}

fn check_description(v: &mut Validator, raw: &str) {
    if raw.chars().count() > 5000 {
        v.push(FieldError::new("description", "too_long", "at most 5000 characters"));
    }
}

fn check_tags(v: &mut Validator, raw: &[String]) -> Vec<Tag> {
    let mut tags = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        match Tag::parse(t) {
            Ok(tag) if !tags.contains(&tag) => tags.push(tag),
            Ok(_) => {}
            Err(_) => v.push(FieldError::new(format!("tags[{i}]"), "invalid", "tags are 1-64 characters, no commas")),
        }
    }
    if tags.len() > 50 {
        v.push(FieldError::new("tags", "too_many", "at most 50 tags"));
    }
    tags
}

fn check_links(v: &mut Validator, links: &[EntityRef]) {
    if links.len() > 50 {
        v.push(FieldError::new("links", "too_many", "at most 50 links"));
    }
    for (i, link) in links.iter().enumerate() {
        if !matches!(link.kind, EntityKind::Contact | EntityKind::Deal | EntityKind::Campaign) {
            v.push(FieldError::new(format!("links[{i}].kind"), "unsupported", "contacts, deals or campaigns"));
        }
    }
}
