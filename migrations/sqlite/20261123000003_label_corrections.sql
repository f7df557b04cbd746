-- Operator corrections of a message's triage labels. They win over the classifier's output
-- (also when it runs after the correction) and are retrained on, per tenant.
CREATE TABLE label_corrections (
    message_id   TEXT PRIMARY KEY REFERENCES messages (id),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    -- JSON array of {"id","score"} like messages.tags; NULL when only urgency was corrected.
    tags         TEXT,
    urgency      TEXT,
    author       TEXT,
    corrected_at BIGINT NOT NULL
);

CREATE INDEX label_corrections_tenant ON label_corrections (tenant_id, corrected_at);
