-- Messages waiting for triage are kept in a table of their own, not found by a partial index on
-- `messages` whose predicate reads `classified_at`. With that index, classifying a message (an
-- UPDATE of `classified_at` and its labels) could never be a HOT update: PostgreSQL wrote a new
-- entry for the message into every one of the table's indexes, its GIN search index included,
-- which ended up holding every message twice; at 1M messages a search for a frequent word and a
-- rare one took 29 ms where a rebuilt index took 10 (BENCHMARKS.md, session 27). No index of
-- `messages` reads the labels now, and its pages keep room for the classified version of each
-- row beside the first, so classifying writes no index entry.
CREATE TABLE messages_to_classify (
    seq BIGINT PRIMARY KEY REFERENCES messages(seq) ON DELETE CASCADE
);
INSERT INTO messages_to_classify (seq)
    SELECT seq FROM messages WHERE classified_at IS NULL AND direction = 'inbound';
DROP INDEX messages_unclassified;

CREATE FUNCTION messages_to_classify_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO messages_to_classify (seq) VALUES (NEW.seq);
    RETURN NULL;
END $$;
CREATE TRIGGER messages_to_classify_add AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.direction = 'inbound' AND NEW.classified_at IS NULL)
    EXECUTE FUNCTION messages_to_classify_add();

CREATE FUNCTION messages_to_classify_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages_to_classify WHERE seq = NEW.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_to_classify_done AFTER UPDATE OF classified_at ON messages FOR EACH ROW
    WHEN (OLD.classified_at IS NULL AND NEW.classified_at IS NOT NULL)
    EXECUTE FUNCTION messages_to_classify_done();

-- Applies to pages written from now on.
ALTER TABLE messages SET (fillfactor = 80);
