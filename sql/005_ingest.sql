-- 005_ingest: the ingestion queue (SPEC S4.2, S6).
--
-- A task is one uploaded file: queued -> extracting -> chunking -> indexing
-- -> completed | failed | cancelled. Any worker of any node claims a
-- queued task (or one whose lease ran out: its worker died) with
-- SELECT ... FOR UPDATE SKIP LOCKED, and renews lease_until while it runs
-- it; lease_owner names the worker ("host:pid:slot"), attempts counts the
-- claims (ingest.max_attempts of them, then the task fails).

-- Tasks of an older binary had no lease: one left 'running' can never
-- finish, so it is failed rather than kept forever.
UPDATE tasks SET status = 'failed', error = 'interrupted: ragws was upgraded while it ran',
                 finished_at = coalesce(finished_at, now())
 WHERE status NOT IN ('queued', 'completed', 'failed', 'cancelled');

ALTER TABLE tasks
    ALTER COLUMN kind SET DEFAULT 'ingest',
    ADD COLUMN upload_id    text UNIQUE,          -- upload_<16 hex>, the /ws/upload key
    ADD COLUMN stage        text,                 -- extractor stage: text_extraction, ocr ...
    ADD COLUMN attempts     int NOT NULL DEFAULT 0,
    ADD COLUMN lease_owner  text,
    ADD COLUMN lease_until  timestamptz,
    ADD COLUMN path         text,                 -- the stored file, removed when the task ends
    ADD COLUMN content_type text,
    ADD COLUMN size_bytes   bigint,
    ADD COLUMN content_hash text,                 -- sha256 hex of the file's bytes
    ADD COLUMN project_id   text,                 -- Socket.IO project, may be NULL
    ADD COLUMN owner        text,                 -- JWT sub of the uploader, may be NULL
    ADD COLUMN pages        int NOT NULL DEFAULT 0,
    ADD COLUMN pages_done   int NOT NULL DEFAULT 0,
    ADD COLUMN chunks       bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT tasks_status_check CHECK (status IN
        ('queued', 'extracting', 'chunking', 'indexing', 'completed', 'failed', 'cancelled'));

-- The claim: queued tasks and running ones whose lease may have lapsed,
-- oldest first.
CREATE INDEX tasks_claim_idx ON tasks (id)
    WHERE status IN ('queued', 'extracting', 'chunking', 'indexing');

-- A document's content hash: a re-upload of the same bytes into a
-- collection is not stored twice. Backfilled from what `ragws ingest`
-- kept in metadata (only the oldest of equal contents, so the index can
-- be built on any earlier data).
ALTER TABLE documents ADD COLUMN content_hash text;
UPDATE documents SET content_hash = metadata->>'sha256'
 WHERE id IN (SELECT DISTINCT ON (collection_id, metadata->>'sha256') id FROM documents
               WHERE metadata ? 'sha256' ORDER BY collection_id, metadata->>'sha256', id);
CREATE UNIQUE INDEX documents_content_hash_idx ON documents (collection_id, content_hash)
    WHERE content_hash IS NOT NULL;
