-- Documents: metadata over immutable versions, each pointing at a content-addressed blob; each
-- tenant's append-only, hash-chained audit trail; and the embedded blob store (content kept in
-- the database under its SHA-256).

CREATE TABLE documents (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL PRIMARY KEY,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    category        TEXT NOT NULL CHECK (category IN
                        ('contract', 'proposal', 'invoice', 'quote', 'report', 'presentation', 'other')),
    tags            TEXT NOT NULL,  -- JSON array
    links           TEXT NOT NULL,  -- JSON array of {kind, id}
    owner_id        TEXT NOT NULL,
    latest_version  INTEGER NOT NULL,
    trashed_at      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    -- The key versions reference.
    CONSTRAINT documents_tenant_unique UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
-- Newest-first listings of a tenant's live documents and of its trash.
CREATE INDEX documents_live ON documents (tenant_id, id) WHERE trashed_at IS NULL;
CREATE INDEX documents_trash ON documents (tenant_id, id) WHERE trashed_at IS NOT NULL;
-- The category and owner filters (the owner index also serves the reference to members).
CREATE INDEX documents_category ON documents (tenant_id, category, id);
CREATE INDEX documents_owner ON documents (tenant_id, owner_id, id);

CREATE TABLE document_versions (
    tenant_id      TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    number         INTEGER NOT NULL,
    content_key    TEXT NOT NULL,  -- SHA-256 of the content: the blob's key
    size           INTEGER NOT NULL,
    mime           TEXT NOT NULL,
    filename       TEXT NOT NULL,
    uploaded_by    TEXT NOT NULL,  -- JSON principal
    note           TEXT,
    restored_from  INTEGER,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (document_id, number),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- Whether any version still references a blob (purge, blob collection).
CREATE INDEX document_versions_content ON document_versions (content_key);

-- No reference to documents: the chain outlives purged documents.
CREATE TABLE audit_entries (
    tenant_id    TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,  -- JSON principal
    action       TEXT NOT NULL,
    document_id  TEXT,
    detail       TEXT NOT NULL,  -- JSON, exactly as hashed
    source       TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;

CREATE TABLE blobs (
    key         TEXT NOT NULL PRIMARY KEY,  -- SHA-256 of the bytes, lowercase hex
    bytes       BLOB NOT NULL,
    size        INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
