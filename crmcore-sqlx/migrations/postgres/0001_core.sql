-- crmcore core schema for PostgreSQL. Tables live in the connection's search_path schema.
-- Every tenant-scoped table leads with tenant_id, and references are composite
-- (tenant_id, x_id) so no row can point at another tenant's row.

CREATE TABLE tenants (
    id          uuid NOT NULL PRIMARY KEY,
    name        text NOT NULL,
    slug        text NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT tenants_slug_unique UNIQUE (slug)
);

CREATE TABLE members (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    handle        text NOT NULL,
    display_name  text NOT NULL,
    email         text NOT NULL,
    role          text NOT NULL,
    active        boolean NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint NOT NULL,
    CONSTRAINT members_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT members_handle_unique UNIQUE (tenant_id, handle),
    CONSTRAINT members_email_unique UNIQUE (tenant_id, email)
);
CREATE INDEX members_email ON members (email);

CREATE TABLE contacts (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    email          text,
    first_name     text,
    last_name      text,
    company        text,
    phone          text,
    owner_id       uuid,
    tags           jsonb NOT NULL,  -- the copy read back; contact_tags is the index
    custom_fields  jsonb NOT NULL,
    -- Lowercased in Rust at write time (str::to_lowercase), so search agrees with the domain.
    email_lc       text,
    first_name_lc  text,
    last_name_lc   text,
    company_lc     text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    CONSTRAINT contacts_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT contacts_email_unique UNIQUE (tenant_id, email),
    CONSTRAINT contacts_owner_fkey FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX contacts_owner ON contacts (tenant_id, owner_id);

CREATE TABLE contact_tags (
    tenant_id   uuid NOT NULL,
    tag         text NOT NULL,
    contact_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, tag, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_contact ON contact_tags (tenant_id, contact_id);

CREATE TABLE deals (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    title           text NOT NULL,
    title_lc        text NOT NULL,
    contact_id      uuid,
    owner_id        uuid,
    amount_minor    bigint NOT NULL,
    currency        text NOT NULL,
    stage           text NOT NULL,
    probability     bigint NOT NULL,
    expected_close  date,
    status          text NOT NULL,
    closed_at       timestamptz,
    lost_reason     text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL,
    CONSTRAINT deals_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT deals_contact_fkey FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    CONSTRAINT deals_owner_fkey FOREIGN KEY (tenant_id, owner_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX deals_contact ON deals (tenant_id, contact_id);
CREATE INDEX deals_owner ON deals (tenant_id, owner_id);
CREATE INDEX deals_stage ON deals (tenant_id, stage);

CREATE TABLE deal_stage_history (
    seq         bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    deal_id     uuid NOT NULL,
    from_stage  text,
    to_stage    text NOT NULL,
    changed_at  timestamptz NOT NULL,
    changed_by  jsonb NOT NULL,
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history (tenant_id, deal_id, seq);

CREATE TABLE password_credentials (
    tenant_id      uuid NOT NULL,
    member_id      uuid NOT NULL,
    password_hash  text NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, member_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id           uuid NOT NULL PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    prefix       text NOT NULL,
    secret_hash  text NOT NULL,
    role         text NOT NULL,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_secret_unique UNIQUE (secret_hash),
    FOREIGN KEY (tenant_id, created_by) REFERENCES members (tenant_id, id)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE refresh_tokens (
    id          uuid NOT NULL PRIMARY KEY,
    family_id   uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    member_id   uuid NOT NULL,
    token_hash  text NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_hash_unique UNIQUE (token_hash),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE outbox (
    seq            bigserial PRIMARY KEY,
    event_id       uuid NOT NULL,
    tenant_id      uuid NOT NULL,
    event_type     text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    actor          jsonb NOT NULL,
    subject_kind   text NOT NULL,
    subject_id     uuid NOT NULL,
    data           jsonb NOT NULL,
    dispatched_at  timestamptz,
    CONSTRAINT outbox_event_unique UNIQUE (event_id)
);
CREATE INDEX outbox_undispatched ON outbox (seq) WHERE dispatched_at IS NULL;
CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);

CREATE TABLE jobs (
    id                uuid NOT NULL PRIMARY KEY,
    kind              text NOT NULL,
    payload           jsonb NOT NULL,
    tenant_id         uuid,
    state             text NOT NULL,
    attempts          bigint NOT NULL,
    max_attempts      bigint NOT NULL,
    run_at            timestamptz NOT NULL,
    lease_id          uuid,
    lease_expires_at  timestamptz,
    dedupe_key        text,
    last_error        text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- One live (pending or running) job per dedupe key; enqueue relies on it to be race-free.
CREATE UNIQUE INDEX jobs_dedupe_live ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('pending', 'running');
CREATE INDEX jobs_pending ON jobs (run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
