-- Chats, their worktrees, the agents this node can run, and one live session per
-- (chat, agent).

CREATE TABLE worktrees (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  repo_path   text NOT NULL,
  path        text NOT NULL UNIQUE,
  branch      text NOT NULL,
  base_ref    text,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  removed_at  timestamptz
);

CREATE TABLE chats (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title            text,
  repo_path        text NOT NULL,
  worktree_id      uuid REFERENCES worktrees (id) ON DELETE SET NULL,
  default_agent    text NOT NULL DEFAULT 'claude',
  model            text,
  -- NULL leaves the choice to the agent's own default.
  permission_mode  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- What each node found installed at start; install paths differ between nodes.
CREATE TABLE available_agents (
  node_id       text NOT NULL,
  agent         text NOT NULL,
  install_path  text,
  version       text,
  detected_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (node_id, agent)
);

CREATE TABLE agent_sessions (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chat_id           uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  session_id        text NOT NULL,
  worktree_id       uuid REFERENCES worktrees (id) ON DELETE SET NULL,
  agent             text NOT NULL,
  backend           text NOT NULL
                    CHECK (backend IN ('claude_sdk', 'claude_pty', 'warm_acp', 'opencode_server')),
  -- The agent's own resume token (Claude's session id, an ACP session id, ...).
  agent_session_id  text,
  server_port       integer,
  status            text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'idle', 'crashed', 'closed')),
  last_active_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  input_tokens      bigint NOT NULL DEFAULT 0,
  output_tokens     bigint NOT NULL DEFAULT 0,
  -- numeric keeps the running sum of per-turn USD figures exact.
  cost              numeric NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chat_id, agent)
);
