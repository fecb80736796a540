-- Phrase search through word pairs.
--
-- FTS5 ranks with bm25, which first counts the documents holding each phrase of the query over
-- the whole index: for a phrase of common words, a check of positions in most documents, on every
-- search. Each field's adjacent token pairs are now indexed as tokens of their own, in three more
-- columns: `a` U+E000 `b` (a private-use character, which the tokenizer keeps inside a token and
-- no normalized token holds), listed in the order they occur. A phrase of n words is then
-- matched, exactly, as the phrase of its n - 1 pairs, and a trailing prefix as a prefix of the
-- last pair; a pair is about as rare as the phrase it stands for, so bm25's count is short.
--
-- A search within a category (migration 0015 checked each match against the category's
-- `search_id`s, read in full first) now matches the category as a token of its own column, which
-- FTS5 intersects with the words' lists as it walks them, skipping ahead in each.
--
-- The pairs are computed here from the normalized fields, which hold alphanumeric tokens joined
-- by single spaces (so quoting them makes a JSON array). `group_concat` joins them in the order
-- the window emits them, the tokens' order, which phrases of three words or more rely on (the
-- contract suite checks it). (An `ORDER BY` inside `group_concat` would say so, but a SQLite
-- older than 3.44, such as a system's `sqlite3` shell, could then not read this schema at all.)
-- The index keeps no copy of the text (`content=''`): the documents hold it, and nothing reads it
-- back from the index.

DROP TRIGGER documents_search_insert;
DROP TRIGGER documents_search_update;
DROP TRIGGER documents_search_delete;
DROP TABLE document_fts;

-- What the index holds for each document.
CREATE VIEW document_search_entries AS
SELECT
    d.id,
    d.search_id,
    d.search_title,
    d.search_tags,
    d.search_body,
    d.category AS search_category,
    (SELECT coalesce(group_concat(pair, ' '), '') FROM (
        SELECT value || char(57344) || lead(value) OVER (ORDER BY key) AS pair
        FROM json_each('["' || replace(d.search_title, ' ', '","') || '"]')
    ) WHERE pair IS NOT NULL) AS pairs_title,
    (SELECT coalesce(group_concat(pair, ' '), '') FROM (
        SELECT value || char(57344) || lead(value) OVER (ORDER BY key) AS pair
        FROM json_each('["' || replace(d.search_tags, ' ', '","') || '"]')
    ) WHERE pair IS NOT NULL) AS pairs_tags,
    (SELECT coalesce(group_concat(pair, ' '), '') FROM (
        SELECT value || char(57344) || lead(value) OVER (ORDER BY key) AS pair
        FROM json_each('["' || replace(d.search_body, ' ', '","') || '"]')
    ) WHERE pair IS NOT NULL) AS pairs_body
FROM documents AS d;

CREATE VIRTUAL TABLE document_fts USING fts5 (
    search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

INSERT INTO document_fts (rowid, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category)
    SELECT search_id, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category
    FROM document_search_entries;

CREATE TRIGGER documents_search_insert AFTER INSERT ON documents BEGIN
    UPDATE documents SET search_id = (SELECT coalesce(max(search_id), 0) + 1 FROM documents)
        WHERE id = new.id;
    INSERT INTO document_fts (rowid, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category)
        SELECT search_id, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category
        FROM document_search_entries WHERE id = new.id;
END;

CREATE TRIGGER documents_search_update AFTER UPDATE OF search_title, search_tags, search_body, category ON documents
WHEN old.search_title IS NOT new.search_title OR old.search_tags IS NOT new.search_tags
    OR old.search_body IS NOT new.search_body OR old.category IS NOT new.category
BEGIN
    DELETE FROM document_fts WHERE rowid = old.search_id;
    INSERT INTO document_fts (rowid, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category)
        SELECT search_id, search_title, search_tags, search_body, pairs_title, pairs_tags, pairs_body, search_category
        FROM document_search_entries WHERE id = new.id;
END;

CREATE TRIGGER documents_search_delete AFTER DELETE ON documents BEGIN
    DELETE FROM document_fts WHERE rowid = old.search_id;
END;

-- Replaced by the category column above.
DROP INDEX documents_category_search;
