//! Document management: documents with immutable, content-addressed versions (identical bytes
//! stored once), upload checks (type sniffed from the bytes against an allowlist, names
//! sanitised, size capped), restore, trash and purge with deferred blob collection, downloads,
//! access control (tenant-wide or private documents, shared with members at view, comment or
//! edit level), text extraction (text, HTML, PDF text layers, OCR of scans and images), full-text
//! search with permission filtering inside the store's query, a hash-chained audit trail that
//! `verify` checks end to end, and approval workflows over versions.

mod approval;
mod extract;
mod generate;
mod model;
pub mod search;
mod service;
mod share;
pub mod upload;

pub use approval::{
    Approval, ApprovalRule, ApprovalService, ApprovalState, ApprovalStep, ApprovalVoid, CancelApproval, CancelReason,
    Decide, Decision, MAX_APPROVERS, MAX_COMMENT_CHARS, MAX_STEP_NAME_CHARS, MAX_STEPS, NewApproval, NewApprovalStep,
    Outcome, StepState, Verdict, check_comment,
};
pub(crate) use approval::{add_version_voiding_approval, approval_example};
pub use extract::MAX_TEXT_BYTES;
pub(crate) use extract::{enqueue_for as enqueue_extraction, extract_text};
pub use generate::{DocumentTemplate, GenerateRequest, GeneratedFormat, RenderedDocument, TemplateInput};
pub use model::{
    Access, AuditAction, AuditDraft, AuditEntry, Category, ChainReport, Document, DocumentFilter, DocumentVersion,
    GENESIS_HASH, MemberGrant, TextOutcome, TextStatus, Viewer, Visibility,
};
pub use search::{SearchHit, SearchQuery, SearchRequest, SearchResults, SearchText, StoredHit};
pub(crate) use service::collect_blobs;
pub use service::{DocumentConfig, DocumentPatch, DocumentService, FileUpload, NewDocument, Source, StagedFile};
pub use share::{
    CreatedShareLink, DEFAULT_EXPIRY_HOURS, MAX_EXPIRY_HOURS, NewShareLink, ShareLink, ShareLinkView, TOKEN_PREFIX,
};
