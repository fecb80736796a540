-- Share links: a document (or one pinned version) reachable without an account. The token is
-- stored only as its SHA-256 (lowercase hex), the password only as its argon2id PHC string;
-- downloads are counted in the row. Links go with their document (ON DELETE CASCADE).

CREATE TABLE share_links (
    id             TEXT NOT NULL PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    token_hash     TEXT NOT NULL,  -- SHA-256 of the token, lowercase hex; never the token
    version        INTEGER,        -- a pinned version; NULL serves the latest
    expires_at     TEXT NOT NULL,
    password_hash  TEXT,           -- argon2id PHC string
    max_downloads  INTEGER,
    downloads      INTEGER NOT NULL,
    revoked_at     TEXT,
    created_by     TEXT NOT NULL,  -- JSON principal
    created_at     TEXT NOT NULL,
    -- Looking a link up by its token, across tenants.
    CONSTRAINT share_links_token_unique UNIQUE (token_hash),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- A document's links, newest first (also serves the cascade from documents).
CREATE INDEX share_links_document ON share_links (tenant_id, document_id, id);
