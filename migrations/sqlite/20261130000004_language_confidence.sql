-- The detector's confidence in a message's language: the thread's language is sticky and only
-- confident messages may set or flip it (triage::ThreadLanguage). NULL on rows classified before
-- this column existed, which count as confident.
ALTER TABLE messages ADD COLUMN language_confidence REAL;
