-- A uuid is an exact key: comparing it byte by byte spares every de-duplication probe the
-- locale's collation rules.
ALTER TABLE claude_transcript_entries ALTER COLUMN uuid TYPE text COLLATE "C";
