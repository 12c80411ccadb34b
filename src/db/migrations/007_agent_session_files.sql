-- What an agent keeps on its own disk to continue a session (its transcript, rollout or
-- chat file), mirrored after each turn so that any node can restore it. Keyed by the
-- agent's own session id, like the Claude transcripts: a session is one agent's.

CREATE TABLE agent_session_files (
  agent       text NOT NULL,
  session_id  text NOT NULL,
  -- Relative to the agent's own directory for such files.
  path        text NOT NULL,
  size        bigint NOT NULL,
  -- Of the whole content: a mirror that finds the same prefix on disk appends only the rest.
  sha256      bytea NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent, session_id, path)
);

CREATE TABLE agent_session_file_chunks (
  agent       text NOT NULL,
  session_id  text NOT NULL,
  path        text NOT NULL,
  "offset"    bigint NOT NULL,
  bytes       bytea NOT NULL,
  PRIMARY KEY (agent, session_id, path, "offset"),
  FOREIGN KEY (agent, session_id, path) REFERENCES agent_session_files ON DELETE CASCADE
);
