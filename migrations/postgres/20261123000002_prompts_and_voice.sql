-- Per-business prompt overrides. Every change is a new row (history is never rewritten); the
-- highest version is live. A NULL source means "back to the shipped default".
CREATE TABLE prompt_versions (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    source     TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

-- The business's voice for drafts, as one JSON document: it is read whole and written whole.
CREATE TABLE voice_settings (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
