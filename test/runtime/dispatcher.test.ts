// The dispatcher's rules on scripted drivers, with the real database, event log, session
// pool, session records, router and agent registry: queueing, aborts, fallback between
// backends, failures, records, resuming and recovery. No agent runs, so it takes seconds.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { failedTurn, succeededTurn, type AgentDriver, type PermissionAsk } from '../../src/agents/contract/driver.js';
import { HearthError } from '../../src/runtime/errors.js';
import type { CatalogAgent } from '../../src/agents/catalog.js';
import type { AgentEvent, PermissionOption, TurnUsage } from '../../src/api/events.js';
import { foldEvents, foldedParts, REPLY_EVENT_KINDS } from '../../src/api/fold.js';
import type { StoredPart } from '../../src/api/parts.js';
import type { AcceptedMessage, BackendKind } from '../../src/api/views.js';
import { connect, type Sql } from '../../src/db/sql.js';
import { PermissionRelay } from '../../src/runtime/permissions/permission-relay.js';
import { EventLog, type ChatEvent } from '../../src/runtime/event-log.js';
import { AgentRegistry } from '../../src/runtime/routing/agent-registry.js';
import { Router } from '../../src/runtime/routing/router.js';
import { SessionPool } from '../../src/runtime/sessions/session-pool.js';
import { SessionRecords } from '../../src/runtime/sessions/session-records.js';
import { StartGate } from '../../src/runtime/sessions/start-gate.js';
import { Dispatcher } from '../../src/runtime/turns/dispatcher.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { gate, ScriptedDriver, type ScriptedDriverOptions } from '../fixtures/scripted-driver.js';

let db: TestSchema;
let dir: string;
let registry: AgentRegistry;

const AGENT = 'scripted';
/** An agent one backend runs, for a message that names the other. */
const SOLO = 'solo';

before(async () => {
  db = await testSchema('dispatch');
  dir = await mkdtemp(path.join(tmpdir(), 'hearth-dispatcher-'));
  const executable = path.join(dir, 'scripted-agent');
  await writeFile(executable, '#!/bin/sh\necho "1.0.0 (scripted)"\n');
  await chmod(executable, 0o755);
  const catalog: CatalogAgent[] = [
    { name: AGENT, backends: ['claude_sdk', 'claude_pty'], locate: () => executable },
    { name: SOLO, backends: ['claude_sdk'], locate: () => executable },
  ];
  registry = new AgentRegistry(db.sql, 'dispatch-registry', {}, catalog);
  await registry.refresh();
});

after(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

type DriverOptions = Omit<ScriptedDriverOptions, 'backend' | 'journal'>;

interface WorldOptions {
  sdk?: DriverOptions;
  pty?: DriverOptions;
  maxQueued?: number;
  maxWarm?: number;
  /** The node the dispatcher runs as: a restarted one is given the same. */
  nodeId?: string;
  /** The agent sessions' records on another pool (one that cannot reach the database). */
  recordsSql?: Sql;
  /** Whether prewarm() opens anything; on by default. */
  prewarm?: boolean;
  /** Sessions being started at once at most. */
  maxStarts?: number;
  /** How long a permission request waits for a person. */
  permissionTimeoutMs?: number;
}

/** Everything a dispatcher runs on, for one test, on the file's schema. */
async function world(options: WorldOptions = {}) {
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const journal: string[] = [];
  const sdk = new ScriptedDriver({ ...options.sdk, backend: 'claude_sdk', journal });
  const pty = new ScriptedDriver({ ...options.pty, backend: 'claude_pty', journal });
  const events = new EventLog(db.sql, log);
  const records = new SessionRecords({ sql: options.recordsSql ?? db.sql, log });
  // What the pool's closes write is kept, so a test can wait for it.
  const closings: Promise<void>[] = [];
  const pool = new SessionPool({
    maxWarm: options.maxWarm ?? 8,
    idleMs: 60_000,
    log,
    onClosed: (chatId, agent) => void closings.push(records.closed(chatId, agent)),
  });
  const router = new Router(new Map<BackendKind, AgentDriver>([['claude_sdk', sdk], ['claude_pty', pty]]), 60_000, () => registry.list());
  const nodeId = options.nodeId ?? `dispatch-${randomBytes(4).toString('hex')}`;
  const starts = new StartGate(options.maxStarts ?? 8);
  const permissions = new PermissionRelay({ sql: db.sql, log, events, nodeId, timeoutMs: options.permissionTimeoutMs ?? null });
  const dispatcher = new Dispatcher({
    sql: db.sql,
    log,
    events,
    pool,
    records,
    registry,
    router,
    nodeId,
    maxQueued: options.maxQueued ?? 8,
    starts,
    prewarm: options.prewarm ?? true,
    permissions,
  });
  const chats: Chat[] = [];

  const w = {
    sdk,
    pty,
    events,
    records,
    pool,
    router,
    dispatcher,
    starts,
    permissions,
    nodeId,
    logs,
    journal,
    closings,
    /** A chat with a worktree of its own (an empty directory: no agent looks at it). */
    async chat(o: { agent?: string; model?: string | null } = {}): Promise<Chat> {
      const worktreePath = await mkdtemp(path.join(dir, 'worktree-'));
      const [wt] = await db.sql<{ id: string }[]>`
        INSERT INTO worktrees (repo_path, path, branch) VALUES (${dir}, ${worktreePath}, 'hearth/test') RETURNING id`;
      const [row] = await db.sql<{ id: string }[]>`
        INSERT INTO chats (repo_path, worktree_id, default_agent, model)
        VALUES (${dir}, ${wt!.id}, ${o.agent ?? AGENT}, ${o.model ?? null}) RETURNING id`;
      const chat = new Chat(w, row!.id, worktreePath);
      chats.push(chat);
      return chat;
    },
    /** Settles once the pool's closes have been recorded. */
    async recorded(): Promise<void> {
      await Promise.all(closings);
    },
    /** Stops everything the world started, and checks that no session it opened is left open. */
    async close(): Promise<void> {
      await Promise.all(chats.map((c) => w.dispatcher.stop(c.id, 5_000)));
      await dispatcher.close();
      await pool.close();
      await Promise.all(closings);
      await Promise.all(chats.map((c) => events.flushed(c.id)));
      events.close();
      assert.deepEqual([...sdk.openSessions(), ...pty.openSessions()].map((s) => s.name), [], 'no session is left open');
    },
  };
  return w;
}

type World = Awaited<ReturnType<typeof world>>;

interface LoggedEvent {
  seq: number;
  kind: string;
  data: Record<string, unknown>;
}

/** A chat, and the events it has had since it was made. */
class Chat {
  readonly seen: ChatEvent[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly w: World,
    readonly id: string,
    readonly worktreePath: string,
  ) {
    w.events.subscribe(id, (event) => {
      this.seen.push(event);
      for (const check of [...this.waiters]) check();
    });
  }

  send(text: string, options: { agent?: string; backend?: BackendKind } = {}): Promise<AcceptedMessage> {
    return this.w.dispatcher.submit(this.id, text, options);
  }

  /** The turn's turn_end, once it is written. */
  ended(turnId: string): Promise<Record<string, unknown>> {
    const find = () => this.seen.find((e) => e.kind === 'turn_end' && e.data.turnId === turnId)?.data;
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const check = () => {
        const data = find();
        if (!data) return;
        this.waiters.delete(check);
        resolve(data);
      };
      this.waiters.add(check);
    });
  }

  /** Sends a message and waits for its turn to end. */
  async run(text: string, options: { agent?: string; backend?: BackendKind } = {}): Promise<{ turnId: string; end: Record<string, unknown> }> {
    const { turnId } = await this.send(text, options);
    return { turnId, end: await this.ended(turnId) };
  }

  /** The chat's events as the log stored them. */
  async logged(): Promise<LoggedEvent[]> {
    await this.w.events.flushed(this.id);
    const rows = await db.sql<{ seq: string; kind: string; data: string }[]>`
      SELECT seq, kind, data FROM chat_events WHERE chat_id = ${this.id} ORDER BY seq`;
    return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  async agentSession(agent = AGENT) {
    const [row] = await db.sql<{ status: string; agent_session_id: string | null; backend: string; input_tokens: string; output_tokens: string; cost: string }[]>`
      SELECT status, agent_session_id, backend, input_tokens, output_tokens, cost FROM agent_sessions
      WHERE chat_id = ${this.id} AND agent = ${agent}`;
    return row;
  }
}

/** The events whose fold is a turn's reply. */
const REPLY_KINDS = new Set<string>(REPLY_EVENT_KINDS);

/**
 * What a finished turn left, checked against what every turn must leave however it ended:
 * its row in a final status, exactly one turn_end, a stored reply when it emitted
 * anything (and none when it did not), and event data without a `kind`.
 */
async function finalized(chat: Chat, turnId: string, status: 'succeeded' | 'failed' | 'aborted') {
  const events = (await chat.logged()).filter((e) => e.data.turnId === turnId);
  const [turn] = await db.sql<{ status: string; error: string | null; backend: string | null }[]>`
    SELECT status, error, backend FROM turns WHERE id = ${turnId}`;
  const replies = await db.sql<{ parts: string }[]>`SELECT parts FROM messages WHERE turn_id = ${turnId} AND role = 'assistant'`;
  assert.equal(turn?.status, status, `turn ${turnId} ${turn?.status}: ${turn?.error}`);
  assert.equal(events.filter((e) => e.kind === 'turn_end').length, 1, 'exactly one turn_end');
  assert.equal(events.at(-1)?.kind, 'turn_end', 'nothing of the turn follows its turn_end');
  const emitted = events.some((e) => REPLY_KINDS.has(e.kind) && e.data.role !== 'user');
  assert.equal(replies.length, emitted ? 1 : 0, emitted ? 'the reply is stored' : 'nothing emitted, nothing stored');
  // A permission request's `kind` is the request's own (permission, question, plan).
  for (const e of events) if (e.kind !== 'permission_request') assert.equal('kind' in e.data, false, `${e.kind} data has no kind`);
  return {
    turn: turn!,
    events,
    reply: replies[0] ? (JSON.parse(replies[0].parts) as StoredPart[]) : null,
    of: (kind: string) => events.filter((e) => e.kind === kind),
  };
}

const text = (t: string): AgentEvent => ({ kind: 'text_delta', messageId: null, text: t });
const usage: TurnUsage = { inputTokens: 100, outputTokens: 20, cacheReadTokens: 7, cacheWriteTokens: 3, costUsd: 0.125 };

describe('the dispatcher', () => {
  it('runs one chat’s messages one at a time in order, tells each queued one its place, and runs another chat alongside', async () => {
    const w = await world();
    const a = await w.chat();
    const b = await w.chat();
    const holdA = gate();
    const holdB = gate();
    w.sdk.onPrompt('a1', { steps: [text('one')], until: holdA.promise }).onPrompt('b1', { until: holdB.promise });
    const a1 = await a.send('a1');
    const a2 = await a.send('a2');
    const a3 = await a.send('a3');
    assert.deepEqual([a1.queued, a2.queued, a3.queued], [0, 1, 2]);
    await w.sdk.promptOf('a1');
    const b1 = await b.send('b1');
    assert.equal(b1.queued, 0, 'another chat has a lane of its own');
    await w.sdk.promptOf('b1');
    assert.deepEqual(w.sdk.prompts.map((p) => p.input), ['a1', 'b1'], 'b1 runs while a1 does; a2 waits');
    holdA.open();
    await a.ended(a3.turnId);
    assert.deepEqual(w.sdk.prompts.filter((p) => p.session.spec.chatId === a.id).map((p) => p.input), ['a1', 'a2', 'a3']);
    holdB.open();
    await b.ended(b1.turnId);

    const log = await a.logged();
    const queued = log.filter((e) => e.kind === 'status' && e.data.message === 'queued');
    assert.deepEqual(queued.map((e) => [e.data.turnId, e.data.position]), [[a2.turnId, 1], [a3.turnId, 2]]);
    const at = (kind: string, turnId: string) => log.find((e) => e.kind === kind && e.data.turnId === turnId)!.seq;
    assert.ok(at('turn_end', a1.turnId) < at('turn_start', a2.turnId), 'a2 starts after a1 ends');
    assert.ok(at('turn_end', a2.turnId) < at('turn_start', a3.turnId), 'a3 starts after a2 ends');
    for (const t of [a1, a2, a3]) await finalized(a, t.turnId, 'succeeded');
    await finalized(b, b1.turnId, 'succeeded');
    assert.equal(w.sdk.sessions.length, 2, 'one session per chat');
    await w.close();
  });

  it('has the message, its turn and its message event committed when submit resolves, and logs each turn message first, then turn_start, with no gap', async () => {
    const w = await world();
    const chat = await w.chat();
    const other = db.connect(1);
    const hold = gate();
    w.sdk.onPrompt('m1', { steps: [text('one'), text('more')], until: hold.promise });
    const first = await chat.send('m1');
    // Another connection sees only what is committed.
    const [row] = await other<{ turns: string; messages: string; events: string }[]>`
      SELECT (SELECT count(*) FROM turns WHERE id = ${first.turnId}) AS turns,
             (SELECT count(*) FROM messages WHERE id = ${first.messageId} AND role = 'user') AS messages,
             (SELECT count(*) FROM chat_events WHERE chat_id = ${chat.id} AND kind = 'message' AND data::jsonb ->> 'messageId' = ${first.messageId}) AS events`;
    assert.deepEqual({ ...row }, { turns: '1', messages: '1', events: '1' }, 'committed before submit resolves');
    await other.end();
    // Messages sent together while the first turn's events stream in.
    const rest = await Promise.all(['m2', 'm3'].map((t) => chat.send(t)));
    hold.open();
    for (const t of [first, ...rest]) await chat.ended(t.turnId);

    const log = await chat.logged();
    assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => i + 1), 'sequence numbers without a gap');
    assert.deepEqual(chat.seen.map((e) => e.seq), log.map((e) => e.seq), 'a live subscriber hears the log in its order');
    for (const t of [first, ...rest]) {
      const of = log.filter((e) => e.data.turnId === t.turnId);
      const message = of.findIndex((e) => e.kind === 'message' && e.data.role === 'user');
      const start = of.findIndex((e) => e.kind === 'turn_start');
      assert.equal(message, 0, `the user's message comes first of turn ${t.turnId}: ${of.map((e) => e.kind).join(' ')}`);
      assert.ok(start > message && of.slice(0, start).every((e) => e.kind === 'message' || e.kind === 'status'), 'nothing of the turn before its turn_start but its message and its place in the queue');
      await finalized(chat, t.turnId, 'succeeded');
    }
    await w.close();
  });

  it('refuses a message beyond the queue bound with 409 queue_full and stores nothing of it', async () => {
    const w = await world({ maxQueued: 1 });
    const chat = await w.chat();
    const hold = gate();
    w.sdk.onPrompt('first', { until: hold.promise });
    const first = await chat.send('first');
    const second = await chat.send('second');
    await assert.rejects(chat.send('third, refused'), { status: 409, code: 'queue_full' });
    const [stored] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM messages WHERE chat_id = ${chat.id} AND parts LIKE '%third, refused%'`;
    assert.equal(stored!.n, 0, 'no message stored for the refused one');
    const [turns] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM turns WHERE chat_id = ${chat.id}`;
    assert.equal(turns!.n, 2, 'no turn either');
    hold.open();
    await chat.ended(second.turnId);
    await finalized(chat, first.turnId, 'succeeded');
    await finalized(chat, second.turnId, 'succeeded');
    assert.ok(!w.sdk.prompts.some((p) => p.input.startsWith('third')));
    await w.close();
  });

  it('ends a queued turn aborted without ever prompting it, and stops the running one through its signal', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('long', { steps: [text('working on it')], untilAborted: true });
    const running = await chat.send('long');
    const waiting = await chat.send('never run');
    const prompt = await w.sdk.promptOf('long');
    assert.equal(prompt.ctx.signal.aborted, false);
    assert.equal(await w.dispatcher.abort(chat.id), 2);
    const endQueued = await chat.ended(waiting.turnId);
    const endRunning = await chat.ended(running.turnId);
    assert.equal(prompt.ctx.signal.aborted, true, 'the running turn saw its signal');
    assert.deepEqual(endQueued, { turnId: waiting.turnId, ok: false, error: 'aborted before it started', code: 'aborted' });
    assert.equal(endRunning.code, 'aborted');
    assert.ok(!w.sdk.prompts.some((p) => p.input === 'never run'), 'the queued turn was never prompted');
    const ran = await finalized(chat, running.turnId, 'aborted');
    assert.deepEqual(ran.reply, [{ type: 'text', text: 'working on it' }], 'what it showed is kept; an abort is no error');
    await finalized(chat, waiting.turnId, 'aborted');
    assert.equal((await chat.agentSession())?.status, 'idle');
    await w.close();
  });

  it('runs the turn on the next backend when the first cannot start, says so, and sends later turns straight there', async () => {
    const w = await world();
    w.sdk.nextOpen({ fails: 'node', message: 'the SDK is broken here' });
    const chat = await w.chat();
    const first = await chat.run('hello');
    assert.equal(first.end.ok, true);
    const done = await finalized(chat, first.turnId, 'succeeded');
    assert.equal(done.turn.backend, 'claude_pty');
    assert.equal(done.of('turn_start')[0]!.data.backend, 'claude_pty');
    const notices = done.of('status').map((e) => e.data.message as string);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /the claude SDK backend cannot start, so this turn runs on the PTY path: the SDK is broken here/);
    assert.ok(done.of('status')[0]!.seq < done.of('turn_start')[0]!.seq, 'the notice comes before the turn starts');

    const second = await chat.run('again');
    await finalized(chat, second.turnId, 'succeeded');
    const other = await w.chat();
    const third = await other.run('elsewhere');
    assert.equal((await finalized(other, third.turnId, 'succeeded')).turn.backend, 'claude_pty');
    assert.equal(w.sdk.opens.length, 1, 'the SDK backend stands down: it is not tried again meanwhile');
    assert.deepEqual(w.pty.prompts.map((p) => p.input), ['hello', 'again', 'elsewhere']);
    assert.equal(w.pty.sessions.length, 2, "the chat's warm session took its second turn");
    await w.close();
  });

  it('fails a message that names the backend that cannot start with start_failed, trying no other', async () => {
    const w = await world();
    w.sdk.nextOpen({ fails: 'node', message: 'the SDK is broken here' });
    const chat = await w.chat();
    const { turnId, end } = await chat.run('only on the SDK', { backend: 'claude_sdk' });
    assert.equal(end.code, 'start_failed');
    assert.match(end.error as string, /the SDK is broken here/);
    const done = await finalized(chat, turnId, 'failed');
    assert.deepEqual(done.reply, [{ type: 'error', message: end.error }]);
    assert.equal(w.pty.opens.length, 0);
    assert.equal(done.of('turn_start').length, 0, 'no turn started');
    await w.close();
  });

  it('skips a backend this node cannot use without a word, and refuses a message naming it with 400 backend_unavailable', async () => {
    const w = await world({ sdk: { unavailable: 'switched off for this test' } });
    const chat = await w.chat();
    const { turnId } = await chat.run('hello');
    const done = await finalized(chat, turnId, 'succeeded');
    assert.equal(done.turn.backend, 'claude_pty');
    assert.equal(done.of('status').length, 0);
    assert.equal(w.sdk.opens.length, 0);
    await assert.rejects(chat.send('on the SDK, please', { backend: 'claude_sdk' }), (err: Error & { status?: number; code?: string }) =>
      err.status === 400 && err.code === 'backend_unavailable' && /switched off for this test/.test(err.message));
    const [turns] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM turns WHERE chat_id = ${chat.id}`;
    assert.equal(turns!.n, 1, 'nothing stored for the refused message');
    await w.close();
  });

  it('refuses a message naming a backend its agent does not run with 400 backend_mismatch', async () => {
    const w = await world();
    const chat = await w.chat({ agent: SOLO });
    await assert.rejects(chat.send('on the PTY', { backend: 'claude_pty' }), { status: 400, code: 'backend_mismatch' });
    const [turns] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM turns WHERE chat_id = ${chat.id}`;
    assert.equal(turns!.n, 0);
    await w.close();
  });

  it('ends a turn whose prompt throws failed with code internal, keeps the thrown text out of the reply and in the log, and runs the next turn', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('break', { steps: [text('before the fault')], throws: new Error('secret detail of the fault') });
    const broken = await chat.run('break');
    assert.equal(broken.end.code, 'internal');
    assert.doesNotMatch(broken.end.error as string, /secret detail/);
    assert.match(broken.end.error as string, new RegExp(broken.turnId));
    const done = await finalized(chat, broken.turnId, 'failed');
    assert.deepEqual(done.reply, [{ type: 'text', text: 'before the fault' }, { type: 'error', message: broken.end.error }]);
    assert.doesNotMatch(JSON.stringify(done.events), /secret detail/);
    assert.ok(
      w.logs.some((l) => l.turnId === broken.turnId && JSON.stringify(l.err).includes('secret detail of the fault')),
      'the detail is in the log',
    );
    const next = await chat.run('next');
    assert.equal(next.end.ok, true);
    await finalized(chat, next.turnId, 'succeeded');
    await w.close();
  });

  it('fails a turn with database_unavailable when its session record cannot be read for want of the database', async () => {
    const unreachable = connect('postgres://postgres@127.0.0.1:1/test', { max: 1 });
    try {
      const w = await world({ recordsSql: unreachable });
      const chat = await w.chat();
      const { turnId, end } = await chat.run('hello');
      assert.equal(end.code, 'database_unavailable');
      assert.match(end.error as string, /the database cannot be reached/);
      await finalized(chat, turnId, 'failed');
      assert.equal(w.sdk.opens.length, 0, 'nothing was opened without knowing what to resume');
      await w.close();
    } finally {
      await unreachable.end({ timeout: 1 });
    }
  });

  it('sends one usage event per turn from its result and adds its tokens and cost to the agent session once', async () => {
    const w = await world({ sdk: { turn: (input) => ({ steps: [text(input)], result: succeededTurn(usage) }) } });
    const chat = await w.chat();
    for (const input of ['one', 'two']) {
      const { turnId } = await chat.run(input);
      const done = await finalized(chat, turnId, 'succeeded');
      assert.deepEqual(done.of('usage').map((e) => e.data), [{ turnId, ...usage }]);
    }
    const row = await chat.agentSession();
    assert.equal(Number(row!.input_tokens), 2 * (100 + 7 + 3), 'input counts the cached tokens too');
    assert.equal(Number(row!.output_tokens), 40);
    assert.equal(Number(row!.cost), 0.25);
    await w.close();
  });

  it('sends a failed turn’s closing error once even when the session already said the same', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('refused', {
      steps: [text('trying'), { kind: 'error', message: 'the model API said no' }],
      result: failedTurn('api_error', 'the model API said no', usage),
    });
    const { turnId, end } = await chat.run('refused');
    assert.deepEqual(end, { turnId, ok: false, error: 'the model API said no', code: 'api_error' });
    const done = await finalized(chat, turnId, 'failed');
    assert.deepEqual(done.of('error').map((e) => e.data.message), ['the model API said no']);
    assert.deepEqual(done.reply, [{ type: 'text', text: 'trying' }, { type: 'error', message: 'the model API said no' }]);
    assert.equal(done.of('usage').length, 1, 'a failed turn counts its usage too');
    await w.close();
  });

  it('opens the next session with the resume token the last one reported, at its open or during a turn, once the pooled one is gone', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.nextOpen({ resumeToken: 'token-at-open' });
    await chat.run('one');
    assert.equal(w.sdk.opens[0]!.resume, null, 'a new conversation');
    assert.equal((await chat.agentSession())?.agent_session_id, 'token-at-open');
    await w.pool.remove(chat.id, AGENT);

    w.sdk.onPrompt('two', { resumeToken: 'token-in-turn' });
    await chat.run('two');
    assert.equal(w.sdk.opens[1]!.resume, 'token-at-open');
    assert.equal((await chat.agentSession())?.agent_session_id, 'token-in-turn');
    await w.pool.remove(chat.id, AGENT);

    await chat.run('three');
    assert.equal(w.sdk.opens[2]!.resume, 'token-in-turn');
    assert.equal(w.sdk.sessions.length, 3);
    await w.close();
  });

  it('resumes nothing after a crashed turn, and a session that crashed with its agent gone leaves the pool', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.nextOpen({ resumeToken: 'token-before-the-crash' });
    w.sdk.onPrompt('crash', { steps: [text('half')], result: failedTurn('crashed', 'the agent process died'), ends: true });
    await chat.run('one');
    const crash = await chat.run('crash');
    assert.equal(crash.end.code, 'crashed');
    await finalized(chat, crash.turnId, 'failed');
    assert.equal(w.pool.backendOf(chat.id, AGENT), null, 'the dead session left the pool');
    assert.equal(w.sdk.sessions[0]!.closeCalls, 1, 'and was closed');
    await w.recorded();
    assert.equal((await chat.agentSession())?.status, 'crashed', 'closing it leaves it marked crashed');

    const after = await chat.run('after');
    assert.equal(after.end.ok, true);
    assert.equal(w.sdk.opens.length, 2);
    assert.equal(w.sdk.opens[1]!.resume, null, 'a crashed conversation is not resumed');
    assert.equal((await chat.agentSession())?.status, 'idle');
    await w.close();
  });

  it('closes a session that cannot take the chat’s new options and opens one that resumes its conversation', async () => {
    const w = await world({ sdk: { reconfigure: false } });
    const chat = await w.chat({ model: 'model-a' });
    w.sdk.nextOpen({ resumeToken: 'token-1' });
    await chat.run('one');
    await db.sql`UPDATE chats SET model = 'model-b' WHERE id = ${chat.id}`;
    const two = await chat.run('two');
    assert.equal(two.end.ok, true);
    const [first, second] = w.sdk.sessions;
    assert.deepEqual(first!.reconfigures.map((o) => o.model), ['model-b'], 'the live session was asked first');
    assert.equal(first!.closeCalls, 1);
    assert.equal(w.sdk.opens[1]!.resume, 'token-1');
    assert.equal(w.sdk.opens[1]!.model, 'model-b');
    assert.equal(w.sdk.prompts[1]!.session, second);
    await w.close();
  });

  it('keeps a session that takes the chat’s new options', async () => {
    const w = await world();
    const chat = await w.chat({ model: 'model-a' });
    await chat.run('one');
    await db.sql`UPDATE chats SET model = 'model-b' WHERE id = ${chat.id}`;
    await chat.run('two');
    assert.equal(w.sdk.sessions.length, 1);
    assert.deepEqual(w.sdk.sessions[0]!.reconfigures, [{ worktreePath: chat.worktreePath, model: 'model-b', permissionMode: null }]);
    await w.close();
  });

  it('gives back the lease of a session whose reconfigure throws, so the pool can still evict it', async () => {
    let throws = true;
    const w = await world({
      maxWarm: 1,
      sdk: {
        reconfigure: () => {
          if (throws) throw new Error('reconfigure broke its contract');
          return true;
        },
      },
    });
    const a = await w.chat();
    await a.run('one');
    const broken = await a.run('two');
    assert.equal(broken.end.code, 'internal');
    await finalized(a, broken.turnId, 'failed');
    throws = false;
    const b = await w.chat();
    await b.run('elsewhere');
    assert.equal(w.sdk.sessions[0]!.closeCalls, 1, "a's session, held by nobody, made room for b's");
    assert.equal(w.pool.size, 1);
    await w.close();
  });

  it('opens and closes a session per turn on a driver that is not warm, once the warm session of another backend has left the pool', async () => {
    const w = await world({ pty: { warm: false } });
    const chat = await w.chat();
    await chat.run('warm');
    assert.equal(w.pool.backendOf(chat.id, AGENT), 'claude_sdk');
    const cold = await chat.run('cold', { backend: 'claude_pty' });
    await finalized(chat, cold.turnId, 'succeeded');
    const closeWarm = w.journal.indexOf(`close ${w.sdk.sessions[0]!.name}`);
    assert.ok(closeWarm >= 0 && closeWarm < w.journal.indexOf(`open claude_pty ${chat.id}`), w.journal.join('\n'));
    assert.equal(w.pool.size, 0, 'a session that is not warm is not pooled');
    assert.equal(w.pty.sessions[0]!.closeCalls, 1, 'it is closed after its turn');
    await chat.run('cold again', { backend: 'claude_pty' });
    assert.deepEqual(w.pty.sessions.map((s) => s.closeCalls), [1, 1], 'a session of its own for each turn');
    assert.equal((await chat.agentSession())?.backend, 'claude_pty');
    await w.close();
  });

  it('records the agent session active during a turn, idle after it and after an api_error or agent_error turn, crashed after a crashed one, and closed when the pool closes it', async () => {
    const w = await world();
    const calm = await w.chat();
    const hold = gate();
    w.sdk.onPrompt('held', { until: hold.promise });
    const held = await calm.send('held');
    await w.sdk.promptOf('held');
    assert.equal((await calm.agentSession())?.status, 'active');
    hold.open();
    await calm.ended(held.turnId);
    assert.equal((await calm.agentSession())?.status, 'idle');

    const rough = await w.chat();
    for (const code of ['api_error', 'agent_error', 'crashed'] as const) {
      w.sdk.onPrompt(code, { result: failedTurn(code, `a turn that ends ${code}`) });
      await rough.run('fine');
      assert.equal((await rough.agentSession())?.status, 'idle');
      const { end } = await rough.run(code);
      assert.equal(end.code, code);
      assert.equal((await rough.agentSession())?.status, code === 'crashed' ? 'crashed' : 'idle', code);
    }
    await w.close();
    assert.equal((await calm.agentSession())?.status, 'closed', 'closed when the pool closed it');
    assert.equal((await rough.agentSession())?.status, 'crashed', 'a crashed one stays crashed');
  });

  it("stores each event under its kind's name, its data without a kind field", async () => {
    const w = await world();
    const chat = await w.chat();
    const steps: AgentEvent[] = [
      { kind: 'thinking_delta', messageId: 'm1', text: 'hmm' },
      text('looking'),
      { kind: 'tool_call', id: 'call-1', name: 'Read', input: { path: 'a.ts' }, status: 'running', title: 'Read a.ts', toolKind: 'read' },
      { kind: 'tool_result', id: 'call-1', output: 'contents', isError: false },
      { kind: 'plan', entries: [{ content: 'read it', status: 'completed' }] },
      { kind: 'mode', mode: 'plan' },
      { kind: 'message', role: 'assistant', messageId: 'm2', parts: [{ type: 'text', text: 'done' }] },
    ];
    w.sdk.onPrompt('rich', { steps, result: succeededTurn(usage, 'max_tokens') });
    const { turnId, end } = await chat.run('rich');
    assert.equal(end.stopReason, 'max_tokens');
    const done = await finalized(chat, turnId, 'succeeded');
    const kinds = done.events.map((e) => e.kind);
    assert.deepEqual(kinds, ['message', 'turn_start', ...steps.map((s) => s.kind), 'usage', 'turn_end']);
    for (const e of await chat.logged()) assert.equal('kind' in e.data, false, `${e.kind}: ${JSON.stringify(e.data)}`);
    assert.deepEqual(done.reply, foldedParts(foldEvents(steps)), 'the stored reply is the fold of its events');
    await w.close();
  });

  it('rebuilds the reply of a turn the server died during from its events, by the fold, and marks it and a queued one interrupted', async () => {
    const before = await world();
    const chat = await before.chat();
    const steps: AgentEvent[] = [
      text('partial answer'),
      { kind: 'tool_call', id: 'call-1', name: 'Bash', input: { command: 'ls' }, status: 'running' },
      { kind: 'tool_result', id: 'call-1', output: 'a.ts', isError: false },
      { kind: 'status', message: 'not part of the reply' },
    ];
    before.sdk.onPrompt('cut short', { steps, untilAborted: true });
    const running = await chat.send('cut short');
    const waiting = await chat.send('waits');
    await before.sdk.promptOf('cut short');
    await before.events.flushed(chat.id);

    // Another dispatcher of the same node, as after a restart, while the first one's turn is still in flight.
    const restarted = await world({ nodeId: before.nodeId });
    const again = new Chat(restarted, chat.id, chat.worktreePath);
    assert.deepEqual(await restarted.dispatcher.recover(), { interrupted: 2, orphans: 0, expired: 0 });
    await restarted.events.flushed(chat.id);
    const turns = await db.sql<{ id: string; status: string; error: string }[]>`
      SELECT id, status, error FROM turns WHERE chat_id = ${chat.id} ORDER BY created_at`;
    assert.deepEqual(turns.map((t) => [t.id, t.status]), [[running.turnId, 'interrupted'], [waiting.turnId, 'interrupted']]);
    const [reply] = await db.sql<{ parts: string }[]>`SELECT parts FROM messages WHERE turn_id = ${running.turnId} AND role = 'assistant'`;
    assert.deepEqual(JSON.parse(reply!.parts), foldedParts(foldEvents([...steps, { kind: 'error', message: turns[0]!.error }])));
    const [none] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE turn_id = ${waiting.turnId} AND role = 'assistant'`;
    assert.equal(none!.n, 0, 'a turn that never started has no reply');
    const ends = (await again.logged()).filter((e) => e.kind === 'turn_end');
    // Recovered turns end in no particular order.
    assert.deepEqual(
      ends.map((e) => [e.data.turnId, e.data.code]).sort(),
      [[running.turnId, 'interrupted'], [waiting.turnId, 'interrupted']].sort(),
    );
    await restarted.close();
    await before.close();
  });
});

describe('what an agent is told of the chat', () => {
  // Each reply names the user's own words: a prompt's last line.
  const echo = { turn: (input: string) => ({ steps: [text(`reply to ${input.split('\n').at(-1)}`)] }) };
  const prompts = (w: World) => w.sdk.prompts.map((p) => p.input);

  it('tells a new conversation the chat so far, and one that goes on only what other agents did since its last turn', async () => {
    const w = await world({ sdk: echo });
    const chat = await w.chat();
    await chat.run('one');
    await chat.run('two', { agent: SOLO });
    await chat.run('three');
    await chat.run('four', { agent: SOLO });
    await chat.run('five', { agent: SOLO });
    const [one, two, three, four, five] = prompts(w);
    assert.equal(one, 'one', 'nothing to tell before the first message');
    assert.match(two!, /^\[Hearth\] You \(solo\) are joining a conversation in progress\./);
    assert.ok(two!.includes('<conversation>\nUser (to scripted): one\nscripted: reply to one\n</conversation>\n\nNow the user says to you:\n\ntwo'), two);
    assert.match(three!, /^\[Hearth\] Meanwhile, in this chat, since your last turn/);
    assert.ok(three!.includes('<conversation>\nUser (to solo): two\nsolo: reply to two\n</conversation>\n\nNow the user says to you:\n\nthree'), three);
    assert.ok(four!.includes('<conversation>\nUser (to scripted): three\nscripted: reply to three\n</conversation>'), four);
    assert.equal(five, 'five', 'nothing happened since its last turn');
    const stored = await db.sql<{ text: string }[]>`
      SELECT parts::jsonb -> 0 ->> 'text' AS text FROM messages WHERE chat_id = ${chat.id} AND role = 'user' ORDER BY ord`;
    assert.deepEqual(stored.map((r) => r.text), ['one', 'two', 'three', 'four', 'five'], 'the history keeps the user’s own words');
    await w.close();
  });

  it('tells a session the chat when its agent opened another conversation than the one asked to resume, and nothing when it resumed', async () => {
    const w = await world({ sdk: echo });
    const chat = await w.chat();
    w.sdk.nextOpen({ resumeToken: 'first' });
    await chat.run('one');
    await w.pool.remove(chat.id, AGENT);
    // Asked to resume `first`, the agent says its conversation is another: it knows nothing of the chat.
    w.sdk.nextOpen({ resumeToken: 'second' });
    await chat.run('two');
    assert.equal(w.sdk.opens[1]!.resume, 'first');
    assert.match(prompts(w)[1]!, /^\[Hearth\] You \(scripted\) are joining[\s\S]*User \(to scripted\): one\nscripted: reply to one\n[\s\S]*\n\ntwo$/);
    await w.pool.remove(chat.id, AGENT);
    w.sdk.nextOpen({ resumeToken: 'second' });
    await chat.run('three');
    assert.equal(w.sdk.opens[2]!.resume, 'second');
    assert.equal(prompts(w)[2], 'three', 'a resumed conversation holds the chat already');
    await w.close();
  });

  it('bounds what it tells: the most recent part, saying that earlier parts are left out', async () => {
    const w = await world({ sdk: echo });
    const chat = await w.chat();
    // 101 turns leave 202 messages, more than a hand-over reads.
    for (let i = 0; i < 101; i++) await chat.run(`message ${i} ${'x'.repeat(300)}`);
    const last = await chat.run('now you', { agent: SOLO });
    const told = prompts(w).at(-1)!;
    const notice = (await chat.logged()).filter((e) => e.kind === 'status' && e.data.turnId === last.turnId).map((e) => e.data.message);
    assert.match(String(notice), /^solo was told the conversation so far \(\d+ exchanges, earlier ones left out\)$/);
    assert.ok(told.length < 26_000, `${told.length} characters`);
    assert.match(told, /<conversation>\n\[Earlier parts of the conversation are left out for length\.\]\n\n/, 'more messages than are read');
    assert.ok(told.includes('scripted: reply to message 100 '), 'the newest is kept');
    assert.ok(!told.includes('message 0 '), 'the oldest goes');
    assert.ok(told.endsWith('\n\nnow you'));
    await w.close();
  });
});

/** Settles once the dispatcher has logged a message of this chat's whose text starts so. */
async function logged(w: World, chatId: string, start: string): Promise<Record<string, unknown>> {
  for (;;) {
    const line = w.logs.find((l) => l.chatId === chatId && typeof l.msg === 'string' && l.msg.startsWith(start));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Settles once `done` holds, checked every few milliseconds. */
async function settled(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('prewarming', () => {
  it('opens one session ahead of the first message, idle, and the first turn reuses it', async () => {
    const w = await world();
    const chat = await w.chat();
    assert.deepEqual(await w.dispatcher.prewarm(chat.id), { prewarm: 'opening', backend: 'claude_sdk' });
    await logged(w, chat.id, 'agent session prewarmed');
    assert.equal(w.sdk.opens.length, 1);
    assert.equal((await chat.agentSession())?.status, 'idle', 'the record says the session waits for a turn');
    assert.deepEqual(await w.dispatcher.prewarm(chat.id), { prewarm: 'warm', backend: 'claude_sdk' }, 'a second prewarm finds it warm');
    const { turnId } = await chat.run('first');
    await finalized(chat, turnId, 'succeeded');
    assert.equal(w.sdk.opens.length, 1, 'the turn opened no second session');
    assert.equal(w.sdk.prompts[0]!.session, w.sdk.sessions[0], 'it ran on the prewarmed one');
    assert.equal(w.sdk.sessions[0]!.reconfigures.length, 1, 'taken over as a kept session is: through reconfigure');
    assert.equal(w.pty.opens.length, 0);
    const events = await chat.logged();
    assert.deepEqual([...new Set(events.map((e) => e.data.turnId))], [turnId], 'the prewarm left no event of its own');
    await w.close();
  });

  it('makes a turn that comes while the prewarm opens wait for that opening, not open a second agent', async () => {
    const w = await world();
    const chat = await w.chat();
    const hold = gate();
    w.sdk.nextOpen({ until: hold.promise, resumeToken: 'from-the-prewarm' });
    await w.dispatcher.prewarm(chat.id);
    await w.sdk.until(() => w.sdk.opens.length === 1);
    const sent = await chat.send('during');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(w.sdk.opens.length, 1, 'the turn waits for the opening under way');
    hold.open();
    await finalized(chat, (await chat.ended(sent.turnId)).turnId as string, 'succeeded');
    assert.equal(w.sdk.opens.length, 1);
    assert.equal(w.sdk.prompts[0]!.session, w.sdk.sessions[0]);
    const record = await chat.agentSession();
    assert.equal(record?.agent_session_id, 'from-the-prewarm');
    assert.equal(record?.status, 'idle', 'the turn’s end, not the prewarm, set the status last');
    await w.close();
  });

  it('is skipped while a turn of the chat is under way: that turn opens what it needs', async () => {
    const w = await world();
    const chat = await w.chat();
    const hold = gate();
    w.sdk.onPrompt('long', { until: hold.promise });
    const sent = await chat.send('long');
    const report = await w.dispatcher.prewarm(chat.id);
    assert.equal(report.prewarm === 'skipped' && report.reason, 'busy');
    hold.open();
    await chat.ended(sent.turnId);
    assert.equal(w.sdk.opens.length, 1);
    await w.close();
  });

  it('takes only free room in the pool: skipped when it is full of leased sessions, and it evicts no idle one', async () => {
    const w = await world({ maxWarm: 1 });
    const busy = await w.chat();
    const idle = await w.chat();
    const cold = await w.chat();
    const hold = gate();
    w.sdk.onPrompt('held', { until: hold.promise });
    const held = await busy.send('held');
    await w.sdk.promptOf('held');
    const full = await w.dispatcher.prewarm(cold.id);
    assert.equal(full.prewarm === 'skipped' && full.reason, 'pool_full');
    assert.equal(w.sdk.opens.length, 1, 'the leased session stays the only one');
    hold.open();
    await busy.ended(held.turnId);

    // Now the pool's one place holds an idle session of another chat: the prewarm leaves it be.
    await idle.run('now idle');
    assert.equal(w.pool.size, 1);
    const still = await w.dispatcher.prewarm(cold.id);
    assert.equal(still.prewarm === 'skipped' && still.reason, 'pool_full');
    assert.deepEqual(w.pool.sessions().map((s) => s.chatId), [idle.id], 'the idle session of the other chat is kept');
    // A turn does evict it, as ever.
    await cold.run('a turn makes room');
    assert.deepEqual(w.pool.sessions().map((s) => s.chatId), [cold.id]);
    await w.close();
  });

  it('is cancelled by the chat’s delete, whether its agent is starting or its start waits at the gate, and leaves nothing open', async () => {
    const w = await world({ maxStarts: 1 });
    const starting = await w.chat();
    const waiting = await w.chat();
    const hold = gate();
    w.sdk.nextOpen({ until: hold.promise });
    await w.dispatcher.prewarm(starting.id);
    await w.sdk.until(() => w.sdk.opens.length === 1);
    assert.equal((await w.dispatcher.prewarm(waiting.id)).prewarm, 'opening');
    await settled(() => w.starts.counts.waiting === 1);

    // What a chat's delete does: stop its turns and prewarm, then close its sessions.
    w.dispatcher.beginDelete(waiting.id);
    await w.dispatcher.stop(waiting.id);
    await w.pool.removeChat(waiting.id);
    await logged(w, waiting.id, 'prewarm cancelled');
    assert.deepEqual(w.starts.counts, { running: 1, waiting: 0 }, 'the waiting start left the queue');

    w.dispatcher.beginDelete(starting.id);
    const stopped = w.dispatcher.stop(starting.id);
    hold.open();
    await stopped;
    await w.pool.removeChat(starting.id);
    assert.equal(w.sdk.opens.length, 1, 'the chat whose start waited never opened');
    assert.deepEqual(w.sdk.openSessions().map((s) => s.name), [], 'the session that was starting is closed');
    assert.equal(w.pool.size, 0);
    await w.close();
  });

  it('opens nothing when switched off: the first turn opens the session', async () => {
    const w = await world({ prewarm: false });
    const chat = await w.chat();
    const report = await w.dispatcher.prewarm(chat.id);
    assert.equal(report.prewarm === 'skipped' && report.reason, 'off');
    assert.equal(w.sdk.opens.length, 0);
    await chat.run('first');
    assert.equal(w.sdk.opens.length, 1);
    await w.close();
  });

  it('opens nothing when the first backend is not warm', async () => {
    const w = await world({ sdk: { unavailable: 'switched off for the test' }, pty: { warm: false } });
    const chat = await w.chat();
    const report = await w.dispatcher.prewarm(chat.id);
    assert.equal(report.prewarm === 'skipped' && report.reason, 'not_warm', JSON.stringify(report));
    assert.equal(w.pty.opens.length + w.sdk.opens.length, 0);
    await w.close();
  });

  it('stands the backend down when its agent cannot start, and puts no turn or event in the chat', async () => {
    const w = await world({ pty: { warm: false } });
    const chat = await w.chat();
    w.sdk.nextOpen({ fails: 'node', message: 'no agent here' });
    await w.dispatcher.prewarm(chat.id);
    const line = await logged(w, chat.id, 'prewarm failed');
    assert.match(JSON.stringify(line.err), /no agent here/);
    assert.equal(w.router.health().claude_sdk, 'down', 'the backend stands down as after a turn’s failed start');
    assert.deepEqual(await chat.logged(), [], 'no event in the chat');
    const [turns] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM turns WHERE chat_id = ${chat.id}`;
    assert.equal(turns!.n, 0, 'no turn');
    assert.equal(w.pool.size, 0);
    // The first turn goes where a turn after a failed start would: to the next backend.
    const { turnId } = await chat.run('first');
    assert.equal((await finalized(chat, turnId, 'succeeded')).turn.backend, 'claude_pty');
    await w.close();
  });
});

describe('the start gate in the dispatcher', () => {
  it('lets turns start before prewarms, unless a turn waits for the prewarm', async () => {
    const w = await world({ maxStarts: 1 });
    const first = await w.chat();
    const prewarmed = await w.chat();
    const turned = await w.chat();
    const hold = gate();
    w.sdk.nextOpen({ until: hold.promise });
    const a = await first.send('first');
    await w.sdk.until(() => w.sdk.opens.length === 1);
    await w.dispatcher.prewarm(prewarmed.id);
    const b = await turned.send('turned');
    await settled(() => w.starts.counts.waiting === 2);
    hold.open();
    await turned.ended(b.turnId);
    await logged(w, prewarmed.id, 'agent session prewarmed');
    const opened = w.sdk.opens.map((s) => s.chatId);
    assert.deepEqual(opened, [first.id, turned.id, prewarmed.id], 'the turn that came after the prewarm started before it');
    await first.ended(a.turnId);
    await w.close();
  });

  it('drops a waiting turn’s start when the turn is aborted: it ends aborted, its agent never started, no error', async () => {
    const w = await world({ maxStarts: 1 });
    const first = await w.chat();
    const second = await w.chat();
    const hold = gate();
    w.sdk.nextOpen({ until: hold.promise });
    const a = await first.send('first');
    await w.sdk.until(() => w.sdk.opens.length === 1);
    const b = await second.send('second');
    await settled(() => w.starts.counts.waiting === 1);
    assert.equal(await w.dispatcher.abort(second.id), 1);
    const end = await second.ended(b.turnId);
    assert.equal(end.code, 'aborted');
    const done = await finalized(second, b.turnId, 'aborted');
    assert.equal(done.of('error').length, 0, 'an abort is no error');
    assert.equal(w.starts.counts.waiting, 0);
    hold.open();
    await first.ended(a.turnId);
    assert.deepEqual(w.sdk.opens.map((s) => s.chatId), [first.id], 'the aborted turn’s agent never started');
    await w.close();
  });
});

const OPTIONS: PermissionOption[] = [
  { id: 'yes', kind: 'allow_once', label: 'Allow once' },
  { id: 'always', kind: 'allow_always', label: 'Always allow' },
  { id: 'no', kind: 'reject_once', label: 'Deny' },
];

function bash(command: string, toolCallId = 'call-1'): PermissionAsk {
  return {
    kind: 'permission',
    toolCallId,
    tool: 'Bash',
    input: { command },
    options: OPTIONS,
    details: { command, cwd: '/somewhere' },
    rule: { tool: 'Bash', prefix: command.split(' ').slice(0, 2).join(' ') },
    subject: command,
  };
}

const QUESTION: PermissionAsk = {
  kind: 'question',
  toolCallId: 'q-1',
  tool: 'AskUserQuestion',
  input: {},
  options: [
    { id: 'answer', kind: 'allow_once', label: 'Answer' },
    { id: 'decline', kind: 'reject_once', label: 'Decline' },
  ],
  questions: [{ question: 'Which colour?', choices: [{ label: 'red' }, { label: 'blue' }], multiSelect: false, freeText: true }],
};

/** The chat's request once its permission_request has been logged. */
async function requested(chat: Chat, n = 1): Promise<string> {
  await settled(() => chat.seen.filter((e) => e.kind === 'permission_request').length >= n);
  return chat.seen.filter((e) => e.kind === 'permission_request')[n - 1]!.data.requestId as string;
}

async function rejection(p: Promise<unknown>): Promise<HearthError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HearthError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('permission requests', () => {
  it('keeps a request as a row and an event, gives the person’s answer to the driver, and stores request and outcome in the reply', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('write', { steps: [text('may I?')], ask: bash('npm test -- --watch=false'), result: succeededTurn(null) });
    const { turnId } = await chat.send('write');
    const requestId = await requested(chat);
    const [pending] = await w.permissions.list(chat.id, 'pending');
    assert.equal(pending?.requestId, requestId);
    assert.equal(pending?.kind, 'permission');
    assert.deepEqual(pending?.details, { command: 'npm test -- --watch=false', cwd: '/somewhere' });
    const event = chat.seen.find((e) => e.kind === 'permission_request')!.data;
    assert.equal(event.kind, 'permission', "the event's kind is the request's");
    assert.equal(event.turnId, turnId);
    assert.deepEqual(event.options, OPTIONS);

    const answered = await w.permissions.answer(chat.id, requestId, { decision: 'allow', message: 'go ahead' });
    assert.equal(answered.status, 'allowed');
    assert.equal(answered.optionId, 'yes');
    await chat.ended(turnId);
    const prompt = await w.sdk.promptOf('write');
    assert.deepEqual(prompt.decision, { outcome: 'selected', optionId: 'yes', kind: 'allow_once', message: 'go ahead' });
    const done = await finalized(chat, turnId, 'succeeded');
    assert.deepEqual(done.of('permission_resolved').map((e) => [e.data.requestId, e.data.outcome, e.data.optionId]), [[requestId, 'allowed', 'yes']]);
    const part = done.reply?.find((p) => p.type === 'permission');
    assert.equal(part?.type === 'permission' && part.outcome, 'allowed');
    assert.equal(part?.type === 'permission' && part.requestId, requestId);
    assert.deepEqual(await w.permissions.list(chat.id, 'pending'), []);
    await w.close();
  });

  it('takes exactly one of two answers given at once; the other gets 409 already_resolved with the outcome', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('race', { ask: bash('make'), result: succeededTurn(null) });
    const { turnId } = await chat.send('race');
    const requestId = await requested(chat);
    const answers = await Promise.allSettled([
      w.permissions.answer(chat.id, requestId, { decision: 'allow' }),
      w.permissions.answer(chat.id, requestId, { decision: 'deny', message: 'no' }),
    ]);
    const won = answers.filter((a) => a.status === 'fulfilled');
    const lost = answers.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    const err = lost[0]!.reason as HearthError;
    assert.equal(err.status, 409);
    assert.equal(err.code, 'already_resolved');
    const outcome = (won[0] as PromiseFulfilledResult<{ status: string }>).value.status;
    assert.equal(err.details?.outcome, outcome);
    await chat.ended(turnId);
    const done = await finalized(chat, turnId, 'succeeded');
    assert.equal(done.of('permission_resolved').length, 1, 'one outcome is logged');
    await w.close();
  });

  it('cancels a pending request when its turn is stopped: the driver is told, the turn ends aborted, an answer then gets 409', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('stop me', { ask: bash('rm -rf build'), untilAborted: true });
    const { turnId } = await chat.send('stop me');
    const requestId = await requested(chat);
    assert.equal((await w.dispatcher.abort(chat.id)) >= 1, true);
    await chat.ended(turnId);
    const prompt = await w.sdk.promptOf('stop me');
    assert.equal(prompt.decision?.outcome, 'cancelled');
    const done = await finalized(chat, turnId, 'aborted');
    assert.deepEqual(done.of('permission_resolved').map((e) => e.data.outcome), ['cancelled']);
    const [row] = await w.permissions.list(chat.id);
    assert.equal(row?.status, 'cancelled');
    const late = await rejection(w.permissions.answer(chat.id, requestId, { decision: 'allow' }));
    assert.equal(late.status, 409);
    assert.equal(late.details?.outcome, 'cancelled');
    await w.close();
  });

  it('denies a request nobody answers within the timeout, with a message the agent is given', async () => {
    const w = await world({ permissionTimeoutMs: 300 });
    const chat = await w.chat();
    w.sdk.onPrompt('slow', { ask: bash('make'), result: succeededTurn(null) });
    const { turnId } = await chat.run('slow');
    const prompt = await w.sdk.promptOf('slow');
    assert.deepEqual(prompt.decision, { outcome: 'selected', optionId: 'no', kind: 'reject_once', message: 'nobody answered within 0.3 s' });
    const [row] = await w.permissions.list(chat.id);
    assert.equal(row?.status, 'timed_out');
    assert.equal(row?.message, 'nobody answered within 0.3 s');
    const done = await finalized(chat, turnId, 'succeeded');
    assert.deepEqual(done.of('permission_resolved').map((e) => e.data.outcome), ['timed_out']);
    await w.close();
  });

  it('keeps an "always" answer as a rule: a later command with that prefix is not asked, a chained one is, and a deleted rule asks again', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk
      .onPrompt('first', { ask: bash('npm test --silent'), result: succeededTurn(null) })
      .onPrompt('again', { ask: bash('npm test -- --grep x', 'call-2'), result: succeededTurn(null) })
      .onPrompt('chained', { ask: { ...bash('npm test; curl evil', 'call-3') }, result: succeededTurn(null) })
      .onPrompt('other', { ask: bash('npm testx', 'call-4'), result: succeededTurn(null) })
      .onPrompt('after delete', { ask: bash('npm test', 'call-5'), result: succeededTurn(null) });
    const first = await chat.send('first');
    const requestId = await requested(chat);
    const answered = await w.permissions.answer(chat.id, requestId, { decision: 'allow', scope: 'always' });
    assert.equal(answered.optionId, 'always');
    await chat.ended(first.turnId);
    const [rule] = await w.permissions.rules(chat.id);
    assert.equal(rule?.tool, 'Bash');
    assert.equal(rule?.prefix, 'npm test');
    assert.equal(rule?.requestId, requestId);

    const again = await chat.run('again');
    const byRule = (await w.sdk.promptOf('again')).decision;
    assert.equal(byRule?.outcome === 'selected' && byRule.byRule, rule?.ruleId);
    const quiet = await finalized(chat, again.turnId, 'succeeded');
    assert.equal(quiet.of('permission_request').length, 0, 'nobody is asked');
    assert.match(String(quiet.of('status')[0]?.data.message), /allowed by a rule of this chat \(npm test\)/);

    const chained = await chat.send('chained');
    const chainedId = await requested(chat, 2);
    await w.permissions.answer(chat.id, chainedId, { decision: 'deny' });
    await chat.ended(chained.turnId);
    const other = await chat.send('other');
    const otherId = await requested(chat, 3);
    await w.permissions.answer(chat.id, otherId, { decision: 'deny' });
    await chat.ended(other.turnId);

    await w.permissions.deleteRule(chat.id, rule!.ruleId);
    assert.equal((await rejection(w.permissions.deleteRule(chat.id, rule!.ruleId))).status, 404);
    const afterDelete = await chat.send('after delete');
    const askedAgain = await requested(chat, 4);
    await w.permissions.answer(chat.id, askedAgain, { decision: 'allow' });
    await chat.ended(afterDelete.turnId);
    await w.close();
  });

  it('answers a question with the person’s answers, and refuses answers that do not fit the request with 400', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('ask me', { ask: QUESTION, result: succeededTurn(null) }).onPrompt('bash', { ask: bash('ls'), result: succeededTurn(null) });
    const q = await chat.send('ask me');
    const qid = await requested(chat);
    assert.equal((await rejection(w.permissions.answer(chat.id, qid, { decision: 'allow' }))).code, 'invalid_answer');
    assert.equal((await rejection(w.permissions.answer(chat.id, qid, { decision: 'allow', answers: { 'Which size?': 'L', 'Which colour?': 'red' } }))).code, 'invalid_answer');
    assert.equal((await rejection(w.permissions.answer(chat.id, qid, { decision: 'allow', scope: 'always', answers: { 'Which colour?': 'red' } }))).code, 'invalid_answer');
    const answered = await w.permissions.answer(chat.id, qid, { decision: 'allow', answers: { 'Which colour?': 'teal, please' } });
    assert.equal(answered.status, 'answered');
    await chat.ended(q.turnId);
    assert.deepEqual((await w.sdk.promptOf('ask me')).decision, {
      outcome: 'selected',
      optionId: 'answer',
      kind: 'allow_once',
      answers: { 'Which colour?': 'teal, please' },
    });

    const b = await chat.send('bash');
    const bid = await requested(chat, 2);
    assert.equal((await rejection(w.permissions.answer(chat.id, bid, { decision: 'allow', answers: { x: 'y' } }))).code, 'invalid_answer');
    assert.equal((await rejection(w.permissions.answer(chat.id, randomUUID(), { decision: 'allow' }))).status, 404);
    assert.equal((await rejection(w.permissions.answer(randomUUID(), bid, { decision: 'allow' }))).status, 404, 'a request is found only in its own chat');
    await w.permissions.answer(chat.id, bid, { decision: 'deny', message: 'not now' });
    await chat.ended(b.turnId);
    assert.deepEqual((await w.sdk.promptOf('bash')).decision, { outcome: 'selected', optionId: 'no', kind: 'reject_once', message: 'not now' });
    await w.close();
  });

  it('follows the agent when it changes its own permission mode: the chat takes the mode for its next turn', async () => {
    const w = await world();
    const chat = await w.chat();
    await db.sql`UPDATE chats SET permission_mode = 'plan' WHERE id = ${chat.id}`;
    w.sdk.onPrompt('approve', { steps: [{ kind: 'mode', mode: 'default' }, { kind: 'mode', mode: 'agent-specific' }] });
    await chat.run('approve');
    const read = async () => (await db.sql<{ permission_mode: string | null }[]>`SELECT permission_mode FROM chats WHERE id = ${chat.id}`)[0]?.permission_mode;
    for (let i = 0; i < 100 && (await read()) !== 'default'; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await read(), 'default', 'a mode that is not a permission mode is not taken');
    await w.close();
  });

  it('expires what a dead node’s turns waited on when it restarts; the turn is interrupted with the request in its reply, and an answer gets 409', async () => {
    const w = await world();
    const chat = await w.chat();
    w.sdk.onPrompt('dies', { steps: [text('about to ask')], ask: bash('make'), untilAborted: true });
    const { turnId } = await chat.send('dies');
    const requestId = await requested(chat);
    // The node dies: nothing of it runs on; a new dispatcher of the same node starts.
    const again = await world({ nodeId: w.nodeId });
    const recovered = await again.dispatcher.recover();
    assert.equal(recovered.expired, 1);
    const [row] = await again.permissions.list(chat.id);
    assert.equal(row?.status, 'expired');
    const late = await rejection(again.permissions.answer(chat.id, requestId, { decision: 'allow' }));
    assert.equal(late.details?.outcome, 'expired');
    const [turn] = await db.sql<{ status: string }[]>`SELECT status FROM turns WHERE id = ${turnId}`;
    assert.equal(turn?.status, 'interrupted');
    const [reply] = await db.sql<{ parts: string }[]>`SELECT parts FROM messages WHERE turn_id = ${turnId} AND role = 'assistant'`;
    const part = (JSON.parse(reply!.parts) as StoredPart[]).find((p) => p.type === 'permission');
    assert.equal(part?.type === 'permission' && part.outcome, 'expired');
    await w.close();
    await again.close();
  });
});
