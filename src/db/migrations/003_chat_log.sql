-- The durable side of a conversation: turns, the messages they exchange, and the event
-- log clients replay (per-chat sequence numbers, the SSE ids).

ALTER TABLE chats ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE turns (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chat_id         uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  agent           text NOT NULL,
  status          text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'aborted', 'interrupted')),
  backend         text,
  error           text,
  -- The node running the turn, so a restarted node knows which turns were its own.
  node_id         text,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at      timestamptz,
  ended_at        timestamptz
);
CREATE INDEX turns_open ON turns (node_id) WHERE status IN ('queued', 'running');

CREATE TABLE messages (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Insertion order within a chat.
  ord         bigint GENERATED ALWAYS AS IDENTITY,
  chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  turn_id     uuid REFERENCES turns (id) ON DELETE SET NULL,
  role        text NOT NULL CHECK (role IN ('user', 'assistant')),
  agent       text,
  -- JSON array of parts: text, thinking, tool calls with their results, errors.
  parts       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_chat ON messages (chat_id, ord);

CREATE TABLE chat_events (
  chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  seq         bigint NOT NULL,
  kind        text NOT NULL,
  -- JSON text of the event's payload.
  data        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (chat_id, seq)
);
