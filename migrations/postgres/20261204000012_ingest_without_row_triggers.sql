-- The ingest writer's batch statement no longer calls a PL/pgSQL function for each row it
-- writes: ~10 µs a message to queue it for triage and ~9 µs a new or updated thread to log its
-- header-count delta, a sixth of the statement the writer runs one batch at a time
-- (BENCHMARKS.md, session 30).
--
-- 1. The batch statement (src/store/ingest/postgres.rs) queues its new messages for triage
--    itself. It is the only place inbound messages are inserted; outbound ones are stored
--    classified and were never queued.
DROP TRIGGER messages_to_classify_add ON messages;
DROP FUNCTION messages_to_classify_add();

-- 2. The batch statement logs its new threads' header-count delta itself, one row a batch,
--    as it is the only place threads are inserted.
--
--    For the threads it updates, a delta is logged only when a thread's Attention or draft
--    state changes. The trigger ran for every update of those columns and found nothing to log
--    for most: a new message in a thread already waiting for an answer sets
--    `needs_attention = 1` and `pending_drafts = 0` on a thread that has them. A trigger's
--    WHEN is checked without calling the function, so updates and deletes now have a trigger
--    each, with its WHEN.
DROP TRIGGER threads_count_change ON threads;

CREATE TRIGGER threads_count_update AFTER UPDATE OF needs_attention, pending_drafts ON threads
    FOR EACH ROW
    WHEN ((OLD.needs_attention = 1) <> (NEW.needs_attention = 1)
          OR (OLD.pending_drafts > 0) <> (NEW.pending_drafts > 0))
    EXECUTE FUNCTION thread_count_change();

CREATE TRIGGER threads_count_delete AFTER DELETE ON threads FOR EACH ROW
    WHEN (OLD.needs_attention = 1 OR OLD.pending_drafts > 0)
    EXECUTE FUNCTION thread_count_change();
