-- Requests an agent puts to a person, answered exactly once, and the standing answers
-- ("always allow") a chat keeps for later requests.

CREATE TABLE permission_requests (
  id           uuid PRIMARY KEY,
  chat_id      uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  turn_id      uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
  agent        text NOT NULL,
  -- The node whose turn waits for the answer.
  node_id      text NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('permission', 'question', 'plan')),
  tool         text NOT NULL,
  tool_call_id text,
  -- JSON text: the tool's input, the options, what a person needs to judge, the questions.
  input        text NOT NULL,
  options      text NOT NULL,
  details      text,
  questions    text,
  plan         text,
  -- What an "always" answer would keep as a rule: JSON {tool, prefix}, or NULL.
  rule         text,
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'allowed', 'denied', 'answered', 'cancelled', 'expired', 'timed_out')),
  option_id    text,
  message      text,
  answers      text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  answered_at  timestamptz
);
CREATE INDEX permission_requests_chat ON permission_requests (chat_id, created_at);
CREATE INDEX permission_requests_pending ON permission_requests (node_id) WHERE status = 'pending';

CREATE TABLE permission_rules (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  agent       text NOT NULL,
  tool        text NOT NULL,
  -- '' allows every use of the tool; otherwise the command prefix it allows.
  prefix      text NOT NULL DEFAULT '',
  request_id  uuid REFERENCES permission_requests (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (chat_id, agent, tool, prefix)
);
