-- A GIN index with `fastupdate` (the default) keeps new entries in an unsorted pending list
-- until a vacuum, or 4 MB of them, folds it into the index, and every search scans that list
-- from end to end. With autovacuum off, or between its runs, that list is always there: at 50k
-- messages it made every search 3-4 ms slower per index (a search for a name that matched
-- nothing took 3.6 ms in the messages index and 3.8 ms in the contacts index, 0.09 and 0.17 ms
-- once the lists were folded in). An inbox is searched far more often than a message is
-- indexed, so entries go straight into the index instead, and the lists already there are
-- folded in now.
ALTER INDEX messages_search SET (fastupdate = off);
ALTER INDEX contacts_search SET (fastupdate = off);
SELECT gin_clean_pending_list('messages_search'::regclass);
SELECT gin_clean_pending_list('contacts_search'::regclass);
