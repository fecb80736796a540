-- crmcore core schema for SQLite.
-- Ids are lowercase hyphenated UUID text; timestamps are RFC 3339 UTC text with exactly six
-- fractional digits ("2026-01-02T03:04:05.000006Z"), so text order is time order.
-- Every tenant-scoped table leads with tenant_id, and references are composite
-- (tenant_id, x_id) so no row can point at another tenant's row.

CREATE TABLE tenants (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT tenants_slug_unique UNIQUE (slug)
);

CREATE TABLE members (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    handle        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    active        INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT members_handle_unique UNIQUE (tenant_id, handle),
    CONSTRAINT members_email_unique UNIQUE (tenant_id, email)
);
CREATE INDEX members_email ON members (email);

CREATE TABLE contacts (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL,
    email          TEXT,
    first_name     TEXT,
    last_name      TEXT,
    company        TEXT,
    phone          TEXT,
    owner_id       TEXT,
    tags           TEXT NOT NULL,  -- JSON array: the copy read back; contact_tags is the index
    custom_fields  TEXT NOT NULL,  -- JSON object
    -- Lowercased in Rust at write time (str::to_lowercase), so search agrees with the domain
    -- for every script, not just ASCII.
    email_lc       TEXT,
    first_name_lc  TEXT,
    last_name_lc   TEXT,
    company_lc     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT contacts_email_unique UNIQUE (tenant_id, email),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX contacts_owner ON contacts (tenant_id, owner_id);

CREATE TABLE contact_tags (
    tenant_id   TEXT NOT NULL,
    tag         TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, tag, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_contact ON contact_tags (tenant_id, contact_id);

CREATE TABLE deals (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    title           TEXT NOT NULL,
    title_lc        TEXT NOT NULL,
    contact_id      TEXT,
    owner_id        TEXT,
    amount_minor    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    stage           TEXT NOT NULL,
    probability     INTEGER NOT NULL,
    expected_close  TEXT,
    status          TEXT NOT NULL,
    closed_at       TEXT,
    lost_reason     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX deals_contact ON deals (tenant_id, contact_id);
CREATE INDEX deals_owner ON deals (tenant_id, owner_id);
CREATE INDEX deals_stage ON deals (tenant_id, stage);

CREATE TABLE deal_stage_history (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    deal_id     TEXT NOT NULL,
    from_stage  TEXT,
    to_stage    TEXT NOT NULL,
    changed_at  TEXT NOT NULL,
    changed_by  TEXT NOT NULL,  -- JSON principal
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history (tenant_id, deal_id, seq);

CREATE TABLE password_credentials (
    tenant_id      TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    CONSTRAINT api_keys_secret_unique UNIQUE (secret_hash),
    FOREIGN KEY (tenant_id, created_by) REFERENCES members (tenant_id, id)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE refresh_tokens (
    id          TEXT NOT NULL PRIMARY KEY,
    family_id   TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT,
    CONSTRAINT refresh_tokens_hash_unique UNIQUE (token_hash),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    actor          TEXT NOT NULL,  -- JSON principal
    subject_kind   TEXT NOT NULL,
    subject_id     TEXT NOT NULL,
    data           TEXT NOT NULL,  -- JSON
    dispatched_at  TEXT,
    CONSTRAINT outbox_event_unique UNIQUE (event_id)
);
CREATE INDEX outbox_undispatched ON outbox (seq) WHERE dispatched_at IS NULL;
CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);

CREATE TABLE jobs (
    id                TEXT NOT NULL PRIMARY KEY,
    kind              TEXT NOT NULL,
    payload           TEXT NOT NULL,  -- JSON
    tenant_id         TEXT,
    state             TEXT NOT NULL,
    attempts          INTEGER NOT NULL,
    max_attempts      INTEGER NOT NULL,
    run_at            TEXT NOT NULL,
    lease_id          TEXT,
    lease_expires_at  TEXT,
    dedupe_key        TEXT,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
-- One live (pending or running) job per dedupe key; enqueue relies on it to be race-free.
CREATE UNIQUE INDEX jobs_dedupe_live ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('pending', 'running');
CREATE INDEX jobs_pending ON jobs (run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
