// ClaudeSdkBackend driving the real Claude Code binary against the fake model server,
// on a real PostgreSQL and real git worktrees.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudeSdkBackend, type ClaudeSdkBackendDeps } from '../../src/agents/claude/sdk/claude-sdk-backend.js';
import type { AgentEvent } from '../../src/api/events.js';
import type { AgentSessionHandle, EnsureSessionOpts, TurnResult } from '../../src/agents/contract/agent-backend.js';
import { DEFAULT_USAGE, lastUserText } from '../fixtures/fake-anthropic.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { BackendChats, sent, sessionOpts as opts, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { alive } from '../fixtures/processes.js';

let db: TestSchema;
const backends: ClaudeSdkBackend[] = [];
let chats: BackendChats;
const log = pino({ level: 'silent' });
/** Each test's own budget: a hung turn fails its test instead of the whole run. */
const LIMIT = { timeout: 60_000 };

before(async () => {
  db = await testSchema('claude_sdk');
  chats = new BackendChats(db.sql);
});
after(async () => {
  await Promise.all(backends.map((b) => b.dispose()));
  await chats.close();
  await db.drop();
});

type Chat = BackendChat;
const newChat = () => chats.create();
const row = (chat: Chat) => chats.row(chat);

function backendFor(chat: Chat, extra: Partial<ClaudeSdkBackendDeps> = {}, configDir = chat.configDir): ClaudeSdkBackend {
  const b = new ClaudeSdkBackend({
    sql: db.sql,
    log,
    chatId: chat.id,
    agent: 'claude',
    installPath: null,
    env: claudeEnv(chat.fake, configDir),
    ...extra,
  });
  backends.push(b);
  return b;
}

interface Turn {
  result: TurnResult;
  events: AgentEvent[];
  /** Milliseconds from the start of the turn (ensureSession included) to the first text delta. */
  firstDeltaMs: number | null;
}

async function turn(
  backend: ClaudeSdkBackend,
  chat: Chat,
  text: string,
  options: { more?: Partial<EnsureSessionOpts>; signal?: AbortSignal; onEvent?: (e: AgentEvent) => void } = {},
): Promise<Turn & { handle: AgentSessionHandle }> {
  const started = performance.now();
  const handle = await backend.ensureSession(`hearth-${chat.id}`, opts(chat, options.more));
  const events: AgentEvent[] = [];
  let firstDeltaMs: number | null = null;
  const result = await backend.prompt(handle, text, {
    signal: options.signal ?? new AbortController().signal,
    worktreePath: chat.worktree,
    model: options.more?.model ?? null,
    onEvent: (e) => {
      if (e.kind === 'text_delta' && firstDeltaMs === null) firstDeltaMs = performance.now() - started;
      events.push(e);
      options.onEvent?.(e);
    },
  });
  return { result, events, firstDeltaMs, handle };
}

type Usage = Extract<AgentEvent, { kind: 'usage' }>;
const usageOf = (events: AgentEvent[]) => events.find((e): e is Usage => e.kind === 'usage')!;
/** Claude Code's price for its default model: $4/M input, $20/M output, $0.20/M cache read, $5/M cache write. */
const atListPrice = (u: Partial<Usage>) =>
  ((u.inputTokens ?? 0) * 4 + (u.outputTokens ?? 0) * 20 + (u.cacheReadTokens ?? 0) * 0.2 + (u.cacheWriteTokens ?? 0) * 5) / 1e6;

const texts = (events: AgentEvent[], kind: 'text_delta' | 'thinking_delta') =>
  events.flatMap((e) => (e.kind === kind ? [e.text] : []));

describe('ClaudeSdkBackend with the real Claude Code binary', () => {
  it('keeps one warm process across turns, and the second turn streams far sooner', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    assert.equal(backend.health(), 'up');
    chat.fake.enqueue({ kind: 'text', chunks: ['first ', 'answer'] }, { kind: 'text', chunks: ['second ', 'answer'] });
    const one = await turn(backend, chat, 'first question');
    assert.deepEqual(one.result, { ok: true });
    const pid = backend.agentPid();
    assert.ok(pid && alive(pid));
    assert.equal(backend.isBusy(), false);
    const two = await turn(backend, chat, 'second question');
    assert.deepEqual(two.result, { ok: true });
    assert.equal(backend.agentPid(), pid, 'the same process served both turns');
    assert.deepEqual(texts(two.events, 'text_delta'), ['second ', 'answer']);
    assert.ok(one.firstDeltaMs !== null && two.firstDeltaMs !== null);
    assert.ok(
      two.firstDeltaMs * 2 < one.firstDeltaMs,
      `warm first delta ${two.firstDeltaMs.toFixed(0)} ms vs cold ${one.firstDeltaMs.toFixed(0)} ms`,
    );
    // The second request carries the first exchange: one conversation.
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /first question/);
    assert.match(last, /first answer/);
  });

  it('streams thinking then text in order, renders nothing twice, and completes the message once', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'thinking', thinking: ['weighing ', 'options'], text: ['the ', 'verdict'] });
    const t = await turn(backend, chat, 'decide');
    assert.deepEqual(t.result, { ok: true });
    assert.deepEqual(texts(t.events, 'thinking_delta'), ['weighing ', 'options']);
    assert.deepEqual(texts(t.events, 'text_delta'), ['the ', 'verdict']);
    const kinds = t.events.map((e) => e.kind);
    assert.ok(kinds.lastIndexOf('thinking_delta') < kinds.indexOf('text_delta'));
    const messages = t.events.filter((e) => e.kind === 'message');
    assert.equal(messages.length, 1);
    assert.deepEqual((messages[0] as Extract<AgentEvent, { kind: 'message' }>).parts, [
      { type: 'thinking', text: 'weighing options' },
      { type: 'text', text: 'the verdict' },
    ]);
    assert.equal(kinds.at(-1), 'usage');
  });

  it('runs a tool in the worktree: tool call, tool result, and the file is there', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'echo built > built.txt && cat built.txt', description: 'build' } },
      { kind: 'text', chunks: ['Built it.'] },
    );
    const t = await turn(backend, chat, 'build it', { more: { permissionMode: 'bypassPermissions' } });
    assert.deepEqual(t.result, { ok: true });
    const call = t.events.find((e) => e.kind === 'tool_call') as Extract<AgentEvent, { kind: 'tool_call' }>;
    assert.equal(call.name, 'Bash');
    const result = t.events.find((e) => e.kind === 'tool_result') as Extract<AgentEvent, { kind: 'tool_result' }>;
    assert.equal(result.id, call.id);
    assert.equal(result.isError, false);
    assert.match(result.output, /built/);
    assert.equal((await readFile(path.join(chat.worktree, 'built.txt'), 'utf8')).trim(), 'built');
  });

  it('passes the per-chat permission mode, changing it warm where the agent allows', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    const marker = path.join(chat.worktree, 'touched.txt');
    const touch = () =>
      chat.fake.enqueue(
        { kind: 'tool_use', name: 'Bash', input: { command: `touch ${marker}`, description: 'touch' } },
        { kind: 'text', chunks: ['tried'] },
      );
    const resultOf = (t: Turn) => t.events.find((e) => e.kind === 'tool_result') as Extract<AgentEvent, { kind: 'tool_result' }>;

    // The SDK's default mode asks before running a command, and nobody can answer yet.
    touch();
    const refused = await turn(backend, chat, 'touch it');
    assert.deepEqual(refused.result, { ok: true });
    assert.equal(resultOf(refused).isError, true);
    assert.equal(existsSync(marker), false);
    const defaultPid = backend.agentPid();

    // Entering bypassPermissions takes a process launched for it; the conversation goes on.
    touch();
    const allowed = await turn(backend, chat, 'touch it now', { more: { permissionMode: 'bypassPermissions' } });
    assert.equal(resultOf(allowed).isError, false);
    assert.equal(existsSync(marker), true);
    const bypassPid = backend.agentPid();
    assert.notEqual(bypassPid, defaultPid);
    assert.match(sent(chat.fake.mainRequests().at(-1)), /touch it now/);
    assert.match(sent(chat.fake.mainRequests().at(-1)), /"touch it"/);

    // Leaving it happens on the warm process.
    await rm(marker);
    touch();
    const refusedAgain = await turn(backend, chat, 'once more', { more: { permissionMode: 'default' } });
    assert.equal(resultOf(refusedAgain).isError, true);
    assert.equal(existsSync(marker), false);
    assert.equal(backend.agentPid(), bypassPid);
  });

  it("gives the agent what it needs and none of Hearth's secrets", LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat, {
      env: {
        ...claudeEnv(chat.fake, chat.configDir),
        LANG: 'C.UTF-8',
        DATABASE_URL: 'postgres://hearth:db-secret@db/hearth',
        HEARTH_TOKEN: 'token-secret',
        HEARTH_ANYTHING: 'hearth-setting',
        STRIPE_KEY: 'configured-secret',
        ANTHROPIC_AUTH_TOKEN: 'also-configured',
        RANDOM_SERVER_SETTING: 'not-allowlisted',
      },
      secrets: ['STRIPE_KEY', 'ANTHROPIC_AUTH_TOKEN'],
    });
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'env > env.txt', description: 'print env' } },
      { kind: 'text', chunks: ['printed'] },
    );
    const t = await turn(backend, chat, 'print the environment', { more: { permissionMode: 'bypassPermissions' } });
    assert.deepEqual(t.result, { ok: true });
    const env = await readFile(path.join(chat.worktree, 'env.txt'), 'utf8');
    for (const present of ['PATH=', 'HOME=', 'LANG=C.UTF-8', `ANTHROPIC_BASE_URL=${chat.fake.url}`, 'ANTHROPIC_API_KEY=', 'CLAUDE_CONFIG_DIR=']) {
      assert.ok(env.includes(present), `${present} reaches the agent`);
    }
    for (const secret of ['db-secret', 'token-secret', 'hearth-setting', 'configured-secret', 'also-configured', 'not-allowlisted']) {
      assert.ok(!env.includes(secret), `${secret} stays out`);
    }
  });

  it('aborts mid-stream promptly, keeps the process, and the next turn sees the conversation', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['warming up'] });
    await turn(backend, chat, 'before the abort');
    const pid = backend.agentPid();

    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const controller = new AbortController();
    let abortedAt = 0;
    const t = await turn(backend, chat, 'this one stalls', {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'text_delta' && !abortedAt) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    const took = performance.now() - abortedAt;
    assert.deepEqual(t.result, { ok: false, code: 'aborted', error: 'aborted' });
    assert.ok(took < 3_000, `the abort took ${took.toFixed(0)} ms`);
    assert.equal(backend.isBusy(), false);
    assert.equal(backend.agentPid(), pid, 'still the same warm process');
    assert.equal((await row(chat)).status, 'idle', 'an abort is not a crash');

    chat.fake.enqueue({ kind: 'text', chunks: ['back again'] });
    const after = await turn(backend, chat, 'after the abort');
    assert.deepEqual(after.result, { ok: true });
    assert.equal(backend.agentPid(), pid);
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /before the abort/);
    assert.match(last, /this one stalls/);
  });

  it("records a stopped turn's tokens and cost from the same figures, and the next turn counts only its own", LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['full'], usage: { input_tokens: 20, output_tokens: 10 } });
    const full = await turn(backend, chat, 'a full turn');
    assert.deepEqual(full.result, { ok: true });

    chat.fake.enqueue({ kind: 'stall', chunks: ['a partial answer that streams for a while before the stop '] });
    const controller = new AbortController();
    const stopped = await turn(backend, chat, 'a stopped turn', {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'text_delta') controller.abort();
      },
    });
    assert.equal((stopped.result as { code: string }).code, 'aborted');
    const u = usageOf(stopped.events);
    // The stopped call's input as the API reported it; its output as Claude Code estimates it from what streamed.
    assert.equal(u.inputTokens, DEFAULT_USAGE.input_tokens);
    assert.ok(u.outputTokens > 0, JSON.stringify(u));
    assert.equal(u.costUsd, Number(atListPrice(u).toFixed(10)), `cost ${u.costUsd} for ${u.inputTokens} in, ${u.outputTokens} out`);

    chat.fake.enqueue({ kind: 'text', chunks: ['again'], usage: { input_tokens: 20, output_tokens: 10 } });
    const next = await turn(backend, chat, 'after the stop');
    assert.deepEqual(next.result, { ok: true });
    assert.deepEqual([usageOf(next.events).inputTokens, usageOf(next.events).outputTokens], [20, 10]);
    assert.equal(usageOf(next.events).costUsd, Number(atListPrice({ inputTokens: 20, outputTokens: 10 }).toFixed(10)));

    const r = await row(chat);
    assert.deepEqual([Number(r.input_tokens), Number(r.output_tokens)], [40 + u.inputTokens, 20 + u.outputTokens]);
    assert.equal(Number(r.cost), Number(atListPrice({ inputTokens: 40 + u.inputTokens, outputTokens: 20 + u.outputTokens }).toFixed(10)));
  });

  it('persists the session id, adds usage and cost once per turn, and moves active to idle', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    // A session being readied is active until its turn ends.
    await backend.ensureSession(`hearth-${chat.id}`, opts(chat));
    assert.equal((await row(chat)).status, 'active');
    chat.fake.enqueue({ kind: 'text', chunks: ['one'], usage: { input_tokens: 100, output_tokens: 10 } });
    const one = await turn(backend, chat, 'count me');
    assert.deepEqual(one.result, { ok: true });
    let r = await row(chat);
    assert.equal(r.status, 'idle');
    assert.equal(r.backend, 'claude_sdk');
    const initId = chat.fake.mainRequests().at(-1)!.headers['x-claude-code-session-id'];
    assert.ok(r.agent_session_id);
    assert.equal(r.agent_session_id, initId, 'the id from init is the one the agent uses');

    chat.fake.enqueue({
      kind: 'text',
      chunks: ['two'],
      usage: { input_tokens: 200, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 },
    });
    const two = await turn(backend, chat, 'count me again');
    assert.deepEqual(two.result, { ok: true });
    r = await row(chat);
    // Input folds in cache reads and writes; each turn is counted exactly once.
    assert.equal(Number(r.input_tokens), 100 + 200 + 1000 + 50);
    assert.equal(Number(r.output_tokens), 10 + 20);
    // Claude Code prices its default model at $4/M input, $20/M output, $0.20/M cache read, $5/M cache write.
    const expected = (100 * 4 + 10 * 20) / 1e6 + (200 * 4 + 20 * 20 + 1000 * 0.2 + 50 * 5) / 1e6;
    assert.equal(Number(r.cost), Number(expected.toFixed(10)));
    const usage = [...one.events, ...two.events].filter((e) => e.kind === 'usage') as Extract<AgentEvent, { kind: 'usage' }>[];
    assert.equal(usage.length, 2, 'one usage event per turn');
    assert.deepEqual(
      usage.map((u) => [u.inputTokens, u.outputTokens, u.cacheReadTokens, u.cacheWriteTokens]),
      [
        [100, 10, 0, 0],
        [200, 20, 1000, 50],
      ],
    );
  });

  it('marks the row crashed after an API error, with a readable error, and starts fresh next time', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['remember ZEBRA'] });
    await turn(backend, chat, 'the word is ZEBRA');
    chat.fake.enqueue({ kind: 'error', status: 529, message: 'the fake is overloaded' });
    const failed = await turn(backend, chat, 'this fails');
    assert.equal(failed.result.ok, false);
    assert.ok(!failed.result.ok && failed.result.code === 'api_error');
    assert.match(!failed.result.ok ? failed.result.error : '', /529/);
    const errors = failed.events.filter((e) => e.kind === 'error') as Extract<AgentEvent, { kind: 'error' }>[];
    assert.equal(errors.length, 1, 'the failure is reported once, though Claude Code reports it twice');
    assert.match(errors[0]!.message, /529/);
    assert.equal((await row(chat)).status, 'crashed');

    // Another backend for the chat (the pool evicted this one): a crashed row is not resumed.
    await backend.dispose();
    const fresh = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['new start'] });
    const t = await turn(fresh, chat, 'hello again');
    assert.deepEqual(t.result, { ok: true });
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.doesNotMatch(last, /ZEBRA/, 'the fresh session carries no history');
    assert.equal((await row(chat)).status, 'idle');
  });

  it('rebuilds the query on a model change and keeps the conversation', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['noted PENGUIN'] });
    await turn(backend, chat, 'the word is PENGUIN', { more: { model: 'claude-sonnet-4-5' } });
    const pid = backend.agentPid();
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'claude-sonnet-4-5');
    chat.fake.enqueue({ kind: 'text', chunks: ['still PENGUIN'] });
    const t = await turn(backend, chat, 'which word?', { more: { model: 'claude-haiku-4-5' } });
    assert.deepEqual(t.result, { ok: true });
    assert.notEqual(backend.agentPid(), pid, 'a new process for the new model');
    await waitUntil('the old process to exit', () => !alive(pid!));
    const last = chat.fake.mainRequests().at(-1)!;
    assert.equal(last.body.model, 'claude-haiku-4-5');
    assert.match(sent(last), /the word is PENGUIN/);
  });

  it('resumes after dispose from PostgreSQL alone, on an empty config directory', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['I will keep OCELOT'] });
    await turn(backend, chat, 'keep the word OCELOT');
    chat.fake.enqueue({ kind: 'text', chunks: ['kept'] });
    await turn(backend, chat, 'and the number 7');
    const sessionId = (await row(chat)).agent_session_id;
    await backend.dispose();
    assert.equal(backend.health(), 'down');

    const emptyConfig = await chats.configDir();
    const elsewhere = backendFor(chat, {}, emptyConfig);
    chat.fake.enqueue({ kind: 'text', chunks: ['OCELOT and 7'] });
    const t = await turn(elsewhere, chat, 'what did I give you?');
    assert.deepEqual(t.result, { ok: true });
    const last = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['keep the word OCELOT', 'I will keep OCELOT', 'and the number 7', 'kept', 'what did I give you?']) {
      assert.ok(last.includes(earlier), `the resumed request carries "${earlier}"`);
    }
    assert.equal((await row(chat)).agent_session_id, sessionId, 'the same session goes on');
    // A resumed process reports totals that carry on from the stored ones: each turn still counts once.
    const usage = t.events.find((e) => e.kind === 'usage') as Extract<AgentEvent, { kind: 'usage' }>;
    assert.equal(usage.costUsd, (10 * 4 + 5 * 20) / 1e6);
    assert.deepEqual([usage.inputTokens, usage.outputTokens], [10, 5]);
    const r = await row(chat);
    assert.equal(Number(r.cost), (3 * (10 * 4 + 5 * 20)) / 1e6);
    assert.deepEqual([Number(r.input_tokens), Number(r.output_tokens)], [30, 15]);
  });

  it('ends a turn whose agent is killed with SIGKILL, leaves no process behind, and recovers', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'text', chunks: ['before the kill: MOOSE'] });
    await turn(backend, chat, 'the word is MOOSE', { more: { permissionMode: 'bypassPermissions' } });
    const pid = backend.agentPid()!;

    // The tool leaves a process running in the background, in a session of its own.
    const marker = path.join(chat.worktree, 'left-running.txt');
    await writeFile(marker, '');
    chat.fake.enqueue(
      {
        kind: 'tool_use',
        name: 'Bash',
        input: { command: `tail -f /dev/null ${marker} > /dev/null 2>&1 &\necho started`, description: 'background' },
      },
      { kind: 'stall', chunks: ['working on it'] },
    );
    let killedAt = 0;
    const t = await turn(backend, chat, 'run forever', {
      more: { permissionMode: 'bypassPermissions' },
      onEvent: (e) => {
        if (e.kind === 'text_delta' && !killedAt) {
          killedAt = performance.now();
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    const took = performance.now() - killedAt;
    assert.ok(killedAt > 0, 'the turn reached the stalled stream');
    assert.equal(t.result.ok, false);
    assert.ok(!t.result.ok && t.result.code === 'crashed', JSON.stringify(t.result));
    assert.match(!t.result.ok ? t.result.error : '', /SIGKILL/);
    assert.ok(took < 5_000, `the turn ended ${took.toFixed(0)} ms after the kill`);
    assert.ok(t.events.some((e) => e.kind === 'error'));
    assert.equal((await row(chat)).status, 'crashed');
    assert.equal(backend.agentPid(), null);
    // Nothing survives: not the agent's group, not the tool's background process.
    await waitUntil('the process group to be gone', () => !alive(-pid));
    const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(marker));
    assert.deepEqual(leftovers, []);

    chat.fake.enqueue({ kind: 'text', chunks: ['recovered'] });
    const next = await turn(backend, chat, 'are you there?');
    assert.deepEqual(next.result, { ok: true });
    assert.deepEqual(texts(next.events, 'text_delta'), ['recovered']);
    assert.notEqual(backend.agentPid(), pid);
  });

  it('reports busy for a second prompt while a turn runs', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat);
    chat.fake.enqueue({ kind: 'stall', chunks: ['slow'] });
    const controller = new AbortController();
    const handle = await backend.ensureSession('busy', opts(chat));
    let streaming!: () => void;
    const started = new Promise<void>((r) => (streaming = r));
    const first = backend.prompt(handle, 'slow one', {
      signal: controller.signal,
      worktreePath: chat.worktree,
      model: null,
      onEvent: (e) => e.kind === 'text_delta' && streaming(),
    });
    await started;
    assert.equal(backend.isBusy(), true);
    const second = await backend.prompt(handle, 'impatient', {
      signal: new AbortController().signal,
      worktreePath: chat.worktree,
      model: null,
      onEvent: () => {},
    });
    assert.deepEqual(second, { ok: false, code: 'busy', error: 'a turn is already running in this session' });
    controller.abort();
    assert.equal(((await first) as { code: string }).code, 'aborted');
  });

  it('reports down with a clear error when the executable cannot start', LIMIT, async () => {
    const chat = await newChat();
    const backend = backendFor(chat, { installPath: path.join(chat.worktree, 'no-such-claude') });
    await assert.rejects(backend.ensureSession('s', opts(chat)), /cannot execute .*no-such-claude/);
    assert.equal(backend.health(), 'down');
  });

  it('runs ten chats at once, two turns each, with unmixed transcripts', LIMIT, async () => {
    const chats = await Promise.all(Array.from({ length: 10 }, () => newChat()));
    const results = await Promise.all(
      chats.map(async (chat, i) => {
        const backend = backendFor(chat);
        const a = await turn(backend, chat, `echo: chat ${i} turn 1`);
        const b = await turn(backend, chat, `echo: chat ${i} turn 2`);
        await backend.dispose();
        return { i, a, b };
      }),
    );
    for (const { i, a, b } of results) {
      assert.deepEqual(a.result, { ok: true });
      assert.deepEqual(b.result, { ok: true });
      assert.equal(texts(a.events, 'text_delta').join(''), `reply to echo: chat ${i} turn 1`);
      assert.equal(texts(b.events, 'text_delta').join(''), `reply to echo: chat ${i} turn 2`);
      const second = chats[i]!.fake
        .mainRequests()
        .find((r) => lastUserText(r) === `echo: chat ${i} turn 2`);
      const body = sent(second);
      assert.match(body, new RegExp(`chat ${i} turn 1`));
      const others = chats.map((_, j) => j).filter((j) => j !== i);
      for (const j of others) assert.doesNotMatch(body, new RegExp(`chat ${j} turn`), `chat ${i} sees nothing of chat ${j}`);
    }
  });
});
