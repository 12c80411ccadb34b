-- Claude transcripts for the SDK's SessionStore. One row per transcript key holds the
-- listing data (mtime, folded summary) so listing never touches the entries.

CREATE TABLE claude_transcripts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_key  text NOT NULL,
  session_id   text NOT NULL,
  -- '' is the main transcript; subagent transcripts carry the SDK's subpath.
  subpath      text NOT NULL DEFAULT '',
  -- Epoch milliseconds from the database clock, strictly increasing per transcript.
  mtime        bigint NOT NULL,
  next_seq     bigint NOT NULL DEFAULT 0,
  -- JSON text of the SDK's opaque summary data; text, because jsonb rejects \u0000.
  summary      text,
  UNIQUE (project_key, session_id, subpath)
);

CREATE INDEX claude_transcripts_listing ON claude_transcripts (project_key)
  INCLUDE (session_id, mtime) WHERE subpath = '';

CREATE TABLE claude_transcript_entries (
  transcript_id  bigint NOT NULL REFERENCES claude_transcripts (id) ON DELETE CASCADE,
  seq            bigint NOT NULL,
  uuid           text,
  -- JSON text: round-trips \u0000, lone surrogates and key order exactly.
  entry          text NOT NULL,
  PRIMARY KEY (transcript_id, seq)
);

CREATE UNIQUE INDEX claude_transcript_entries_uuid
  ON claude_transcript_entries (transcript_id, uuid) WHERE uuid IS NOT NULL;
