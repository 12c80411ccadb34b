// ClaudePtyDriver driving the real Claude Code CLI under a pseudo-terminal against the
// fake model server, on a real PostgreSQL and real git repositories: the driver
// contract, then what is the PTY driver's own (a process per turn, Ctrl-C, the local
// transcript kept level with the store, a message too large for a terminal line).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudePtyDriver, type ClaudePtyDriverDeps } from '../../src/agents/claude/pty/claude-pty-driver.js';
import { ClaudeSdkDriver } from '../../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentEvent } from '../../src/api/events.js';
import type { AgentDriver } from '../../src/agents/contract/driver.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { DEFAULT_USAGE, lastUserText } from '../fixtures/fake-anthropic.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { BackendChats, CLAUDE, sent, sessionSpec, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { atListPrice, ChatSession, RecordedReports, runTurn } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';
import { driverContract } from './driver-contract.js';

let db: TestSchema;
const log = pino({ level: 'silent' });
const LIMIT = { timeout: 90_000 };

before(async () => {
  db = await testSchema('claude_pty');
});
after(async () => {
  await db.drop();
});

function ptyDriver(chat: BackendChat, configDir = chat.configDir, extra: Partial<ClaudePtyDriverDeps> = {}): ClaudePtyDriver {
  return new ClaudePtyDriver({
    log,
    sessionStore: new PostgresSessionStore(db.sql),
    env: claudeEnv(chat.fake, configDir),
    processTagPrefix: chat.tagPrefix,
    ...extra,
  });
}

driverContract({
  name: 'ClaudePtyDriver',
  driver: (chat, configDir) => ptyDriver(chat, configDir),
  spec: sessionSpec,
  script: (chat, ...replies) => chat.fake.enqueue(...replies),
});

const textOf = (events: AgentEvent[]) => events.flatMap((e) => (e.kind === 'text_delta' ? [e.text] : [])).join('');

async function stored(sessionId: string): Promise<string> {
  const store = new PostgresSessionStore(db.sql);
  const [projectKey] = await store.projectKeysOf(sessionId);
  assert.ok(projectKey, `session ${sessionId} is in the store`);
  return JSON.stringify(await store.load({ projectKey, sessionId }));
}

describe('ClaudePtyDriver with the real Claude Code CLI', () => {
  let chats: BackendChats;
  const drivers: AgentDriver[] = [];
  before(() => {
    chats = new BackendChats();
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.dispose()));
    await chats.close();
  });
  const keep = <D extends AgentDriver>(d: D): D => (drivers.push(d), d);
  const chatSession = async (extra: Partial<ClaudePtyDriverDeps> = {}) => {
    const chat = await chats.create();
    const driver = keep(ptyDriver(chat, chat.configDir, extra));
    return { chat, driver, session: new ChatSession(driver, sessionSpec(chat)) };
  };

  it('is cold, and available where node-pty loads', () => {
    const driver = new ClaudePtyDriver({ log, sessionStore: new PostgresSessionStore(db.sql) });
    assert.equal(driver.warm, false);
    assert.equal(driver.backend, 'claude_pty');
    assert.equal(driver.unavailable(), null);
  });

  it('holds a three-turn conversation with a tool call, one process per turn and none between', LIMIT, async () => {
    const { chat, session } = await chatSession();
    const bypass = { with: { permissionMode: 'bypassPermissions' as const } };

    const one = await session.turn('echo: first', bypass);
    assert.equal(one.result.ok, true);
    assert.equal(textOf(one.events), 'reply to echo: first');
    assert.equal(session.pid(), null, 'no process between turns');
    const token = session.reports.last;
    assert.ok(token);

    let toolPid = 0;
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'echo built > built.txt && cat built.txt', description: 'build' } },
      { kind: 'text', chunks: ['Built it.'] },
    );
    const two = await session.turn('build it', {
      ...bypass,
      onEvent: (e, s) => {
        if (e.kind === 'tool_call') toolPid = s.pid() ?? 0;
      },
    });
    assert.equal(two.result.ok, true);
    assert.ok(toolPid > 0 && !alive(toolPid), 'the turn’s process is gone');

    const three = await session.turn('echo: third', bypass);
    assert.equal(three.result.ok, true);
    const last = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['echo: first', 'reply to echo: first', 'build it', 'echo built > built.txt', 'Built it.']) {
      assert.ok(last.includes(earlier), `the third turn's request holds "${earlier}"`);
    }
    assert.deepEqual(new Set(session.reports.tokens), new Set([token]), 'one conversation across the turns');
    // Four model calls of the default usage (10 in, 5 out); the tool's turn made two.
    assert.deepEqual(
      [one, two, three].map((t) => [t.result.usage?.inputTokens, t.result.usage?.outputTokens]),
      [
        [10, 5],
        [20, 10],
        [10, 5],
      ],
    );
    assert.equal(two.result.usage?.costUsd, atListPrice({ inputTokens: 20, outputTokens: 10 }));

    const transcript = await stored(token);
    for (const text of ['echo: first', 'build it', 'Built it.', 'reply to echo: third']) assert.ok(transcript.includes(text));
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  it('streams the same events as the SDK driver for the same replies', LIMIT, async () => {
    const script = () => [
      { kind: 'thinking' as const, thinking: ['Let me ', 'think.'], text: ['Thought ', 'done.'] },
      { kind: 'tool_use' as const, name: 'Bash', input: { command: 'echo same', description: 'same' }, text: 'Running.' },
      { kind: 'text' as const, chunks: ['All ', 'done.'] },
    ];
    const run = async (make: (c: BackendChat) => AgentDriver) => {
      const chat = await chats.create();
      const session = new ChatSession(keep(make(chat)), sessionSpec(chat, { permissionMode: 'bypassPermissions' }));
      const events: AgentEvent[] = [];
      for (const [i, reply] of script().entries()) {
        chat.fake.enqueue(reply, ...(reply.kind === 'tool_use' ? [{ kind: 'text' as const, chunks: ['ran'] }] : []));
        const t = await session.turn(`step ${i}`);
        assert.equal(t.result.ok, true);
        events.push(...t.events);
      }
      return normalize(events);
    };
    const viaSdk = await run((chat) => new ClaudeSdkDriver({ log, sessionStore: new PostgresSessionStore(db.sql), env: claudeEnv(chat.fake, chat.configDir) }));
    const viaPty = await run((chat) => ptyDriver(chat));
    assert.deepEqual(viaPty, viaSdk);
    assert.ok(viaPty.some((e) => e.kind === 'thinking_delta'));
    assert.ok(viaPty.some((e) => e.kind === 'tool_result'));
  });

  it('stops on Ctrl-C mid-stream, so the CLI saves the interrupted exchange', LIMIT, async () => {
    const { chat, session } = await chatSession();
    await session.turn('echo: before the abort');
    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const controller = new AbortController();
    const t = await session.turn('this one stalls', {
      signal: controller.signal,
      onEvent: (e) => e.kind === 'text_delta' && controller.abort(),
    });
    assert.ok(!t.result.ok && t.result.code === 'aborted');
    assert.equal(t.result.usage?.inputTokens, DEFAULT_USAGE.input_tokens);
    // Only a CLI that was interrupted, not killed, writes this into its transcript.
    assert.match(await stored(session.reports.last!), /Request interrupted by user/);
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  /**
   * Starts a turn, stops it once `beforeStop` resolves, and checks the stop ended it
   * before the model was asked, with nothing left running and the session still usable.
   */
  async function stopEarly(chat: BackendChat, driver: ClaudePtyDriver, beforeStop: () => Promise<void>, spec = sessionSpec(chat)): Promise<void> {
    const session = await driver.open(spec, new RecordedReports());
    const controller = new AbortController();
    const running = runTurn(session, 'echo: never answered', { signal: controller.signal });
    await beforeStop();
    controller.abort();
    assert.deepEqual((await running).result, { ok: false, code: 'aborted', error: 'aborted', usage: null });
    assert.equal(chat.fake.mainRequests().length, 0, 'the model was never asked');
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    assert.equal(session.state(), 'idle');
  }

  it('stops a turn stopped before its CLI was up, and leaves nothing running', LIMIT, async () => {
    const chat = await chats.create();
    await stopEarly(chat, keep(ptyDriver(chat)), async () => {});
  });

  it('ends a CLI that is running but has said nothing yet at once, without waiting on Ctrl-C', LIMIT, async () => {
    const chat = await chats.create();
    // A CLI slow to come up that would not hear Ctrl-C while starting.
    const started = path.join(chat.configDir, 'started');
    const slow = path.join(chat.configDir, 'slow-claude');
    await writeFile(slow, `#!/bin/sh\ntrap '' INT\n: > "${started}"\nsleep 2\nexec "${CLAUDE}" "$@"\n`);
    await chmod(slow, 0o755);
    const driver = keep(ptyDriver(chat, chat.configDir, { interruptGraceMs: 60_000 }));
    await stopEarly(chat, driver, () => waitUntil('the CLI to start', () => existsSync(started)), sessionSpec(chat, { installPath: slow }));
  });

  it('ends the whole process group and the tools in sessions of their own when Ctrl-C is not enough', LIMIT, async () => {
    const chat = await chats.create();
    // A CLI that ignores Ctrl-C: only the kill after the grace period stops it.
    const stubborn = path.join(chat.configDir, 'stubborn-claude');
    await writeFile(stubborn, `#!/bin/sh\ntrap '' INT\nsetsid tail -f /dev/null &\nexec "${CLAUDE}" "$@"\n`);
    await chmod(stubborn, 0o755);
    const driver = keep(ptyDriver(chat, chat.configDir, { interruptGraceMs: 500 }));
    const session = await driver.open(sessionSpec(chat, { installPath: stubborn }), new RecordedReports());
    chat.fake.enqueue({ kind: 'stall', chunks: ['stuck '] });
    const controller = new AbortController();
    let seen: number[] = [];
    const t = await runTurn(session, 'never stops', {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'text_delta' && !controller.signal.aborted) {
          seen = taggedProcesses({ prefix: chat.tagPrefix });
          controller.abort();
        }
      },
    });
    assert.ok(!t.result.ok && t.result.code === 'aborted');
    assert.ok(seen.length >= 2, `the CLI and the detached tail were running (${seen.length} processes)`);
    await waitUntil('every tagged process to end', () => seen.every((pid) => !alive(pid)));
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
  });

  it('resumes on a machine without the local transcript, and catches up a stale one, from PostgreSQL', LIMIT, async () => {
    const { chat, session: here } = await chatSession();
    await here.turn('echo: said here');
    const sessionId = here.reports.last!;

    // Another machine: an empty configuration directory, the same database.
    const elsewhere = keep(ptyDriver(chat, await chats.configDir()));
    const thereReports = new RecordedReports();
    const there = await runTurn(await elsewhere.open(sessionSpec(chat, { resume: sessionId }), thereReports), 'echo: said there');
    assert.equal(there.result.ok, true);
    assert.match(sent(chat.fake.mainRequests().at(-1)), /said here/);
    assert.equal(thereReports.last, sessionId, 'the same session goes on');
    assert.match(await stored(sessionId), /reply to echo: said there/);

    // Back here, the local transcript lacks the turn taken elsewhere: the store's copy wins.
    const back = await here.turn('echo: back here');
    assert.equal(back.result.ok, true);
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /said here/);
    assert.match(last, /reply to echo: said there/);

    // Every entry is stored once, however often the transcript moved between machines.
    const store = new PostgresSessionStore(db.sql);
    const [projectKey] = await store.projectKeysOf(sessionId);
    const entries = (await store.load({ projectKey: projectKey!, sessionId }))!;
    const uuids = entries.flatMap((e) => (typeof e.uuid === 'string' ? [e.uuid] : []));
    assert.equal(new Set(uuids).size, uuids.length);
    const prompts = entries.filter((e) => e.type === 'user' && JSON.stringify(e).includes('echo: said there'));
    assert.equal(prompts.length, 1);
    const local = await readFile(path.join(chat.configDir, 'projects', projectKey!, `${sessionId}.jsonl`), 'utf8');
    assert.equal(local.trim().split('\n').length, entries.length, 'the local transcript and the store hold the same entries');
  });

  it('starts a new conversation, and says so, when the one to resume is nowhere', LIMIT, async () => {
    const chat = await chats.create();
    const driver = keep(ptyDriver(chat));
    const lost = '00000000-0000-4000-8000-000000000000';
    const reports = new RecordedReports();
    const t = await runTurn(await driver.open(sessionSpec(chat, { resume: lost }), reports), 'echo: hello again');
    assert.equal(t.result.ok, true);
    const status = t.events.find((e) => e.kind === 'status') as Extract<AgentEvent, { kind: 'status' }>;
    assert.match(status.message, new RegExp(`session ${lost}.*starting a new one`));
    assert.ok(reports.last && reports.last !== lost, 'the new conversation has a token of its own');
  });

  it('hands a large message to the CLI intact', LIMIT, async () => {
    const { chat, session } = await chatSession();
    // Far beyond what a terminal line or a single argument takes, with lines, quotes and astral characters.
    const line = 'echo: "quoted" \\ back-slashed, tabbed\tand 🦄 astral; ';
    const text = Array.from({ length: 6_000 }, (_, i) => `${i} ${line}`).join('\n');
    const t = await session.turn(text);
    assert.equal(t.result.ok, true);
    assert.ok(Buffer.byteLength(text) > 300_000);
    assert.equal(lastUserText(chat.fake.mainRequests().at(-1)!), text);
  });

  it('takes new options between turns without a new session', LIMIT, async () => {
    const { chat, session } = await chatSession();
    await session.turn('echo: on the default model');
    const live = await session.session();
    assert.equal(await live.reconfigure({ worktreePath: chat.worktree, model: 'claude-haiku-4-5', permissionMode: 'plan' }), true);
    const t = await runTurn(live, 'echo: on another');
    assert.equal(t.result.ok, true);
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'claude-haiku-4-5');
    assert.match(sent(chat.fake.mainRequests().at(-1)), /on the default model/);
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
      case 'tool_update':
      case 'tool_result':
        return { ...e, id: id(e.id)! };
      default:
        return e;
    }
  });
}
