import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { failedTurn, type AgentDriver, type AgentSession, type SessionReports, type SessionSpec, type TurnContext, type TurnResult } from '../../agents/contract/driver.js';
import { AgentStartError } from '../../agents/contract/errors.js';
import { killTagged } from '../../agents/process/agent-process.js';
import type { AgentCgroups } from '../../agents/process/agent-cgroups.js';
import { agentEventData, agentEventOf, type AgentEvent, type AgentEventKind, type StopReason, type TurnErrorCode } from '../../api/events.js';
import { emptyFold, foldEvent, foldEvents, foldedParts, REPLY_EVENT_KINDS, type TurnFold } from '../../api/fold.js';
import type { StoredPart } from '../../api/parts.js';
import { PERMISSION_MODES, type AcceptedMessage, type BackendKind, type PermissionMode, type PrewarmReport, type PrewarmSkip, type TurnStatus } from '../../api/views.js';
import type { AgentRegistry, InstalledAgent } from '../routing/agent-registry.js';
import type { Router } from '../routing/router.js';
import { PoolFull, type RoomPolicy, type SessionLease, type SessionPool } from '../sessions/session-pool.js';
import { StartCancelled, type StartGate } from '../sessions/start-gate.js';
import type { SessionRecords } from '../sessions/session-records.js';
import { isChatKey, sessionKey } from '../sessions/session-key.js';
import { titleFromMessage } from '../chat-names.js';
import { handover, type HandoverKind, type HistoryMessage } from './handover-prompt.js';
import type { EventLog } from '../event-log.js';
import type { PermissionRelay } from '../permissions/permission-relay.js';
import { HearthError } from '../errors.js';
import { within } from '../../util/within.js';
import { isDatabaseUnreachable, whileUnreachable } from '../../db/unreachable.js';

export interface DispatcherDeps {
  sql: Sql;
  log: Logger;
  events: EventLog;
  pool: SessionPool;
  records: SessionRecords;
  registry: AgentRegistry;
  router: Router;
  nodeId: string;
  /** Turns that may wait behind a running one, per (chat, agent). */
  maxQueued: number;
  /** How long a finished turn's record waits for an unreachable database. Default: ten minutes. */
  databaseWaitMs?: number;
  /** This node's agent cgroups, where there are any: a restart ends what earlier instances left in theirs. */
  cgroups?: AgentCgroups | null;
  /** Bounds the agent sessions being started at once, turns' and prewarms' alike. */
  starts: StartGate;
  /** Whether a chat's warm session is opened before its first message (see prewarm()). */
  prewarm: boolean;
  /** Puts agents' requests to people. */
  permissions: PermissionRelay;
}

const FOREIGN_KEY_VIOLATION = '23503';

const STOPPED_DURING = 'the server stopped during this turn';
const NEVER_STARTED = 'the server stopped before this turn started; it was not run';

/** The most messages a hand-over reads; older ones are counted, not read. */
const HANDOVER_READ_LIMIT = 200;

interface Turn {
  id: string;
  chatId: string;
  agent: InstalledAgent;
  text: string;
  /** The backend the message asked for; undefined lets the router choose. */
  backend: BackendKind | undefined;
  controller: AbortController;
  /** The chat as read when the message came, for a turn that starts at once; a turn that waits reads it afresh. */
  chat: ChatRow | null;
  /** Marking the turn running, which goes on beside the prompt; settles without failing. */
  marked?: Promise<void>;
}

/**
 * What a session is opened for: a turn, or a prewarm ahead of one. Both go the same way
 * (router, pool, records, start gate); they differ in what they may evict and who hears
 * that a backend could not start.
 */
interface SessionWant {
  chatId: string;
  agent: InstalledAgent;
  /** The backend asked for; undefined lets the router choose. */
  backend: BackendKind | undefined;
  /** Fired when the session is no longer wanted: a start still waiting at the gate leaves it. */
  signal: AbortSignal;
  /** Whether its start goes before starts nobody waits for; see StartGate. Default: always. */
  urgent?: () => boolean;
  /** How a new session finds room in the pool. */
  room: RoomPolicy;
  /** Told that a backend could not start and the next one takes over. */
  fellBack(message: string): void;
}

/** A prewarm under way, so a delete can stop it and wait for it. */
interface Prewarm {
  controller: AbortController;
  done: Promise<void>;
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
  /** Sessions of drivers that are not warm, with a turn in flight: they live for one turn and are not pooled. */
  private readonly unpooled = new Set<AgentSession>();
  /** Prewarms under way, by (chat, agent). */
  private readonly prewarms = new Map<string, Prewarm>();
  /** Sessions that began a new agent conversation and have not been prompted yet: their first prompt tells the chat so far. */
  private readonly newConversations = new WeakSet<AgentSession>();
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
    options: { agent?: string; backend?: BackendKind } = {},
  ): Promise<AcceptedMessage> {
    const chat = await this.chat(chatId);
    const agent = this.deps.registry.get(options.agent ?? chat.default_agent);
    // A message that asks for a backend that cannot take it is refused before it is stored.
    if (options.backend) this.deps.router.candidates(agent, chatId, options.backend);
    if (this.deleting.has(chatId)) throw new HearthError(409, 'chat_deleting', `chat ${chatId} is being deleted`);
    const laneKey = sessionKey(chatId, agent.agent);
    let lane = this.lanes.get(laneKey);
    if (!lane) this.lanes.set(laneKey, (lane = { running: null, finished: null, queue: [], reserved: 0 }));
    const held = (lane.running ? 1 : 0) + lane.queue.length + lane.reserved;
    if (held > this.deps.maxQueued) {
      throw new HearthError(409, 'queue_full', `${held} messages are already running or waiting in this chat; wait for one to finish`);
    }
    lane.reserved++;
    const accepting = this.enqueue(laneKey, lane, chat, agent, text, options.backend);
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

  /**
   * Stores a message that holds a reserved place in its lane, then queues its turn; a failed
   * write gives the place back. The turn and message rows and the message's event are
   * committed together, before the turn is queued: so the message is durable before
   * anyone hears of it, and its event comes before any event of its turn.
   */
  private async enqueue(
    laneKey: string,
    lane: Lane,
    chat: ChatRow,
    agent: InstalledAgent,
    text: string,
    backend: BackendKind | undefined,
  ): Promise<AcceptedMessage> {
    const chatId = chat.id;
    const ids = { turnId: randomUUID(), messageId: randomUUID() };
    const parts = [{ type: 'text', text }];
    try {
      await this.deps.events.appendWith(chatId, 'message', { ...ids, role: 'user', agent: agent.agent, parts }, (tx) => tx`
        WITH turn AS (
          INSERT INTO turns (id, chat_id, agent, node_id) VALUES (${ids.turnId}, ${chatId}, ${agent.agent}, ${this.deps.nodeId})
        ), message AS (
          INSERT INTO messages (id, chat_id, turn_id, role, agent, parts)
          VALUES (${ids.messageId}, ${chatId}, ${ids.turnId}, 'user', ${agent.agent}, ${JSON.stringify(parts)})
        )
        -- A chat made without a title is named by its first message.
        UPDATE chats SET updated_at = now(), title = COALESCE(title, ${titleFromMessage(text)}) WHERE id = ${chatId}`);
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
    const turn: Turn = { id: ids.turnId, chatId, agent, text, backend, controller: new AbortController(), chat: lane.running ? null : chat };
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
      if (!isChatKey(key, chatId)) continue;
      for (const turn of lane.queue.splice(0)) {
        stopped++;
        await this.finish(turn, emptyFold, { ok: false, code: 'aborted', error: 'aborted before it started' }, null, Date.now());
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
    for (const [key, lane] of this.lanes) if (isChatKey(key, chatId) && (lane.running || lane.queue.length)) return true;
    return false;
  }

  /**
   * Opens the warm session the chat's next turn would take, before its message comes: on
   * the router's first candidate when that one is warm, by the same path as a turn, so the
   * turn finds the session in the pool and reuses it (or waits for its opening). It takes
   * only free room in the pool: it evicts no other chat's idle session for one that may
   * never be used. It is skipped while a turn of the chat is under way, since that turn
   * opens what it needs. One that fails to start stands its backend down as a turn's start
   * would, and tells only the log: no turn ran, so the chat has nothing to show. Answers
   * with what it did; the opening goes on in the background.
   */
  async prewarm(chatId: string): Promise<PrewarmReport> {
    const skipped = (reason: PrewarmSkip, message: string): PrewarmReport => ({ prewarm: 'skipped', reason, message });
    if (!this.deps.prewarm) return skipped('off', 'prewarming is switched off on this server');
    const chat = await this.chat(chatId);
    if (this.deleting.has(chatId)) return skipped('deleting', 'the chat is being deleted');
    if (!chat.worktree_path) return skipped('no_worktree', 'the chat has no worktree');
    let agent: InstalledAgent;
    let candidates: AgentDriver[];
    try {
      agent = this.deps.registry.get(chat.default_agent);
      candidates = this.deps.router.candidates(agent, chatId);
    } catch (err) {
      if (err instanceof HearthError) return skipped('no_backend', err.message);
      throw err;
    }
    const key = sessionKey(chatId, agent.agent);
    // The warm candidates the turn would try first; a backend that is not warm keeps nothing to open ahead.
    const coldAt = candidates.findIndex((d) => !d.warm);
    const warm = coldAt < 0 ? candidates : candidates.slice(0, coldAt);
    const first = warm[0];
    if (!first) return skipped('not_warm', `${this.deps.router.label(candidates[0]!.backend)} keeps no session between turns`);
    if (this.prewarms.has(key)) return { prewarm: 'opening', backend: first.backend };
    if (this.lanes.has(key)) return skipped('busy', 'a turn of the chat is under way');
    if (this.deps.pool.backendOf(chatId, agent.agent) === first.backend) return { prewarm: 'warm', backend: first.backend };
    if (!this.deps.pool.hasRoom()) return skipped('pool_full', 'the session pool has no free room, and a prewarm evicts no other chat’s session');
    const controller = new AbortController();
    const want: SessionWant = {
      chatId,
      agent,
      backend: undefined,
      signal: controller.signal,
      // Its start yields to turns' until a turn of its own chat waits for it.
      urgent: () => this.lanes.has(key),
      room: 'free',
      fellBack: () => {},
    };
    const prewarm: Prewarm = { controller, done: this.warmUp(key, want, chat, warm) };
    this.prewarms.set(key, prewarm);
    void prewarm.done.finally(() => {
      if (this.prewarms.get(key) === prewarm) this.prewarms.delete(key);
    });
    return { prewarm: 'opening', backend: first.backend };
  }

  private async warmUp(key: string, want: SessionWant, chat: ChatRow, candidates: AgentDriver[]): Promise<void> {
    const context = { chatId: want.chatId, agent: want.agent.agent };
    try {
      const { driver, lease } = await this.open(want, chat, candidates);
      lease.release();
      // A turn that came meanwhile has marked the session active; one that did not finds it idle.
      if (!this.lanes.has(key)) await this.deps.records.setStatus(want.chatId, want.agent.agent, 'idle');
      this.deps.log.info({ ...context, backend: driver.backend, pid: lease.session.pid() }, 'agent session prewarmed');
    } catch (err) {
      if (err instanceof StartCancelled) this.deps.log.info(context, 'prewarm cancelled before its agent started');
      else if (err instanceof PoolFull) this.deps.log.info(context, 'prewarm skipped: the session pool has no free room');
      else if (err instanceof AgentStartError) this.deps.log.warn({ ...context, err }, 'prewarm failed: the agent cannot start; its backend stands down');
      else if (err instanceof HearthError && err.code === 'shutting_down') this.deps.log.info(context, 'prewarm stopped: the server is shutting down');
      else this.deps.log.warn({ ...context, err }, 'prewarm failed');
    }
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
      isChatKey(key, chatId) && lane.finished ? [lane.finished] : [],
    );
    // A prewarm waiting at the start gate leaves it; one whose agent is starting is waited for, so the pool can close it.
    for (const [key, prewarm] of this.prewarms) {
      if (!isChatKey(key, chatId)) continue;
      prewarm.controller.abort();
      running.push(prewarm.done);
    }
    await within(Promise.all(running), timeoutMs, `turns still running after ${timeoutMs} ms`).catch((err: Error) =>
      this.deps.log.warn({ chatId, err }, 'chat turns did not stop in time; going on without them'),
    );
    return stopped;
  }

  private async run(turn: Turn): Promise<void> {
    const started = Date.now();
    const reply = new TurnReply(this.deps.events, this.deps.log, this.deps.permissions, turn, (mode) => this.followMode(turn, mode));
    let backend: BackendKind | null = null;
    let outcome: TurnOutcome;
    try {
      const chat = turn.chat ?? (await this.chat(turn.chatId));
      if (!chat.worktree_path) throw new HearthError(400, 'no_worktree', 'the chat has no worktree');
      // The turn's status is a record, not a step the prompt waits for; finish() waits for it.
      turn.marked = this.deps.sql`UPDATE turns SET status = 'running', started_at = clock_timestamp() WHERE id = ${turn.id}`.then(
        () => {},
        (err) => this.deps.log.warn({ err, turnId: turn.id }, 'turn not marked running'),
      );
      const want: SessionWant = {
        chatId: turn.chatId,
        agent: turn.agent,
        backend: turn.backend,
        signal: turn.controller.signal,
        room: 'evict',
        fellBack: (message) => reply.emit({ kind: 'status', message }),
      };
      const { driver, lease } = await this.open(want, chat, this.deps.router.candidates(turn.agent, turn.chatId, turn.backend));
      backend = driver.backend;
      try {
        // The log keeps the chat's events in the order appended: the prompt need not wait for it.
        void this.deps.events.append(turn.chatId, 'turn_start', { turnId: turn.id, agent: turn.agent.agent, backend });
        // A turn stopped while its session was opening is not sent.
        const result = turn.controller.signal.aborted
          ? failedTurn('aborted', 'aborted')
          : await lease.session.prompt(await this.promptFor(turn, lease.session, reply), reply.context(turn.controller.signal)).catch(async (err: unknown) => {
              // A session that throws breaks its contract: it is not trusted with another turn.
              if (driver.warm) await this.deps.pool.remove(turn.chatId, turn.agent.agent, 'it failed');
              throw err;
            });
        outcome = await this.settle(turn, driver, lease.session, result, reply);
      } finally {
        // Whatever the driver did, nothing of the turn is left waiting for a person.
        await this.deps.permissions.endTurn(turn.id);
        lease.release();
        if (!driver.warm) await this.closeUnpooled(lease.session);
      }
    } catch (err) {
      const failure = this.failure(turn, err);
      if (failure.code !== 'aborted') reply.emit({ kind: 'error', message: failure.error });
      outcome = failure;
    }
    await this.finish(turn, reply.fold, outcome, backend, started);
  }

  /**
   * What the agent is sent for a turn: the user's text, after what the chat holds that the
   * agent's own conversation lacks. A new conversation is told the chat so far; one that
   * goes on is told what was said to other agents since this agent's last turn that
   * reached it. The stored message stays the user's own text.
   */
  private async promptFor(turn: Turn, session: AgentSession, reply: TurnReply): Promise<string> {
    const kind: HandoverKind = this.newConversations.has(session) ? 'joining' : 'meanwhile';
    const agent = turn.agent.agent;
    const rows = await this.deps.sql<
      { turn_id: string | null; role: 'user' | 'assistant'; agent: string | null; parts: string; status: TurnStatus | null; error: string | null; total: string }[]
    >`
      WITH current AS (
        SELECT ord FROM messages WHERE turn_id = ${turn.id} AND role = 'user'
      ), since AS (
        -- The user's message of the agent's last turn that reached it (a session took it, or the
        -- server stopped while it ran): the agent's conversation holds it and what came before.
        SELECT COALESCE(max(m.ord), 0) AS ord FROM messages m JOIN turns t ON t.id = m.turn_id
        WHERE ${kind === 'meanwhile'} AND m.chat_id = ${turn.chatId} AND m.role = 'user'
          AND t.agent = ${agent} AND t.id <> ${turn.id}
          AND (t.backend IS NOT NULL OR (t.status = 'interrupted' AND t.started_at IS NOT NULL))
      )
      SELECT m.turn_id, m.role, m.agent, m.parts, t.status, t.error, count(*) OVER () AS total
      FROM messages m LEFT JOIN turns t ON t.id = m.turn_id
      WHERE m.chat_id = ${turn.chatId}
        AND m.ord < (SELECT ord FROM current) AND m.ord > (SELECT ord FROM since)
        -- Going on, only what other agents were told and did: the agent's own turns since are in its conversation or never reached it.
        AND NOT (${kind === 'meanwhile'} AND t.agent IS NOT DISTINCT FROM ${agent})
      ORDER BY m.ord DESC
      LIMIT ${HANDOVER_READ_LIMIT}`;
    // Told once: from here on the conversation holds the chat up to this turn.
    this.newConversations.delete(session);
    if (rows.length === 0) return turn.text;
    const history: HistoryMessage[] = rows.reverse().map((r) => ({
      turnId: r.turn_id,
      role: r.role,
      agent: r.agent,
      parts: JSON.parse(r.parts) as StoredPart[],
      turnStatus: r.status,
      turnError: r.error,
    }));
    const told = handover({ kind, agent, text: turn.text, history, older: Number(rows[0]!.total) > rows.length });
    if (told.told === 0) return turn.text;
    const chars = told.prompt.length - turn.text.length;
    this.deps.log.info({ chatId: turn.chatId, turnId: turn.id, agent, handover: kind, exchanges: told.told, chars }, 'the prompt tells the agent what it has not seen of the chat');
    // The person sees that the agent was briefed, though the stored message is their own words.
    const exchanges = `${told.told} ${told.told === 1 ? 'exchange' : 'exchanges'}${told.leftOut ? ', earlier ones left out' : ''}`;
    reply.emit({
      kind: 'status',
      message: kind === 'joining' ? `${agent} was told the conversation so far (${exchanges})` : `${agent} was told what other agents did since its last turn (${exchanges})`,
    });
    return told.prompt;
  }

  /**
   * A session, ready: the first of the candidates that starts. A backend that fails to
   * start stands down and hands over to the next; the last one's failure is thrown.
   */
  private async open(want: SessionWant, chat: ChatRow, candidates: AgentDriver[]): Promise<{ driver: AgentDriver; lease: SessionLease }> {
    for (const [i, driver] of candidates.entries()) {
      try {
        const lease = await this.session(driver, want, chat);
        this.deps.router.started(driver.backend, want.chatId);
        return { driver, lease };
      } catch (err) {
        if (!(err instanceof AgentStartError)) throw err;
        this.deps.router.failed(driver.backend, err, want.chatId);
        const next = candidates[i + 1];
        if (!next) throw err;
        const label = this.deps.router.label.bind(this.deps.router);
        this.deps.log.warn({ chatId: want.chatId, backend: driver.backend, next: next.backend, scope: err.scope, err }, 'a backend cannot start; trying the next');
        want.fellBack(`${label(driver.backend)} cannot start, so this turn runs on ${label(next.backend)}: ${err.message}`);
      }
    }
    throw new HearthError(400, 'no_backend', `no backend can run the ${want.agent.agent} agent`);
  }

  /**
   * The (chat, agent) session on this driver. A warm driver's comes from the pool: the one
   * kept from earlier turns when it can take the chat's options now, else a new one that
   * resumes the conversation. A driver that is not warm opens one for this turn alone, and
   * a warm session of another backend leaves the pool first: it would not know of this turn.
   */
  private async session(driver: AgentDriver, want: SessionWant, chat: ChatRow): Promise<SessionLease> {
    const { chatId } = want;
    const agent = want.agent.agent;
    const options = { worktreePath: chat.worktree_path!, model: chat.model || null, permissionMode: chat.permission_mode };
    const open = async (): Promise<AgentSession> => {
      const resume = await this.deps.records.resumeFrom(chatId, agent);
      const spec: SessionSpec = { chatId, agent, installPath: want.agent.installPath, ...options, resume };
      // A token reported while the session opens comes before its record: the record is written with it.
      let token = resume;
      let recorded = false;
      const reports: SessionReports = {
        resumeToken: (reported) => {
          token = reported;
          if (recorded) void this.deps.records.resumeToken(chatId, agent, reported);
        },
      };
      const session = await this.deps.starts.run(() => driver.open(spec, reports), { signal: want.signal, urgent: want.urgent });
      // A conversation other than the one asked for (none asked, or an agent that cannot resume) knows nothing of the chat.
      if (resume === null || token !== resume) this.newConversations.add(session);
      const opened = token;
      await this.deps.records.opened({ chatId, agent, backend: driver.backend, worktreeId: chat.worktree_id, token: opened });
      recorded = true;
      if (token !== opened && token !== null) void this.deps.records.resumeToken(chatId, agent, token);
      return session;
    };
    if (!driver.warm) {
      await this.deps.pool.remove(chatId, agent, 'another backend takes the turn');
      const session = await open();
      this.unpooled.add(session);
      return { session, release: () => {} };
    }
    if (this.deps.pool.backendOf(chatId, agent) === driver.backend) {
      const kept = await this.deps.pool.lease(chatId, agent, driver.backend, open);
      let takes: boolean;
      try {
        takes = kept.session.state() === 'idle' && (await kept.session.reconfigure(options));
      } catch (err) {
        // A session that throws breaks its contract; the lease still goes back, or the session could never be evicted.
        kept.release();
        throw err;
      }
      if (takes) {
        void this.deps.records.active(chatId, agent);
        return kept;
      }
      kept.release();
      await this.deps.pool.remove(chatId, agent, 'its options changed');
    }
    return this.deps.pool.lease(chatId, agent, driver.backend, open, want.room);
  }

  /**
   * What the runtime keeps of a turn's result, for every backend alike: the usage, once;
   * the closing error, unless the turn already said it; the session's record; and a
   * session that has closed or crashed leaves the pool, so the next turn starts afresh.
   */
  private async settle(turn: Turn, driver: AgentDriver, session: AgentSession, result: TurnResult, reply: TurnReply): Promise<TurnOutcome> {
    const agent = turn.agent.agent;
    if (result.usage) reply.emit({ kind: 'usage', ...result.usage });
    if (!result.ok && result.code !== 'aborted') reply.emit({ kind: 'error', message: result.error });
    // An error of the model API or a limit the agent reached leaves the conversation whole,
    // so it goes on; only a crash starts the next turn afresh.
    const crashed = !result.ok && result.code === 'crashed';
    const ended = result.ok || crashed || ['aborted', 'api_error', 'agent_error'].includes(result.code);
    if (ended) await this.deps.records.endTurn(turn.chatId, agent, result.usage, crashed ? 'crashed' : 'idle');
    // A crashed conversation is never resumed, and a warm session would carry it on: it leaves the pool too.
    if (driver.warm && (crashed || session.state() === 'closed')) {
      await this.deps.pool.remove(turn.chatId, agent, session.state() === 'closed' ? 'its agent ended' : 'it crashed');
    }
    return result.ok ? { ok: true, stopReason: result.stopReason } : { ok: false, code: result.code, error: result.error };
  }

  /** A turn's failure outside its session's result, in words fit for the client; what it hides goes to the log. */
  private failure(turn: Turn, err: unknown): Extract<TurnOutcome, { ok: false }> {
    if (err instanceof HearthError) return { ok: false, code: err.code, error: err.message };
    if (err instanceof StartCancelled) return { ok: false, code: 'aborted', error: 'aborted before its agent started' };
    if (err instanceof AgentStartError) return { ok: false, code: 'start_failed', error: err.message };
    if (isDatabaseUnreachable(err)) {
      this.deps.log.warn({ err, turnId: turn.id }, 'turn failed: the database cannot be reached');
      return { ok: false, code: 'database_unavailable', error: 'the database cannot be reached; send the message again once it is back' };
    }
    this.deps.log.error({ err, chatId: turn.chatId, turnId: turn.id }, 'turn failed');
    return { ok: false, code: 'internal', error: `internal error (turn ${turn.id}); the server's log has the detail` };
  }

  private async closeUnpooled(session: AgentSession): Promise<void> {
    this.unpooled.delete(session);
    await session.close();
  }

  /** Ends the sessions of drivers that are not warm with a turn in flight; the pool's sessions are the pool's. */
  async close(): Promise<void> {
    this.closing.abort(new Error('the dispatcher is closed'));
    for (const prewarm of this.prewarms.values()) prewarm.controller.abort();
    await Promise.all([...this.prewarms.values()].map((p) => p.done));
    await Promise.all([...this.unpooled].map((s) => this.closeUnpooled(s)));
  }

  private async finish(turn: Turn, fold: TurnFold, outcome: TurnOutcome, backend: BackendKind | null, started: number): Promise<void> {
    const status = outcome.ok ? 'succeeded' : outcome.code === 'aborted' ? 'aborted' : 'failed';
    const error = outcome.ok ? null : outcome.error;
    const parts = foldedParts(fold);
    // The record of a turn that ran is worth waiting for while the database is away.
    const durably = (what: string, write: () => Promise<unknown>) =>
      whileUnreachable(write, {
        log: this.deps.log,
        what,
        giveUpAfterMs: this.deps.databaseWaitMs ?? 10 * 60_000,
        signal: this.closing.signal,
        context: { chatId: turn.chatId, turnId: turn.id },
      }).catch((err) => this.deps.log.error({ err, turnId: turn.id }, `${what} not saved`));
    await turn.marked;
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
      ...(outcome.ok ? { stopReason: outcome.stopReason } : { error: outcome.error, code: outcome.code }),
    });
    this.metrics.turns[status]++;
    this.metrics.durations.push((Date.now() - started) / 1000);
    if (this.metrics.durations.length > 10_000) this.metrics.durations.splice(0, 5_000);
  }

  /**
   * The agent changed its own permission mode (an approved plan leaves plan mode): the chat
   * follows it, so the next turn goes on in the mode the agent is in, and clients see it.
   */
  private followMode(turn: Turn, mode: PermissionMode): void {
    this.deps.sql`UPDATE chats SET permission_mode = ${mode} WHERE id = ${turn.chatId} AND permission_mode IS DISTINCT FROM ${mode}`.catch((err) =>
      this.deps.log.warn({ err, chatId: turn.chatId, mode }, "the chat's permission mode was not updated to the agent's"),
    );
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
  async recover(): Promise<{ interrupted: number; orphans: number; expired: number }> {
    // Requests first, so an interrupted turn's rebuilt reply shows how they ended.
    const expired = await this.deps.permissions.recover();
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
    return { interrupted: turns.length, orphans, expired };
  }

  /**
   * A turn the server died during has no stored reply, but its events were written as they
   * came: the reply is rebuilt from them by the same rules as a live turn's, so the history
   * shows what the turn had shown, and why it ended.
   */
  private async keepInterruptedReply(chatId: string, turnId: string): Promise<void> {
    const rows = await this.deps.sql<{ kind: AgentEventKind; data: string }[]>`
      SELECT kind, data FROM chat_events
      WHERE chat_id = ${chatId} AND data::jsonb ->> 'turnId' = ${turnId} AND kind = ANY(${[...REPLY_EVENT_KINDS]})
      ORDER BY seq`;
    const events = rows.flatMap((row): AgentEvent[] => {
      const data = JSON.parse(row.data) as { turnId: string; role?: string };
      // The user's own message is logged under the turn too; it is not part of the reply.
      return row.kind === 'message' && data.role === 'user' ? [] : [agentEventOf(row.kind, data)];
    });
    const fold = foldEvent(foldEvents(events), { kind: 'error', message: STOPPED_DURING });
    await this.deps.sql`
      INSERT INTO messages (chat_id, turn_id, role, agent, parts)
      SELECT ${chatId}, ${turnId}, 'assistant', t.agent, ${JSON.stringify(foldedParts(fold))}
      FROM turns t
      WHERE t.id = ${turnId} AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.turn_id = ${turnId} AND m.role = 'assistant')`;
  }
}

function isPermissionMode(mode: string): mode is PermissionMode {
  return (PERMISSION_MODES as readonly string[]).includes(mode);
}

/** How a turn ended, as its record and its turn_end say. */
type TurnOutcome = { ok: true; stopReason: StopReason } | { ok: false; code: TurnErrorCode; error: string };

/**
 * A turn's reply as it happens: each event is folded into the reply and appended to the
 * chat's log, its kind the event's name. An error the turn has already reported is not
 * reported again (agents may say one failure twice: as a message and as their result).
 */
class TurnReply {
  fold: TurnFold = emptyFold;
  private readonly errors = new Set<string>();

  constructor(
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly permissions: PermissionRelay,
    private readonly turn: Turn,
    private readonly modeChanged: (mode: PermissionMode) => void,
  ) {}

  emit(event: AgentEvent): void {
    try {
      if (event.kind === 'error') {
        if (this.errors.has(event.message)) return;
        this.errors.add(event.message);
      }
      this.fold = foldEvent(this.fold, event);
      const { name, data } = agentEventData(event, this.turn.id);
      void this.events.append(this.turn.chatId, name, data);
      if (event.kind === 'mode' && isPermissionMode(event.mode)) this.modeChanged(event.mode);
    } catch (err) {
      this.log.warn({ err, turnId: this.turn.id, kind: event.kind }, 'a turn event was not kept');
    }
  }

  /** Takes into the reply an event logged by someone else (the permission relay logs its own, with its rows). */
  private folded(event: AgentEvent): void {
    this.fold = foldEvent(this.fold, event);
  }

  context(signal: AbortSignal): TurnContext {
    return {
      signal,
      emit: (event) => this.emit(event),
      requestPermission: (ask) =>
        this.permissions.ask(
          {
            chatId: this.turn.chatId,
            turnId: this.turn.id,
            agent: this.turn.agent.agent,
            signal,
            folded: (event) => this.folded(event),
            notice: (message) => this.emit({ kind: 'status', message }),
          },
          ask,
        ),
    };
  }
}
