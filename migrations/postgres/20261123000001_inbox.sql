-- The inbox store, PostgreSQL flavour. Mirrors the SQLite schema column for column so both
-- engines share one set of queries: times are unix milliseconds, flags are 0/1 BIGINTs (the sqlx
-- Any driver decodes integers uniformly, booleans not), ids are opaque text (UUID v7).
-- Full-text search uses generated tsvector columns with GIN indexes and the 'simple'
-- configuration, because customers write in many languages and stemming one would hurt others;
-- punctuation is turned into spaces first so emails and URLs split into words as in SQLite's FTS5.

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    thread_count BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_hash   TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE contacts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    is_customer BIGINT NOT NULL DEFAULT 0,
    name        TEXT,
    phone       TEXT,
    email       TEXT,
    address     TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    search_tsv  TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))) STORED,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX contacts_phone ON contacts (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_email ON contacts (tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX contacts_search ON contacts USING GIN (search_tsv);

CREATE TABLE threads (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    contact_id       TEXT NOT NULL UNIQUE REFERENCES contacts(id),
    status           TEXT NOT NULL DEFAULT 'new',
    pinned           BIGINT NOT NULL DEFAULT 0,
    blocked          BIGINT NOT NULL DEFAULT 0,
    needs_attention  BIGINT NOT NULL DEFAULT 0,
    waiting_since    BIGINT,
    last_activity_at BIGINT NOT NULL,
    last_message_id  TEXT,
    urgency          TEXT,
    urgency_rank     BIGINT NOT NULL DEFAULT 0,
    language         TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',
    pending_drafts   BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX threads_recent ON threads (tenant_id, pinned DESC, last_activity_at DESC, id DESC);
CREATE INDEX threads_attention ON threads (tenant_id, urgency_rank DESC, waiting_since, id)
    WHERE needs_attention = 1;
CREATE INDEX threads_drafts ON threads (tenant_id, pinned DESC, last_activity_at DESC, id DESC)
    WHERE pending_drafts > 0;

CREATE TABLE messages (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    thread_id       TEXT NOT NULL REFERENCES threads(id),
    direction       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,
    body_tsv        TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED,
    author          TEXT,
    sender          TEXT,
    source          TEXT,
    external_id     TEXT,
    delivery_status TEXT NOT NULL,
    delivery_error  TEXT,
    sender_blocked  BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    urgency         TEXT,
    language        TEXT,
    classified_at   BIGINT
);
CREATE UNIQUE INDEX messages_external ON messages (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_thread ON messages (thread_id, created_at, seq);
CREATE INDEX messages_unclassified ON messages (seq) WHERE classified_at IS NULL AND direction = 'inbound';
CREATE INDEX messages_search ON messages USING GIN (body_tsv);

CREATE TABLE responses (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    thread_id    TEXT NOT NULL,
    waited_from  BIGINT NOT NULL,
    responded_at BIGINT NOT NULL
);
CREATE INDEX responses_recent ON responses (tenant_id, responded_at);

CREATE TABLE drafts (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    thread_id    TEXT NOT NULL REFERENCES threads(id),
    goal         TEXT NOT NULL,
    text         TEXT NOT NULL,
    language     TEXT,
    status       TEXT NOT NULL,
    stale_reason TEXT,
    flags        TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL
);
CREATE INDEX drafts_thread ON drafts (thread_id, status);

CREATE TABLE follow_ups (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    thread_id  TEXT NOT NULL REFERENCES threads(id),
    due_at     BIGINT NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX follow_ups_due ON follow_ups (tenant_id, due_at);
