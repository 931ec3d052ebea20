-- 001_init: the initial ragws schema (SPEC S5).
--
-- Migrations are applied by `ragws migrate`, each file in one transaction
-- together with its schema_migrations row; a file must therefore not contain
-- BEGIN/COMMIT, nor statements that cannot run inside a transaction
-- (CREATE INDEX CONCURRENTLY, VACUUM ...). Files are numbered NNN_name.sql
-- and are never edited once released: changes go into a new file.
--
-- Operators query these tables with plain SQL, so names are plain and
-- stable: messages.content is the text of a chat message, chunks.content
-- the text of an indexed passage.

-- The migrator creates this table before running any file (to read which
-- versions are applied); IF NOT EXISTS keeps this file runnable on its own.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- RAG corpus --------------------------------------------------------------

CREATE TABLE collections (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id            bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections ON DELETE CASCADE,
    filename      text NOT NULL,
    content_type  text,
    size_bytes    bigint,
    -- queued | processing | indexed | failed (ingestion through REST moves
    -- a document along these; `ragws ingest` writes 'indexed' directly)
    status        text NOT NULL DEFAULT 'indexed',
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_collection_idx ON documents (collection_id);

-- collection_id is denormalised from the document so that retrieval within
-- a collection filters chunks without a join.
CREATE TABLE chunks (
    id            bigserial PRIMARY KEY,
    document_id   bigint NOT NULL REFERENCES documents ON DELETE CASCADE,
    collection_id bigint NOT NULL REFERENCES collections ON DELETE CASCADE,
    ordinal       int NOT NULL,          -- 0, 1, ... within the document
    page          int,                   -- NULL when the source has no pages
    content       text NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
CREATE INDEX chunks_collection_idx ON chunks (collection_id);
CREATE INDEX chunks_document_idx ON chunks (document_id, ordinal);

-- Ingestion tasks (S4.2) -------------------------------------------------

CREATE TABLE tasks (
    id            bigserial PRIMARY KEY,
    document_id   bigint REFERENCES documents ON DELETE SET NULL,
    collection_id bigint REFERENCES collections ON DELETE CASCADE,
    kind          text NOT NULL,                   -- e.g. ingest
    status        text NOT NULL DEFAULT 'queued',  -- queued | running | completed | failed
    progress      real NOT NULL DEFAULT 0,         -- 0..1
    filename      text,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX tasks_status_idx ON tasks (status, id);

CREATE TABLE task_logs (
    id         bigserial PRIMARY KEY,
    task_id    bigint REFERENCES tasks ON DELETE CASCADE,
    level      text,
    message    text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_logs_task_idx ON task_logs (task_id, id);

-- Socket.IO projects (S4.4): ids are chosen by the client application.
CREATE TABLE projects (
    id         bigint PRIMARY KEY,
    name       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Conversations -----------------------------------------------------------

-- kind says which endpoint owns the conversation (chat, socketio,
-- conversation, query ...); external_id is that endpoint's own id (chat_id,
-- session_id ...).
CREATE TABLE conversations (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    external_id text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, external_id)
);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content         text NOT NULL,
    -- a cancelled answer keeps its partial text with status 'cancelled'
    status          text NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'cancelled', 'error')),
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);

-- external_message_id is the id the client saw (e.g. bot_1 on /chat/ws),
-- kept even when it cannot be mapped to a stored message.
CREATE TABLE reactions (
    id                  bigserial PRIMARY KEY,
    message_id          bigint REFERENCES messages ON DELETE CASCADE,
    conversation_id     bigint REFERENCES conversations ON DELETE CASCADE,
    external_message_id text,
    reaction            text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reactions_message_idx ON reactions (message_id);
CREATE INDEX reactions_conversation_idx ON reactions (conversation_id);
