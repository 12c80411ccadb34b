-- OpenCode's sessions as `opencode export` gives them (the session, then its messages each
-- with its parts), kept after each turn so that a node without the session imports it.
-- A turn adds or changes only its own messages, so they are stored one row each.

CREATE TABLE opencode_sessions (
  session_id  text PRIMARY KEY,
  -- JSON text, as jsonb rejects the \u0000 a tool's output may hold.
  info        text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE opencode_messages (
  session_id  text NOT NULL REFERENCES opencode_sessions ON DELETE CASCADE,
  message_id  text NOT NULL,
  -- When OpenCode made the message: the export's order, with the id to break ties.
  created     bigint NOT NULL,
  -- `{ info, parts }`, as the export lists it.
  body        text NOT NULL,
  PRIMARY KEY (session_id, message_id)
);
