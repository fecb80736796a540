-- Document access (tenant-wide or private documents, shared with members), each version's
-- extracted text, and full-text search.
--
-- Search indexes the domain's normalized title, tags and latest text (`search_*` columns:
-- lowercase alphanumeric tokens joined by single spaces) in an FTS5 table whose tokenizer splits
-- them exactly as the domain does (`unicode61` without diacritic folding). Its rowid is each
-- document's `search_id`, a stable integer (a plain table's own rowid may change on VACUUM);
-- triggers keep it in step with every insert, change and delete of a document.

ALTER TABLE documents ADD COLUMN visibility TEXT NOT NULL DEFAULT 'tenant'
    CHECK (visibility IN ('tenant', 'private'));
ALTER TABLE documents ADD COLUMN search_id INTEGER;
ALTER TABLE documents ADD COLUMN search_title TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN search_body TEXT NOT NULL DEFAULT '';
UPDATE documents SET search_id = rowid;
CREATE UNIQUE INDEX documents_search_id ON documents (search_id);

ALTER TABLE document_versions ADD COLUMN text_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (text_status IN ('pending', 'done', 'failed'));
ALTER TABLE document_versions ADD COLUMN text_error TEXT;
ALTER TABLE document_versions ADD COLUMN text TEXT;

CREATE TABLE document_grants (
    tenant_id    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    access       TEXT NOT NULL CHECK (access IN ('view', 'comment', 'edit')),
    granted_by   TEXT NOT NULL,  -- JSON principal
    granted_at   TEXT NOT NULL,
    PRIMARY KEY (document_id, member_id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
) WITHOUT ROWID;
-- "Shared with me" inside the permission filter.
CREATE INDEX document_grants_member ON document_grants (member_id, document_id);

CREATE VIRTUAL TABLE document_fts USING fts5 (
    search_title, search_tags, search_body,
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER documents_search_insert AFTER INSERT ON documents BEGIN
    UPDATE documents SET search_id = (SELECT coalesce(max(search_id), 0) + 1 FROM documents)
        WHERE id = new.id;
    INSERT INTO document_fts (rowid, search_title, search_tags, search_body)
        SELECT search_id, new.search_title, new.search_tags, new.search_body FROM documents WHERE id = new.id;
END;

CREATE TRIGGER documents_search_update AFTER UPDATE OF search_title, search_tags, search_body ON documents
WHEN old.search_title IS NOT new.search_title OR old.search_tags IS NOT new.search_tags
    OR old.search_body IS NOT new.search_body
BEGIN
    DELETE FROM document_fts WHERE rowid = old.search_id;
    INSERT INTO document_fts (rowid, search_title, search_tags, search_body)
        VALUES (new.search_id, new.search_title, new.search_tags, new.search_body);
END;

CREATE TRIGGER documents_search_delete AFTER DELETE ON documents BEGIN
    DELETE FROM document_fts WHERE rowid = old.search_id;
END;
