// ClaudePtyDriver driving the real Claude Code CLI under a pseudo-terminal against the
// fake model server, on a real PostgreSQL and real git repositories: the driver
// contract, then what is the PTY driver's own (a process per turn, Ctrl-C, the local
// transcript kept level with the store, a message too large for a terminal line, a long
// result read whole however busy the server, the permission prompt tool it serves the CLI).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
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
import { pick, ScriptedPerson, type Answer } from '../fixtures/scripted-person.js';
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
  // The CLI's permission prompt tool is told the tool and its input, not the rules Claude Code would suggest.
  suggestsPrefixes: false,
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

  it('reads the whole of a long result from a CLI that exits at once while the server is too busy to read', LIMIT, async () => {
    const chat = await chats.create();
    const dir = chat.configDir;
    // A claude whose final line is long (its answer is repeated in the result) and that exits as soon as it is out.
    const answer = 'a long answer, line after line; '.repeat(15_000);
    const first = { type: 'assistant', message: { id: 'msg_long', role: 'assistant', content: [{ type: 'text', text: 'Here it comes.' }] }, parent_tool_use_id: null };
    const usage = { input_tokens: 1234, output_tokens: 567, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
    const modelUsage = { 'claude-sonnet-4-5': { inputTokens: 1234, outputTokens: 567, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 } };
    const result = { type: 'result', subtype: 'success', is_error: false, result: answer, stop_reason: 'end_turn', num_turns: 1, duration_ms: 1, total_cost_usd: 0.25, usage, modelUsage };
    await writeFile(path.join(dir, 'first.jsonl'), JSON.stringify(first) + '\n');
    await writeFile(path.join(dir, 'result.jsonl'), JSON.stringify(result) + '\n');
    const quick = path.join(dir, 'quick-claude');
    await writeFile(quick, `#!/bin/sh\ncat > /dev/null\ncat "${dir}/first.jsonl"\nsleep 0.2\ncat "${dir}/result.jsonl"\n`);
    await chmod(quick, 0o755);
    const session = await keep(ptyDriver(chat)).open(sessionSpec(chat, { installPath: quick }), new RecordedReports());
    // The server is busy, as on a loaded machine, while the CLI prints its result and exits: nothing reads its output meanwhile.
    const t = await runTurn(session, 'answer at length', {
      onEvent: (e) => {
        if (e.kind !== 'text_delta') return;
        const until = performance.now() + 800;
        while (performance.now() < until);
      },
    });
    assert.ok(Buffer.byteLength(JSON.stringify(result)) > 400_000);
    assert.deepEqual(t.result, {
      ok: true,
      stopReason: 'end_turn',
      usage: { inputTokens: 1234, outputTokens: 567, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.25 },
    }, JSON.stringify(t.result).slice(0, 300));
    assert.deepEqual(t.events.map((e) => e.kind), ['text_delta', 'message']);
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
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

  describe('its permission prompt tool', () => {
    /**
     * A claude that notes what it was started with: its arguments, and its MCP
     * configuration file's path, mode and content as they were while it ran.
     */
    async function notingClaude(chat: BackendChat): Promise<{ installPath: string; seen: () => Promise<{ args: string[]; configPath: string; mode: string; config: any }> }> {
      const dir = path.join(chat.configDir, 'seen');
      await mkdir(dir);
      const installPath = path.join(chat.configDir, 'noting-claude');
      await writeFile(
        installPath,
        [
          '#!/bin/sh',
          `printf '%s\\n' "$@" > "${dir}/args"`,
          'prev=',
          'for a in "$@"; do',
          `  if [ "$prev" = --mcp-config ]; then printf '%s' "$a" > "${dir}/path"; stat -c %a "$a" > "${dir}/mode"; cp "$a" "${dir}/config.json"; fi`,
          '  prev=$a',
          'done',
          `exec "${CLAUDE}" "$@"`,
          '',
        ].join('\n'),
      );
      await chmod(installPath, 0o755);
      const read = (name: string) => readFile(path.join(dir, name), 'utf8');
      return {
        installPath,
        seen: async () => ({
          args: (await read('args')).trimEnd().split('\n'),
          configPath: await read('path'),
          mode: (await read('mode')).trim(),
          config: JSON.parse(await read('config.json')),
        }),
      };
    }

    const initialize = (url: string, headers: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } }),
      });

    it('is named to the CLI in a private file that carries the turn’s secret, gone with the turn, and the secret with it', LIMIT, async () => {
      const chat = await chats.create();
      const claude = await notingClaude(chat);
      const driver = keep(ptyDriver(chat));
      const session = await driver.open(sessionSpec(chat, { installPath: claude.installPath }), new RecordedReports());
      const file = path.join(chat.worktree, 'asked.txt');
      chat.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'asked\n' } }, { kind: 'text', chunks: ['wrote'] });
      const person = new ScriptedPerson(pick('allow_once'));
      const t = await runTurn(session, 'write it', { answer: person.answer });
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      assert.equal(person.only().tool, 'Write', 'the CLI asked through the tool');
      assert.equal(await readFile(file, 'utf8'), 'asked\n');

      const { args, configPath, mode, config } = await claude.seen();
      assert.equal(args[args.indexOf('--permission-prompt-tool') + 1], 'mcp__hearth__permission_prompt');
      assert.ok(!args.includes('--strict-mcp-config'), 'the chat’s own MCP servers stay');
      assert.equal(mode, '600');
      const server = config.mcpServers.hearth;
      assert.equal(server.type, 'http');
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const secret = /^Bearer (.+)$/.exec(server.headers.Authorization)?.[1];
      assert.ok(secret && secret.length >= 40);
      assert.ok(!args.some((a) => a.includes(secret)), 'the secret is not on the command line');
      assert.equal(existsSync(configPath), false, 'the file is gone after the turn');
      assert.equal(existsSync(path.dirname(configPath)), false, 'and the turn’s directory with it');

      // The server is still up for the driver's next turns, but the finished turn's secret opens nothing.
      const res = await initialize(server.url, server.headers);
      assert.equal(res.status, 401);
      await res.body?.cancel();
      assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    });

    it('gives each turn a secret of its own, refuses a wrong or missing one, and stops listening on dispose', LIMIT, async () => {
      const chat = await chats.create();
      const claude = await notingClaude(chat);
      const driver = keep(ptyDriver(chat));
      const session = await driver.open(sessionSpec(chat, { installPath: claude.installPath }), new RecordedReports());
      const secrets: string[] = [];
      let url = '';
      // While a turn's request waits on the person, only that turn's secret opens the server.
      const probing: Answer = async (ask, signal) => {
        const server = (await claude.seen()).config.mcpServers.hearth;
        url = server.url;
        const secret: string = server.headers.Authorization;
        const wrong: Record<string, string>[] = [{}, { Authorization: 'Bearer not-the-secret' }, { Authorization: secret.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')) }, ...secrets.map((s) => ({ Authorization: s }))];
        for (const headers of wrong) {
          const res = await initialize(url, headers);
          assert.equal(res.status, 401, `refused with ${JSON.stringify(headers)}`);
          await res.body?.cancel();
        }
        const res = await initialize(url, { Authorization: secret });
        assert.equal(res.status, 200, 'the turn’s own secret gets in');
        await res.body?.cancel();
        secrets.push(secret);
        return pick('allow_once')(ask, signal);
      };
      for (const name of ['a.txt', 'b.txt']) {
        chat.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: path.join(chat.worktree, name), content: name } }, { kind: 'text', chunks: ['ok'] });
        const person = new ScriptedPerson(probing);
        const t = await runTurn(session, `write ${name}`, { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        assert.equal(person.answers.length, 1);
        assert.equal(await readFile(path.join(chat.worktree, name), 'utf8'), name);
      }
      assert.equal(new Set(secrets).size, 2, 'each turn had a secret of its own, and the earlier one was refused in the later turn');

      await driver.dispose();
      await assert.rejects(initialize(url, { Authorization: secrets[1]! }), 'nothing listens once the driver is disposed');
    });

    it('ends a waiting request and the turn on a stop, even when the answer never comes, and leaves nothing running', LIMIT, async () => {
      const { chat, session } = await chatSession();
      const file = path.join(chat.worktree, 'never.txt');
      chat.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'x' } });
      const controller = new AbortController();
      let stoppedAt = 0;
      // A request the runtime never answers, not even once the turn stops.
      const person = new ScriptedPerson(() => {
        stoppedAt = performance.now();
        controller.abort();
        return new Promise(() => {});
      });
      const t = await session.turn('write and wait', { signal: controller.signal, answer: person.answer });
      const took = performance.now() - stoppedAt;
      assert.ok(!t.result.ok && t.result.code === 'aborted', JSON.stringify(t.result));
      assert.ok(took < 3_000, `the stop took ${took.toFixed(0)} ms`);
      assert.equal(existsSync(file), false);
      assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
      // The CLI saved the interrupted exchange, so the next turn carries on from it.
      const next = await session.turn('echo: after the stop');
      assert.equal(next.result.ok, true, JSON.stringify(next.result));
      assert.match(sent(chat.fake.mainRequests().at(-1)), /write and wait/);
    });

    it('is not displaced by an MCP server of the same name in the chat’s own project', LIMIT, async () => {
      const { chat, session } = await chatSession();
      // A repository that names a server "hearth" and enables its project servers: the command line's server still answers.
      const impostor = { mcpServers: { hearth: { type: 'http', url: 'http://127.0.0.1:9/mcp' } } };
      await writeFile(path.join(chat.worktree, '.mcp.json'), JSON.stringify(impostor));
      await mkdir(path.join(chat.worktree, '.claude'));
      await writeFile(path.join(chat.worktree, '.claude', 'settings.json'), JSON.stringify({ enableAllProjectMcpServers: true }));
      const file = path.join(chat.worktree, 'asked.txt');
      chat.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'x' } }, { kind: 'text', chunks: ['ok'] });
      const person = new ScriptedPerson(pick('reject_once', { message: 'not today' }));
      const t = await session.turn('write it', { answer: person.answer });
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      assert.equal(person.only().tool, 'Write');
      assert.equal(existsSync(file), false);
    });

    it('puts the agent’s questions to a person even when the chat bypasses permissions', LIMIT, async () => {
      const { chat, session } = await chatSession();
      const questions = [{ question: 'Which file?', header: 'File', options: [{ label: 'a', description: 'one' }, { label: 'b', description: 'two' }], multiSelect: false }];
      const file = path.join(chat.worktree, 'bypassed.txt');
      chat.fake.enqueue(
        { kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'x' } },
        { kind: 'tool_use', name: 'AskUserQuestion', input: { questions } },
        { kind: 'text', chunks: ['b then'] },
      );
      const person = new ScriptedPerson(pick('allow_once', { answers: { 'Which file?': 'b' } }));
      const t = await session.turn('ask me', { with: { permissionMode: 'bypassPermissions' }, answer: person.answer });
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      // The write went ahead unasked; only the question came to the person.
      assert.equal(existsSync(file), true);
      assert.equal(person.only().kind, 'question');
      assert.match(sent(chat.fake.mainRequests().at(-1)), /Which file\?.*=.*b/);
    });
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
