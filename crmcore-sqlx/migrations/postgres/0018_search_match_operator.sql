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

