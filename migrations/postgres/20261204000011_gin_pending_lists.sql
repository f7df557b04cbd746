-- New words wait in each GIN index's pending list again (`fastupdate`, turned off by the
-- `gin_without_pending_list` migration), and the server folds the lists into the indexes
-- itself, a tenth of a second after they start to fill (src/store/search_upkeep.rs).
--
-- Put straight into the index, every word of every message was its own descent into the
-- index, made by the ingest writer inside its batch's statement; at 32 concurrent ingests
-- the writer spent a fifth of its time there (BENCHMARKS.md, session 29). Appended to the
-- pending list, the words cost the writer little, and folding a list in sorts its words and
-- adds each word's new messages at once, on a connection the writer does not wait for.
--
-- Why the lists were turned off still holds: every search reads its index's whole pending
-- list, once per bucket of messages it walks. Folded within a tenth of a second, a list holds
-- at most that much of the newest messages, and nothing once ingest pauses.
ALTER INDEX messages_search SET (fastupdate = on);
ALTER INDEX contacts_search SET (fastupdate = on);
