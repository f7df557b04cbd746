-- Message search walks a tenant's messages newest first, one bucket of about 8,192 of the
-- tenant's messages at a time, and stops at the first few hundred matches (see
-- src/store/search.rs). Each message is indexed under its tenant and bucket: every word is
-- stored with a prefix naming both, so a search asks the index only for one bucket's matches,
-- and a prefix term ("furn") expands only into that bucket's words.
--
-- Why not the plain GIN index this replaces: it can only answer with every match of a word at
-- once, in no order. At 100k threads / 1M messages "furnace" is in 155,000 messages, and
-- building that answer took 40 ms before the newest could be picked out; when the newest
-- messages held too few of them, fetching and sorting them all took 0.6-2.6 s. Walking buckets
-- against the plain index does not help either: a prefix term is expanded into the full lists
-- of all the words it starts, once per bucket.
--
-- The prefix is `S`, eight hex digits of the tenant id's MD5, the bucket number, then `W`:
-- upper-case letters, which no lexeme of the lower-cased `simple` configuration contains, so a
-- user's term can never match one by accident. A hash collision between two tenants only costs
-- speed: the search keeps its `tenant_id =` condition.
--
-- Buckets are numbered per tenant, from a count of the tenant's ingested messages that the
-- ingest writer advances a batch at a time (it already takes the tenant's row for its thread
-- count), so a tenant among many walks only its own buckets. Outbound messages take the
-- current bucket without advancing the count: a bucket holds 8,192 inbound messages and the
-- replies among them. A bucket only ever grows, so walking down the buckets stays newest first.
--
-- The functions have SQL-standard bodies: their references are bound when they are created, so
-- an index expression calling them does not depend on the search path it is evaluated under
-- (restore, autovacuum), and the server still inlines them.

CREATE FUNCTION message_search_bucket(ordinal BIGINT) RETURNS BIGINT
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql
    RETURN ordinal >> 13;

CREATE FUNCTION message_search_prefix(tenant TEXT, bucket BIGINT) RETURNS TEXT
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql
    RETURN 'S' || substr(md5(tenant), 1, 8) || bucket::text || 'W';

-- Words of 200 characters or more are dropped first: prefixed, they could pass the 2 KB limit
-- of a lexeme, and that would refuse the message. Nobody searches for them. In the tsvector's
-- text form each lexeme opens with a quote after a space (the leading one is added here), and
-- its letters and digits hold neither: a plain `replace` puts the prefix in, at half the cost of
-- a regular expression (11 against 20 µs a message).
CREATE FUNCTION message_search_lexemes(tenant TEXT, bucket BIGINT, body TEXT) RETURNS TSVECTOR
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql
    RETURN replace(
        ' ' || to_tsvector('simple', regexp_replace(
            regexp_replace(body, '[[:alnum:]]{200,}', ' ', 'g'), '[^[:alnum:]]+', ' ', 'g'))::text,
        ' ''',
        ' ''' || message_search_prefix(tenant, bucket))::tsvector;

-- The query's lexemes hold only letters and digits (src/store/search.rs), never the quote this
-- rewrites around; a query's text also has closing quotes, and operators before its lexemes.
CREATE FUNCTION message_search_query(tenant TEXT, bucket BIGINT, query TSQUERY) RETURNS TSQUERY
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql
    RETURN regexp_replace(
        query::text,
        '''([^'']*)''',
        '''' || message_search_prefix(tenant, bucket) || '\1''',
        'g')::tsquery;

-- Dropping the column drops both indexes over it, the body index and `messages_recent`
-- (migration 7, read only by search), before the numbering below rewrites every message.
ALTER TABLE messages DROP COLUMN body_tsv;
ALTER TABLE tenants ADD COLUMN messages_ingested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN search_bucket BIGINT;
UPDATE messages SET search_bucket = message_search_bucket(n.ordinal)
FROM (SELECT seq, row_number() OVER (PARTITION BY tenant_id ORDER BY seq) - 1 AS ordinal
      FROM messages) AS n
WHERE messages.seq = n.seq;
UPDATE tenants SET messages_ingested =
    (SELECT count(*) FROM messages WHERE messages.tenant_id = tenants.id);

-- The ingest writer sets each message's bucket; any other insert (a reply) takes the current one.
CREATE FUNCTION message_search_bucket_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_bucket := coalesce(message_search_bucket(
        (SELECT messages_ingested FROM tenants WHERE id = NEW.tenant_id)), 0);
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_search_bucket BEFORE INSERT ON messages
FOR EACH ROW WHEN (NEW.search_bucket IS NULL) EXECUTE FUNCTION message_search_bucket_now();
ALTER TABLE messages ALTER COLUMN search_bucket SET NOT NULL;

CREATE INDEX messages_search ON messages
    USING GIN (message_search_lexemes(tenant_id, search_bucket, body)) WITH (fastupdate = off);
