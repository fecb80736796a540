-- The created-date filter of listings and searches. A search for a common word since a recent
-- date walked every document newest first when fewer than a window's matches were that recent
-- (the walk cannot stop at the date, which ids do not follow); with this index the date range
-- and the word's GIN entries are intersected before any row is read.
CREATE INDEX documents_created ON documents (tenant_id, created_at) WHERE trashed_at IS NULL;
