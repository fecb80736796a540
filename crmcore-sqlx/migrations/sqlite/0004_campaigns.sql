-- E-mail campaigns: templates, campaigns, the frozen audience (recipients), the per-recipient
-- ledger of attempts, the suppression list and engagement (opens, clicks, conversions).

CREATE TABLE email_templates (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    html        TEXT NOT NULL,
    text        TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE campaigns (
    tenant_id              TEXT NOT NULL REFERENCES tenants (id),
    id                     TEXT NOT NULL,
    name                   TEXT NOT NULL,
    status                 TEXT NOT NULL,
    from_email             TEXT NOT NULL,
    from_name              TEXT,
    reply_to               TEXT,
    segment                TEXT NOT NULL,  -- JSON rule tree
    variants               TEXT NOT NULL,  -- JSON array
    ab_test                TEXT,           -- JSON
    winner                 INTEGER,
    ab_decide_at           TEXT,
    ab_decision            TEXT,           -- JSON: the winner decision
    links                  TEXT NOT NULL,  -- JSON: each variant's frozen links
    rate_limit_per_second  INTEGER,
    send_at                TEXT,
    audience_frozen        INTEGER NOT NULL,
    freeze_cursor          TEXT,
    created_by             TEXT NOT NULL,  -- JSON principal
    launched_at            TEXT,
    completed_at           TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    version                INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- No foreign key to contacts: a recipient keeps its frozen copy when the contact is deleted.
CREATE TABLE campaign_recipients (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    campaign_id  TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    email        TEXT NOT NULL,
    variables    TEXT NOT NULL,  -- JSON
    variant      INTEGER,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    retry_at     TEXT,
    lease_until  TEXT,
    last_error   TEXT,
    sent_at      TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT campaign_recipients_contact_unique UNIQUE (tenant_id, campaign_id, contact_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
CREATE INDEX campaign_recipients_claim ON campaign_recipients (tenant_id, campaign_id, status, id);

CREATE TABLE campaign_attempts (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    recipient_id  TEXT NOT NULL,
    number        INTEGER NOT NULL,
    at            TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    response      TEXT NOT NULL,
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES campaign_recipients (tenant_id, id)
);
CREATE INDEX campaign_attempts_recipient ON campaign_attempts (tenant_id, recipient_id, seq);

CREATE TABLE email_suppressions (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    email        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    campaign_id  TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
);

CREATE TABLE campaign_engagements (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,
    recipient_id  TEXT NOT NULL,
    contact_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    link_index    INTEGER,
    value_minor   INTEGER,
    bot           INTEGER NOT NULL,
    occurred_at   TEXT NOT NULL,
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES campaign_recipients (tenant_id, id)
);
CREATE INDEX campaign_engagements_contact ON campaign_engagements (tenant_id, contact_id, kind);
CREATE INDEX campaign_engagements_campaign ON campaign_engagements (tenant_id, campaign_id, kind);

CREATE TABLE email_bounces (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    email        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    campaign_id  TEXT,
    at           TEXT NOT NULL
);
CREATE INDEX email_bounces_address ON email_bounces (tenant_id, email, kind);
