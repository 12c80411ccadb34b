// OpencodeDriver driving the real `opencode serve` (opencode-ai, pinned) against the
// scripted model, on real git worktrees and PostgreSQL: the driver contract, with the
// model behind OpenCode's Anthropic provider (its requests are the Messages API the
// contract reads), then what is OpenCode's own through its OpenAI-compatible provider:
// one warm server shared by its sessions, its crash and restart, a change of the chat's
// configuration, resuming on another node, several chats at once, usage and cost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { OpencodeDriver, type OpencodeDriverDeps } from '../../src/agents/opencode/opencode-driver.js';
import { permissionAsk } from '../../src/agents/opencode/opencode-permissions.js';
import { sessionPermission, serverConfig, modelRef } from '../../src/agents/opencode/opencode-config.js';
import { installedFile } from '../../src/agents/installed-package.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import type { SessionSpec } from '../../src/agents/contract/driver.js';
import type { AgentEvent } from '../../src/api/events.js';
import { OpencodeSessions } from '../../src/store/opencode-sessions.js';
import { BackendChats, sent, sessionSpec, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { ChatSession, RecordedReports, runTurn, texts, atListPrice } from '../fixtures/driver-turns.js';
import { forOpencode, opencodeCost, opencodeEnv, opencodeTokens, OPENCODE_MODEL_REF, OPENCODE_PROVIDER } from '../fixtures/opencode-env.js';
import { alive } from '../fixtures/processes.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { driverContract, type ToolCallScript, type ToolIntent } from './driver-contract.js';

const log = pino({ level: 'silent' });
const OPENCODE = installedFile('opencode-ai', 'bin', 'opencode.exe')!;
const LIMIT = { timeout: 120_000 };

let db: TestSchema;
let store: OpencodeSessions;
before(async () => {
  db = await testSchema('opencode_driver');
  store = new OpencodeSessions(db.sql);
});
after(() => db.drop());

/** OpenCode's environment with the chat's model behind its Anthropic provider, priced as Claude Code's list price. */
function anthropicEnv(chat: BackendChat, home: string): Record<string, string> {
  const model = { name: 'Scripted model', tool_call: true, reasoning: true, attachment: false, temperature: false, cost: { input: 4, output: 20, cache_read: 0.2, cache_write: 5 }, limit: { context: 200_000, output: 8_192 } };
  return opencodeEnv(chat.fake, home, {
    more: {
      model: 'scripted/model',
      small_model: 'scripted/model',
      provider: { scripted: { npm: '@ai-sdk/anthropic', name: 'Scripted model', options: { baseURL: `${chat.fake.url}/v1`, apiKey: 'sk-fake' }, models: { model } } },
    },
  });
}

const spec = (chat: BackendChat, more: Partial<SessionSpec> = {}) => sessionSpec(chat, { agent: 'opencode', installPath: OPENCODE, ...more });

/** OpenCode's own tools for an intent: bash for a command, write for a file (asked about as an edit). */
function opencodeToolCall(_chat: BackendChat, intent: ToolIntent): ToolCallScript {
  if (intent.kind === 'shell') {
    const input = { command: intent.command, description: intent.description };
    return { reply: { kind: 'tool_use', name: 'bash', input }, name: 'bash', input, askedTool: 'bash' };
  }
  const input = { filePath: intent.path, content: intent.content };
  return { reply: { kind: 'tool_use', name: 'write', input }, name: 'write', input, askedTool: 'edit' };
}

// The contract's chats each get a driver and so a server of their own; a chat's drivers
// are ended once the next chat's is made, so that one server or two run at a time.
const contractDrivers: Array<{ chat: string; driver: OpencodeDriver }> = [];
driverContract({
  name: 'OpencodeDriver (opencode serve)',
  driver(chat, configDir) {
    for (const d of contractDrivers.filter((d) => d.chat !== chat.id)) void d.driver.dispose();
    const driver = new OpencodeDriver({ log, env: anthropicEnv(chat, configDir), processTagPrefix: chat.tagPrefix, homes: path.join(configDir, 'agents'), sessions: store, abortGraceMs: 2_000 });
    contractDrivers.push({ chat: chat.id, driver });
    return driver;
  },
  spec,
  script: (chat, ...replies) => chat.fake.enqueue(...replies.map((r) => (r.kind === 'from_request' ? r : forOpencode(r)))),
  toolCall: opencodeToolCall,
  price: atListPrice,
  sessionIdSent: (req) => req.headers['x-session-id'] ?? req.headers['x-opencode-session'],
  cannotHold: {
    "counts a stopped turn's tokens and cost from the same figures, and the next turn only its own":
      'OpenCode records no tokens for a step it aborts: a step’s usage comes with its finish, which a stopped stream never reaches, and OpenCode estimates none',
    "puts the agent's questions with their choices, and the agent gets the answers":
      'the case scripts Claude Code’s AskUserQuestion; OpenCode’s question tool takes other fields, and is tested below',
    'asks approval of a plan with its text, and once approved the agent leaves plan mode, for this turn only':
      'OpenCode’s plan agent proposes no plan for approval: leaving it is a change of the chat’s mode',
    'keeps the agent planning when its plan is not approved, with the person’s note':
      'OpenCode’s plan agent proposes no plan for approval: leaving it is a change of the chat’s mode',
  },
});

describe('OpenCode’s configuration of Hearth’s making', () => {
  it('keeps the node’s providers, and sharing, updates and unasked changes off whatever the node says', () => {
    const made = serverConfig(JSON.stringify({ model: 'p/m', share: 'auto', autoupdate: true, permission: { bash: 'allow', read: 'allow' }, provider: { p: {} } }));
    assert.equal(made.model, 'p/m');
    assert.deepEqual(made.provider, { p: {} });
    assert.equal(made.share, 'disabled');
    assert.equal(made.autoupdate, false);
    assert.deepEqual(made.permission, { read: 'allow', bash: 'ask', edit: 'ask', webfetch: 'ask', external_directory: 'ask', doom_loop: 'ask' });
    assert.throws(() => serverConfig('{nope'), /OPENCODE_CONFIG_CONTENT is not JSON/);
    assert.throws(() => serverConfig('[1]'), /not a JSON object/);
  });

  it('maps each permission mode onto rules that replace the ones before', () => {
    for (const mode of ['default', 'acceptEdits', 'bypassPermissions', 'dontAsk', 'auto'] as const) {
      assert.deepEqual(sessionPermission(mode)[0], { permission: '*', pattern: '*', action: 'allow' }, mode);
    }
    const action = (mode: Parameters<typeof sessionPermission>[0], p: string) => sessionPermission(mode).findLast((r) => r.permission === p || r.permission === '*')!.action;
    assert.equal(action('default', 'edit'), 'ask');
    assert.equal(action('default', 'bash'), 'ask');
    assert.equal(action('acceptEdits', 'edit'), 'allow');
    assert.equal(action('acceptEdits', 'bash'), 'ask');
    assert.equal(action('bypassPermissions', 'bash'), 'allow');
    assert.equal(action('dontAsk', 'bash'), 'deny');
    assert.deepEqual(sessionPermission('plan'), [], 'the plan agent keeps its own rules');
  });

  it('names models provider/model and refuses any other name', () => {
    assert.deepEqual(modelRef('hearth/scripted'), { providerID: 'hearth', modelID: 'scripted' });
    assert.deepEqual(modelRef('openrouter/anthropic/claude'), { providerID: 'openrouter', modelID: 'anthropic/claude' });
    assert.equal(modelRef(null), null);
    assert.throws(() => modelRef('sonnet'), /provider\/model/);
  });

  it('asks about a command with the prefix OpenCode would make a rule of, and the whole command where it suggests several', () => {
    const req = { id: 'per_1', sessionID: 's', permission: 'bash', patterns: ['npm test -- --grep parser'], metadata: { command: 'npm test -- --grep parser' }, always: ['npm test *'], tool: { messageID: 'm', callID: 'c' } };
    const ask = permissionAsk(req, { command: 'npm test -- --grep parser' }, '/w');
    assert.deepEqual(ask.rule, { tool: 'bash', prefix: 'npm test' });
    assert.equal(ask.subject, 'npm test -- --grep parser');
    assert.deepEqual(ask.details, { toolKind: 'execute', command: 'npm test -- --grep parser', cwd: '/w' });
    const two = permissionAsk({ ...req, always: ['echo *', 'cat *'], metadata: { command: 'echo a && cat b' } }, undefined, '/w');
    assert.deepEqual(two.rule, { tool: 'bash', prefix: 'echo a && cat b' });
    assert.deepEqual(
      ask.options.map((o) => o.kind),
      ['allow_once', 'allow_always', 'reject_once'],
    );
  });
});

/** What the node's environment holds that no agent may see. */
const SECRETS = { HEARTH_TOKEN: 'token-secret', DATABASE_URL: 'postgres://hearth:db-secret@db/hearth', STRIPE_KEY: 'configured-secret', RANDOM_SERVER_SETTING: 'not-allowlisted' };

describe('OpencodeDriver without a server', () => {
  it('is warm, says why when switched off, and refuses a node configuration that is not JSON', () => {
    const off = new OpencodeDriver({ log, switchedOff: 'switched off', homes: tmpdir() });
    assert.equal(off.warm, true);
    assert.equal(off.backend, 'opencode_server');
    assert.equal(off.unavailable(), 'switched off');
    const bad = new OpencodeDriver({ log, env: { OPENCODE_CONFIG_CONTENT: '{"model": ' }, homes: tmpdir() });
    assert.match(bad.unavailable() ?? '', /OPENCODE_CONFIG_CONTENT is not JSON/);
  });
});

describe('OpencodeDriver with the real opencode serve', () => {
  let chats: BackendChats;
  let chat: BackendChat;
  let home: string;
  let driver: OpencodeDriver;
  const drivers: OpencodeDriver[] = [];
  const make = (homeDir: string, extra: Partial<OpencodeDriverDeps> = {}) => {
    const env = opencodeEnv(chat.fake, homeDir, { models: ['other'], extra: SECRETS });
    const d = new OpencodeDriver({ log, env, secrets: ['STRIPE_KEY'], processTagPrefix: chat.tagPrefix, homes: path.join(homeDir, 'agents'), sessions: store, abortGraceMs: 2_000, ...extra });
    drivers.push(d);
    return d;
  };
  const ocSpec = (more: Partial<SessionSpec> = {}) => spec(chat, { model: OPENCODE_MODEL_REF, ...more });
  before(async () => {
    chats = new BackendChats();
    chat = await chats.create();
    home = await chats.configDir();
    driver = make(home);
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.dispose()));
    await chats.close();
  });
  const worktree = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hearth-wt-'));
    execFileSync('git', ['init', '-q', dir]);
    return dir;
  };
  const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

  it('serves two turns from one warm server, the second far sooner, with deltas in order and none repeated', LIMIT, async (t) => {
    const session = new ChatSession(driver, ocSpec());
    chat.fake.enqueue({ kind: 'text', chunks: ['first ', 'answer ', 'in ', 'parts'] }, { kind: 'text', chunks: ['second ', 'answer'] });
    const opening = performance.now();
    await session.session();
    const openMs = performance.now() - opening;
    const one = await session.turn('first question');
    assert.equal(one.result.ok, true, JSON.stringify(one.result));
    assert.deepEqual(texts(one.events, 'text_delta'), ['first ', 'answer ', 'in ', 'parts']);
    const pid = session.pid()!;
    const warmAt = performance.now();
    const two = await session.turn('second question');
    const warmMs = performance.now() - warmAt;
    assert.equal(two.result.ok, true, JSON.stringify(two.result));
    assert.equal(session.pid(), pid, 'the same server');
    assert.deepEqual(texts(two.events, 'text_delta'), ['second ', 'answer']);
    assert.deepEqual(
      two.events.filter((e) => e.kind === 'message').map((e) => e.kind === 'message' && e.parts),
      [[{ type: 'text', text: 'second answer' }]],
    );
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /first question/);
    assert.match(last, /first answer in parts/);
    t.diagnostic(`server start + session ${openMs.toFixed(0)} ms, first delta ${one.firstDeltaMs!.toFixed(0)} ms after the prompt, warm turn ${warmMs.toFixed(0)} ms (first delta ${two.firstDeltaMs!.toFixed(0)} ms), RSS ${rssMiB(pid).toFixed(0)} MiB`);
    assert.ok(two.firstDeltaMs! * 2 < openMs + one.firstDeltaMs!, `warm ${two.firstDeltaMs!.toFixed(0)} ms vs cold ${(openMs + one.firstDeltaMs!).toFixed(0)} ms`);
    // OpenCode would fetch its plugin SDK from the npm registry into its configuration directory; npm's cache would be in its HOME.
    assert.equal(existsSync(path.join(home, 'agents', 'opencode', '.npm')), false, 'nothing was fetched from the npm registry');
    await session.close();
  });

  it('asks through the relay before a command that changes the worktree, runs it once allowed, and offers the prefix as a rule', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'default' }));
    const command = 'echo allowed > allowed.txt && cat allowed.txt';
    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command, description: 'write a file' } }, { kind: 'text', chunks: ['ran it'] });
    const person = new ScriptedPerson(pick('allow_always'));
    const t = await session.turn('write it', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const ask = person.only();
    assert.equal(ask.tool, 'bash');
    assert.equal(ask.subject, command);
    assert.equal(ask.details?.cwd, chat.worktree);
    assert.ok(ask.rule && ask.rule.tool === 'bash', JSON.stringify(ask.rule));
    assert.equal((await readFile(path.join(chat.worktree, 'allowed.txt'), 'utf8')).trim(), 'allowed');
    const call = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call');
    const result = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result');
    assert.ok(call && call.name === 'bash' && call.toolKind === 'execute' && ask.toolCallId === call.id, JSON.stringify(call));
    assert.ok(result && result.id === call.id && !result.isError && /allowed/.test(result.output), JSON.stringify(result));
    assert.ok(t.events.findIndex((e) => e.kind === 'tool_call') < t.events.findIndex((e) => e.kind === 'tool_result'));

    // OpenCode was answered "once": its own standing rule would outlive the chat on its server.
    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'echo again > again.txt', description: 'again' } }, { kind: 'text', chunks: ['again'] });
    const again = new ScriptedPerson(pick('allow_once'));
    const next = await session.turn('again', { answer: again.answer });
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.equal(again.asks.length, 1, 'OpenCode asks again; the chat’s rule is the relay’s to apply');
    await session.close();
  });

  it("puts OpenCode's questions to a person, and the model gets the answer", LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'default' }));
    const questions = [{ question: 'Which colour?', header: 'Colour', options: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }] }];
    chat.fake.enqueue({ kind: 'tool_use', name: 'question', input: { questions } }, { kind: 'text', chunks: ['teal it is'] });
    const person = new ScriptedPerson(pick('allow_once', { answers: { 'Which colour?': 'teal' } }));
    const t = await session.turn('ask me', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const ask = person.only();
    assert.equal(ask.kind, 'question');
    assert.deepEqual(ask.questions, [{ question: 'Which colour?', header: 'Colour', choices: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }], multiSelect: false, freeText: true }]);
    const result = t.events.find((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result');
    assert.ok(result && !result.isError && /teal/.test(result.output), JSON.stringify(result));
    assert.match(sent(chat.fake.mainRequests().at(-1)), /teal/);
    await session.close();
  });

  it('counts usage and cost per turn exactly as the model reported them, summed over the turn’s steps', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'bypassPermissions' }));
    const u1 = { input_tokens: 120, output_tokens: 30, cache_read_input_tokens: 400 };
    const u2 = { input_tokens: 200, output_tokens: 50, cache_read_input_tokens: 1000 };
    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'echo counted', description: 'count' }, usage: u1 }, { kind: 'text', chunks: ['counted'], usage: u2 });
    const t = await session.turn('count it');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const [a, b] = [opencodeTokens(u1), opencodeTokens(u2)];
    assert.deepEqual(t.result.usage, {
      inputTokens: a.input + b.input,
      outputTokens: a.output + a.reasoning + b.output + b.reasoning,
      cacheReadTokens: a.cache.read + b.cache.read,
      cacheWriteTokens: 0,
      costUsd: Number((opencodeCost(a) + opencodeCost(b)).toFixed(10)),
    });
    chat.fake.enqueue({ kind: 'text', chunks: ['only mine'], usage: { input_tokens: 7, output_tokens: 3 } });
    const next = await session.turn('and this one');
    assert.deepEqual(next.result.usage, { inputTokens: 7, outputTokens: 3, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: Number(opencodeCost(opencodeTokens({ input_tokens: 7, output_tokens: 3 })).toFixed(10)) }, 'the next turn counts only its own');
    await session.close();
  });

  it('starts a fresh OpenCode session when the chat’s model changes, and keeps it when only the permission mode does', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'default' }));
    chat.fake.enqueue({ kind: 'text', chunks: ['remember PELICAN'] });
    assert.equal((await session.turn('the word is PELICAN')).result.ok, true);
    const first = session.reports.last!;
    chat.fake.enqueue({ kind: 'text', chunks: ['same session'] });
    assert.equal((await session.turn('bypass now', { with: { permissionMode: 'bypassPermissions' } })).result.ok, true);
    assert.equal(session.reports.last, first, 'a mode of the same agent is the live session’s');
    chat.fake.enqueue({ kind: 'text', chunks: ['a new model'] });
    const t = await session.turn('which word?', { with: { model: `${OPENCODE_PROVIDER}/other` } });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.notEqual(session.reports.last, first, 'a fresh session');
    const req = chat.fake.mainRequests().at(-1)!;
    assert.equal(req.body.model, 'other');
    assert.doesNotMatch(sent(req), /PELICAN/, 'the fresh session holds none of the old one: the runtime tells it the conversation');
    await session.close();
  });

  it('stops a turn mid-stream, and the next turn on the same server works', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec());
    chat.fake.enqueue({ kind: 'text', chunks: ['warm'] });
    await session.turn('warm up');
    const pid = session.pid();
    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const controller = new AbortController();
    let stoppedAt = 0;
    const t = await session.turn('stall', { signal: controller.signal, onEvent: (e) => e.kind === 'text_delta' && !stoppedAt && ((stoppedAt = performance.now()), controller.abort()) });
    const took = performance.now() - stoppedAt;
    assert.ok(!t.result.ok && t.result.code === 'aborted', JSON.stringify(t.result));
    assert.ok(took < 3_000, `the stop took ${took.toFixed(0)} ms`);
    chat.fake.enqueue({ kind: 'text', chunks: ['back'] });
    const next = await session.turn('after the stop');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.deepEqual(texts(next.events, 'text_delta'), ['back']);
    assert.equal(session.pid(), pid);
    await session.close();
  });

  it('re-reads what the event stream missed when it is lost mid-turn, and the reply comes whole, once', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec());
    await session.session();
    const server = driver.current()!;
    const before = server.connections;
    chat.fake.enqueue({ kind: 'text', chunks: ['one ', 'two ', 'three ', 'four'] });
    let dropped = false;
    const t = await session.turn('count', { onEvent: (e) => e.kind === 'text_delta' && !dropped && ((dropped = true), server.dropStream()) });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.equal(texts(t.events, 'text_delta').join(''), 'one two three four', 'every word once');
    await waitUntil('the stream to be back', () => server.connections > before);
    await session.close();
  });

  it('returns crashed for a server killed mid-turn, leaves none of its processes, and the next turn goes on on a restarted server', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue({ kind: 'text', chunks: ['I keep HERON'] });
    assert.equal((await session.turn('keep HERON')).result.ok, true);
    const token = session.reports.last!;
    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'sleep 300 > /dev/null 2>&1 &\necho started', description: 'bg' } }, { kind: 'stall', chunks: ['working'] });
    let killed = 0;
    const t = await session.turn('work', { onEvent: (e, s) => e.kind === 'text_delta' && !killed && ((killed = s.pid()!), process.kill(killed, 'SIGKILL')) });
    assert.ok(!t.result.ok && t.result.code === 'crashed', JSON.stringify(t.result));
    assert.match(t.result.error, /opencode serve exited mid-turn.*SIGKILL/s);
    await waitUntil('the server, its group and its children to be gone', () => !alive(killed) && !alive(-killed) && taggedProcesses({ prefix: chat.tagPrefix }).length === 0);
    // The runtime opens the chat's session again with its token.
    chat.fake.enqueue({ kind: 'text', chunks: ['HERON'] });
    const next = await session.turn('which word?');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.notEqual(session.pid(), killed);
    assert.equal(session.reports.last, token, 'the same conversation, from the server’s own database');
    assert.match(sent(chat.fake.mainRequests().at(-1)), /keep HERON/);
    await session.close();
  });

  it('restarts a server past its memory ceiling between turns, and its sessions go on', LIMIT, async () => {
    const tight = make(await chats.configDir(), { maxServerMemory: 1 });
    const session = new ChatSession(tight, ocSpec());
    chat.fake.enqueue({ kind: 'text', chunks: ['I keep WREN'] });
    let pid = 0;
    assert.equal((await session.turn('keep WREN', { onEvent: (_e, s) => (pid ||= s.pid() ?? 0) })).result.ok, true);
    assert.ok(pid > 0);
    await waitUntil('the server to be restarted', () => tight.current() === null);
    chat.fake.enqueue({ kind: 'text', chunks: ['WREN'] });
    const t = await session.turn('which word?');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.notEqual(session.pid(), pid);
    assert.match(sent(chat.fake.mainRequests().at(-1)), /keep WREN/);
    await session.close();
  });

  it('resumes on another node: empty XDG directories, the session imported from PostgreSQL, the whole history in the model’s request', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec());
    chat.fake.enqueue({ kind: 'text', chunks: ['I will keep OTTER'] }, { kind: 'text', chunks: ['and 9'] });
    await session.turn('keep the word OTTER');
    await session.turn('and the number 9');
    const token = session.reports.last!;
    await session.close();
    const elsewhere = make(await chats.configDir());
    const again = new RecordedReports();
    const resumed = await elsewhere.open(ocSpec({ resume: token }), again);
    chat.fake.enqueue({ kind: 'text', chunks: ['OTTER and 9'] });
    const t = await runTurn(resumed, 'what did I give you?');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.deepEqual(again.tokens, [token], 'the same conversation goes on');
    const last = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['keep the word OTTER', 'I will keep OTTER', 'and the number 9', 'and 9', 'what did I give you?']) assert.ok(last.includes(earlier), `the request carries "${earlier}"`);
    assert.deepEqual(texts(t.events, 'text_delta'), ['OTTER and 9'], 'nothing of the history comes back as events');
    await resumed.close();
  });

  it('serves five chats at once from one server', LIMIT, async (t) => {
    const sessions = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const dir = i === 0 ? chat.worktree : await worktree();
        return { i, dir, session: new ChatSession(driver, ocSpec({ worktreePath: dir, chatId: `${chat.id}-${i}` })) };
      }),
    );
    try {
      const turns = await Promise.all(sessions.map(({ i, session }) => session.turn(`echo: chat ${i}`)));
      for (const [i, t] of turns.entries()) {
        assert.equal(t.result.ok, true, JSON.stringify(t.result));
        assert.equal(texts(t.events, 'text_delta').join(''), `reply to echo: chat ${i}`);
      }
      assert.equal(new Set(sessions.map((s) => s.session.pid())).size, 1, 'one server for all');
      const pid = sessions[0]!.session.pid()!;
      t.diagnostic(`five chats, five worktrees, one server: RSS ${rssMiB(pid).toFixed(0)} MiB`);
      // Closing four of the chats leaves the fifth its server, warm.
      await Promise.all(sessions.slice(1).map((s) => s.session.close()));
      assert.ok(alive(pid), 'the server outlives the sessions that closed');
      const after = await sessions[0]!.session.turn('echo: still here');
      assert.equal(after.result.ok, true, JSON.stringify(after.result));
      assert.equal(sessions[0]!.session.pid(), pid, 'the same server');
    } finally {
      await Promise.all(sessions.map((s) => s.session.close()));
      await Promise.all(sessions.filter((s) => s.i > 0).map((s) => rm(s.dir, { recursive: true, force: true })));
    }
  });

  it('fails a turn whose model call fails, with the model’s words, and the next turn works', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec());
    chat.fake.enqueue({ kind: 'error', status: 400, message: 'the scripted request was refused' });
    const t = await session.turn('this fails');
    assert.ok(!t.result.ok && t.result.code === 'api_error', JSON.stringify(t.result));
    assert.match(t.result.error, /the scripted request was refused/);
    chat.fake.enqueue({ kind: 'text', chunks: ['fine again'] });
    const next = await session.turn('again');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.deepEqual(texts(next.events, 'text_delta'), ['fine again'], 'the failed turn’s late idle does not end this one');
    await session.close();
  });

  it("gives OpenCode and its tools what they need and none of Hearth's secrets", LIMIT, async (tc) => {
    const session = new ChatSession(driver, ocSpec({ permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'env > env.txt', description: 'print env' } }, { kind: 'text', chunks: ['printed'] });
    const t = await session.turn('print the environment');
    const diagnostic = (m: string) => tc.diagnostic(m);
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const seen = chat.fake.mainRequests().slice(-3).map((r) => [r.headers['x-session-id'], JSON.stringify(r.body.messages?.at(-1)).slice(0, 200)]);
    assert.ok(t.events.some((e) => e.kind === 'tool_result'), JSON.stringify({ events: t.events, seen, token: session.reports.last }));
    const env = await readFile(path.join(chat.worktree, 'env.txt'), 'utf8');
    for (const secret of Object.values(SECRETS)) assert.ok(!env.includes(secret), `the tool sees ${secret}`);
    assert.match(env, /^OPENCODE_DISABLE_AUTOUPDATE=1$/m);
    // OpenCode hands its own environment to its tools: the server's password with it, which lets a command the person allowed reach the server on loopback.
    diagnostic(`the server's password ${/^OPENCODE_SERVER_PASSWORD=/m.test(env) ? 'is' : 'is not'} in the tools' environment`);
    assert.match(env, new RegExp(`^XDG_DATA_HOME=${path.join(home, 'agents', 'opencode', 'data')}$`, 'm'));
    await session.close();
  });

  it('opens a silent event stream again, and the turns go on', LIMIT, async () => {
    const quick = make(await chats.configDir(), { silenceMs: 1_500 });
    const session = new ChatSession(quick, ocSpec());
    await session.session();
    const server = quick.current()!;
    // The stream beats every 10 s: silent past 1.5 s, it counts as dead.
    await waitUntil('the stream to be opened again', () => server.connections >= 2, 8_000);
    chat.fake.enqueue({ kind: 'text', chunks: ['still ', 'here'] });
    const t = await session.turn('are you there?');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.equal(texts(t.events, 'text_delta').join(''), 'still here');
    await session.close();
  });

  it('stops its server with its last session, and leaves nothing', LIMIT, async () => {
    const session = new ChatSession(driver, ocSpec());
    await session.session();
    const pid = session.pid()!;
    await session.close();
    await waitUntil('the server to be gone', () => !alive(pid) && !alive(-pid));
    assert.equal(driver.current(), null);
    assert.ok(existsSync(path.join(home, 'agents', 'opencode', 'data', 'opencode')), 'its data stays for the next start');
  });
});
