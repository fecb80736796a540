-- Integrations: OAuth 2.0 provider configurations, the connections made through them (tokens
-- sealed) and the log of every sync run; webhook endpoints gain the format of their request body.

ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'standard'
    CHECK (format IN ('standard', 'slack', 'teams'));

CREATE TABLE oauth_providers (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL PRIMARY KEY,
    name           TEXT NOT NULL,
    authorize_url  TEXT NOT NULL,
    token_url      TEXT NOT NULL,
    revoke_url     TEXT,
    sync_url       TEXT,
    scopes         TEXT NOT NULL,  -- JSON array
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,  -- sealed
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    -- A tenant's providers, newest first; the key connections reference.
    CONSTRAINT oauth_providers_tenant_unique UNIQUE (tenant_id, id)
);

CREATE TABLE integration_connections (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL PRIMARY KEY,
    provider_id    TEXT NOT NULL,
    connected_by   TEXT NOT NULL,
    status         TEXT NOT NULL,
    access_token   TEXT NOT NULL,  -- sealed
    refresh_token  TEXT,           -- sealed
    expires_at     TEXT,
    scope          TEXT,
    sync_schedule  TEXT,
    next_sync_at   TEXT,
    last_sync_at   TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    -- A tenant's connections, newest first; the key sync logs reference.
    CONSTRAINT integration_connections_tenant_unique UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_id) REFERENCES oauth_providers (tenant_id, id) ON DELETE CASCADE
);
-- A provider's connections (the cascade of its delete).
CREATE INDEX integration_connections_provider ON integration_connections (tenant_id, provider_id);
-- The scheduler: scheduled connections of every tenant, earliest due first.
CREATE INDEX integration_connections_due ON integration_connections (next_sync_at, id)
    WHERE next_sync_at IS NOT NULL;

CREATE TABLE integration_sync_logs (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    trigger        TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    status         TEXT NOT NULL,
    records        INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    updated        INTEGER NOT NULL,
    errors         TEXT NOT NULL,  -- JSON array
    FOREIGN KEY (tenant_id, connection_id) REFERENCES integration_connections (tenant_id, id) ON DELETE CASCADE
);
-- A connection's logs, newest first (also the cascade of its delete).
CREATE INDEX integration_sync_logs_connection ON integration_sync_logs (tenant_id, connection_id, id);
