import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { whileUnreachable } from '../../db/unreachable.js';
import type { BackendKind } from '../../agents/contract/agent-backend.js';

/** What one turn cost, as a backend reports it in its usage event. */
export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
}

export interface AgentSessionRowDeps {
  sql: Sql;
  log: Logger;
  chatId: string;
  agent: string;
  backend: BackendKind;
  /** How long a write waits for an unreachable database. Default: a minute. */
  databaseWaitMs?: number;
}

/**
 * A (chat, agent) session's row in `agent_sessions`, written the same way by every
 * backend: the resume token, usage and cost added once per turn, and the status.
 *
 * These are telemetry writes and never fail a turn: a write waits a while for an
 * unreachable database, and one that still fails is logged and the turn goes on.
 */
export class AgentSessionRow {
  constructor(private readonly deps: AgentSessionRowDeps) {}

  /** The row as it stands: the resume token and whether the session crashed. */
  async read(): Promise<{ agentSessionId: string | null; status: string } | null> {
    const [row] = await this.deps.sql<{ agent_session_id: string | null; status: string }[]>`
      SELECT agent_session_id, status FROM agent_sessions
      WHERE chat_id = ${this.deps.chatId} AND agent = ${this.deps.agent}`;
    return row ? { agentSessionId: row.agent_session_id, status: row.status } : null;
  }

  /** Creates or takes over the row for this backend and marks it active. */
  async activate(sessionId: string, worktreeId: string | null, agentSessionId: string | null): Promise<void> {
    const { chatId, agent, backend } = this.deps;
    await this.write('agent_sessions upsert', () => this.deps.sql`
      INSERT INTO agent_sessions (chat_id, session_id, worktree_id, agent, backend, agent_session_id,
                                  server_port, status, last_active_at)
      VALUES (${chatId}, ${sessionId}, ${worktreeId}, ${agent}, ${backend}, ${agentSessionId},
              NULL, 'active', clock_timestamp())
      ON CONFLICT (chat_id, agent) DO UPDATE SET
        session_id = EXCLUDED.session_id, worktree_id = EXCLUDED.worktree_id, backend = EXCLUDED.backend,
        agent_session_id = EXCLUDED.agent_session_id, server_port = NULL, status = 'active',
        last_active_at = clock_timestamp()`);
  }

  async saveAgentSessionId(agentSessionId: string | null): Promise<void> {
    await this.write('session id', () => this.deps.sql`
      UPDATE agent_sessions SET agent_session_id = ${agentSessionId}, last_active_at = clock_timestamp()
      WHERE chat_id = ${this.deps.chatId} AND agent = ${this.deps.agent}`);
  }

  /** Adds a turn's usage and cost, and sets the status the turn left behind. */
  async endTurn(usage: TurnUsage, status: 'idle' | 'crashed'): Promise<void> {
    await this.write('usage and status', () => this.deps.sql`
      UPDATE agent_sessions SET
        input_tokens = input_tokens + ${usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens},
        output_tokens = output_tokens + ${usage.outputTokens},
        cost = cost + ${usage.costUsd},
        status = ${status},
        last_active_at = clock_timestamp()
      WHERE chat_id = ${this.deps.chatId} AND agent = ${this.deps.agent}`);
  }

  async setStatus(status: 'idle' | 'crashed' | 'closed'): Promise<void> {
    await this.write('status', () => this.deps.sql`
      UPDATE agent_sessions SET status = ${status}, last_active_at = clock_timestamp()
      WHERE chat_id = ${this.deps.chatId} AND agent = ${this.deps.agent}`);
  }

  private async write(what: string, query: () => Promise<unknown>): Promise<void> {
    const { log, chatId, agent } = this.deps;
    try {
      await whileUnreachable(query, {
        log,
        what: `${this.deps.backend} ${what}`,
        giveUpAfterMs: this.deps.databaseWaitMs ?? 60_000,
        context: { chatId, agent },
      });
    } catch (err) {
      log.warn({ err, chatId, agent }, `${this.deps.backend}: ${what} not saved`);
    }
  }
}
