-- Document templates: a title and an HTML body (minijinja), filled from a contact or a deal to
-- generate documents. Names are unique per tenant.

CREATE TABLE document_templates (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    category     TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_by   TEXT NOT NULL,  -- JSON principal
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    CONSTRAINT document_templates_name_unique UNIQUE (tenant_id, name)
);
