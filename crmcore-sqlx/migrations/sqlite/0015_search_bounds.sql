-- Searches within a date range or a category read fewer matches.
--
-- The created-date filter. FTS5 walks a word's matches newest first (by rowid, the
-- documents' `search_id`) and cannot stop at a date on its own: a search for a common word since
-- a recent date, with fewer than a window's matches that recent, walked every older match. The
-- search now also bounds the walk's rowids by the smallest (largest) `search_id` of the live
-- documents created in the range, read from this index without touching a row; every matching
-- document lies within the bounds, so the bound is exact whatever order documents were created in.
CREATE INDEX documents_created ON documents (tenant_id, created_at, search_id) WHERE trashed_at IS NULL;

-- A search in one category: the category's `search_id`s, read once, to check each match against
-- before its document's row is read.
CREATE INDEX documents_category_search ON documents (tenant_id, category, search_id) WHERE trashed_at IS NULL;
