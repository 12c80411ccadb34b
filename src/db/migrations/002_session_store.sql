-- Claude transcripts for the SDK's SessionStore. One row per transcript key holds the
-- listing data (mtime, folded summary) so listing never touches the entries.

CREATE TABLE claude_transcripts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_key  text NOT NULL,
  session_id   text NOT NULL,
  -- '' is the main transcript; subagent transcripts carry the SDK's subpath.
  subpath      text NOT NULL DEFAULT '',
  -- Epoch milliseconds on the database clock, which every node shares; strictly
  -- increasing per transcript.
  mtime        bigint NOT NULL DEFAULT floor(extract(epoch FROM clock_timestamp()) * 1000),
  -- Bumped by every append: a writer that remembers the row appends in one statement
  -- while the version still matches, and reads the row afresh under its lock otherwise.
  version      bigint NOT NULL DEFAULT 0,
  -- JSON text of the SDK's opaque summary data; text, because jsonb rejects \u0000.
  summary      text,
  UNIQUE (project_key, session_id, subpath)
);

-- No column an append changes is indexed, so its row update can stay a HOT update.
CREATE INDEX claude_transcripts_listing ON claude_transcripts (project_key) WHERE subpath = '';

-- Entries are removed with their transcript by the store itself, under the transcript's
-- row lock; a foreign key would cost a lookup per inserted entry.
CREATE TABLE claude_transcript_entries (
  transcript_id  bigint NOT NULL,
  id             bigint GENERATED ALWAYS AS IDENTITY,
  uuid           text,
  -- JSON text: round-trips \u0000, lone surrogates and key order exactly.
  entry          text NOT NULL,
  PRIMARY KEY (transcript_id, id)
);

CREATE UNIQUE INDEX claude_transcript_entries_uuid
  ON claude_transcript_entries (transcript_id, uuid) WHERE uuid IS NOT NULL;
