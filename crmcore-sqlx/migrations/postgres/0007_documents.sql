-- Documents (PostgreSQL): metadata over immutable versions, each pointing at a content-addressed
-- blob; each tenant's append-only, hash-chained audit trail; and the embedded blob store (content
-- kept in the database under its SHA-256).

CREATE TABLE documents (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL,
    category        text NOT NULL,
    tags            jsonb NOT NULL,  -- JSON array
    links           jsonb NOT NULL,  -- JSON array of {kind, id}
    owner_id        uuid NOT NULL,
    latest_version  bigint NOT NULL,
    trashed_at      timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL,
    CONSTRAINT documents_pkey PRIMARY KEY (id),
    -- The key versions reference.
    CONSTRAINT documents_tenant_unique UNIQUE (tenant_id, id),
    CONSTRAINT documents_category_check CHECK (category IN
        ('contract', 'proposal', 'invoice', 'quote', 'report', 'presentation', 'other')),
    CONSTRAINT documents_owner_fkey FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
-- Newest-first listings of a tenant's live documents and of its trash.
CREATE INDEX documents_live ON documents (tenant_id, id) WHERE trashed_at IS NULL;
CREATE INDEX documents_trash ON documents (tenant_id, id) WHERE trashed_at IS NOT NULL;
-- The category and owner filters (the owner index also serves the reference to members).
CREATE INDEX documents_category ON documents (tenant_id, category, id);
CREATE INDEX documents_owner ON documents (tenant_id, owner_id, id);
-- The tag and link filters (`@>` containment).
CREATE INDEX documents_tags ON documents USING gin (tags jsonb_path_ops);
CREATE INDEX documents_links ON documents USING gin (links jsonb_path_ops);

CREATE TABLE document_versions (
    tenant_id      uuid NOT NULL,
    document_id    uuid NOT NULL,
    number         bigint NOT NULL,
    content_key    text NOT NULL,  -- SHA-256 of the content: the blob's key
    size           bigint NOT NULL,
    mime           text NOT NULL,
    filename       text NOT NULL,
    uploaded_by    jsonb NOT NULL,  -- principal
    note           text,
    restored_from  bigint,
    created_at     timestamptz NOT NULL,
    CONSTRAINT document_versions_pkey PRIMARY KEY (document_id, number),
    CONSTRAINT document_versions_document_fkey FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- Whether any version still references a blob (purge, blob collection).
CREATE INDEX document_versions_content ON document_versions (content_key);

-- No reference to documents: the chain outlives purged documents.
CREATE TABLE audit_entries (
    tenant_id    uuid NOT NULL,
    seq          bigint NOT NULL,
    at           timestamptz NOT NULL,
    actor        jsonb NOT NULL,  -- principal
    action       text NOT NULL,
    document_id  uuid,
    -- `json`, not `jsonb`: the text is kept exactly as hashed (`jsonb` rewrites numbers such as
    -- 1e16 or -0.0, which would change the hash when read back).
    detail       json NOT NULL,
    source       text,
    prev_hash    text NOT NULL,
    hash         text NOT NULL,
    CONSTRAINT audit_entries_pkey PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE blobs (
    key         text NOT NULL,  -- SHA-256 of the bytes, lowercase hex
    bytes       bytea NOT NULL,
    size        bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT blobs_pkey PRIMARY KEY (key)
);
