// AcpDriver driving the real Gemini CLI (`gemini --acp`) against the fake model server
// speaking the Gemini API, on real git worktrees: the driver contract, then what is
// gemini's own (its calls begin with an update, its load is readied, its home is Hearth's).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AcpDriver, type AcpDriverDeps } from '../../src/agents/acp/acp-driver.js';
import { GEMINI_SETTINGS, geminiPath } from '../../src/agents/acp/agents/gemini.js';
import type { AgentEvent } from '../../src/api/events.js';
import type { SessionSpec } from '../../src/agents/contract/driver.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { AgentSessionFiles } from '../../src/store/agent-session-files.js';
import { BackendChats, sent, sessionSpec, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { ChatSession, RecordedReports, texts } from '../fixtures/driver-turns.js';
import { forGemini, geminiEnv, geminiToolName } from '../fixtures/gemini-env.js';
import { alive } from '../fixtures/processes.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { claudeToolCall, driverContract } from './driver-contract.js';

const log = pino({ level: 'silent' });
let db: TestSchema;
let files: AgentSessionFiles;
before(async () => {
  db = await testSchema('acp_gemini');
  files = new AgentSessionFiles(db.sql);
});
after(async () => {
  await db.drop();
});
// Gemini CLI takes seconds to start on a busy machine.
const LIMIT = { timeout: 120_000 };
const ENTRY = geminiPath()!;

function geminiDriver(chat: BackendChat, configDir = chat.configDir, extra: Partial<AcpDriverDeps> = {}): AcpDriver {
  return new AcpDriver({ log, env: geminiEnv(chat.fake), processTagPrefix: chat.tagPrefix, homes: path.join(configDir, 'agents'), sessionFiles: files, startTimeoutMs: 60_000, ...extra });
}

function geminiSpec(chat: BackendChat, more: Partial<SessionSpec> = {}): SessionSpec {
  return sessionSpec(chat, { agent: 'gemini', installPath: ENTRY, model: 'gemini-2.5-flash', ...more });
}

const NO_NAME_NOR_INPUT = "gemini's tool calls and permission requests carry neither the tool's name nor its input: a title, a kind and the call id only";

driverContract({
  name: 'AcpDriver (gemini)',
  driver: (chat, configDir) => geminiDriver(chat, configDir),
  spec: geminiSpec,
  script: (chat, ...replies) => chat.fake.enqueue(...replies.map(forGemini)),
  toolCall: (chat, intent) => {
    const claude = claudeToolCall(chat, intent);
    const name = geminiToolName(claude.name);
    return { ...claude, reply: forGemini(claude.reply), name, askedTool: name };
  },
  // Gemini CLI reports no cost: it is unknown.
  price: () => null,
  cannotHold: {
    'streams deltas, then the whole message once, and returns the turn with its usage':
      'gemini rewrites every thought part as "**<subject>**\\n<description>" (a part with no bold subject becomes "****\\n<text>"), so the thinking deltas are not the model\'s',
    'reports a tool call before its result, and the tool runs in the worktree': `${NO_NAME_NOR_INPUT} (the name comes from the call id, the input never)`,
    "returns each turn's usage once, with the model's figures, and reports the agent's resume token":
      "gemini returns input and output tokens only (`_meta.quota`), never the cache figures, and sends no session id to the model",
    "counts a stopped turn's tokens and cost from the same figures, and the next turn only its own":
      'gemini answers a cancelled prompt with `cancelled` and no token counts',
    'writes nothing when denied, and the agent hears the person’s words':
      'an ACP permission outcome carries an option id and nothing else: the person’s words have no way to the agent',
    'asks before running a command, with the command, where it runs, and the prefix a standing answer would cover': `${NO_NAME_NOR_INPUT}: the command is only the request's display title`,
    "puts the agent's questions with their choices, and the agent gets the answers": 'gemini puts no question to an ACP client: its ask_user tool has no ACP request',
    'asks approval of a plan with its text, and once approved the agent leaves plan mode, for this turn only':
      "the case scripts Claude Code's plan tools (a plan file, ExitPlanMode); gemini's plan mode has tools of other names and inputs",
    'keeps the agent planning when its plan is not approved, with the person’s note': "the case scripts Claude Code's plan tools, and an ACP outcome carries no note",
    'stops a turn mid-stream promptly, and the next turn works and sees the conversation':
      'gemini rolls its history back to before a prompt it was stopped in (and its chat file with it): the stopped prompt never reaches the model again; the rest is held below',
  },
});

describe('AcpDriver with the real Gemini CLI', () => {
  let chats: BackendChats;
  const drivers: AcpDriver[] = [];
  before(() => {
    chats = new BackendChats();
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.dispose()));
    await chats.close();
  });
  const driverFor = (chat: BackendChat, configDir = chat.configDir, extra: Partial<AcpDriverDeps> = {}) => {
    const d = geminiDriver(chat, configDir, extra);
    drivers.push(d);
    return d;
  };
  const chatSession = async (more: Partial<SessionSpec> = {}) => {
    const chat = await chats.create();
    const driver = driverFor(chat);
    return { chat, driver, session: new ChatSession(driver, geminiSpec(chat, more)) };
  };
  const toolEvents = (events: AgentEvent[]) => ({
    calls: events.filter((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call'),
    results: events.filter((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result'),
  });

  it('keeps one warm process across turns, the second streams far sooner; with its settings in its own home', LIMIT, async (t) => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['first ', 'answer'] }, { kind: 'text', chunks: ['second ', 'answer'] });
    const opening = performance.now();
    await session.session();
    const openMs = performance.now() - opening;
    const one = await session.turn('first question');
    assert.equal(one.result.ok, true, JSON.stringify(one.result));
    assert.deepEqual(one.result.ok && one.result.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: null }, "no cost reported: unknown");
    const pid = session.pid()!;
    assert.ok(pid && alive(pid));
    const two = await session.turn('second question');
    assert.equal(two.result.ok, true, JSON.stringify(two.result));
    assert.equal(session.pid(), pid, 'the same process served both turns');
    assert.deepEqual(texts(two.events, 'text_delta'), ['second ', 'answer']);
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const cold = openMs + one.firstDeltaMs!;
    t.diagnostic(`start ${openMs.toFixed(0)} ms, first delta cold ${cold.toFixed(0)} ms (${one.firstDeltaMs!.toFixed(0)} ms after the prompt), warm ${two.firstDeltaMs!.toFixed(0)} ms, RSS ${rssMiB.toFixed(0)} MiB`);
    assert.ok(two.firstDeltaMs! * 2 < cold, `warm first delta ${two.firstDeltaMs!.toFixed(0)} ms vs cold ${cold.toFixed(0)} ms`);
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /first question/);
    assert.match(last, /first answer/);
    // Every model call was the scripted model's, and the pinned model's.
    assert.ok(chat.fake.requests.every((r) => r.dialect === 'gemini' && r.path.includes('/models/gemini-2.5-flash:')), chat.fake.requests.map((r) => r.path).join(', '));
    const home = path.join(chat.configDir, 'agents', 'gemini');
    assert.deepEqual(JSON.parse(await readFile(path.join(home, '.gemini', 'settings.json'), 'utf8')), GEMINI_SETTINGS);
    const closing = performance.now();
    await session.close();
    t.diagnostic(`closed in ${(performance.now() - closing).toFixed(0)} ms`);
    await waitUntil('every tagged process to be gone', () => !alive(pid) && !alive(-pid) && taggedProcesses({ prefix: chat.tagPrefix }).length === 0);
  });

  it('shows a shell call it asked about, runs it in the worktree once allowed, and the model gets the output', LIMIT, async () => {
    const { chat, session } = await chatSession({ permissionMode: 'default' });
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'run_shell_command', input: { command: 'echo made > made.txt && cat made.txt', description: 'make a file' } },
      { kind: 'text', chunks: ['made it'] },
    );
    const person = new ScriptedPerson(pick('allow_once'));
    const t = await session.turn('make a file', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const ask = person.only();
    assert.equal(ask.kind, 'permission');
    assert.equal(ask.tool, 'run_shell_command');
    assert.ok(ask.kind === 'permission' && ask.details?.title?.includes('echo made'), JSON.stringify(ask));
    assert.deepEqual(new Set(ask.options.map((o) => o.kind)), new Set(['allow_once', 'allow_always', 'reject_once']));
    const { calls, results } = toolEvents(t.events);
    assert.equal(calls.length, 1, 'the call is shown once');
    assert.equal(calls[0]!.id, ask.toolCallId);
    assert.equal(calls[0]!.name, 'run_shell_command');
    assert.equal(calls[0]!.toolKind, 'execute');
    assert.ok(t.events.indexOf(calls[0]!) < t.events.indexOf(results[0]!), 'the call, then its result');
    assert.equal(results[0]!.id, calls[0]!.id);
    assert.equal(results[0]!.isError, false);
    assert.equal((await readFile(path.join(chat.worktree, 'made.txt'), 'utf8')).trim(), 'made');
    assert.match(JSON.stringify(chat.fake.mainRequests().at(-1)!.body.contents.at(-1)), /made/, 'the output went back to the model');
    assert.equal(texts(t.events, 'text_delta').join(''), 'made it');
    const message = t.events.find((e) => e.kind === 'message');
    assert.ok(message?.kind === 'message' && message.parts.some((p) => p.type === 'tool_call' && p.name === 'run_shell_command'));
    await session.close();
  });

  it('stops a turn mid-stream promptly, on the same process, and the next turn works and sees the conversation before it', LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['warming up'] });
    assert.equal((await session.turn('before the abort')).result.ok, true);
    const pid = session.pid();
    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const controller = new AbortController();
    let abortedAt = 0;
    const t = await session.turn('this one stalls', {
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
    assert.deepEqual(t.result, { ok: false, code: 'aborted', error: 'aborted', usage: null });
    assert.ok(took < 3_000, `the stop took ${took.toFixed(0)} ms`);
    assert.equal(session.pid(), pid, 'still the same warm process');
    chat.fake.enqueue({ kind: 'text', chunks: ['back again'] });
    const next = await session.turn('after the abort');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.deepEqual(texts(next.events, 'text_delta'), ['back again']);
    assert.equal(session.pid(), pid);
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /before the abort/);
    assert.match(last, /warming up/);
    assert.doesNotMatch(last, /this one stalls/, 'gemini leaves the stopped prompt out of its history');
    await session.close();
  });

  it('returns crashed for an agent killed mid-turn, leaves no process, and the next turn resumes the conversation', LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['keeping PANGOLIN'] });
    assert.equal((await session.turn('the word is PANGOLIN')).result.ok, true);
    const token = session.reports.last!;
    chat.fake.enqueue({ kind: 'stall', chunks: ['working'] });
    let killed = 0;
    const t = await session.turn('stall', {
      onEvent: (e, s) => {
        if (e.kind === 'text_delta' && !killed) {
          killed = s.pid()!;
          process.kill(killed, 'SIGKILL');
        }
      },
    });
    assert.ok(killed > 0);
    assert.ok(!t.result.ok && t.result.code === 'crashed', JSON.stringify(t.result));
    assert.match(t.result.error, /gemini exited mid-turn.*SIGKILL/s);
    await waitUntil('every tagged process to be gone', () => !alive(killed) && !alive(-killed) && taggedProcesses({ prefix: chat.tagPrefix }).length === 0);

    // The runtime reopens the chat's session with its token.
    chat.fake.enqueue({ kind: 'text', chunks: ['PANGOLIN'] });
    const next = await session.turn('which word?');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.equal(session.reports.last, token, 'the same conversation goes on');
    assert.notEqual(session.pid(), killed);
    assert.deepEqual(texts(next.events, 'text_delta'), ['PANGOLIN'], 'nothing of the replayed history is the turn’s');
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /the word is PANGOLIN/);
    assert.match(last, /keeping PANGOLIN/);
    await session.close();
  });

  it('resumes on an empty agent home from PostgreSQL, with the whole history, a tool call in it, and replays none of it into the turn', LIMIT, async () => {
    const chat = await chats.create();
    const driver = driverFor(chat);
    const session = new ChatSession(driver, geminiSpec(chat, { permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue({ kind: 'thinking', thinking: ['**Noting**the word'], text: ['noted WOMBAT'] });
    assert.equal((await session.turn('remember WOMBAT')).result.ok, true);
    chat.fake.enqueue({ kind: 'tool_use', name: 'run_shell_command', input: { command: 'echo 42 > answer.txt', description: 'write the answer' } }, { kind: 'text', chunks: ['wrote 42'] });
    const tool = await session.turn('write the answer');
    assert.equal(tool.result.ok, true, JSON.stringify(tool.result));
    assert.equal((await readFile(path.join(chat.worktree, 'answer.txt'), 'utf8')).trim(), '42');
    const token = session.reports.last!;
    await driver.dispose();

    const elsewhere = driverFor(chat, await chats.configDir());
    const again = new ChatSession(elsewhere, geminiSpec(chat, { resume: token }));
    chat.fake.enqueue({ kind: 'text', chunks: ['WOMBAT and 42'] });
    const t = await again.turn('what do you know?');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.equal(again.reports.last, token);
    assert.deepEqual(texts(t.events, 'text_delta'), ['WOMBAT and 42']);
    assert.deepEqual(
      t.events.map((e) => e.kind),
      ['text_delta', 'message'],
      'only the new turn',
    );
    const last = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['remember WOMBAT', 'noted WOMBAT', 'write the answer', 'echo 42 > answer.txt', 'wrote 42', 'what do you know?']) {
      assert.ok(last.includes(earlier), `the resumed request carries "${earlier}"`);
    }
    // And once more, on the same machine, in the same minute: the load gets its history again.
    await again.close();
    const third = new ChatSession(elsewhere, geminiSpec(chat, { resume: token }));
    chat.fake.enqueue({ kind: 'text', chunks: ['still WOMBAT'] });
    const t3 = await third.turn('and now?');
    assert.equal(t3.result.ok, true, JSON.stringify(t3.result));
    const after = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['remember WOMBAT', 'wrote 42', 'WOMBAT and 42', 'and now?']) assert.ok(after.includes(earlier), `the third request carries "${earlier}"`);
    await third.close();
  });

  it('keeps the worktree untrusted where it asks, and trusts it only in a process opened in a mode that asks less', LIMIT, async () => {
    const { chat, session } = await chatSession({ permissionMode: 'default' });
    chat.fake.enqueue({ kind: 'tool_use', name: 'run_shell_command', input: { command: 'echo asked > asked.txt', description: 'x' } }, { kind: 'text', chunks: ['done'] });
    const person = new ScriptedPerson(pick('allow_once'));
    const one = await session.turn('run it', { answer: person.answer });
    assert.equal(one.result.ok, true, JSON.stringify(one.result));
    assert.equal(person.only().tool, 'run_shell_command');
    const pid = session.pid();

    // The running process, in an untrusted folder, refuses yolo: the chat gets a trusted one, and goes on.
    chat.fake.enqueue({ kind: 'tool_use', name: 'run_shell_command', input: { command: 'echo unasked > unasked.txt', description: 'x' } }, { kind: 'text', chunks: ['done again'] });
    const two = await session.turn('run another', { with: { permissionMode: 'bypassPermissions' } });
    assert.equal(two.result.ok, true, JSON.stringify(two.result));
    assert.notEqual(session.pid(), pid, 'a new process for the mode');
    assert.equal((await readFile(path.join(chat.worktree, 'unasked.txt'), 'utf8')).trim(), 'unasked');
    assert.match(sent(chat.fake.mainRequests().at(-1)), /echo asked > asked\.txt/, 'with the conversation');
    await session.close();
  });

  it("fails the turn with the model's error, and the warm session goes on", LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['warm'] });
    assert.equal((await session.turn('first')).result.ok, true);
    const pid = session.pid();
    // A 400 is not retried; 429 and 5xx are, by gemini itself, with its own backoff.
    chat.fake.enqueue({ kind: 'error', status: 400, message: 'scripted refusal of this request' });
    const t = await session.turn('this one fails');
    assert.ok(!t.result.ok && t.result.code === 'agent_error', JSON.stringify(t.result));
    assert.match(t.result.error, /^gemini failed the turn: .*scripted refusal of this request/s);
    assert.equal(session.pid(), pid, 'the same process');
    chat.fake.enqueue({ kind: 'text', chunks: ['fine again'] });
    const next = await session.turn('and now?');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.equal(session.pid(), pid);
    await session.close();
  });

  it('fails the start for the session, saying why, when the load finds no such session', LIMIT, async () => {
    const chat = await chats.create();
    const driver = driverFor(chat);
    await assert.rejects(driver.open(geminiSpec(chat, { resume: '0b5f3a52-0000-4000-8000-000000000000' }), new RecordedReports()), (err) => {
      assert.ok(err instanceof AgentStartError, String(err));
      assert.equal(err.scope, 'session');
      assert.match(err.message, /gemini did not start: .*(No previous sessions|Invalid session identifier)/s);
      return true;
    });
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    assert.equal(driver.unavailable(), null);
  });

  // Gemini CLI asks the client's file system only for paths inside its working directory
  // (its write_file and replace), and checks a path itself, links resolved, before that:
  // a path that leads out is refused before any request reaches Hearth.
  it('reads inside the worktree, and neither reads nor writes through a link that leads outside', LIMIT, async () => {
    const { chat, session } = await chatSession({ permissionMode: 'bypassPermissions' });
    const outside = await mkdtemp(path.join(tmpdir(), 'hearth-gemini-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'SECRET-OUTSIDE');
    await writeFile(path.join(chat.worktree, 'mine.txt'), 'MINE-INSIDE');
    await symlink(outside, path.join(chat.worktree, 'escape'));
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'read_file', input: { file_path: path.join(chat.worktree, 'mine.txt') } },
      { kind: 'tool_use', name: 'read_file', input: { file_path: path.join(chat.worktree, 'escape', 'secret.txt') } },
      { kind: 'tool_use', name: 'write_file', input: { file_path: path.join(chat.worktree, 'escape', 'planted.txt'), content: 'PLANTED' } },
      { kind: 'text', chunks: ['looked'] },
    );
    const t = await session.turn('look around');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const requests = chat.fake.mainRequests();
    const answered = (i: number) => JSON.stringify(requests.at(i)!.body.contents.at(-1));
    assert.match(answered(-3), /MINE-INSIDE/);
    assert.doesNotMatch(answered(-2), /SECRET-OUTSIDE/);
    assert.match(answered(-2), /outside the allowed workspace/, answered(-2));
    assert.match(answered(-1), /outside the allowed workspace/, answered(-1));
    assert.equal(existsSync(path.join(outside, 'planted.txt')), false, 'nothing was written outside');
    assert.ok(!JSON.stringify(requests).includes('SECRET-OUTSIDE'), 'the secret never reached the model');
    await session.close();
  });

  it("gives the agent what it needs and none of Hearth's secrets", LIMIT, async () => {
    const chat = await chats.create();
    const driver = driverFor(chat, chat.configDir, {
      env: {
        ...geminiEnv(chat.fake),
        DATABASE_URL: 'postgres://hearth:db-secret@db/hearth',
        HEARTH_TOKEN: 'token-secret',
        STRIPE_KEY: 'configured-secret',
        RANDOM_SERVER_SETTING: 'not-allowlisted',
        GEMINI_CLI_HOME: path.join(chat.worktree, 'elsewhere'),
      },
      secrets: ['STRIPE_KEY'],
    });
    const session = new ChatSession(driver, geminiSpec(chat, { permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue({ kind: 'tool_use', name: 'run_shell_command', input: { command: 'env > env.txt', description: 'print env' } }, { kind: 'text', chunks: ['printed'] });
    const t = await session.turn('print the environment');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const env = await readFile(path.join(chat.worktree, 'env.txt'), 'utf8');
    const home = path.join(chat.configDir, 'agents', 'gemini');
    for (const present of ['PATH=', `HOME=${home}\n`, `GOOGLE_GEMINI_BASE_URL=${chat.fake.url}`, 'GEMINI_API_KEY=', 'GEMINI_MODEL=gemini-2.5-flash']) assert.ok(env.includes(present), `${present} reaches the agent`);
    for (const secret of ['db-secret', 'token-secret', 'configured-secret', 'not-allowlisted', 'GEMINI_CLI_HOME']) assert.ok(!env.includes(secret), `${secret} stays out`);
    assert.ok((await readdir(path.join(home, '.gemini', 'tmp'))).length > 0, 'gemini keeps its chats in the home it was given');
    await session.close();
  });
});
