import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import type { AgentBackend, AgentSessionHandle, BackendKind, PermissionMode } from '../../agents/contract/agent-backend.js';
import type { AgentEvent } from '../../api/events.js';
import { killTagged } from '../../agents/process/agent-process.js';
import type { AgentCgroups } from '../../agents/process/agent-cgroups.js';
import { AgentStartError } from '../../agents/contract/errors.js';
import type { AgentRegistry, InstalledAgent } from '../routing/agent-registry.js';
import type { BackendPool } from '../sessions/session-pool.js';
import { titleFromMessage } from '../chat-names.js';
import type { EventLog } from '../event-log.js';
import { HearthError } from '../errors.js';
import type { SdkHealth } from '../routing/stand-downs.js';
import { within } from '../../util/within.js';
import { whileUnreachable } from '../../db/unreachable.js';

export interface DispatcherDeps {
  sql: Sql;
  log: Logger;
  events: EventLog;
  pool: BackendPool;
  registry: AgentRegistry;
  nodeId: string;
  /** Builds a backend of the given kind for (chat, agent). */
  makeBackend(kind: BackendKind, chatId: string, agent: InstalledAgent): AgentBackend;
  /** Routes `claude` to the SDK backend (else to the PTY path). */
  claudeSdk: boolean;
  /** Whether the SDK path is standing down after failing to start. */
  sdkHealth: SdkHealth;
  /** Turns that may wait behind a running one, per (chat, agent). */
  maxQueued: number;
  /** How long a finished turn's record waits for an unreachable database. Default: ten minutes. */
  databaseWaitMs?: number;
  /** This node's agent cgroups, where there are any: a restart ends what earlier instances left in theirs. */
  cgroups?: AgentCgroups | null;
}

/** A part of a stored message. */
export type StoredPart =
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | { type: 'tool_call'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; id: string; output: string; isError: boolean }
  | { type: 'error'; message: string };

const FOREIGN_KEY_VIOLATION = '23503';
const STOPPED_DURING = 'the server stopped during this turn';
const NEVER_STARTED = 'the server stopped before this turn started; it was not run';

/** The two ways of running `claude` a message may ask for. */
export type ClaudePath = 'claude_sdk' | 'claude_pty';

interface Turn {
  id: string;
  chatId: string;
  agent: InstalledAgent;
  text: string;
  /** The path the message asked for; undefined lets the dispatcher choose. */
  path: ClaudePath | undefined;
  controller: AbortController;
}

interface Lane {
  running: Turn | null;
  /** Settles when the running turn has been finalized. */
  finished: Promise<void> | null;
  queue: Turn[];
  /** Messages given a place in the lane whose rows are still being written. */
  reserved: number;
}

interface ChatRow {
  id: string;
  default_agent: string;
  model: string | null;
  permission_mode: PermissionMode | null;
  worktree_id: string | null;
  worktree_path: string | null;
}

export interface TurnMetrics {
  turns: Record<'succeeded' | 'failed' | 'aborted', number>;
  /** Seconds each finished turn took, for the latency histogram. */
  durations: number[];
}

/**
 * Runs chats' turns: stores the user's message before anything else, keeps one turn in
 * flight per (chat, agent) with the rest queued in order, streams the backend's events
 * into the event log, and finalizes every turn (stored reply, status, turn_end) however
 * it ends.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  /** Chats being deleted: they take no more messages. */
  private readonly deleting = new Set<string>();
  /** Messages of each chat still being stored, so a delete can wait for them and stop their turns. */
  private readonly accepting = new Map<string, Set<Promise<unknown>>>();
  /** PTY backends with a turn in flight; they live for one turn and are not pooled. */
  private readonly ptyTurns = new Set<AgentBackend>();
  readonly metrics: TurnMetrics = { turns: { succeeded: 0, failed: 0, aborted: 0 }, durations: [] };

  /** Aborted on close: nothing waits for an unreachable database after that. */
  private readonly closing = new AbortController();

  constructor(private readonly deps: DispatcherDeps) {}

  /**
   * Accepts a message for a chat; the turn runs in the background. Its place in the lane
   * is taken in the same tick as the check against the bound, before its rows are
   * written, so messages arriving together cannot all pass the check.
   */
  async submit(
    chatId: string,
    text: string,
    options: { agent?: string; backend?: ClaudePath } = {},
  ): Promise<{ messageId: string; turnId: string; queued: number }> {
    const chat = await this.chat(chatId);
    const agent = this.deps.registry.get(options.agent ?? chat.default_agent);
    if (options.backend && agent.agent !== 'claude') {
      throw new HearthError(400, 'backend_mismatch', `backend ${options.backend} runs only the claude agent, not "${agent.agent}"`);
    }
    if (options.backend === 'claude_sdk' && !this.deps.claudeSdk) {
      throw new HearthError(400, 'backend_unavailable', 'the claude SDK backend is switched off on this server (CLAUDE_SDK_BACKEND)');
    }
    if (this.deleting.has(chatId)) throw new HearthError(409, 'chat_deleting', `chat ${chatId} is being deleted`);
    const laneKey = `${chatId}\u0000${agent.agent}`;
    let lane = this.lanes.get(laneKey);
    if (!lane) this.lanes.set(laneKey, (lane = { running: null, finished: null, queue: [], reserved: 0 }));
    const held = (lane.running ? 1 : 0) + lane.queue.length + lane.reserved;
    if (held > this.deps.maxQueued) {
      throw new HearthError(409, 'queue_full', `${held} messages are already running or waiting in this chat; wait for one to finish`);
    }
    lane.reserved++;
    const accepting = this.enqueue(laneKey, lane, chatId, agent, text, options.backend);
    let writes = this.accepting.get(chatId);
    if (!writes) this.accepting.set(chatId, (writes = new Set()));
    writes.add(accepting);
    try {
      return await accepting;
    } finally {
      writes.delete(accepting);
      if (writes.size === 0 && this.accepting.get(chatId) === writes) this.accepting.delete(chatId);
    }
  }

  /** Stores a message that holds a reserved place in its lane, then queues its turn; a failed write gives the place back. */
  private async enqueue(
    laneKey: string,
    lane: Lane,
    chatId: string,
    agent: InstalledAgent,
    text: string,
    path: ClaudePath | undefined,
  ): Promise<{ messageId: string; turnId: string; queued: number }> {
    let ids: { turnId: string; messageId: string };
    try {
      ids = await this.deps.sql.begin(async (tx) => {
        const [turn] = await tx<{ id: string }[]>`
          INSERT INTO turns (chat_id, agent, node_id) VALUES (${chatId}, ${agent.agent}, ${this.deps.nodeId}) RETURNING id`;
        const [message] = await tx<{ id: string }[]>`
          INSERT INTO messages (chat_id, turn_id, role, agent, parts)
          VALUES (${chatId}, ${turn!.id}, 'user', ${agent.agent}, ${JSON.stringify([{ type: 'text', text }])})
          RETURNING id`;
        // A chat made without a title is named by its first message.
        await tx`UPDATE chats SET updated_at = now(), title = COALESCE(title, ${titleFromMessage(text)}) WHERE id = ${chatId}`;
        return { turnId: turn!.id, messageId: message!.id };
      });
      await this.deps.events.append(chatId, 'message', {
        turnId: ids.turnId,
        messageId: ids.messageId,
        role: 'user',
        agent: agent.agent,
        parts: [{ type: 'text', text }],
      });
    } catch (err) {
      lane.reserved--;
      // The chat went between the lookup and the write.
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) {
        err = new HearthError(404, 'chat_not_found', `no chat ${chatId}`, { cause: err });
      }
      if (!lane.running && lane.queue.length === 0 && lane.reserved === 0 && this.lanes.get(laneKey) === lane) this.lanes.delete(laneKey);
      throw err;
    }
    lane.reserved--;
    const turn: Turn = { id: ids.turnId, chatId, agent, text, path, controller: new AbortController() };
    lane.queue.push(turn);
    const queued = lane.running ? lane.queue.length : 0;
    if (lane.running) await this.deps.events.append(chatId, 'status', { turnId: turn.id, message: 'queued', position: queued });
    void this.pump(laneKey, lane);
    return { ...ids, queued };
  }

  /** Stops the chat's running turns and drops its queued ones. Returns how many were stopped. */
  async abort(chatId: string): Promise<number> {
    await this.chat(chatId);
    let stopped = 0;
    for (const [key, lane] of this.lanes) {
      if (!key.startsWith(`${chatId}\u0000`)) continue;
      for (const turn of lane.queue.splice(0)) {
        stopped++;
        await this.finish(turn, [], { ok: false, code: 'aborted', error: 'aborted before it started' }, null, Date.now());
      }
      if (lane.running) {
        stopped++;
        lane.running.controller.abort();
      }
    }
    return stopped;
  }

  /**
   * Marks the chat as being deleted: from now on its messages are refused with 409
   * chat_deleting. Returns what lifts the mark once the delete is over, done or not.
   */
  beginDelete(chatId: string): () => void {
    if (this.deleting.has(chatId)) throw new HearthError(409, 'chat_deleting', `chat ${chatId} is already being deleted`);
    this.deleting.add(chatId);
    return () => this.deleting.delete(chatId);
  }

  /** Whether any turn of the chat is running or waiting. */
  busy(chatId: string): boolean {
    for (const [key, lane] of this.lanes) if (key.startsWith(`${chatId}\u0000`) && (lane.running || lane.queue.length)) return true;
    return false;
  }

  private async pump(laneKey: string, lane: Lane): Promise<void> {
    if (lane.running) return;
    const turn = lane.queue.shift();
    if (!turn) {
      // A lane with places still being written stays: those messages queue in it.
      if (lane.reserved === 0) this.lanes.delete(laneKey);
      return;
    }
    lane.running = turn;
    const finished = this.run(turn).catch((err) => {
      this.deps.log.error({ err, turnId: turn.id }, 'turn could not be finalized');
    });
    lane.finished = finished;
    await finished;
    lane.running = null;
    lane.finished = null;
    void this.pump(laneKey, lane);
  }

  /**
   * Stops the chat's turns and waits until the running ones are finalized (their agents
   * stopped), at most `timeoutMs`: what must happen before the chat's worktree goes.
   */
  async stop(chatId: string, timeoutMs = 10_000): Promise<number> {
    // Messages accepted before the stop began are queued first, so they are stopped too.
    await Promise.allSettled([...(this.accepting.get(chatId) ?? [])]);
    const stopped = await this.abort(chatId);
    const running = [...this.lanes].flatMap(([key, lane]) =>
      key.startsWith(`${chatId}\u0000`) && lane.finished ? [lane.finished] : [],
    );
    await within(Promise.all(running), timeoutMs, `turns still running after ${timeoutMs} ms`).catch((err: Error) =>
      this.deps.log.warn({ chatId, err }, 'chat turns did not stop in time; going on without them'),
    );
    return stopped;
  }

  private async run(turn: Turn): Promise<void> {
    const started = Date.now();
    const reply = new Reply();
    let backendKind: BackendKind | null = null;
    let outcome: { ok: true } | { ok: false; error: string; code: string };
    try {
      const chat = await this.chat(turn.chatId);
      if (!chat.worktree_path) throw new HearthError(400, 'no_worktree', 'the chat has no worktree');
      await this.deps.sql`UPDATE turns SET status = 'running', started_at = clock_timestamp() WHERE id = ${turn.id}`;
      const { backend, handle } = await this.start(turn, chat);
      backendKind = backend.backend;
      try {
        await this.deps.events.append(turn.chatId, 'turn_start', { turnId: turn.id, agent: turn.agent.agent, backend: backend.backend });
        outcome = await backend.prompt(handle, turn.text, {
          signal: turn.controller.signal,
          worktreePath: chat.worktree_path,
          model: chat.model,
          onEvent: (event) => {
            reply.add(event);
            void this.deps.events.append(turn.chatId, event.kind, { turnId: turn.id, ...event });
          },
        });
        this.deps.pool.touch(turn.chatId, turn.agent.agent);
      } finally {
        if (this.ptyTurns.has(backend)) await this.endPtyTurn(backend);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      reply.fail(message);
      await this.deps.events.append(turn.chatId, 'error', { turnId: turn.id, message });
      outcome = { ok: false, error: message, code: err instanceof HearthError ? err.code : 'start_failed' };
    }
    await this.finish(turn, reply.settle(), outcome, backendKind, started);
  }

  /**
   * The backend for the turn, its session ready. `claude` runs on the SDK path unless
   * the message asks for the PTY path, the SDK path is switched off, or it is standing
   * down after failing to start; an SDK backend that fails to start hands the turn to
   * the PTY path, unless the message asked for the SDK path by name.
   */
  private async start(turn: Turn, chat: ChatRow): Promise<{ backend: AgentBackend; handle: AgentSessionHandle }> {
    if (turn.agent.agent !== 'claude') {
      throw new HearthError(400, 'no_backend', `no backend runs agent "${turn.agent.agent}" yet`);
    }
    const opts = {
      chatId: turn.chatId,
      agent: turn.agent.agent,
      worktreeId: chat.worktree_id,
      worktreePath: chat.worktree_path!,
      model: chat.model,
      permissionMode: chat.permission_mode,
    };
    const sessionId = `${turn.chatId}:${turn.agent.agent}`;
    const sdk = turn.path === 'claude_sdk' || (turn.path === undefined && this.deps.claudeSdk && !this.deps.sdkHealth.down(turn.chatId));
    if (sdk) {
      const backend = await this.deps.pool.acquire(turn.chatId, 'claude', () =>
        this.deps.makeBackend('claude_sdk', turn.chatId, turn.agent),
      );
      try {
        const handle = await backend.ensureSession(sessionId, opts);
        this.deps.sdkHealth.started(turn.chatId);
        return { backend, handle };
      } catch (err) {
        if (!(err instanceof AgentStartError)) throw err;
        this.deps.sdkHealth.failed(err, turn.chatId, err.scope);
        if (turn.path === 'claude_sdk') {
          await this.deps.pool.remove(turn.chatId, 'claude');
          throw err;
        }
        this.deps.log.warn({ chatId: turn.chatId, scope: err.scope, err }, 'the claude SDK backend cannot start; falling back to the PTY path');
        await this.deps.events.append(turn.chatId, 'status', {
          turnId: turn.id,
          message: `the claude SDK backend cannot start, so this turn runs on the PTY path: ${err.message}`,
        });
      }
    }
    // The chat's SDK backend leaves the pool: a warm process would not know about this turn
    // (the next SDK turn resumes from the store), and one that failed to start is of no use.
    await this.deps.pool.remove(turn.chatId, 'claude');
    const backend = this.deps.makeBackend('claude_pty', turn.chatId, turn.agent);
    this.ptyTurns.add(backend);
    try {
      return { backend, handle: await backend.ensureSession(sessionId, opts) };
    } catch (err) {
      await this.endPtyTurn(backend);
      throw err;
    }
  }

  private async endPtyTurn(backend: AgentBackend): Promise<void> {
    this.ptyTurns.delete(backend);
    await backend.dispose();
  }

  /** Ends the PTY turns in flight (their processes with them); the pool's backends are the pool's. */
  async close(): Promise<void> {
    this.closing.abort(new Error('the dispatcher is closed'));
    await Promise.all([...this.ptyTurns].map((b) => this.endPtyTurn(b)));
  }

  private async finish(
    turn: Turn,
    parts: StoredPart[],
    outcome: { ok: true } | { ok: false; error: string; code: string },
    backend: BackendKind | null,
    started: number,
  ): Promise<void> {
    const status = outcome.ok ? 'succeeded' : outcome.code === 'aborted' ? 'aborted' : 'failed';
    const error = outcome.ok ? null : outcome.error;
    // The record of a turn that ran is worth waiting for while the database is away.
    const durably = (what: string, write: () => Promise<unknown>) =>
      whileUnreachable(write, {
        log: this.deps.log,
        what,
        giveUpAfterMs: this.deps.databaseWaitMs ?? 10 * 60_000,
        signal: this.closing.signal,
        context: { chatId: turn.chatId, turnId: turn.id },
      }).catch((err) => this.deps.log.error({ err, turnId: turn.id }, `${what} not saved`));
    if (parts.length > 0) {
      await durably('assistant message', () => this.deps.sql`
        INSERT INTO messages (chat_id, turn_id, role, agent, parts)
        VALUES (${turn.chatId}, ${turn.id}, 'assistant', ${turn.agent.agent}, ${JSON.stringify(parts)})`);
    }
    await durably('turn status', () => this.deps.sql`
      UPDATE turns SET status = ${status}, error = ${error}, backend = ${backend}, ended_at = clock_timestamp()
      WHERE id = ${turn.id}`);
    await this.deps.events.append(turn.chatId, 'turn_end', {
      turnId: turn.id,
      ok: outcome.ok,
      ...(outcome.ok ? {} : { error: outcome.error, code: outcome.code }),
    });
    this.metrics.turns[status]++;
    this.metrics.durations.push((Date.now() - started) / 1000);
    if (this.metrics.durations.length > 10_000) this.metrics.durations.splice(0, 5_000);
  }

  private async chat(chatId: string): Promise<ChatRow> {
    const [chat] = await this.deps.sql<ChatRow[]>`
      SELECT c.id, c.default_agent, c.model, c.permission_mode, c.worktree_id, w.path AS worktree_path
      FROM chats c LEFT JOIN worktrees w ON w.id = c.worktree_id
      WHERE c.id = ${chatId}`;
    if (!chat) throw new HearthError(404, 'chat_not_found', `no chat ${chatId}`);
    return chat;
  }

  /**
   * After a restart: turns this node had queued or running when it died are marked
   * interrupted (each with a turn_end a client can see), and agent processes it left
   * behind are ended. A queued turn that never started is not run now: an instruction
   * left waiting through a crash should not run unattended; its message stays in the
   * history for the user to send again.
   */
  async recover(): Promise<{ interrupted: number; orphans: number }> {
    const orphans = ((await this.deps.cgroups?.sweepOthers()) ?? 0) + killTagged(`${this.deps.nodeId}:`);
    const turns = await this.deps.sql<{ id: string; chat_id: string; error: string }[]>`
      UPDATE turns SET status = 'interrupted', ended_at = clock_timestamp(),
        error = CASE status WHEN 'queued' THEN ${NEVER_STARTED} ELSE ${STOPPED_DURING} END
      WHERE node_id = ${this.deps.nodeId} AND status IN ('queued', 'running')
      RETURNING id, chat_id, error`;
    for (const t of turns) {
      if (t.error === STOPPED_DURING) await this.keepInterruptedReply(t.chat_id, t.id);
      await this.deps.events.append(t.chat_id, 'turn_end', { turnId: t.id, ok: false, error: t.error, code: 'interrupted' });
    }
    return { interrupted: turns.length, orphans };
  }

  /**
   * A turn the server died during has no stored reply, but its events were written as they
   * came: the reply is rebuilt from them by the same rules as a live turn's, so the history
   * shows what the turn had shown, and why it ended.
   */
  private async keepInterruptedReply(chatId: string, turnId: string): Promise<void> {
    const rows = await this.deps.sql<{ kind: AgentEvent['kind']; data: string }[]>`
      SELECT kind, data FROM chat_events
      WHERE chat_id = ${chatId} AND data::jsonb ->> 'turnId' = ${turnId}
        AND kind IN ('text_delta', 'thinking_delta', 'message', 'tool_result', 'error')
      ORDER BY seq`;
    const reply = new Reply();
    for (const row of rows) {
      const data = JSON.parse(row.data) as { role?: string };
      // The user's own message is logged under the turn too; it is not part of the reply.
      if (row.kind === 'message' && data.role === 'user') continue;
      reply.add({ ...data, kind: row.kind } as AgentEvent);
    }
    reply.fail(STOPPED_DURING);
    await this.deps.sql`
      INSERT INTO messages (chat_id, turn_id, role, agent, parts)
      SELECT ${chatId}, ${turnId}, 'assistant', t.agent, ${JSON.stringify(reply.settle())}
      FROM turns t
      WHERE t.id = ${turnId} AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.turn_id = ${turnId} AND m.role = 'assistant')`;
  }
}

/**
 * What a turn's events leave in the stored assistant message. Text and thinking stream
 * as deltas before their whole message arrives; deltas no message has covered yet are
 * kept too (ahead of an error), so a turn that breaks off keeps what it showed.
 */
class Reply {
  readonly parts: StoredPart[] = [];
  private streaming: Array<{ type: 'text' | 'thinking'; text: string }> = [];

  add(event: AgentEvent): void {
    switch (event.kind) {
      case 'text_delta':
      case 'thinking_delta': {
        const type = event.kind === 'text_delta' ? 'text' : 'thinking';
        const last = this.streaming.at(-1);
        if (last?.type === type) last.text += event.text;
        else this.streaming.push({ type, text: event.text });
        break;
      }
      case 'message':
        this.streaming = [];
        for (const p of event.parts) this.parts.push(p);
        break;
      case 'tool_result':
        this.settle();
        this.parts.push({ type: 'tool_result', id: event.id, output: event.output, isError: event.isError });
        break;
      case 'error':
        this.fail(event.message);
        break;
    }
  }

  fail(message: string): void {
    this.settle();
    this.parts.push({ type: 'error', message });
  }

  /** Keeps what streamed without a whole message to cover it. */
  settle(): StoredPart[] {
    for (const p of this.streaming) this.parts.push(p);
    this.streaming = [];
    return this.parts;
  }
}
