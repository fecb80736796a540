-- A document's own audit entries, newest first, without reading the tenant's whole chain.
CREATE INDEX audit_entries_document ON audit_entries (tenant_id, document_id, seq) WHERE document_id IS NOT NULL;
