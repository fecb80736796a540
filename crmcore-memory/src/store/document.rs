//! Documents, versions and the audit chains in memory, under the store's one lock (which is what
//! serializes each tenant's chain).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmcore::document::{
    Access, ApprovalVoid, AuditDraft, AuditEntry, Document, DocumentFilter, DocumentTemplate, DocumentVersion,
    MemberGrant, SearchRequest, SearchText, ShareLink, StoredHit, TextOutcome, TextStatus, Viewer,
};
use crmcore::event::DomainEvent;
use crmcore::id::{DocumentId, DocumentTemplateId, MemberId, ShareLinkId, TenantId};
use crmcore::page::{Page, PageRequest};
use crmcore::ports::{BlobKey, DocumentRepository};
use crmcore::{CrmError, Result};

use super::{MemoryStore, State, owned, page_of};

/// The document part of the in-memory state.
#[derive(Debug, Default)]
pub(super) struct DocumentState {
    documents: BTreeMap<DocumentId, Document>,
    versions: HashMap<DocumentId, Vec<DocumentVersion>>,
    audit: HashMap<TenantId, Vec<AuditEntry>>,
    share_links: BTreeMap<ShareLinkId, ShareLink>,
    /// Extracted texts per (document, version number).
    texts: HashMap<(DocumentId, u32), String>,
    /// Members each document is shared with, in grant order.
    grants: HashMap<DocumentId, Vec<MemberGrant>>,
    /// What search sees of each document: its normalized title, tags and latest text.
    index: HashMap<DocumentId, SearchText>,
    templates: BTreeMap<DocumentTemplateId, DocumentTemplate>,
}

impl State {
    pub(super) fn append_audit(&mut self, draft: &AuditDraft) -> AuditEntry {
        let chain = self.document.audit.entry(draft.tenant_id).or_default();
        let entry = AuditEntry::chain(chain.last(), draft);
        chain.push(entry.clone());
        entry
    }

    fn check_document_version(&self, document: &Document) -> Result<()> {
        State::check_version(
            self.document.documents.get(&document.id),
            |d| d.tenant_id,
            |d| d.version,
            document.tenant_id,
            document.version,
            "document",
            document.id,
        )
    }

    /// Re-indexes a document's title and tags, keeping or emptying its body.
    fn index_document(&mut self, document: &Document, keep_body: bool) {
        let body = if keep_body { self.document.index.get(&document.id).map(|t| t.body.clone()) } else { None };
        let mut text = SearchText::of(document, None);
        text.body = body.unwrap_or_default();
        self.document.index.insert(document.id, text);
    }

    fn shared_with(&self, id: DocumentId) -> Vec<MemberId> {
        self.document.grants.get(&id).map(|g| g.iter().map(|g| g.member_id).collect()).unwrap_or_default()
    }

    /// The tenant's document `id`; `NotFound` otherwise.
    pub(super) fn document_of(&self, tenant: TenantId, id: DocumentId) -> Result<&Document> {
        self.document
            .documents
            .get(&id)
            .filter(|d| d.tenant_id == tenant)
            .ok_or_else(|| CrmError::not_found("document", id))
    }

    fn referenced_keys(&self) -> HashSet<&BlobKey> {
        self.document.versions.values().flatten().map(|v| &v.content_key).collect()
    }
}

#[async_trait]
impl DocumentRepository for MemoryStore {
    async fn insert(
        &self,
        document: &Document,
        first: &DocumentVersion,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<()> {
        let mut state = self.lock();
        if state.document.documents.contains_key(&document.id) {
            return Err(CrmError::conflict(Some("id"), format!("document {} exists", document.id)));
        }
        state.check_member_exists(document.tenant_id, Some(document.owner_id))?;
        state.document.documents.insert(document.id, document.clone());
        state.document.versions.insert(document.id, vec![first.clone()]);
        state.index_document(document, false);
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn add_version(
        &self,
        document: &Document,
        version: &DocumentVersion,
        audit: &AuditDraft,
        events: &[DomainEvent],
        void: Option<&ApprovalVoid>,
    ) -> Result<()> {
        let mut state = self.lock();
        state.check_document_version(document)?;
        state.check_void(document, void)?;
        let versions = state.document.versions.entry(document.id).or_default();
        if versions.iter().any(|v| v.number == version.number) {
            return Err(CrmError::conflict(Some("number"), format!("version {} exists", version.number)));
        }
        versions.push(version.clone());
        state.document.documents.insert(document.id, document.clone());
        state.index_document(document, false);
        state.append_audit(audit);
        state.apply_void(void);
        state.append(events);
        Ok(())
    }

    async fn update(&self, document: &Document, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        state.check_document_version(document)?;
        state.check_member_exists(document.tenant_id, Some(document.owner_id))?;
        state.document.documents.insert(document.id, document.clone());
        state.index_document(document, true);
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: DocumentId) -> Result<Document> {
        let state = self.lock();
        state
            .document
            .documents
            .get(&id)
            .filter(|d| d.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("document", id))
    }

    async fn list(
        &self,
        tenant: TenantId,
        viewer: Viewer,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<Document>> {
        let state = self.lock();
        let keep =
            |d: &Document| d.tenant_id == tenant && filter.matches(d) && viewer.sees(d, &state.shared_with(d.id));
        Ok(page_of(&state.document.documents, page, keep, DocumentId, |d| d.id.0))
    }

    async fn search(&self, tenant: TenantId, viewer: Viewer, request: &SearchRequest) -> Result<Vec<StoredHit>> {
        let state = self.lock();
        let mut filter = request.filter.clone();
        filter.trashed = false;
        // Newest first (ids grow with time), the rank window, then ranked.
        let mut hits: Vec<(f64, &Document)> = state
            .document
            .documents
            .values()
            .rev()
            .filter(|d| d.tenant_id == tenant && filter.matches(d) && viewer.sees(d, &state.shared_with(d.id)))
            .filter_map(|d| {
                let text = state.document.index.get(&d.id)?;
                request.query.matches(text).then(|| (request.query.score(text), d))
            })
            .take(crmcore::document::search::RANK_WINDOW)
            .collect();
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
        Ok(hits
            .into_iter()
            .skip(request.offset as usize)
            .take(request.limit as usize)
            .map(|(rank, d)| StoredHit {
                document: d.clone(),
                rank,
                text: state.document.texts.get(&(d.id, d.latest_version)).cloned(),
            })
            .collect())
    }

    async fn set_text(&self, tenant: TenantId, id: DocumentId, number: u32, outcome: &TextOutcome) -> Result<()> {
        let mut state = self.lock();
        let latest = match state.document.documents.get(&id).filter(|d| d.tenant_id == tenant) {
            Some(d) => d.latest_version,
            None => return Err(CrmError::not_found("document", id)),
        };
        let version = state
            .document
            .versions
            .get_mut(&id)
            .and_then(|list| list.iter_mut().find(|v| v.number == number))
            .ok_or_else(|| CrmError::not_found("document version", number))?;
        match outcome {
            TextOutcome::Done(text) => {
                version.text_status = TextStatus::Done;
                version.text_error = None;
                state.document.texts.insert((id, number), text.clone());
                if number == latest
                    && let Some(index) = state.document.index.get_mut(&id)
                {
                    index.body = SearchText::body_of(text);
                }
            }
            TextOutcome::Failed(why) => {
                version.text_status = TextStatus::Failed;
                version.text_error = Some(why.clone());
            }
        }
        Ok(())
    }

    async fn version_text(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<Option<String>> {
        self.get_version(tenant, id, number).await?;
        Ok(self.lock().document.texts.get(&(id, number)).cloned())
    }

    async fn insert_template(&self, template: &DocumentTemplate) -> Result<()> {
        let mut state = self.lock();
        let taken = state
            .document
            .templates
            .values()
            .any(|t| t.id == template.id || (t.tenant_id == template.tenant_id && t.name == template.name));
        if taken {
            return Err(CrmError::conflict(Some("name"), format!("a template named `{}` exists", template.name)));
        }
        state.document.templates.insert(template.id, template.clone());
        Ok(())
    }

    async fn update_template(&self, template: &DocumentTemplate) -> Result<()> {
        let mut state = self.lock();
        State::check_version(
            state.document.templates.get(&template.id),
            |t| t.tenant_id,
            |t| t.version,
            template.tenant_id,
            template.version,
            "template",
            template.id,
        )?;
        let taken = state
            .document
            .templates
            .values()
            .any(|t| t.id != template.id && t.tenant_id == template.tenant_id && t.name == template.name);
        if taken {
            return Err(CrmError::conflict(Some("name"), format!("a template named `{}` exists", template.name)));
        }
        state.document.templates.insert(template.id, template.clone());
        Ok(())
    }

    async fn get_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<DocumentTemplate> {
        let state = self.lock();
        state
            .document
            .templates
            .get(&id)
            .filter(|t| t.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("template", id))
    }

    async fn templates(&self, tenant: TenantId) -> Result<Vec<DocumentTemplate>> {
        let state = self.lock();
        let mut list: Vec<DocumentTemplate> =
            state.document.templates.values().filter(|t| t.tenant_id == tenant).cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    async fn delete_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.document.templates, &id, tenant, |t| t.tenant_id) {
            return Err(CrmError::not_found("template", id));
        }
        state.document.templates.remove(&id);
        Ok(())
    }

    async fn put_grant(&self, grant: &MemberGrant, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.document.documents, &grant.document_id, grant.tenant_id, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", grant.document_id));
        }
        state.check_member_exists(grant.tenant_id, Some(grant.member_id))?;
        let list = state.document.grants.entry(grant.document_id).or_default();
        match list.iter_mut().find(|g| g.member_id == grant.member_id) {
            Some(existing) => existing.access = grant.access,
            None => list.push(grant.clone()),
        }
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn remove_grant(
        &self,
        tenant: TenantId,
        id: DocumentId,
        member: MemberId,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", id));
        }
        let list = state.document.grants.entry(id).or_default();
        let before = list.len();
        list.retain(|g| g.member_id != member);
        if list.len() == before {
            return Err(CrmError::not_found("grant", member));
        }
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn grants(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<MemberGrant>> {
        let state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", id));
        }
        Ok(state.document.grants.get(&id).cloned().unwrap_or_default())
    }

    async fn grant_of(&self, tenant: TenantId, id: DocumentId, member: MemberId) -> Result<Option<Access>> {
        let state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Ok(None);
        }
        Ok(state.document.grants.get(&id).and_then(|g| g.iter().find(|g| g.member_id == member)).map(|g| g.access))
    }

    async fn versions(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<DocumentVersion>> {
        let state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", id));
        }
        let mut versions = state.document.versions.get(&id).cloned().unwrap_or_default();
        versions.sort_by_key(|v| v.number);
        Ok(versions)
    }

    async fn get_version(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<DocumentVersion> {
        let state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", id));
        }
        state
            .document
            .versions
            .get(&id)
            .and_then(|list| list.iter().find(|v| v.number == number))
            .cloned()
            .ok_or_else(|| CrmError::not_found("document version", number))
    }

    async fn purge(
        &self,
        tenant: TenantId,
        id: DocumentId,
        audit: &AuditDraft,
        events: &[DomainEvent],
    ) -> Result<Vec<BlobKey>> {
        let mut state = self.lock();
        if !owned(&state.document.documents, &id, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", id));
        }
        state.document.documents.remove(&id);
        state.document.share_links.retain(|_, l| l.document_id != id);
        state.document.grants.remove(&id);
        state.document.index.remove(&id);
        state.document.texts.retain(|(doc, _), _| *doc != id);
        state.forget_approvals(id);
        let removed = state.document.versions.remove(&id).unwrap_or_default();
        let referenced = state.referenced_keys();
        let mut freed: Vec<BlobKey> =
            removed.iter().map(|v| v.content_key.clone()).filter(|k| !referenced.contains(k)).collect();
        freed.sort();
        freed.dedup();
        state.append_audit(audit);
        state.append(events);
        Ok(freed)
    }

    async fn unreferenced(&self, keys: &[BlobKey]) -> Result<Vec<BlobKey>> {
        let state = self.lock();
        let referenced = state.referenced_keys();
        Ok(keys.iter().filter(|k| !referenced.contains(k)).cloned().collect())
    }

    async fn record_audit(&self, audit: &AuditDraft) -> Result<AuditEntry> {
        Ok(self.lock().append_audit(audit))
    }

    async fn insert_share_link(&self, link: &ShareLink, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
        let mut state = self.lock();
        if !owned(&state.document.documents, &link.document_id, link.tenant_id, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", link.document_id));
        }
        if state.document.share_links.values().any(|l| l.id == link.id || l.token_hash == link.token_hash) {
            return Err(CrmError::conflict(Some("id"), "the share link exists"));
        }
        state.document.share_links.insert(link.id, link.clone());
        state.append_audit(audit);
        state.append(events);
        Ok(())
    }

    async fn share_links(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<ShareLink>> {
        let state = self.lock();
        if !owned(&state.document.documents, &document, tenant, |d| d.tenant_id) {
            return Err(CrmError::not_found("document", document));
        }
        Ok(state.document.share_links.values().rev().filter(|l| l.document_id == document).cloned().collect())
    }

    async fn get_share_link(&self, tenant: TenantId, id: ShareLinkId) -> Result<ShareLink> {
        let state = self.lock();
        state
            .document
            .share_links
            .get(&id)
            .filter(|l| l.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| CrmError::not_found("share link", id))
    }

    async fn find_share_link(&self, token_hash: &str) -> Result<Option<ShareLink>> {
        let state = self.lock();
        Ok(state.document.share_links.values().find(|l| l.token_hash == token_hash).cloned())
    }

    async fn revoke_share_link(
        &self,
        tenant: TenantId,
        id: ShareLinkId,
        at: DateTime<Utc>,
        audit: &AuditDraft,
    ) -> Result<ShareLink> {
        let mut state = self.lock();
        let link = state
            .document
            .share_links
            .get_mut(&id)
            .filter(|l| l.tenant_id == tenant)
            .ok_or_else(|| CrmError::not_found("share link", id))?;
        link.revoked_at.get_or_insert(at);
        let link = link.clone();
        state.append_audit(audit);
        Ok(link)
    }

    async fn use_share_link(&self, id: ShareLinkId, now: DateTime<Utc>, audit: &AuditDraft) -> Result<ShareLink> {
        let mut state = self.lock();
        let link = state.document.share_links.get_mut(&id).ok_or_else(|| CrmError::not_found("share link", id))?;
        if let Some(why) = link.refusal(now) {
            return Err(CrmError::conflict(Some("share_link"), format!("the link is {why}")));
        }
        link.downloads += 1;
        let link = link.clone();
        state.append_audit(audit);
        Ok(link)
    }

    async fn audit_entries(&self, tenant: TenantId, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        let state = self.lock();
        Ok(state
            .document
            .audit
            .get(&tenant)
            .map(|chain| chain.iter().filter(|e| e.seq > after_seq).take(limit as usize).cloned().collect())
            .unwrap_or_default())
    }

    async fn document_audit_entries(
        &self,
        tenant: TenantId,
        document: DocumentId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let state = self.lock();
        let Some(chain) = state.document.audit.get(&tenant) else { return Ok(Vec::new()) };
        Ok(chain
            .iter()
            .rev()
            .filter(|e| e.document_id == Some(document) && before_seq.is_none_or(|before| e.seq < before))
            .take(limit as usize)
            .cloned()
            .collect())
    }
}
