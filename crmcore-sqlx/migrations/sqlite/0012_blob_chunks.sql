-- Blobs written in pieces (streamed uploads): a blob whose `chunks` is above zero keeps its
-- bytes in `blob_chunks`, 1 MiB a row in `seq` order, and an empty `bytes`. A write in progress
-- spools its pieces under the key `upload-<id>` of its `blob_uploads` row; finishing renames
-- them to the blob's key in one transaction, so a blob is whole or absent. Uploads abandoned by
-- a crash are swept when a later one starts.
ALTER TABLE blobs ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;

CREATE TABLE blob_chunks (
    key    TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (key, seq)
);

CREATE TABLE blob_uploads (
    id          TEXT NOT NULL PRIMARY KEY,
    started_at  TEXT NOT NULL
);
CREATE INDEX blob_uploads_started ON blob_uploads (started_at);
