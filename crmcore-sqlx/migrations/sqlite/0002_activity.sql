-- Activities, feeds, comments, follows and notifications (crmcore::activity) for SQLite.

CREATE TABLE activities (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    event_id      TEXT NOT NULL,  -- the first event recorded in it
    actor         TEXT NOT NULL,  -- JSON principal
    actor_member  TEXT,           -- the member who acted, for the actor filter
    verb          TEXT NOT NULL,
    object_kind   TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    target_kind   TEXT,
    target_id     TEXT,
    occurred_at   TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    event_count   INTEGER NOT NULL,
    data          TEXT NOT NULL,  -- JSON
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX activities_object ON activities (tenant_id, object_kind, object_id, id);
CREATE INDEX activities_target ON activities (tenant_id, target_kind, target_id, id) WHERE target_id IS NOT NULL;

-- The idempotency key of the tracker: each event is recorded in exactly one activity.
CREATE TABLE activity_events (
    event_id     TEXT NOT NULL PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    FOREIGN KEY (tenant_id, activity_id) REFERENCES activities (tenant_id, id)
);

-- Fan-out on write: a member's feed is one index range, whatever they follow.
CREATE TABLE feed_items (
    tenant_id    TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id, activity_id),
    FOREIGN KEY (tenant_id, activity_id) REFERENCES activities (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE comments (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    in_reply_to  TEXT,
    author       TEXT NOT NULL,  -- JSON principal
    body         TEXT NOT NULL,
    mentions     TEXT NOT NULL,  -- JSON array of member ids
    created_at   TEXT NOT NULL,
    edited_at    TEXT,
    deleted_at   TEXT,
    version      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, in_reply_to) REFERENCES comments (tenant_id, id)
);
CREATE INDEX comments_entity ON comments (tenant_id, entity_kind, entity_id, id);

CREATE TABLE follows (
    tenant_id    TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id, entity_kind, entity_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX follows_entity ON follows (tenant_id, entity_kind, entity_id);

CREATE TABLE notifications (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    cause         TEXT NOT NULL,
    activity_id   TEXT NOT NULL,
    actor         TEXT NOT NULL,  -- JSON principal
    entity_kind   TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    verb          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    read_at       TEXT,
    email_digest  INTEGER NOT NULL,
    emailed_at    TEXT,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT notifications_cause_unique UNIQUE (tenant_id, recipient, cause),
    FOREIGN KEY (tenant_id, recipient) REFERENCES members (tenant_id, id)
);
CREATE INDEX notifications_inbox ON notifications (tenant_id, recipient, id);
CREATE INDEX notifications_unread ON notifications (tenant_id, recipient, id) WHERE read_at IS NULL;
CREATE INDEX notifications_digest ON notifications (tenant_id, recipient, id)
    WHERE email_digest = 1 AND emailed_at IS NULL AND read_at IS NULL;

CREATE TABLE notification_preferences (
    tenant_id  TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    delivery   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id, kind),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
