-- Webhooks (PostgreSQL): endpoints (sealed signing secrets, circuit health), deliveries (one event
-- bound for one endpoint, each its own durable queue entry claimed under a lease) and the attempt log.

CREATE TABLE webhook_endpoints (
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    id                     uuid NOT NULL,
    url                    text NOT NULL,
    description            text NOT NULL,
    event_types            jsonb NOT NULL,
    payload_filter         jsonb NOT NULL,
    headers                jsonb NOT NULL,
    rate_limit_per_second  bigint,
    test_mode              boolean NOT NULL,
    enabled                boolean NOT NULL,
    disabled_reason        text,
    secret_current         text NOT NULL,  -- sealed
    secret_previous        text,           -- sealed
    secret_previous_until  timestamptz,
    consecutive_failures   bigint NOT NULL,
    open_until             timestamptz,
    openings               bigint NOT NULL,
    failing_since          timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    version                bigint NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id),
    -- A tenant's endpoints, newest first; the key deliveries reference.
    CONSTRAINT webhook_endpoints_tenant_unique UNIQUE (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    id                 uuid NOT NULL,
    tenant_id          uuid NOT NULL,
    endpoint_id        uuid NOT NULL,
    event_id           uuid NOT NULL,
    event_type         text NOT NULL,
    payload            text,  -- the exact request body; NULL once purged
    status             text NOT NULL,
    attempts           bigint NOT NULL,
    schedule_attempts  bigint NOT NULL,
    next_attempt_at    timestamptz,
    last_status        bigint,
    lease_id           uuid,
    lease_expires_at   timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_event_unique UNIQUE (endpoint_id, event_id),
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
-- Claims: pending deliveries, earliest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- Newest-first listings, of a tenant and of an endpoint.
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);

CREATE TABLE webhook_attempts (
    delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    tenant_id         uuid NOT NULL,
    endpoint_id       uuid NOT NULL,
    number            bigint NOT NULL,
    attempted_at      timestamptz NOT NULL,
    status            bigint,
    latency_ms        bigint NOT NULL,
    request_headers   jsonb NOT NULL,  -- [[name, value], ...]
    response_headers  jsonb NOT NULL,  -- [[name, value], ...]
    response_excerpt  text NOT NULL,
    error_class       text,
    error             text,
    test_mode         boolean NOT NULL,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, number)
);
