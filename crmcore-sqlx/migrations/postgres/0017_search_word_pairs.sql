-- Phrase search through an index of adjacent word pairs.
--
-- A phrase of common words ("terms of service") matches few documents though each of its words
-- is in most of them, so the word index cannot narrow it: every document holding the words had
-- its vector decompressed and its positions checked. Each document now also keeps the set of its
-- adjacent token pairs (within one field: title, tags or text), each hashed to a 16-bit bucket,
-- as a sorted `int2[]` with a GIN index. The hash is the high half of `hashtext`, which hash
-- partitioning relies on staying the same across versions (and a restored dump recomputes the
-- column). A phrase query adds `search_pairs @> crm_word_pair_buckets(its phrases)`: a necessary
-- condition, exact up to bucket collisions, which the vector match still removes. 65,536 buckets
-- keep the index about the size of the word index and the array small enough to stay in the row.
-- Adding the stored column rewrites the documents table once, under an exclusive lock.

CREATE FUNCTION crm_word_pair_buckets(fields text[]) RETURNS int2[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_agg(DISTINCT bucket ORDER BY bucket), '{}')
    FROM (
        SELECT (pg_catalog.hashtext(w[i] || ' ' || w[i + 1]) >> 16)::int2 AS bucket
        FROM pg_catalog.unnest(fields) AS field,
             LATERAL pg_catalog.string_to_array(field, ' ') AS w,
             LATERAL pg_catalog.generate_series(1, coalesce(pg_catalog.array_length(w, 1), 0) - 1) AS i
    ) AS pairs
$$;

ALTER TABLE documents ADD COLUMN search_pairs int2[]
    GENERATED ALWAYS AS (crm_word_pair_buckets(ARRAY[search_title, search_tags, search_body])) STORED;
CREATE INDEX documents_search_pairs ON documents USING gin (search_pairs);
-- Pair buckets are as skewed as words: keep enough of them to tell a common pair from a rare one.
ALTER TABLE documents ALTER COLUMN search_pairs SET STATISTICS 1000;

-- What a search reads stays in the row; only the normalized text (read by nothing but the
-- generated columns) leaves it. With the pairs a typical row passes 2 kB, and PostgreSQL would
-- then move the row's largest value out of line: the search vector, which every match would
-- fetch from the TOAST table. `MAIN` keeps a value inline (compressed) unless the row would not
-- fit a page.
ALTER TABLE documents
    ALTER COLUMN title SET STORAGE MAIN,
    ALTER COLUMN description SET STORAGE MAIN,
    ALTER COLUMN tags SET STORAGE MAIN,
    ALTER COLUMN links SET STORAGE MAIN,
    ALTER COLUMN search_title SET STORAGE MAIN,
    ALTER COLUMN search_tags SET STORAGE MAIN,
    ALTER COLUMN search_vector SET STORAGE MAIN,
    ALTER COLUMN search_pairs SET STORAGE MAIN;
