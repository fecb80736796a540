-- Activities, feeds, comments, follows and notifications (crmcore::activity) for PostgreSQL.

CREATE TABLE activities (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    event_id      uuid NOT NULL,  -- the first event recorded in it
    actor         jsonb NOT NULL,
    actor_member  uuid,           -- the member who acted, for the actor filter
    verb          text NOT NULL,
    object_kind   text NOT NULL,
    object_id     uuid NOT NULL,
    target_kind   text,
    target_id     uuid,
    occurred_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    event_count   bigint NOT NULL,
    data          jsonb NOT NULL,
    CONSTRAINT activities_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX activities_object ON activities (tenant_id, object_kind, object_id, id);
CREATE INDEX activities_target ON activities (tenant_id, target_kind, target_id, id) WHERE target_id IS NOT NULL;

-- The idempotency key of the tracker: each event is recorded in exactly one activity.
CREATE TABLE activity_events (
    event_id     uuid NOT NULL PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    activity_id  uuid NOT NULL,
    FOREIGN KEY (tenant_id, activity_id) REFERENCES activities (tenant_id, id)
);

-- Fan-out on write: a member's feed is one index range, whatever they follow.
CREATE TABLE feed_items (
    tenant_id    uuid NOT NULL,
    member_id    uuid NOT NULL,
    activity_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, member_id, activity_id),
    FOREIGN KEY (tenant_id, activity_id) REFERENCES activities (tenant_id, id)
);

CREATE TABLE comments (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    entity_kind  text NOT NULL,
    entity_id    uuid NOT NULL,
    in_reply_to  uuid,
    author       jsonb NOT NULL,
    body         text NOT NULL,
    mentions     jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    edited_at    timestamptz,
    deleted_at   timestamptz,
    version      bigint NOT NULL,
    CONSTRAINT comments_pkey PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, in_reply_to) REFERENCES comments (tenant_id, id)
);
CREATE INDEX comments_entity ON comments (tenant_id, entity_kind, entity_id, id);

CREATE TABLE follows (
    tenant_id    uuid NOT NULL,
    member_id    uuid NOT NULL,
    entity_kind  text NOT NULL,
    entity_id    uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, member_id, entity_kind, entity_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX follows_entity ON follows (tenant_id, entity_kind, entity_id);

CREATE TABLE notifications (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    recipient     uuid NOT NULL,
    kind          text NOT NULL,
    cause         uuid NOT NULL,
    activity_id   uuid NOT NULL,
    actor         jsonb NOT NULL,
    entity_kind   text NOT NULL,
    entity_id     uuid NOT NULL,
    verb          text NOT NULL,
    created_at    timestamptz NOT NULL,
    read_at       timestamptz,
    email_digest  boolean NOT NULL,
    emailed_at    timestamptz,
    CONSTRAINT notifications_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT notifications_cause_unique UNIQUE (tenant_id, recipient, cause),
    FOREIGN KEY (tenant_id, recipient) REFERENCES members (tenant_id, id)
);
CREATE INDEX notifications_inbox ON notifications (tenant_id, recipient, id);
CREATE INDEX notifications_unread ON notifications (tenant_id, recipient, id) WHERE read_at IS NULL;
CREATE INDEX notifications_digest ON notifications (tenant_id, recipient, id)
    WHERE email_digest AND emailed_at IS NULL AND read_at IS NULL;

CREATE TABLE notification_preferences (
    tenant_id  uuid NOT NULL,
    member_id  uuid NOT NULL,
    kind       text NOT NULL,
    delivery   text NOT NULL,
    PRIMARY KEY (tenant_id, member_id, kind),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
