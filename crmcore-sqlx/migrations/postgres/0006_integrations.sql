-- Integrations (PostgreSQL): OAuth 2.0 provider configurations, the connections made through them
-- (tokens sealed) and the log of every sync run; webhook endpoints gain the format of their
-- request body.

ALTER TABLE webhook_endpoints ADD COLUMN format text NOT NULL DEFAULT 'standard'
    CONSTRAINT webhook_endpoints_format_check CHECK (format IN ('standard', 'slack', 'teams'));

CREATE TABLE oauth_providers (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    name           text NOT NULL,
    authorize_url  text NOT NULL,
    token_url      text NOT NULL,
    revoke_url     text,
    sync_url       text,
    scopes         jsonb NOT NULL,
    client_id      text NOT NULL,
    client_secret  text NOT NULL,  -- sealed
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    CONSTRAINT oauth_providers_pkey PRIMARY KEY (id),
    -- A tenant's providers, newest first; the key connections reference.
    CONSTRAINT oauth_providers_tenant_unique UNIQUE (tenant_id, id)
);

CREATE TABLE integration_connections (
    tenant_id      uuid NOT NULL,
    id             uuid NOT NULL,
    provider_id    uuid NOT NULL,
    connected_by   uuid NOT NULL,
    status         text NOT NULL,
    access_token   text NOT NULL,  -- sealed
    refresh_token  text,           -- sealed
    expires_at     timestamptz,
    scope          text,
    sync_schedule  text,
    next_sync_at   timestamptz,
    last_sync_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    CONSTRAINT integration_connections_pkey PRIMARY KEY (id),
    -- A tenant's connections, newest first; the key sync logs reference.
    CONSTRAINT integration_connections_tenant_unique UNIQUE (tenant_id, id),
    CONSTRAINT integration_connections_provider_fkey FOREIGN KEY (tenant_id, provider_id)
        REFERENCES oauth_providers (tenant_id, id) ON DELETE CASCADE
);
-- A provider's connections (the cascade of its delete).
CREATE INDEX integration_connections_provider ON integration_connections (tenant_id, provider_id);
-- The scheduler: scheduled connections of every tenant, earliest due first.
CREATE INDEX integration_connections_due ON integration_connections (next_sync_at, id)
    WHERE next_sync_at IS NOT NULL;

CREATE TABLE integration_sync_logs (
    tenant_id      uuid NOT NULL,
    id             uuid NOT NULL,
    connection_id  uuid NOT NULL,
    trigger        text NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    status         text NOT NULL,
    records        bigint NOT NULL,
    created        bigint NOT NULL,
    updated        bigint NOT NULL,
    errors         jsonb NOT NULL,  -- JSON array
    CONSTRAINT integration_sync_logs_pkey PRIMARY KEY (id),
    CONSTRAINT integration_sync_logs_connection_fkey FOREIGN KEY (tenant_id, connection_id)
        REFERENCES integration_connections (tenant_id, id) ON DELETE CASCADE
);
-- A connection's logs, newest first (also the cascade of its delete).
CREATE INDEX integration_sync_logs_connection ON integration_sync_logs (tenant_id, connection_id, id);
