// ClaudePtyBackend driving the real Claude Code CLI under a pseudo-terminal against the
// fake model server, on a real PostgreSQL and real git repositories.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudePtyBackend, type ClaudePtyBackendDeps } from '../../src/agents/claude/pty/claude-pty-backend.js';
import { ClaudeSdkBackend } from '../../src/agents/claude/sdk/claude-sdk-backend.js';
import type { AgentEvent } from '../../src/api/events.js';
import type { AgentBackend, EnsureSessionOpts, TurnResult } from '../../src/agents/contract/agent-backend.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { bundledClaudePath } from '../../src/runtime/routing/agent-registry.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { DEFAULT_USAGE, lastUserText } from '../fixtures/fake-anthropic.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { BackendChats, sent, sessionOpts, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { alive } from '../fixtures/processes.js';

let db: TestSchema;
const backends: AgentBackend[] = [];
let chats: BackendChats;
const log = pino({ level: 'silent' });
const claude = bundledClaudePath()!;
/** Each test's own budget: a hung turn fails its test instead of the whole run. */
const LIMIT = { timeout: 90_000 };

before(async () => {
  db = await testSchema('claude_pty');
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

function ptyFor(chat: Chat, extra: Partial<ClaudePtyBackendDeps> = {}, configDir = chat.configDir): ClaudePtyBackend {
  const b = new ClaudePtyBackend({
    sql: db.sql,
    log,
    chatId: chat.id,
    agent: 'claude',
    installPath: claude,
    env: claudeEnv(chat.fake, configDir),
    processTagPrefix: chat.tagPrefix,
    ...extra,
  });
  backends.push(b);
  return b;
}

function sdkFor(chat: Chat): ClaudeSdkBackend {
  const b = new ClaudeSdkBackend({
    sql: db.sql,
    log,
    chatId: chat.id,
    agent: 'claude',
    installPath: null,
    env: claudeEnv(chat.fake, chat.configDir),
  });
  backends.push(b);
  return b;
}

interface Turn {
  result: TurnResult;
  events: AgentEvent[];
}

async function turn(
  backend: AgentBackend,
  chat: Chat,
  text: string,
  options: { more?: Partial<EnsureSessionOpts>; signal?: AbortSignal; onEvent?: (e: AgentEvent) => void } = {},
): Promise<Turn> {
  const opts = sessionOpts(chat, options.more);
  const handle = await backend.ensureSession(`hearth-${chat.id}`, opts);
  const events: AgentEvent[] = [];
  const result = await backend.prompt(handle, text, {
    signal: options.signal ?? new AbortController().signal,
    worktreePath: chat.worktree,
    model: opts.model,
    onEvent: (e) => {
      events.push(e);
      options.onEvent?.(e);
    },
  });
  return { result, events };
}

const textOf = (events: AgentEvent[]) => events.flatMap((e) => (e.kind === 'text_delta' ? [e.text] : [])).join('');

async function stored(sessionId: string): Promise<string> {
  const store = new PostgresSessionStore(db.sql);
  const [projectKey] = await store.projectKeysOf(sessionId);
  assert.ok(projectKey, `session ${sessionId} is in the store`);
  return JSON.stringify(await store.load({ projectKey, sessionId }));
}

describe('ClaudePtyBackend with the real Claude Code CLI', () => {
  it('holds a three-turn conversation with a tool call, one process per turn and none between', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat);
    const bypass = { more: { permissionMode: 'bypassPermissions' as const } };

    const one = await turn(backend, chat, 'echo: first', bypass);
    assert.deepEqual(one.result, { ok: true });
    assert.equal(textOf(one.events), 'reply to echo: first');
    assert.equal(backend.agentPid(), null, 'no process between turns');
    const first = await row(chat);
    assert.equal(first.backend, 'claude_pty');
    assert.equal(first.status, 'idle');
    assert.ok(first.agent_session_id);

    let toolPid = 0;
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'echo built > built.txt && cat built.txt', description: 'build' } },
      { kind: 'text', chunks: ['Built it.'] },
    );
    const two = await turn(backend, chat, 'build it', {
      ...bypass,
      onEvent: (e) => {
        if (e.kind === 'tool_call') toolPid = backend.agentPid() ?? 0;
      },
    });
    assert.deepEqual(two.result, { ok: true });
    const call = two.events.find((e) => e.kind === 'tool_call') as Extract<AgentEvent, { kind: 'tool_call' }>;
    assert.equal(call.name, 'Bash');
    assert.deepEqual(call.input, { command: 'echo built > built.txt && cat built.txt', description: 'build' });
    const result = two.events.find((e) => e.kind === 'tool_result') as Extract<AgentEvent, { kind: 'tool_result' }>;
    assert.equal(result.id, call.id);
    assert.equal(result.isError, false);
    assert.match(result.output, /built/);
    assert.equal((await readFile(path.join(chat.worktree, 'built.txt'), 'utf8')).trim(), 'built');
    assert.ok(toolPid > 0 && !alive(toolPid), 'the turn’s process is gone');

    const three = await turn(backend, chat, 'echo: third', bypass);
    assert.deepEqual(three.result, { ok: true });
    const last = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['echo: first', 'reply to echo: first', 'build it', 'echo built > built.txt', 'Built it.']) {
      assert.ok(last.includes(earlier), `the third turn's request holds "${earlier}"`);
    }

    const end = await row(chat);
    assert.equal(end.agent_session_id, first.agent_session_id, 'one session across the turns');
    assert.equal(end.status, 'idle');
    // Four model calls of the default usage (10 in, 5 out) at the fake's list prices.
    assert.equal(Number(end.input_tokens), 40);
    assert.equal(Number(end.output_tokens), 20);
    assert.equal(Number(end.cost), 4 * (10 * 4 + 5 * 20) / 1e6);
    const usage = three.events.filter((e) => e.kind === 'usage');
    assert.equal(usage.length, 1, 'one usage event a turn');

    const transcript = await stored(first.agent_session_id!);
    for (const text of ['echo: first', 'build it', 'Built it.', 'reply to echo: third']) assert.ok(transcript.includes(text));
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  it('streams the same events as the SDK path for the same replies', LIMIT, async () => {
    const script = () => [
      { kind: 'thinking' as const, thinking: ['Let me ', 'think.'], text: ['Thought ', 'done.'] },
      { kind: 'tool_use' as const, name: 'Bash', input: { command: 'echo same', description: 'same' }, text: 'Running.' },
      { kind: 'text' as const, chunks: ['All ', 'done.'] },
    ];
    const run = async (make: (c: Chat) => AgentBackend) => {
      const chat = await newChat();
      const backend = make(chat);
      const events: AgentEvent[] = [];
      for (const [i, reply] of script().entries()) {
        chat.fake.enqueue(reply, ...(reply.kind === 'tool_use' ? [{ kind: 'text' as const, chunks: ['ran'] }] : []));
        const t = await turn(backend, chat, `step ${i}`, { more: { permissionMode: 'bypassPermissions' } });
        assert.deepEqual(t.result, { ok: true });
        events.push(...t.events);
      }
      return normalize(events);
    };
    const viaSdk = await run(sdkFor);
    const viaPty = await run((c) => ptyFor(c));
    assert.deepEqual(viaPty, viaSdk);
    assert.ok(viaPty.some((e) => e.kind === 'thinking_delta'));
    assert.ok(viaPty.some((e) => e.kind === 'tool_result'));
  });

  it('stops on Ctrl-C mid-stream, and the next turn sees the interrupted exchange', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat);
    await turn(backend, chat, 'echo: before the abort');

    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const controller = new AbortController();
    const t = await turn(backend, chat, 'this one stalls', {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'text_delta') controller.abort();
      },
    });
    assert.deepEqual(t.result, { ok: false, code: 'aborted', error: 'aborted' });
    assert.equal(backend.isBusy(), false);
    assert.equal((await row(chat)).status, 'idle', 'an abort is not a crash');
    // The stopped call counts as Claude Code estimates it: its input, and output from what streamed, at its prices.
    const usage = t.events.find((e) => e.kind === 'usage') as Extract<AgentEvent, { kind: 'usage' }>;
    assert.equal(usage.inputTokens, DEFAULT_USAGE.input_tokens);
    assert.ok(usage.outputTokens > 0, JSON.stringify(usage));
    assert.equal(usage.costUsd, Number(((usage.inputTokens * 4 + usage.outputTokens * 20) / 1e6).toFixed(10)));
    // Only a CLI that was interrupted, not killed, writes this into its transcript.
    assert.match(await stored((await row(chat)).agent_session_id!), /Request interrupted by user/);

    const after = await turn(backend, chat, 'echo: after the abort');
    assert.deepEqual(after.result, { ok: true });
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /before the abort/);
    assert.match(last, /this one stalls/);
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  /**
   * Starts a turn, stops it once `beforeStop` resolves, and checks the stop ended it
   * before the model was asked, with nothing left running and the session idle.
   */
  async function stopEarly(chat: Chat, backend: ClaudePtyBackend, beforeStop: () => Promise<void>): Promise<void> {
    const handle = await backend.ensureSession(`hearth-${chat.id}`, sessionOpts(chat));
    const controller = new AbortController();
    const running = backend.prompt(handle, 'echo: never answered', {
      signal: controller.signal,
      worktreePath: chat.worktree,
      model: null,
      onEvent: () => {},
    });
    await beforeStop();
    controller.abort();
    assert.deepEqual(await running, { ok: false, code: 'aborted', error: 'aborted' });
    assert.equal(chat.fake.mainRequests().length, 0, 'the model was never asked');
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    assert.equal((await row(chat)).status, 'idle');
  }

  it('stops a turn stopped before its CLI was up, and leaves nothing running', LIMIT, async () => {
    const chat = await newChat();
    await stopEarly(chat, ptyFor(chat), async () => {});
  });

  it('ends a CLI that is running but has said nothing yet at once, without waiting on Ctrl-C', LIMIT, async () => {
    const chat = await newChat();
    // A CLI slow to come up that would not hear Ctrl-C while starting.
    const started = path.join(chat.configDir, 'started');
    const slow = path.join(chat.configDir, 'slow-claude');
    await writeFile(slow, `#!/bin/sh\ntrap '' INT\n: > "${started}"\nsleep 2\nexec "${claude}" "$@"\n`);
    await chmod(slow, 0o755);
    const backend = ptyFor(chat, { installPath: slow, interruptGraceMs: 60_000 });
    await stopEarly(chat, backend, () => waitUntil('the CLI to start', () => existsSync(started)));
  });

  it('ends the whole process group and the tools in sessions of their own when Ctrl-C is not enough', LIMIT, async () => {
    const chat = await newChat();
    // A CLI that ignores Ctrl-C: only the kill after the grace period stops it.
    const stubborn = path.join(chat.configDir, 'stubborn-claude');
    await writeFile(stubborn, `#!/bin/sh\ntrap '' INT\nsetsid tail -f /dev/null &\nexec "${claude}" "$@"\n`);
    await chmod(stubborn, 0o755);
    const backend = ptyFor(chat, { installPath: stubborn, interruptGraceMs: 500 });
    chat.fake.enqueue({ kind: 'stall', chunks: ['stuck '] });
    const controller = new AbortController();
    let seen: number[] = [];
    const t = await turn(backend, chat, 'never stops', {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'text_delta' && !controller.signal.aborted) {
          seen = taggedProcesses({ prefix: chat.tagPrefix });
          controller.abort();
        }
      },
    });
    assert.equal(t.result.ok, false);
    assert.equal((t.result as { code: string }).code, 'aborted');
    assert.ok(seen.length >= 2, `the CLI and the detached tail were running (${seen.length} processes)`);
    await waitUntil('every tagged process to end', () => seen.every((pid) => !alive(pid)));
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  it('reports a CLI killed mid-turn as crashed, leaves nothing behind, and starts fresh next time', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat);
    await turn(backend, chat, 'echo: remember me');
    const before = await row(chat);

    chat.fake.enqueue({ kind: 'stall', chunks: ['about to die '] });
    const t = await turn(backend, chat, 'die now', {
      onEvent: (e) => {
        if (e.kind === 'text_delta') process.kill(backend.agentPid()!, 'SIGKILL');
      },
    });
    assert.equal(t.result.ok, false);
    assert.equal((t.result as { code: string }).code, 'crashed');
    assert.match((t.result as { error: string }).error, /claude exited without finishing the turn \(killed by signal 9\)/);
    assert.ok(t.events.some((e) => e.kind === 'error'));
    assert.equal((await row(chat)).status, 'crashed');
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);

    const again = await turn(backend, chat, 'echo: fresh start');
    assert.deepEqual(again.result, { ok: true });
    const after = await row(chat);
    assert.notEqual(after.agent_session_id, before.agent_session_id, 'a crashed session is not resumed');
    assert.equal(after.status, 'idle');
    assert.doesNotMatch(sent(chat.fake.mainRequests().at(-1)), /remember me/);
  });

  it('resumes on a machine without the local transcript, and catches up a stale one, from PostgreSQL', LIMIT, async () => {
    const chat = await newChat();
    const here = ptyFor(chat);
    await turn(here, chat, 'echo: said here');
    const { agent_session_id: sessionId } = await row(chat);

    // Another machine: an empty configuration directory, the same database.
    const elsewhereDir = await chats.configDir();
    const elsewhere = ptyFor(chat, {}, elsewhereDir);
    const there = await turn(elsewhere, chat, 'echo: said there');
    assert.deepEqual(there.result, { ok: true });
    assert.match(sent(chat.fake.mainRequests().at(-1)), /said here/);
    assert.equal((await row(chat)).agent_session_id, sessionId, 'the same session goes on');
    assert.match(await stored(sessionId!), /reply to echo: said there/);

    // Back here, the local transcript lacks the turn taken elsewhere: the store's copy wins.
    const back = await turn(here, chat, 'echo: back here');
    assert.deepEqual(back.result, { ok: true });
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /said here/);
    assert.match(last, /reply to echo: said there/);

    // Every entry is stored once, however often the transcript moved between machines.
    const store = new PostgresSessionStore(db.sql);
    const [projectKey] = await store.projectKeysOf(sessionId!);
    const entries = (await store.load({ projectKey: projectKey!, sessionId: sessionId! }))!;
    const uuids = entries.flatMap((e) => (typeof e.uuid === 'string' ? [e.uuid] : []));
    assert.equal(new Set(uuids).size, uuids.length);
    const prompts = entries.filter((e) => e.type === 'user' && JSON.stringify(e).includes('echo: said there'));
    assert.equal(prompts.length, 1);
    const local = await readFile(path.join(chat.configDir, 'projects', projectKey!, `${sessionId}.jsonl`), 'utf8');
    assert.equal(local.trim().split('\n').length, entries.length, 'the local transcript and the store hold the same entries');
  });

  it('hands a large message to the CLI intact', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat);
    // Far beyond what a terminal line or a single argument takes, with lines, quotes and astral characters.
    const line = 'echo: "quoted" \\ back-slashed, tabbed\tand 🦄 astral; ';
    const text = Array.from({ length: 6_000 }, (_, i) => `${i} ${line}`).join('\n');
    const t = await turn(backend, chat, text);
    assert.deepEqual(t.result, { ok: true });
    assert.ok(Buffer.byteLength(text) > 300_000);
    assert.equal(lastUserText(chat.fake.mainRequests().at(-1)!), text);
  });

  it('says busy to a second prompt while a turn runs', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat);
    chat.fake.enqueue({ kind: 'stall', chunks: ['slow '] });
    const controller = new AbortController();
    const running = turn(backend, chat, 'slow one', { signal: controller.signal });
    await waitUntil('the turn to start', () => backend.isBusy());
    const handle = await backend.ensureSession(`hearth-${chat.id}`, sessionOpts(chat));
    const second = await backend.prompt(handle, 'me too', {
      signal: new AbortController().signal,
      worktreePath: chat.worktree,
      model: null,
      onEvent: () => {},
    });
    assert.deepEqual(second, { ok: false, code: 'busy', error: 'a turn is already running in this session' });
    controller.abort();
    assert.equal((await running).result.ok, false);
  });

  it('reports down with a clear error when the CLI cannot be executed', LIMIT, async () => {
    const chat = await newChat();
    const backend = ptyFor(chat, { installPath: path.join(chat.configDir, 'no-such-claude') });
    const t = await turn(backend, chat, 'hello');
    assert.equal(t.result.ok, false);
    assert.equal((t.result as { code: string }).code, 'start_failed');
    assert.match((t.result as { error: string }).error, /cannot execute .*no-such-claude/);
    assert.equal(backend.health(), 'down');
    assert.ok(!existsSync(path.join(chat.configDir, 'projects')) || (await readdir(path.join(chat.configDir, 'projects'))).length === 0);
  });
});

/** Events with the ids that differ between two runs (message and tool ids) replaced by their order of appearance. */
function normalize(events: AgentEvent[]): AgentEvent[] {
  const ids = new Map<string, string>();
  const id = (v: string | null) => (v === null ? null : (ids.get(v) ?? (ids.set(v, `id${ids.size}`), ids.get(v)!)));
  return events.map((e) => {
    switch (e.kind) {
      case 'text_delta':
      case 'thinking_delta':
        return { ...e, messageId: id(e.messageId) };
      case 'message':
        return {
          ...e,
          messageId: id(e.messageId),
          parts: e.parts.map((p) => (p.type === 'tool_call' ? { ...p, id: id(p.id)! } : p)),
        };
      case 'tool_call':
      case 'tool_call_delta':
      case 'tool_result':
        return { ...e, id: id(e.id)! };
      default:
        return e;
    }
  });
}
