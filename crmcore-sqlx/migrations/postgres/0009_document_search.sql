-- Document access (tenant-wide or private documents, shared with members), each version's
-- extracted text, and full-text search.
--
-- Search indexes the domain's normalized title, tags and latest text (`search_*` columns:
-- lowercase alphanumeric tokens joined by single spaces) as a stored tsvector under the `simple`
-- configuration (no stemming, no stop words: every token kept as it is), weighted A (title),
-- B (tags) and C (text), with a GIN index.

ALTER TABLE documents ADD COLUMN visibility TEXT NOT NULL DEFAULT 'tenant'
    CHECK (visibility IN ('tenant', 'private'));
ALTER TABLE documents ADD COLUMN search_title TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN search_body TEXT NOT NULL DEFAULT '';
-- A `|` between the fields (no normalized token is ever `|`) keeps a phrase from spanning two.
ALTER TABLE documents ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, search_title), 'A')
    || '''|'':1'::tsvector
    || setweight(to_tsvector('simple'::regconfig, search_tags), 'B')
    || '''|'':1'::tsvector
    || setweight(to_tsvector('simple'::regconfig, search_body), 'C')
) STORED;
CREATE INDEX documents_search ON documents USING gin (search_vector);

ALTER TABLE document_versions ADD COLUMN text_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (text_status IN ('pending', 'done', 'failed'));
ALTER TABLE document_versions ADD COLUMN text_error TEXT;
ALTER TABLE document_versions ADD COLUMN text TEXT;

CREATE TABLE document_grants (
    tenant_id    UUID NOT NULL,
    document_id  UUID NOT NULL,
    member_id    UUID NOT NULL,
    access       TEXT NOT NULL CHECK (access IN ('view', 'comment', 'edit')),
    granted_by   JSONB NOT NULL,
    granted_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_id, member_id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
-- "Shared with me" inside the permission filter.
CREATE INDEX document_grants_member ON document_grants (member_id, document_id);
