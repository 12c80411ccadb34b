// What every agent driver must do, written against the contract in
// src/agents/contract/driver.ts and run against each driver with its real agent and the
// project's fake model: a driver's own test file calls driverContract with a factory.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentEvent } from '../../src/api/events.js';
import type { AgentDriver, AgentSession, SessionSpec } from '../../src/agents/contract/driver.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { DEFAULT_USAGE, type ScriptedReply } from '../fixtures/fake-anthropic.js';
import { BackendChats, sent, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { atListPrice, RecordedReports, runTurn, texts, type Usage } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';

export interface DriverFactory {
  /** The driver's name in test titles. */
  name: string;
  /**
   * A driver whose agents talk to the chat's model and tag their processes with the
   * chat's prefix; `configDir` is the agent's own configuration directory (another
   * machine's, when it is not the chat's).
   */
  driver(chat: BackendChat, configDir: string): AgentDriver;
  /** What the runtime would open the chat's session with. */
  spec(chat: BackendChat, more?: Partial<SessionSpec>): SessionSpec;
  /** Gives the chat's model its next replies. */
  script(chat: BackendChat, ...replies: ScriptedReply[]): void;
}

/** Each test's own budget: a hung turn fails its test instead of the whole run. */
const LIMIT = { timeout: 90_000 };

export function driverContract(factory: DriverFactory): void {
  describe(`${factory.name} keeps the driver contract`, () => {
    let chats: BackendChats;
    const drivers: AgentDriver[] = [];
    before(() => {
      chats = new BackendChats();
    });
    after(async () => {
      await Promise.all(drivers.map((d) => d.dispose()));
      await chats.close();
    });

    const driverFor = (chat: BackendChat, configDir = chat.configDir) => {
      const d = factory.driver(chat, configDir);
      drivers.push(d);
      return d;
    };
    /** A chat, its driver and an open session. */
    const opened = async (more: Partial<SessionSpec> = {}) => {
      const chat = await chats.create();
      const driver = driverFor(chat);
      const reports = new RecordedReports();
      const session = await driver.open(factory.spec(chat, more), reports);
      return { chat, driver, reports, session };
    };
    const bypass = { permissionMode: 'bypassPermissions' as const };
    const nothingLeft = (chat: BackendChat) => assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);

    it('streams deltas, then the whole message once, and returns the turn with its usage', LIMIT, async () => {
      const { chat, driver, session } = await opened();
      assert.equal(driver.unavailable(), null);
      assert.equal(session.state(), 'idle');
      factory.script(chat, { kind: 'thinking', thinking: ['weighing ', 'options'], text: ['the ', 'verdict'] });
      const t = await runTurn(session, 'decide');
      assert.deepEqual(t.result, {
        ok: true,
        stopReason: 'end_turn',
        usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: atListPrice({ inputTokens: 10, outputTokens: 5 }) },
      });
      assert.deepEqual(texts(t.events, 'thinking_delta'), ['weighing ', 'options']);
      assert.deepEqual(texts(t.events, 'text_delta'), ['the ', 'verdict']);
      const kinds = t.events.map((e) => e.kind);
      assert.ok(kinds.lastIndexOf('thinking_delta') < kinds.indexOf('text_delta'));
      const messages = t.events.filter((e): e is Extract<AgentEvent, { kind: 'message' }> => e.kind === 'message');
      assert.equal(messages.length, 1, 'the whole message comes once');
      assert.ok(kinds.lastIndexOf('text_delta') < kinds.indexOf('message'), 'after its deltas');
      assert.deepEqual(messages[0]!.parts, [
        { type: 'thinking', text: 'weighing options' },
        { type: 'text', text: 'the verdict' },
      ]);
      assert.ok(!kinds.includes('usage') && !kinds.includes('error'), 'usage and the outcome are the runtime’s to send');
      assert.equal(session.state(), 'idle');
    });

    it('reports a tool call before its result, and the tool runs in the worktree', LIMIT, async () => {
      const { chat, session } = await opened(bypass);
      factory.script(
        chat,
        { kind: 'tool_use', name: 'Bash', input: { command: 'echo built > built.txt && cat built.txt', description: 'build' } },
        { kind: 'text', chunks: ['Built it.'] },
      );
      const t = await runTurn(session, 'build it');
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      const callAt = t.events.findIndex((e) => e.kind === 'tool_call');
      const resultAt = t.events.findIndex((e) => e.kind === 'tool_result');
      assert.ok(callAt >= 0 && callAt < resultAt, 'the call, then its result');
      const call = t.events[callAt] as Extract<AgentEvent, { kind: 'tool_call' }>;
      const result = t.events[resultAt] as Extract<AgentEvent, { kind: 'tool_result' }>;
      assert.equal(call.name, 'Bash');
      assert.deepEqual(call.input, { command: 'echo built > built.txt && cat built.txt', description: 'build' });
      assert.equal(result.id, call.id);
      assert.equal(result.isError, false);
      assert.match(result.output, /built/);
      assert.equal(t.events.filter((e) => e.kind === 'tool_call').length, 1, 'the call is rendered once');
      assert.equal(texts(t.events, 'text_delta').join(''), 'Built it.');
      assert.equal((await readFile(path.join(chat.worktree, 'built.txt'), 'utf8')).trim(), 'built');
    });

    it("returns each turn's usage once, with the model's figures, and reports the agent's resume token", LIMIT, async () => {
      const { chat, session, reports } = await opened();
      factory.script(chat, { kind: 'text', chunks: ['one'], usage: { input_tokens: 100, output_tokens: 10 } });
      const one = await runTurn(session, 'count me');
      factory.script(chat, {
        kind: 'text',
        chunks: ['two'],
        usage: { input_tokens: 200, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 },
      });
      const two = await runTurn(session, 'count me again');
      assert.deepEqual(one.result.usage, { inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: atListPrice({ inputTokens: 100, outputTokens: 10 }) });
      const second = { inputTokens: 200, outputTokens: 20, cacheReadTokens: 1000, cacheWriteTokens: 50 };
      assert.deepEqual(two.result.usage, { ...second, costUsd: atListPrice(second) });
      assert.ok(reports.last, 'a resume token was reported');
      assert.deepEqual(new Set(reports.tokens), new Set([reports.last]), 'one conversation, one token');
      assert.equal(reports.last, chat.fake.mainRequests().at(-1)!.headers['x-claude-code-session-id'], 'the token is the one the agent uses');
    });

    it('says busy to a second prompt while a turn runs', LIMIT, async () => {
      const { chat, session } = await opened();
      factory.script(chat, { kind: 'stall', chunks: ['slow'] });
      const controller = new AbortController();
      let streaming!: () => void;
      const started = new Promise<void>((r) => (streaming = r));
      const first = runTurn(session, 'slow one', { signal: controller.signal, onEvent: (e) => e.kind === 'text_delta' && streaming() });
      await started;
      assert.equal(session.state(), 'turn');
      const second = await runTurn(session, 'impatient');
      assert.deepEqual(second.result, { ok: false, code: 'busy', error: 'a turn is already running in this session', usage: null });
      assert.deepEqual(second.events, []);
      controller.abort();
      assert.equal((await first).result.ok, false);
    });

    it('throws AgentStartError with a clear message when the executable cannot start', LIMIT, async () => {
      const chat = await chats.create();
      const driver = driverFor(chat);
      const missing = path.join(chat.worktree, 'no-such-claude');
      await assert.rejects(driver.open(factory.spec(chat, { installPath: missing }), new RecordedReports()), (err) => {
        assert.ok(err instanceof AgentStartError, String(err));
        assert.match(err.message, /cannot execute .*no-such-claude/);
        assert.equal(err.scope, 'node');
        return true;
      });
      // A failed start is the runtime's to count: the driver itself stays usable.
      assert.equal(driver.unavailable(), null);
      const projects = path.join(chat.configDir, 'projects');
      assert.ok(!existsSync(projects) || (await readdir(projects)).length === 0, 'nothing of a conversation was written');
      nothingLeft(chat);
    });

    it('stops a turn mid-stream promptly, and the next turn works and sees the conversation', LIMIT, async () => {
      const { chat, driver, session } = await opened();
      factory.script(chat, { kind: 'text', chunks: ['warming up'] });
      await runTurn(session, 'before the abort');
      const pid = session.pid();

      factory.script(chat, { kind: 'stall', chunks: ['partial '] });
      const controller = new AbortController();
      let abortedAt = 0;
      const t = await runTurn(session, 'this one stalls', {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.kind === 'text_delta' && !abortedAt) {
            abortedAt = performance.now();
            controller.abort();
          }
        },
      });
      const took = performance.now() - abortedAt;
      assert.ok(abortedAt > 0, 'the turn streamed');
      assert.equal(t.result.ok, false);
      assert.ok(!t.result.ok && t.result.code === 'aborted' && t.result.error === 'aborted', JSON.stringify(t.result));
      assert.ok(took < 3_000, `the abort took ${took.toFixed(0)} ms`);
      assert.equal(session.state(), 'idle', 'an abort is not a crash');
      if (driver.warm) assert.equal(session.pid(), pid, 'still the same warm process');

      factory.script(chat, { kind: 'text', chunks: ['back again'] });
      const next = await runTurn(session, 'after the abort');
      assert.equal(next.result.ok, true, JSON.stringify(next.result));
      assert.deepEqual(texts(next.events, 'text_delta'), ['back again']);
      const last = sent(chat.fake.mainRequests().at(-1));
      assert.match(last, /before the abort/);
      assert.match(last, /this one stalls/);
    });

    it("counts a stopped turn's tokens and cost from the same figures, and the next turn only its own", LIMIT, async () => {
      const { chat, session } = await opened();
      factory.script(chat, { kind: 'text', chunks: ['full'], usage: { input_tokens: 20, output_tokens: 10 } });
      assert.equal((await runTurn(session, 'a full turn')).result.ok, true);

      factory.script(chat, { kind: 'stall', chunks: ['a partial answer that streams for a while before the stop '] });
      const controller = new AbortController();
      const stopped = await runTurn(session, 'a stopped turn', {
        signal: controller.signal,
        onEvent: (e) => e.kind === 'text_delta' && controller.abort(),
      });
      assert.ok(!stopped.result.ok && stopped.result.code === 'aborted');
      const u = stopped.result.usage as Usage;
      assert.ok(u, 'a stopped turn has its usage');
      // The stopped call's input as the API reported it; its output as Claude Code estimates it from what streamed.
      assert.equal(u.inputTokens, DEFAULT_USAGE.input_tokens);
      assert.ok(u.outputTokens > 0, JSON.stringify(u));
      assert.equal(u.costUsd, atListPrice(u), `cost ${u.costUsd} for ${u.inputTokens} in, ${u.outputTokens} out`);

      factory.script(chat, { kind: 'text', chunks: ['again'], usage: { input_tokens: 20, output_tokens: 10 } });
      const next = await runTurn(session, 'after the stop');
      assert.equal(next.result.ok, true);
      assert.deepEqual(next.result.usage, { inputTokens: 20, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: atListPrice({ inputTokens: 20, outputTokens: 10 }) });
    });

    it('returns crashed for an agent killed mid-turn, closes the session, leaves no process, and a fresh open works', LIMIT, async () => {
      const { chat, driver, session } = await opened(bypass);
      factory.script(chat, { kind: 'text', chunks: ['before the kill: MOOSE'] });
      await runTurn(session, 'the word is MOOSE');

      // The tool leaves a process running in the background, in a session of its own.
      const marker = path.join(chat.worktree, 'left-running.txt');
      await writeFile(marker, '');
      factory.script(
        chat,
        { kind: 'tool_use', name: 'Bash', input: { command: `tail -f /dev/null ${marker} > /dev/null 2>&1 &\necho started`, description: 'background' } },
        { kind: 'stall', chunks: ['working on it'] },
      );
      let killed = 0;
      let killedAt = 0;
      const t = await runTurn(session, 'run forever', {
        onEvent: (e, s) => {
          if (e.kind === 'text_delta' && !killed) {
            killed = s.pid()!;
            killedAt = performance.now();
            process.kill(killed, 'SIGKILL');
          }
        },
      });
      const took = performance.now() - killedAt;
      assert.ok(killed > 0, 'the turn reached the stalled stream');
      assert.ok(!t.result.ok && t.result.code === 'crashed', JSON.stringify(t.result));
      assert.match(t.result.error, /SIGKILL|signal 9/);
      assert.ok(took < 5_000, `the turn ended ${took.toFixed(0)} ms after the kill`);
      assert.ok(!t.events.some((e) => e.kind === 'error'), 'the failure is returned, not emitted');
      assert.equal(session.state(), 'closed');
      assert.equal(session.pid(), null);
      assert.deepEqual((await runTurn(session, 'still there?')).result.ok, false);
      // Nothing survives: not the agent, its group, its tagged processes, nor the tool's background process.
      await waitUntil('the agent and its group to be gone', () => !alive(killed) && !alive(-killed));
      await waitUntil('every tagged process to be gone', () => taggedProcesses({ prefix: chat.tagPrefix }).length === 0);
      const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(marker));
      assert.deepEqual(leftovers, []);

      const fresh = await driver.open(factory.spec(chat), new RecordedReports());
      factory.script(chat, { kind: 'text', chunks: ['recovered'] });
      const next = await runTurn(fresh, 'are you there?');
      assert.equal(next.result.ok, true, JSON.stringify(next.result));
      assert.deepEqual(texts(next.events, 'text_delta'), ['recovered']);
      assert.doesNotMatch(sent(chat.fake.mainRequests().at(-1)), /MOOSE/, 'a fresh session carries no history');
    });

    it('resumes from PostgreSQL alone, on an empty configuration directory, and counts only the new turn', LIMIT, async () => {
      const { chat, session, reports } = await opened();
      factory.script(chat, { kind: 'text', chunks: ['I will keep OCELOT'] });
      await runTurn(session, 'keep the word OCELOT');
      factory.script(chat, { kind: 'text', chunks: ['kept'] });
      await runTurn(session, 'and the number 7');
      await session.close();
      const token = reports.last;
      assert.ok(token);

      const elsewhere = driverFor(chat, await chats.configDir());
      const again = new RecordedReports();
      const resumed = await elsewhere.open(factory.spec(chat, { resume: token }), again);
      factory.script(chat, { kind: 'text', chunks: ['OCELOT and 7'] });
      const t = await runTurn(resumed, 'what did I give you?');
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      const last = sent(chat.fake.mainRequests().at(-1));
      for (const earlier of ['keep the word OCELOT', 'I will keep OCELOT', 'and the number 7', 'kept', 'what did I give you?']) {
        assert.ok(last.includes(earlier), `the resumed request carries "${earlier}"`);
      }
      assert.equal(again.last, token, 'the same conversation goes on');
      assert.deepEqual(t.result.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: atListPrice({ inputTokens: 10, outputTokens: 5 }) });
    });

    it('ends a turn in flight on close, leaves no process, and closes once', LIMIT, async () => {
      const { chat, session } = await opened();
      factory.script(chat, { kind: 'stall', chunks: ['never finished'] });
      let pid = 0;
      let closing: Promise<void> | null = null;
      const t = await runTurn(session, 'closed under me', {
        onEvent: (e, s) => {
          if (e.kind === 'text_delta' && !closing) {
            pid = s.pid()!;
            closing = s.close();
          }
        },
      });
      assert.ok(closing, 'the turn streamed');
      await closing;
      assert.ok(!t.result.ok && t.result.code === 'closed', JSON.stringify(t.result));
      assert.equal(session.state(), 'closed');
      assert.equal(session.pid(), null);
      await session.close();
      // Killed processes take a moment to go, the group's others after its leader.
      await waitUntil('the agent and its group to be gone', () => !alive(pid) && !alive(-pid), 2_000);
      nothingLeft(chat);
      const after = await runTurn(session, 'anyone?');
      assert.ok(!after.result.ok && after.result.code === 'closed');
    });

    it('closes every session on dispose, and opens none after', LIMIT, async () => {
      const chat = await chats.create();
      const driver = driverFor(chat);
      const sessions: AgentSession[] = [];
      for (let i = 0; i < 2; i++) sessions.push(await driver.open(factory.spec(chat), new RecordedReports()));
      factory.script(chat, { kind: 'text', chunks: ['one turn'] });
      assert.equal((await runTurn(sessions[0]!, 'a turn')).result.ok, true);
      await driver.dispose();
      await driver.dispose();
      assert.deepEqual(sessions.map((s) => s.state()), ['closed', 'closed']);
      nothingLeft(chat);
      await assert.rejects(driver.open(factory.spec(chat), new RecordedReports()), AgentStartError);
    });
  });
}
