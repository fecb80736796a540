-- E-mail campaigns (PostgreSQL): templates, campaigns, the frozen audience (recipients), the per-recipient
-- ledger of attempts, the suppression list and engagement (opens, clicks, conversions).

CREATE TABLE email_templates (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    name        text NOT NULL,
    subject     text NOT NULL,
    html        text NOT NULL,
    text        text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE campaigns (
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    id                     uuid NOT NULL,
    name                   text NOT NULL,
    status                 text NOT NULL,
    from_email             text NOT NULL,
    from_name              text,
    reply_to               text,
    segment                jsonb NOT NULL,
    variants               jsonb NOT NULL,
    ab_test                jsonb,
    winner                 bigint,
    ab_decide_at           timestamptz,
    ab_decision            jsonb,
    links                  jsonb NOT NULL,
    rate_limit_per_second  bigint,
    send_at                timestamptz,
    audience_frozen        boolean NOT NULL,
    freeze_cursor          uuid,
    created_by             jsonb NOT NULL,
    launched_at            timestamptz,
    completed_at           timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    version                bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- No foreign key to contacts: a recipient keeps its frozen copy when the contact is deleted.
CREATE TABLE campaign_recipients (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    campaign_id  uuid NOT NULL,
    contact_id   uuid NOT NULL,
    email        text NOT NULL,
    variables    jsonb NOT NULL,
    variant      bigint,
    status       text NOT NULL,
    attempts     bigint NOT NULL,
    retry_at     timestamptz,
    lease_until  timestamptz,
    last_error   text,
    sent_at      timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT campaign_recipients_contact_unique UNIQUE (tenant_id, campaign_id, contact_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
CREATE INDEX campaign_recipients_claim ON campaign_recipients (tenant_id, campaign_id, status, id);

CREATE TABLE campaign_attempts (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    recipient_id  uuid NOT NULL,
    number        bigint NOT NULL,
    at            timestamptz NOT NULL,
    outcome       text NOT NULL,
    message_id    text NOT NULL,
    response      text NOT NULL,
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES campaign_recipients (tenant_id, id)
);
CREATE INDEX campaign_attempts_recipient ON campaign_attempts (tenant_id, recipient_id, seq);

CREATE TABLE email_suppressions (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    email        text NOT NULL,
    reason       text NOT NULL,
    campaign_id  uuid,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, email)
);

CREATE TABLE campaign_engagements (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    recipient_id  uuid NOT NULL,
    contact_id    uuid NOT NULL,
    kind          text NOT NULL,
    link_index    bigint,
    value_minor   bigint,
    bot           boolean NOT NULL,
    occurred_at   timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES campaign_recipients (tenant_id, id)
);
CREATE INDEX campaign_engagements_contact ON campaign_engagements (tenant_id, contact_id, kind);
CREATE INDEX campaign_engagements_campaign ON campaign_engagements (tenant_id, campaign_id, kind);

CREATE TABLE email_bounces (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    email        text NOT NULL,
    kind         text NOT NULL,
    status       text NOT NULL,
    campaign_id  uuid,
    at           timestamptz NOT NULL
);
CREATE INDEX email_bounces_address ON email_bounces (tenant_id, email, kind);
