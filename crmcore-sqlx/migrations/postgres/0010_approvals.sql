-- Approval workflows of document versions (PostgreSQL): one row per approval, its steps and their
-- decisions as JSON (they are read and written whole, under the row's optimistic version). A
-- document has at most one pending approval (the partial unique index); approvals go with their
-- document.

CREATE TABLE approvals (
    id                uuid NOT NULL,
    tenant_id         uuid NOT NULL,
    document_id       uuid NOT NULL,
    document_version  bigint NOT NULL,  -- the version being approved
    state             text NOT NULL,
    current_step      bigint NOT NULL,
    steps             jsonb NOT NULL,   -- steps with their approvers and decisions
    requested_by      uuid NOT NULL,
    cancel_reason     text,
    cancel_comment    text,
    cancelled_by      jsonb,            -- principal
    created_at        timestamptz NOT NULL,
    decided_at        timestamptz,
    version           bigint NOT NULL,
    CONSTRAINT approvals_pkey PRIMARY KEY (id),
    CONSTRAINT approvals_state_check CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled')),
    CONSTRAINT approvals_cancel_reason_check CHECK (cancel_reason IN ('withdrawn', 'new_version')),
    CONSTRAINT approvals_document_fkey FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
-- A document's approvals, newest first (also serves the cascade from documents).
CREATE INDEX approvals_document ON approvals (tenant_id, document_id, id);
-- At most one pending approval per document; also finds it when a new version voids it.
CREATE UNIQUE INDEX approvals_pending_unique ON approvals (tenant_id, document_id) WHERE state = 'pending';
