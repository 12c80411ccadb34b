// What every agent driver must do, written against the contract in
// src/agents/contract/driver.ts and run against each driver with its real agent and the
// project's fake model: a driver's own test file calls driverContract with a factory.

import { after, before, describe, it as nodeIt, type TestOptions } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentEvent, PermissionOptionKind } from '../../src/api/events.js';
import type { AgentDriver, AgentSession, SessionSpec } from '../../src/agents/contract/driver.js';
import type { PermissionMode } from '../../src/api/views.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { DEFAULT_USAGE, type RecordedRequest, type ScriptedReply } from '../fixtures/fake-anthropic.js';
import { BackendChats, sent, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { atListPrice, ChatSession, RecordedReports, runTurn, stoppedTurn, texts, type Usage } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';
import { pick, ScriptedPerson, untilStopped } from '../fixtures/scripted-person.js';
import { proposePlan } from '../fixtures/plan-replies.js';

/** What a case has the model make the agent do, in no agent's words. */
export type ToolIntent =
  | { kind: 'shell'; command: string; description: string }
  | { kind: 'write'; path: string; content: string };

/** An agent's own tool call for an intent: the model's reply that makes it, and how the driver shows it. */
export interface ToolCallScript {
  reply: ScriptedReply;
  /** The call's name and input, as its `tool_call` event gives them. */
  name: string;
  input: unknown;
  /** The tool a request to a person about the call names. */
  askedTool: string;
}

/** Claude Code's tools: Bash and Write, shown and asked about under their own names. */
export function claudeToolCall(_chat: BackendChat, intent: ToolIntent): ToolCallScript {
  const [name, input]: [string, Record<string, unknown>] =
    intent.kind === 'shell' ? ['Bash', { command: intent.command, description: intent.description }] : ['Write', { file_path: intent.path, content: intent.content }];
  return { reply: { kind: 'tool_use', name, input }, name, input, askedTool: name };
}

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
  /**
   * Whether the agent tells the driver which command prefix it would make a standing
   * answer of; without it, a standing answer covers the very command asked about.
   */
  suggestsPrefixes?: boolean;
  /** The agent's tool call for an intent, in a session of the permission mode given; Claude Code's by default. */
  toolCall?(chat: BackendChat, intent: ToolIntent, mode: PermissionMode | null): ToolCallScript;
  /** The cost the driver reports for the model's figures, null for an agent that reports none; Claude Code's list price by default. */
  price?(usage: Partial<Usage>): number | null;
  /** The agent's id for the conversation as a model request carries it, to compare with its resume token. */
  sessionIdSent?(req: RecordedRequest): unknown;
  /**
   * Cases that cannot hold for this driver's agent, by title, each with why: they are
   * reported as skipped with the reason, never passed.
   */
  cannotHold?: Record<string, string>;
}

/** Each test's own budget: a hung turn fails its test instead of the whole run. */
const LIMIT = { timeout: 90_000 };

export function driverContract(factory: DriverFactory): void {
  const toolCall = (chat: BackendChat, intent: ToolIntent, mode: PermissionMode | null) => (factory.toolCall ?? claudeToolCall)(chat, intent, mode);
  const price = factory.price ?? atListPrice;
  const sessionIdSent = factory.sessionIdSent ?? ((req: RecordedRequest) => req.headers['x-claude-code-session-id']);
  const it = (title: string, options: TestOptions, fn: () => Promise<void>) => {
    const why = factory.cannotHold?.[title];
    return nodeIt(title, why ? { ...options, skip: `cannot hold for ${factory.name}: ${why}` } : options, fn);
  };
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
        usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 10, outputTokens: 5 }) },
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
      const built = toolCall(chat, { kind: 'shell', command: 'echo built > built.txt && cat built.txt', description: 'build' }, bypass.permissionMode);
      factory.script(chat, built.reply, { kind: 'text', chunks: ['Built it.'] });
      const t = await runTurn(session, 'build it');
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      const callAt = t.events.findIndex((e) => e.kind === 'tool_call');
      const resultAt = t.events.findIndex((e) => e.kind === 'tool_result');
      assert.ok(callAt >= 0 && callAt < resultAt, 'the call, then its result');
      const call = t.events[callAt] as Extract<AgentEvent, { kind: 'tool_call' }>;
      const result = t.events[resultAt] as Extract<AgentEvent, { kind: 'tool_result' }>;
      assert.equal(call.name, built.name);
      assert.deepEqual(call.input, built.input);
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
      assert.deepEqual(one.result.usage, { inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 100, outputTokens: 10 }) });
      const second = { inputTokens: 200, outputTokens: 20, cacheReadTokens: 1000, cacheWriteTokens: 50 };
      assert.deepEqual(two.result.usage, { ...second, costUsd: price(second) });
      assert.ok(reports.last, 'a resume token was reported');
      assert.deepEqual(new Set(reports.tokens), new Set([reports.last]), 'one conversation, one token');
      assert.equal(reports.last, sessionIdSent(chat.fake.mainRequests().at(-1)!), 'the token is the one the agent uses');
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
      const t = await stoppedTurn((options) => runTurn(session, 'this one stalls', options));
      assert.ok(t.stopMs !== null, 'the turn streamed');
      assert.equal(t.result.ok, false);
      assert.ok(!t.result.ok && t.result.code === 'aborted' && t.result.error === 'aborted', JSON.stringify(t.result));
      assert.ok(t.stopMs < 3_000, `the abort took ${t.stopMs.toFixed(0)} ms`);
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
      assert.equal(u.costUsd, price(u), `cost ${u.costUsd} for ${u.inputTokens} in, ${u.outputTokens} out`);

      factory.script(chat, { kind: 'text', chunks: ['again'], usage: { input_tokens: 20, output_tokens: 10 } });
      const next = await runTurn(session, 'after the stop');
      assert.equal(next.result.ok, true);
      assert.deepEqual(next.result.usage, { inputTokens: 20, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 20, outputTokens: 10 }) });
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
        toolCall(chat, { kind: 'shell', command: `tail -f /dev/null ${marker} > /dev/null 2>&1 &\necho started`, description: 'background' }, bypass.permissionMode).reply,
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
      assert.deepEqual(t.result.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 10, outputTokens: 5 }) });
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

    describe('asks a person before its agent goes on', () => {
      const asking = { permissionMode: 'default' as const };
      const planning = { permissionMode: 'plan' as const };
      const ACP_KINDS: PermissionOptionKind[] = ['allow_once', 'allow_always', 'reject_once', 'reject_always'];
      const toolEvents = (events: AgentEvent[]) => ({
        call: events.find((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call'),
        result: events.find((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result'),
      });
      it('asks before writing a file, with the diff and options of ACP kinds, and writes it when allowed', LIMIT, async () => {
        const { chat, session } = await opened(asking);
        const file = path.join(chat.worktree, 'allowed.txt');
        const write = toolCall(chat, { kind: 'write', path: file, content: 'yes\n' }, asking.permissionMode);
        factory.script(chat, write.reply, { kind: 'text', chunks: ['wrote it'] });
        const person = new ScriptedPerson(pick('allow_once'));
        const t = await runTurn(session, 'write it', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        const ask = person.only();
        const { call, result } = toolEvents(t.events);
        assert.equal(ask.kind, 'permission');
        assert.equal(ask.tool, write.askedTool);
        assert.equal(ask.toolCallId, call?.id, 'the request names its tool call');
        assert.deepEqual(ask.details?.diffs, [{ path: file, oldText: null, newText: 'yes\n' }]);
        assert.ok(ask.options.length >= 2 && ask.options.every((o) => ACP_KINDS.includes(o.kind) && o.label), JSON.stringify(ask.options));
        assert.equal(new Set(ask.options.map((o) => o.id)).size, ask.options.length, 'option ids are distinct');
        assert.ok(ask.options.some((o) => o.kind === 'reject_once'));
        assert.equal(await readFile(file, 'utf8'), 'yes\n');
        assert.ok(result && result.id === call?.id && !result.isError, JSON.stringify(result));
        assert.equal(texts(t.events, 'text_delta').join(''), 'wrote it');
      });

      it('writes nothing when denied, and the agent hears the person’s words', LIMIT, async () => {
        const { chat, session } = await opened(asking);
        const file = path.join(chat.worktree, 'denied.txt');
        factory.script(chat, toolCall(chat, { kind: 'write', path: file, content: 'no\n' }, asking.permissionMode).reply, { kind: 'text', chunks: ['as you wish'] });
        const person = new ScriptedPerson(pick('reject_once', { message: 'put it in NOTES-ELSEWHERE.md instead' }));
        const t = await runTurn(session, 'write it', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        person.only();
        assert.equal(existsSync(file), false);
        const { call, result } = toolEvents(t.events);
        assert.equal(result?.isError, true);
        assert.match(toolResultSent(chat.fake.mainRequests().at(-1), call!.id), /put it in NOTES-ELSEWHERE\.md instead/);
      });

      it('asks before running a command, with the command, where it runs, and the prefix a standing answer would cover', LIMIT, async () => {
        const { chat, session } = await opened(asking);
        const command = 'npm test -- --grep parser';
        const run = toolCall(chat, { kind: 'shell', command, description: 'run the tests' }, asking.permissionMode);
        factory.script(chat, run.reply, { kind: 'text', chunks: ['not then'] });
        const person = new ScriptedPerson(pick('reject_once'));
        const t = await runTurn(session, 'test it', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        const ask = person.only();
        assert.equal(ask.kind, 'permission');
        assert.equal(ask.subject, command);
        assert.deepEqual(ask.rule, { tool: run.askedTool, prefix: factory.suggestsPrefixes === false ? command : 'npm test' });
        assert.equal(ask.details?.command, command);
        assert.equal(ask.details?.cwd, chat.worktree);
        assert.ok(ask.options.some((o) => o.kind === 'allow_always'), 'a standing answer is offered');
      });

      it("puts the agent's questions with their choices, and the agent gets the answers", LIMIT, async () => {
        const { chat, session } = await opened(asking);
        const questions = [
          { question: 'Which colour?', header: 'Colour', options: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }], multiSelect: false },
        ];
        factory.script(chat, { kind: 'tool_use', name: 'AskUserQuestion', input: { questions } }, { kind: 'text', chunks: ['teal it is'] });
        const person = new ScriptedPerson(pick('allow_once', { answers: { 'Which colour?': 'teal' } }));
        const t = await runTurn(session, 'ask me', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        const ask = person.only();
        assert.equal(ask.kind, 'question');
        assert.deepEqual(ask.questions, [
          { question: 'Which colour?', header: 'Colour', choices: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }], multiSelect: false, freeText: true },
        ]);
        const { call, result } = toolEvents(t.events);
        assert.equal(result?.isError, false);
        const answered = toolResultSent(chat.fake.mainRequests().at(-1), call!.id);
        assert.match(answered, /Which colour\?/);
        assert.match(answered, /teal/);
        assert.doesNotMatch(answered, /\bred\b/, 'only the answer, not the choices');
      });

      it('asks approval of a plan with its text, and once approved the agent leaves plan mode, for this turn only', LIMIT, async () => {
        const chat = await chats.create();
        const session = new ChatSession(driverFor(chat), factory.spec(chat, planning));
        const plan = '# Plan\n1. write PLANNED.txt\n';
        factory.script(chat, ...proposePlan(plan), { kind: 'text', chunks: ['on it'] });
        const person = new ScriptedPerson(pick('allow_once'));
        const t = await session.turn('plan it', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        // Writing the plan file is plan mode's own business: only leaving it is asked.
        const ask = person.only();
        assert.equal(ask.kind, 'plan');
        assert.equal(ask.tool, 'ExitPlanMode');
        assert.equal(ask.plan, plan);
        assert.deepEqual(ask.options.map((o) => o.kind).sort(), ['allow_once', 'reject_once']);
        const call = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call' && e.name === 'ExitPlanMode');
        const result = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result' && e.id === call?.id);
        assert.equal(result?.isError, false);
        assert.match(toolResultSent(chat.fake.mainRequests().at(-1), call!.id), /approved/);
        assert.ok(t.events.some((e) => e.kind === 'mode' && e.mode === 'default'), 'the agent left plan mode');

        // The chat is still in plan mode: so is its next turn.
        factory.script(chat, { kind: 'text', chunks: ['planning again'] });
        const next = await session.turn('and now?', { with: planning });
        assert.equal(next.result.ok, true, JSON.stringify(next.result));
        assert.match(sentSince(chat.fake.mainRequests().at(-1), 'and now?'), /Plan mode is active/);
        await session.close();
      });

      it('keeps the agent planning when its plan is not approved, with the person’s note', LIMIT, async () => {
        const { chat, session } = await opened(planning);
        factory.script(chat, ...proposePlan('# Plan\n1. everything at once\n'), { kind: 'text', chunks: ['replanning'] });
        const person = new ScriptedPerson(pick('reject_once', { message: 'split it into TWO-STEPS' }));
        const t = await runTurn(session, 'plan it', { answer: person.answer });
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        assert.equal(person.only().kind, 'plan');
        const call = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call' && e.name === 'ExitPlanMode');
        const told = toolResultSent(chat.fake.mainRequests().at(-1), call!.id);
        assert.match(told, /keep planning/i);
        assert.match(told, /split it into TWO-STEPS/);
        assert.ok(!t.events.some((e) => e.kind === 'mode'), 'still in plan mode');
      });

      it('stops a turn waiting for an answer promptly: the request sees the stop, and nothing is written', LIMIT, async () => {
        const { chat, driver, session } = await opened(asking);
        factory.script(chat, { kind: 'text', chunks: ['warm'] });
        await runTurn(session, 'first');
        const pid = session.pid();
        const file = path.join(chat.worktree, 'never.txt');
        factory.script(chat, toolCall(chat, { kind: 'write', path: file, content: 'x' }, asking.permissionMode).reply);
        const controller = new AbortController();
        let abortedAt = 0;
        const person = new ScriptedPerson(
          untilStopped(() => {
            abortedAt = performance.now();
            controller.abort();
          }),
        );
        const t = await runTurn(session, 'write and wait', { signal: controller.signal, answer: person.answer });
        const took = performance.now() - abortedAt;
        person.only();
        assert.deepEqual(person.answers, [{ outcome: 'cancelled', message: 'the turn was stopped' }], 'the request saw the turn stop');
        assert.ok(!t.result.ok && t.result.code === 'aborted', JSON.stringify(t.result));
        assert.ok(took < 3_000, `the stop took ${took.toFixed(0)} ms`);
        assert.equal(existsSync(file), false);
        assert.equal(session.state(), 'idle', 'a stop is not a crash');
        if (driver.warm) assert.equal(session.pid(), pid, 'still the same warm process');

        factory.script(chat, { kind: 'text', chunks: ['back'] });
        const next = await runTurn(session, 'after the stop');
        assert.equal(next.result.ok, true, JSON.stringify(next.result));
        await session.close();
        await waitUntil('every tagged process to be gone', () => taggedProcesses({ prefix: chat.tagPrefix }).length === 0);
      });

      it('stops the turn, saying why, when a request cannot be put to anyone, and the session goes on', LIMIT, async () => {
        const { chat, session } = await opened(asking);
        const file = path.join(chat.worktree, 'unasked.txt');
        factory.script(chat, toolCall(chat, { kind: 'write', path: file, content: 'x' }, asking.permissionMode).reply);
        // The default context: nobody is there to answer.
        const t = await runTurn(session, 'write it');
        assert.ok(!t.result.ok && t.result.code === 'agent_error', JSON.stringify(t.result));
        assert.match(t.result.error, /nobody is there to answer/);
        assert.equal(existsSync(file), false);
        assert.equal(session.state(), 'idle');
        factory.script(chat, { kind: 'text', chunks: ['still here'] });
        const next = await runTurn(session, 'are you there?');
        assert.equal(next.result.ok, true, JSON.stringify(next.result));
      });
    });
  });
}

/** The messages a model request carried from the last one that says `text` on, as JSON text to search: what came with the newest prompt. */
function sentSince(req: RecordedRequest | undefined, text: string): string {
  assert.ok(req, 'the model was called');
  const messages = (req.body?.messages ?? []) as unknown[];
  const from = messages.map((m) => JSON.stringify(m).includes(text)).lastIndexOf(true);
  assert.ok(from >= 0, `no message says ${text}`);
  return JSON.stringify(messages.slice(from));
}

/** What a model request sent back as the result of tool call `id`, as text. */
function toolResultSent(req: RecordedRequest | undefined, id: string): string {
  assert.ok(req, 'the model was called');
  const messages = (req.body?.messages ?? []) as Array<{ content: unknown }>;
  for (const m of messages) {
    if (!Array.isArray(m.content)) continue;
    for (const block of m.content as Array<{ type?: string; tool_use_id?: string; content?: unknown }>) {
      if (block.type === 'tool_result' && block.tool_use_id === id) return typeof block.content === 'string' ? block.content : JSON.stringify(block.content);
    }
  }
  assert.fail(`no result of ${id} was sent`);
}
