-- The header counts ("7 total · 2 need attention") without a COUNT over the inbox on every
-- list request: each change of a thread's Attention or draft state is logged as a delta by a
-- trigger, a read adds the tenant's pending deltas to its compacted totals, and compaction
-- folds the deltas in now and then. Deltas rather than an UPDATE of the tenant row keep
-- concurrent writers off one hot row: that row lock would deadlock a batch of ingests against a
-- mark-read of one of its threads.

ALTER TABLE tenants ADD COLUMN attention_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN draft_thread_count BIGINT NOT NULL DEFAULT 0;

UPDATE tenants SET
    attention_count = (SELECT COUNT(*) FROM threads
                       WHERE threads.tenant_id = tenants.id AND needs_attention = 1),
    draft_thread_count = (SELECT COUNT(*) FROM threads
                          WHERE threads.tenant_id = tenants.id AND pending_drafts > 0);

CREATE TABLE thread_count_changes (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    attention BIGINT NOT NULL,
    drafts    BIGINT NOT NULL
);
CREATE INDEX thread_count_changes_tenant ON thread_count_changes (tenant_id);

CREATE FUNCTION thread_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant TEXT;
    attention BIGINT := 0;
    drafts BIGINT := 0;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
        attention := (NEW.needs_attention = 1)::int;
        drafts := (NEW.pending_drafts > 0)::int;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        attention := attention - (OLD.needs_attention = 1)::int;
        drafts := drafts - (OLD.pending_drafts > 0)::int;
    END IF;
    IF attention <> 0 OR drafts <> 0 THEN
        INSERT INTO thread_count_changes (tenant_id, attention, drafts)
        VALUES (tenant, attention, drafts);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER threads_count_change
AFTER INSERT OR UPDATE OF needs_attention, pending_drafts OR DELETE ON threads
FOR EACH ROW EXECUTE FUNCTION thread_count_change();
