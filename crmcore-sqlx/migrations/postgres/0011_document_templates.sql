-- Document templates: a title and an HTML body (minijinja), filled from a contact or a deal to
-- generate documents. Names are unique per tenant.

CREATE TABLE document_templates (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL,
    category     text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    created_by   jsonb NOT NULL,  -- principal
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL,
    CONSTRAINT document_templates_name_unique UNIQUE (tenant_id, name)
);
