-- The header counts ("7 total · 2 need attention") without a COUNT over the inbox on every
-- list request: each change of a thread's Attention or draft state is logged as a delta by a
-- trigger, a read adds the tenant's pending deltas to its compacted totals, and compaction
-- folds the deltas in now and then. Deltas rather than an UPDATE of the tenant row keep
-- concurrent writers off one hot row (on PostgreSQL that row lock would deadlock a batch of
-- ingests against a mark-read); SQLite uses the same design so both engines share the queries.

ALTER TABLE tenants ADD COLUMN attention_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN draft_thread_count INTEGER NOT NULL DEFAULT 0;

UPDATE tenants SET
    attention_count = (SELECT COUNT(*) FROM threads
                       WHERE threads.tenant_id = tenants.id AND needs_attention = 1),
    draft_thread_count = (SELECT COUNT(*) FROM threads
                          WHERE threads.tenant_id = tenants.id AND pending_drafts > 0);

CREATE TABLE thread_count_changes (
    seq       INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    attention INTEGER NOT NULL,
    drafts    INTEGER NOT NULL
);
CREATE INDEX thread_count_changes_tenant ON thread_count_changes (tenant_id);

CREATE TRIGGER threads_count_insert AFTER INSERT ON threads
WHEN new.needs_attention = 1 OR new.pending_drafts > 0 BEGIN
    INSERT INTO thread_count_changes (tenant_id, attention, drafts)
    VALUES (new.tenant_id, new.needs_attention = 1, new.pending_drafts > 0);
END;
CREATE TRIGGER threads_count_update AFTER UPDATE OF needs_attention, pending_drafts ON threads
WHEN (old.needs_attention = 1) <> (new.needs_attention = 1)
  OR (old.pending_drafts > 0) <> (new.pending_drafts > 0) BEGIN
    INSERT INTO thread_count_changes (tenant_id, attention, drafts)
    VALUES (new.tenant_id,
            (new.needs_attention = 1) - (old.needs_attention = 1),
            (new.pending_drafts > 0) - (old.pending_drafts > 0));
END;
CREATE TRIGGER threads_count_delete AFTER DELETE ON threads
WHEN old.needs_attention = 1 OR old.pending_drafts > 0 BEGIN
    INSERT INTO thread_count_changes (tenant_id, attention, drafts)
    VALUES (old.tenant_id, -(old.needs_attention = 1), -(old.pending_drafts > 0));
END;
