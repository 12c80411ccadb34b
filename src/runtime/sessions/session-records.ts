import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { whileUnreachable } from '../../db/unreachable.js';
import type { TurnUsage } from '../../api/events.js';
import type { BackendKind } from '../../api/views.js';
import { sessionKey } from './session-key.js';
import { OneAtATime } from '../../util/one-at-a-time.js';

export interface SessionRecordsDeps {
  sql: Sql;
  log: Logger;
  /** How long a write waits for an unreachable database. Default: a minute. */
  databaseWaitMs?: number;
}

/**
 * The `agent_sessions` rows, one per (chat, agent), written in one place for every
 * backend: which backend serves the session, the agent's resume token, usage and cost
 * added once per turn, and the status. Resuming follows one rule: the recorded token,
 * unless the session crashed.
 *
 * Everything but the read of what to resume is telemetry and never fails a turn: a write
 * waits a while for an unreachable database, and one that still fails is logged.
 */
export class SessionRecords {
  private readonly writing = new OneAtATime();

  constructor(private readonly deps: SessionRecordsDeps) {}

  /** The conversation a new session of (chat, agent) continues: none after a crash. */
  async resumeFrom(chatId: string, agent: string): Promise<string | null> {
    const [row] = await this.deps.sql<{ agent_session_id: string | null; status: string }[]>`
      SELECT agent_session_id, status FROM agent_sessions WHERE chat_id = ${chatId} AND agent = ${agent}`;
    return row && row.status !== 'crashed' ? row.agent_session_id : null;
  }

  /** A session opened: the row is created or taken over by its backend, active, with the agent's resume token as far as it is known. */
  async opened(s: { chatId: string; agent: string; backend: BackendKind; worktreeId: string | null; token: string | null }): Promise<void> {
    await this.write('opened', s, () => this.deps.sql`
      INSERT INTO agent_sessions (chat_id, session_id, worktree_id, agent, backend, agent_session_id,
                                  server_port, status, last_active_at)
      VALUES (${s.chatId}, ${`${s.chatId}:${s.agent}`}, ${s.worktreeId}, ${s.agent}, ${s.backend}, ${s.token},
              NULL, 'active', clock_timestamp())
      ON CONFLICT (chat_id, agent) DO UPDATE SET
        session_id = EXCLUDED.session_id, worktree_id = EXCLUDED.worktree_id, backend = EXCLUDED.backend,
        agent_session_id = EXCLUDED.agent_session_id, server_port = NULL, status = 'active',
        last_active_at = clock_timestamp()`);
  }

  /** A warm session takes another turn. */
  async active(chatId: string, agent: string): Promise<void> {
    await this.setStatus(chatId, agent, 'active');
  }

  async resumeToken(chatId: string, agent: string, token: string): Promise<void> {
    await this.write('resume token', { chatId, agent }, () => this.deps.sql`
      UPDATE agent_sessions SET agent_session_id = ${token}, last_active_at = clock_timestamp()
      WHERE chat_id = ${chatId} AND agent = ${agent}`);
  }

  /** Adds a turn's usage and cost, and sets the status the turn left behind. */
  async endTurn(chatId: string, agent: string, usage: TurnUsage | null, status: 'idle' | 'crashed'): Promise<void> {
    const u = usage ?? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: null };
    await this.write('usage and status', { chatId, agent }, () => this.deps.sql`
      UPDATE agent_sessions SET
        input_tokens = input_tokens + ${u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens},
        output_tokens = output_tokens + ${u.outputTokens},
        cost = CASE WHEN ${u.costUsd}::numeric IS NULL THEN cost ELSE coalesce(cost, 0) + ${u.costUsd}::numeric END,
        status = ${status},
        last_active_at = clock_timestamp()
      WHERE chat_id = ${chatId} AND agent = ${agent}`);
  }

  /** The session's process was ended by Hearth; a crashed session stays marked crashed. */
  async closed(chatId: string, agent: string): Promise<void> {
    await this.write('closed', { chatId, agent }, () => this.deps.sql`
      UPDATE agent_sessions SET status = 'closed', last_active_at = clock_timestamp()
      WHERE chat_id = ${chatId} AND agent = ${agent} AND status <> 'crashed'`);
  }

  async setStatus(chatId: string, agent: string, status: 'active' | 'idle' | 'crashed'): Promise<void> {
    await this.write('status', { chatId, agent }, () => this.deps.sql`
      UPDATE agent_sessions SET status = ${status}, last_active_at = clock_timestamp()
      WHERE chat_id = ${chatId} AND agent = ${agent}`);
  }

  /**
   * Writes of one (chat, agent) go one after another, in the order they were asked for,
   * so a resume token or a status reported later is never overwritten by an earlier one.
   */
  private write(what: string, context: { chatId: string; agent: string }, query: () => Promise<unknown>): Promise<void> {
    return this.writing.run(sessionKey(context.chatId, context.agent), () => this.writeNow(what, context, query));
  }

  private async writeNow(what: string, context: { chatId: string; agent: string }, query: () => Promise<unknown>): Promise<void> {
    const { log } = this.deps;
    try {
      await whileUnreachable(query, {
        log,
        what: `agent session ${what}`,
        giveUpAfterMs: this.deps.databaseWaitMs ?? 60_000,
        context: { chatId: context.chatId, agent: context.agent },
      });
    } catch (err) {
      log.warn({ err, ...context }, `agent session ${what} not saved`);
    }
  }
}
