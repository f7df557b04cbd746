-- A business's own tags (ids, descriptions, examples, aliases of shipped tags), as one JSON
-- document; a tenant without a row uses the shipped taxonomy.
CREATE TABLE taxonomies (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    taxonomy   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
