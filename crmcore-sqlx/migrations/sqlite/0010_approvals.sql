-- Approval workflows of document versions: one row per approval, its steps and their decisions
-- as JSON (they are read and written whole, under the row's optimistic version). A document has
-- at most one pending approval (the partial unique index); approvals go with their document.

CREATE TABLE approvals (
    id                TEXT NOT NULL PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    document_version  INTEGER NOT NULL,  -- the version being approved
    state             TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled')),
    current_step      INTEGER NOT NULL,
    steps             TEXT NOT NULL,     -- JSON array of steps with their approvers and decisions
    requested_by      TEXT NOT NULL,
    cancel_reason     TEXT CHECK (cancel_reason IN ('withdrawn', 'new_version')),
    cancel_comment    TEXT,
    cancelled_by      TEXT,              -- JSON principal
    created_at        TEXT NOT NULL,
    decided_at        TEXT,
    version           INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- A document's approvals, newest first (also serves the cascade from documents).
CREATE INDEX approvals_document ON approvals (tenant_id, document_id, id);
-- At most one pending approval per document; also finds it when a new version voids it.
CREATE UNIQUE INDEX approvals_pending_unique ON approvals (tenant_id, document_id) WHERE state = 'pending';
