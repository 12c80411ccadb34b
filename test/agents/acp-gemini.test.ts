// AcpDriver driving the real Gemini CLI (`gemini --acp`) against the fake model server
// speaking the Gemini API, on real git worktrees: the driver contract and the ACP contract,
// then what is gemini's own (its calls begin with an update, its load is readied, its home is Hearth's).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GEMINI_SETTINGS, geminiPath } from '../../src/agents/acp/agents/gemini.js';
import type { AgentEvent } from '../../src/api/events.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { acpDrivers } from '../fixtures/acp-drivers.js';
import { sent, type BackendChat } from '../fixtures/backend-chats.js';
import { ChatSession, RecordedReports, stoppedTurn, texts } from '../fixtures/driver-turns.js';
import { forGemini, geminiEnv, geminiToolName } from '../fixtures/gemini-env.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { acpContract } from './acp-contract.js';
import { claudeToolCall, driverContract } from './driver-contract.js';

const acp = acpDrivers({
  name: 'AcpDriver (gemini)',
  agent: 'gemini',
  installPath: geminiPath()!,
  schema: 'acp_gemini',
  // Gemini CLI takes seconds to start on a busy machine.
  timeout: 120_000,
  deps: { startTimeoutMs: 60_000 },
  spec: { model: 'gemini-2.5-flash' },
  env: (chat) => geminiEnv(chat.fake),
  reply: forGemini,
});
const LIMIT = acp.limit;
/** The home the driver gives gemini on the chat's machine. */
const geminiHome = (chat: BackendChat) => path.join(chat.configDir, 'agents', 'gemini');

const NO_NAME_NOR_INPUT = "gemini's tool calls and permission requests carry neither the tool's name nor its input: a title, a kind and the call id only";

driverContract({
  ...acp.contract,
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

acpContract({
  acp,
  reaches: (chat) => [`HOME=${geminiHome(chat)}\n`, `GOOGLE_GEMINI_BASE_URL=${chat.fake.url}`, 'GEMINI_API_KEY=', 'GEMINI_MODEL=gemini-2.5-flash'],
  strays: (chat) => ({ GEMINI_CLI_HOME: path.join(chat.worktree, 'elsewhere') }),
  also: {
    async warm(chat, first) {
      assert.deepEqual(first.result.ok && first.result.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: null }, 'no cost reported: unknown');
      // Every model call was the scripted model's, and the pinned model's.
      assert.ok(chat.fake.requests.every((r) => r.dialect === 'gemini' && r.path.includes('/models/gemini-2.5-flash:')), chat.fake.requests.map((r) => r.path).join(', '));
      // With its settings in its own home.
      assert.deepEqual(JSON.parse(await readFile(path.join(geminiHome(chat), '.gemini', 'settings.json'), 'utf8')), GEMINI_SETTINGS);
    },
    async env(chat) {
      assert.ok((await readdir(path.join(geminiHome(chat), '.gemini', 'tmp'))).length > 0, 'gemini keeps its chats in the home it was given');
    },
  },
});

describe('AcpDriver with the real Gemini CLI', () => {
  const chats = acp.chats();
  /** A session of a new chat whose process is warm from a first turn, `prompt` answered with `reply`. */
  const warmed = async (prompt: string, reply: string) => {
    const { chat, session } = await chats.chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: [reply] });
    assert.equal((await session.turn(prompt)).result.ok, true);
    return { chat, session, pid: session.pid() };
  };
  const toolEvents = (events: AgentEvent[]) => ({
    calls: events.filter((e): e is Extract<AgentEvent, { kind: 'tool_call' }> => e.kind === 'tool_call'),
    results: events.filter((e): e is Extract<AgentEvent, { kind: 'tool_result' }> => e.kind === 'tool_result'),
  });

  it('shows a shell call it asked about, runs it in the worktree once allowed, and the model gets the output', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
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
    const { chat, session, pid } = await warmed('before the abort', 'warming up');
    chat.fake.enqueue({ kind: 'stall', chunks: ['partial '] });
    const t = await stoppedTurn((options) => session.turn('this one stalls', options));
    assert.ok(t.stopMs !== null, 'the turn streamed');
    assert.deepEqual(t.result, { ok: false, code: 'aborted', error: 'aborted', usage: null });
    assert.ok(t.stopMs < 3_000, `the stop took ${t.stopMs.toFixed(0)} ms`);
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

  it('resumes on an empty agent home from PostgreSQL, with the whole history, a tool call in it, and replays none of it into the turn', LIMIT, async () => {
    const chat = await chats.create();
    const driver = chats.driver(chat);
    const session = new ChatSession(driver, acp.spec(chat, { permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue({ kind: 'thinking', thinking: ['**Noting**the word'], text: ['noted WOMBAT'] });
    assert.equal((await session.turn('remember WOMBAT')).result.ok, true);
    chat.fake.enqueue({ kind: 'tool_use', name: 'run_shell_command', input: { command: 'echo 42 > answer.txt', description: 'write the answer' } }, { kind: 'text', chunks: ['wrote 42'] });
    const tool = await session.turn('write the answer');
    assert.equal(tool.result.ok, true, JSON.stringify(tool.result));
    assert.equal((await readFile(path.join(chat.worktree, 'answer.txt'), 'utf8')).trim(), '42');
    const token = session.reports.last!;
    await driver.dispose();

    const elsewhere = chats.driver(chat, await chats.configDir());
    const again = new ChatSession(elsewhere, acp.spec(chat, { resume: token }));
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
    const third = new ChatSession(elsewhere, acp.spec(chat, { resume: token }));
    chat.fake.enqueue({ kind: 'text', chunks: ['still WOMBAT'] });
    const t3 = await third.turn('and now?');
    assert.equal(t3.result.ok, true, JSON.stringify(t3.result));
    const after = sent(chat.fake.mainRequests().at(-1));
    for (const earlier of ['remember WOMBAT', 'wrote 42', 'WOMBAT and 42', 'and now?']) assert.ok(after.includes(earlier), `the third request carries "${earlier}"`);
    await third.close();
  });

  it('keeps the worktree untrusted where it asks, and trusts it only in a process opened in a mode that asks less', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
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
    const { chat, session, pid } = await warmed('first', 'warm');
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
    const driver = chats.driver(chat);
    await assert.rejects(driver.open(acp.spec(chat, { resume: '0b5f3a52-0000-4000-8000-000000000000' }), new RecordedReports()), (err) => {
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
    const { chat, session } = await chats.chatSession({ permissionMode: 'bypassPermissions' });
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
});
