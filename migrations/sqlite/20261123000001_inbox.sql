-- The inbox store, SQLite flavour. Times are unix milliseconds (INTEGER) so both engines share
-- one set of queries; ids are opaque text (UUID v7). Tables that feed FTS5 carry an explicit
-- INTEGER `seq` key because implicit rowids may be renumbered by VACUUM, which would detach an
-- external-content index from its rows.

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    -- Kept in step with `threads` so the list header never has to COUNT(*) a large tenant.
    thread_count INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_hash   TEXT NOT NULL UNIQUE,  -- sha256 of the key; the key itself is never stored
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Everyone who ever wrote in. `is_customer` is 0 for an Unknown Contact: a phone number or email
-- the business has not yet named.
CREATE TABLE contacts (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    is_customer INTEGER NOT NULL DEFAULT 0,
    name        TEXT,
    phone       TEXT,  -- E.164
    email       TEXT,  -- lower-cased
    address     TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_phone ON contacts (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_email ON contacts (tenant_id, email) WHERE email IS NOT NULL;

-- One thread per contact. The list columns (attention, waiting, last activity, urgency, pending
-- drafts) are maintained on every write so each inbox filter is one index range scan.
CREATE TABLE threads (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    contact_id       TEXT NOT NULL UNIQUE REFERENCES contacts(id),
    status           TEXT NOT NULL DEFAULT 'new',
    pinned           INTEGER NOT NULL DEFAULT 0,
    blocked          INTEGER NOT NULL DEFAULT 0,
    needs_attention  INTEGER NOT NULL DEFAULT 0,
    waiting_since    INTEGER,
    last_activity_at INTEGER NOT NULL,
    last_message_id  TEXT,
    urgency          TEXT,
    urgency_rank     INTEGER NOT NULL DEFAULT 0,
    language         TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',
    pending_drafts   INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE INDEX threads_recent ON threads (tenant_id, pinned DESC, last_activity_at DESC, id DESC);
CREATE INDEX threads_attention ON threads (tenant_id, urgency_rank DESC, waiting_since, id)
    WHERE needs_attention = 1;
CREATE INDEX threads_drafts ON threads (tenant_id, pinned DESC, last_activity_at DESC, id DESC)
    WHERE pending_drafts > 0;

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    thread_id       TEXT NOT NULL REFERENCES threads(id),
    direction       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,
    author          TEXT,
    sender          TEXT,
    source          TEXT,
    external_id     TEXT,
    delivery_status TEXT NOT NULL,
    delivery_error  TEXT,
    -- Set when the sender was blocked on arrival: kept, never raises Attention.
    sender_blocked  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    urgency         TEXT,
    language        TEXT,
    -- NULL on an inbound message means "not yet triaged": the rows themselves are the durable
    -- classification queue, so a crash between ingest and triage loses nothing.
    classified_at   INTEGER
);
CREATE UNIQUE INDEX messages_external ON messages (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_thread ON messages (thread_id, created_at, seq);
CREATE INDEX messages_unclassified ON messages (seq) WHERE classified_at IS NULL AND direction = 'inbound';

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body, content = 'messages', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;

CREATE VIRTUAL TABLE contacts_fts USING fts5 (
    search_text, content = 'contacts', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

-- One row per answered wait: the first outbound after an inbound. Feeds response-time stats.
CREATE TABLE responses (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    thread_id    TEXT NOT NULL,
    waited_from  INTEGER NOT NULL,
    responded_at INTEGER NOT NULL
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
    created_at   INTEGER NOT NULL
);
CREATE INDEX drafts_thread ON drafts (thread_id, status);

CREATE TABLE follow_ups (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    thread_id  TEXT NOT NULL REFERENCES threads(id),
    due_at     INTEGER NOT NULL,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX follow_ups_due ON follow_ups (tenant_id, due_at);
