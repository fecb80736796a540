-- Phrase searches narrowed by the word-pair index alone.
--
-- A phrase search also matched the whole query with `@@`, which the word index answers: for a
-- phrase of common words the planner intersected the word index's long lists (most documents
-- hold each word) with the pairs' short one, and that intersection cost more than the rows it
-- saved. `@@~` is `@@` (the same function and the same row estimate from the column's
-- statistics) in no operator class, so no index answers it: the whole query is checked on the
-- rows the pairs (and the other words, through `@@`) select.
CREATE OPERATOR @@~ (
    LEFTARG = tsvector,
    RIGHTARG = tsquery,
    FUNCTION = pg_catalog.ts_match_vq,
    RESTRICT = pg_catalog.tsmatchsel
);

-- (0017 says the normalized text leaves the row; PostgreSQL compresses it first, and compressed it
-- stays in the row, about 460 of a typical row's bytes. Moving it out does not help: the rows
-- stay at four a page, the vector alone being 1,280 bytes.)
