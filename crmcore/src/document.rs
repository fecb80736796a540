//! Document management: documents with immutable, content-addressed versions (identical bytes
//! stored once), upload checks (type sniffed from the bytes against an allowlist, names
//! sanitised, size capped), restore, trash and purge with deferred blob collection, downloads,
//! and a hash-chained audit trail that `verify` checks end to end.

mod model;
mod service;
mod share;
pub mod upload;

pub use model::{
    Access, AuditAction, AuditDraft, AuditEntry, Category, ChainReport, Document, DocumentFilter, DocumentVersion, GENESIS_HASH,
};
pub(crate) use service::collect_blobs;
pub use service::{DocumentConfig, DocumentPatch, DocumentService, FileUpload, NewDocument, Source};
pub use share::{
    CreatedShareLink, DEFAULT_EXPIRY_HOURS, MAX_EXPIRY_HOURS, NewShareLink, ShareLink, ShareLinkView, TOKEN_PREFIX,
};
