-- How common each word is decides between the GIN index and the newest-first walk of a search.
-- The default statistics target keeps about a thousand of the most common words, too few for a
-- real vocabulary: a prefix matching many less common words was estimated rare, and fetched
-- every match through the index instead of walking the newest documents until the window filled.
ALTER TABLE documents ALTER COLUMN search_vector SET STATISTICS 1000;
