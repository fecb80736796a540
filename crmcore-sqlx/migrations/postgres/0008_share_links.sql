-- Share links (PostgreSQL): a document (or one pinned version) reachable without an account.
-- The token is stored only as its SHA-256 (lowercase hex), the password only as its argon2id PHC
-- string; downloads are counted in the row. Links go with their document (ON DELETE CASCADE).

CREATE TABLE share_links (
    id             uuid NOT NULL,
    tenant_id      uuid NOT NULL,
    document_id    uuid NOT NULL,
    token_hash     text NOT NULL,  -- SHA-256 of the token, lowercase hex; never the token
    version        bigint,         -- a pinned version; NULL serves the latest
    expires_at     timestamptz NOT NULL,
    password_hash  text,           -- argon2id PHC string
    max_downloads  bigint,
    downloads      bigint NOT NULL,
    revoked_at     timestamptz,
    created_by     jsonb NOT NULL,  -- principal
    created_at     timestamptz NOT NULL,
    CONSTRAINT share_links_pkey PRIMARY KEY (id),
    -- Looking a link up by its token, across tenants.
    CONSTRAINT share_links_token_unique UNIQUE (token_hash),
    CONSTRAINT share_links_document_fkey FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- A document's links, newest first (also serves the cascade from documents).
CREATE INDEX share_links_document ON share_links (tenant_id, document_id, id);
