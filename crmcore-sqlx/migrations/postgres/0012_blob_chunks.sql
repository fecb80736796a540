-- Blobs written in pieces (streamed uploads): a blob whose `chunks` is above zero keeps its
-- bytes in `blob_chunks`, 1 MiB a row in `seq` order, and an empty `bytes`. A write in progress
-- spools its pieces under the key `upload-<id>` of its `blob_uploads` row; finishing renames
-- them to the blob's key in one transaction, so a blob is whole or absent. Uploads abandoned by
-- a crash are swept when a later one starts.
ALTER TABLE blobs ADD COLUMN chunks integer NOT NULL DEFAULT 0;

CREATE TABLE blob_chunks (
    key    text NOT NULL,
    seq    integer NOT NULL,
    bytes  bytea NOT NULL,
    CONSTRAINT blob_chunks_pkey PRIMARY KEY (key, seq)
);

CREATE TABLE blob_uploads (
    id          text NOT NULL,
    started_at  timestamptz NOT NULL,
    CONSTRAINT blob_uploads_pkey PRIMARY KEY (id)
);
CREATE INDEX blob_uploads_started ON blob_uploads (started_at);
-- Content is mostly compressed already (PDF, images, office files): TOAST stores it without
-- trying to compress it again.
ALTER TABLE blob_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
