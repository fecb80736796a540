-- Webhooks: endpoints (sealed signing secrets, circuit health), deliveries (one event bound for
-- one endpoint, each its own durable queue entry claimed under a lease) and the attempt log.

CREATE TABLE webhook_endpoints (
    tenant_id              TEXT NOT NULL REFERENCES tenants (id),
    id                     TEXT NOT NULL PRIMARY KEY,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    event_types            TEXT NOT NULL,  -- JSON array of patterns
    payload_filter         TEXT NOT NULL,  -- JSON array of conditions
    headers                TEXT NOT NULL,  -- JSON object
    rate_limit_per_second  INTEGER,
    test_mode              INTEGER NOT NULL,
    enabled                INTEGER NOT NULL,
    disabled_reason        TEXT,
    secret_current         TEXT NOT NULL,  -- sealed
    secret_previous        TEXT,           -- sealed
    secret_previous_until  TEXT,
    consecutive_failures   INTEGER NOT NULL,
    open_until             TEXT,
    openings               INTEGER NOT NULL,
    failing_since          TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    version                INTEGER NOT NULL,
    -- A tenant's endpoints, newest first; the key deliveries reference.
    CONSTRAINT webhook_endpoints_tenant_unique UNIQUE (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    id                 TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    endpoint_id        TEXT NOT NULL,
    event_id           TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    payload            TEXT,  -- the exact request body; NULL once purged
    status             TEXT NOT NULL,
    attempts           INTEGER NOT NULL,
    schedule_attempts  INTEGER NOT NULL,
    next_attempt_at    TEXT,
    last_status        INTEGER,
    lease_id           TEXT,
    lease_expires_at   TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    CONSTRAINT webhook_deliveries_event_unique UNIQUE (endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
-- Claims: pending deliveries, earliest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- Newest-first listings, of a tenant and of an endpoint.
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);

CREATE TABLE webhook_attempts (
    delivery_id       TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    tenant_id         TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL,
    number            INTEGER NOT NULL,
    attempted_at      TEXT NOT NULL,
    status            INTEGER,
    latency_ms        INTEGER NOT NULL,
    request_headers   TEXT NOT NULL,  -- JSON [[name, value], ...]
    response_headers  TEXT NOT NULL,  -- JSON [[name, value], ...]
    response_excerpt  TEXT NOT NULL,
    error_class       TEXT,
    error             TEXT,
    test_mode         INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
