// AcpDriver driving the real codex-acp (and the Codex it runs) against the fake model
// server speaking the Responses API, on real git worktrees: the driver contract and the
// ACP contract, then what is Codex's own (asking before it leaves its sandbox, resuming
// on another machine's empty home).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AcpDriver, modeFor } from '../../src/agents/acp/acp-driver.js';
import { CODEX_CONFIG_TOML, CODEX_MODES, codexAcpPath, codexBinaryPath } from '../../src/agents/acp/agents/codex.js';
import type { PermissionMode } from '../../src/api/views.js';
import { startDemo } from '../../src/demo/demo-mode.js';
import { acpDrivers, askWord, keepWord, log } from '../fixtures/acp-drivers.js';
import type { BackendChat } from '../fixtures/backend-chats.js';
import { codexEnv } from '../fixtures/codex-env.js';
import { lastToolResult } from '../fixtures/fake-anthropic.js';
import { ChatSession, RecordedReports, runTurn, texts } from '../fixtures/driver-turns.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { acpContract } from './acp-contract.js';
import { driverContract, type ToolCallScript, type ToolIntent } from './driver-contract.js';

const ENTRY = codexAcpPath()!;
const acp = acpDrivers({ name: 'AcpDriver (codex-acp)', agent: 'codex', installPath: ENTRY, schema: 'acp_codex', timeout: 90_000, env: (chat, homeDir) => codexEnv(chat.fake, homeDir) });
const LIMIT = acp.limit;

/** Whether Codex runs the chat's commands where it may ask first: everywhere but full access. */
const canAsk = (mode: PermissionMode | null) => mode !== 'bypassPermissions' && mode !== 'dontAsk';

/**
 * Codex's tool call for an intent, as its catalog models make it: JavaScript for its
 * one `exec` tool, calling `exec_command` or `apply_patch`. A command is run outside
 * the sandbox (`require_escalated`) where Codex may ask first, which is when it asks;
 * with full access it takes no such request. codex-acp names a command's call after
 * its tool only when it runs unasked, and a file change never: otherwise its title.
 */
function codexToolCall(chat: BackendChat, intent: ToolIntent, mode: PermissionMode | null): ToolCallScript {
  if (intent.kind === 'shell') {
    const escalate = canAsk(mode);
    const args = { cmd: intent.command, ...(escalate ? { sandbox_permissions: 'require_escalated', justification: intent.description } : {}) };
    const code = `const r = await tools.exec_command(${JSON.stringify(args)});\ntext(r.output ?? r);`;
    return {
      reply: { kind: 'tool_use', name: 'exec', input: { input: code } },
      name: escalate ? intent.command : 'exec_command',
      input: { command: intent.command, cwd: chat.worktree },
      askedTool: intent.command,
    };
  }
  const lines = intent.content.replace(/\n$/, '').split('\n').map((l) => `+${l}`);
  const patch = ['*** Begin Patch', `*** Add File: ${path.relative(chat.worktree, intent.path)}`, ...lines, '*** End Patch', ''].join('\n');
  return {
    reply: { kind: 'tool_use', name: 'exec', input: { input: `const r = await tools.apply_patch(${JSON.stringify(patch)});\ntext(r);` } },
    name: 'Editing files',
    input: {},
    askedTool: 'Edit files',
  };
}

const ACP_WORDS = 'an ACP permission outcome carries an option id and nothing else: the person’s words have no way to the agent';

driverContract({
  ...acp.contract,
  toolCall: codexToolCall,
  // codex-acp reports tokens and no cost: it is unknown.
  price: () => null,
  sessionIdSent: (req) => req.headers['session-id'],
  // Its standing answer names the command whole, as asked.
  suggestsPrefixes: false,
  cannotHold: {
    'writes nothing when denied, and the agent hears the person’s words': ACP_WORDS,
    'keeps the agent planning when its plan is not approved, with the person’s note':
      'Codex has no plan to approve: its plan mode is a collaboration mode that asks nobody before it ends',
    'asks approval of a plan with its text, and once approved the agent leaves plan mode, for this turn only':
      'Codex has no plan to approve: its plan mode is a collaboration mode that asks nobody before it ends',
    "counts a stopped turn's tokens and cost from the same figures, and the next turn only its own":
      'the Responses API gives a response’s usage only in response.completed, which a stopped stream never reaches, and Codex estimates none: a stopped turn returns no tokens',
    "puts the agent's questions with their choices, and the agent gets the answers":
      'Codex asks its questions (request_user_input) as ACP elicitation forms, which Hearth does not declare, and only in plan mode',
  },
});

acpContract({
  acp,
  toolCall: codexToolCall,
  reaches: (chat) => ['HOME=', `OPENAI_BASE_URL=${chat.fake.url}/v1`, 'CODEX_HOME='],
});

describe('AcpDriver with the real codex-acp', () => {
  const chats = acp.chats();

  it('runs the native codex binary the adapter depends on', () => {
    const binary = codexBinaryPath(ENTRY);
    assert.ok(binary && existsSync(binary), `found ${binary}`);
  });

  it('asks before a command leaves its sandbox, and runs it in the worktree once allowed', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
    const command = 'echo allowed > allowed.txt && cat allowed.txt';
    chat.fake.enqueue(codexToolCall(chat, { kind: 'shell', command, description: 'write a file' }, 'default').reply, { kind: 'text', chunks: ['ran it'] });
    const person = new ScriptedPerson(pick('allow_once'));
    const t = await session.turn('write it', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const ask = person.only();
    assert.equal(ask.subject, command);
    assert.equal(ask.details?.cwd, chat.worktree);
    assert.deepEqual(
      ask.options.map((o) => o.kind),
      ['allow_once', 'allow_always', 'reject_once'],
    );
    assert.equal((await readFile(path.join(chat.worktree, 'allowed.txt'), 'utf8')).trim(), 'allowed');
    const result = t.events.find((e) => e.kind === 'tool_result');
    assert.ok(result && result.kind === 'tool_result' && !result.isError && /allowed/.test(result.output), JSON.stringify(result));
    await session.close();
  });

  it('fails a turn whose model call fails, with the error, and the next turn works', LIMIT, async () => {
    const { chat, session } = await chats.chatSession();
    chat.fake.enqueue({ kind: 'error', status: 400, message: 'the scripted request was refused' });
    const t = await session.turn('this fails');
    assert.ok(!t.result.ok && t.result.code === 'api_error', JSON.stringify(t.result));
    assert.match(t.result.error, /^codex: .*the scripted request was refused/);
    assert.deepEqual(texts(t.events, 'text_delta'), [], 'the error is no reply');
    chat.fake.enqueue({ kind: 'text', chunks: ['fine again'] });
    const next = await session.turn('and now?');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.deepEqual(texts(next.events, 'text_delta'), ['fine again']);
    await session.close();
  });

  it('retries a failed model call as often as CODEX_REQUEST_MAX_RETRIES allows', LIMIT, async () => {
    const chat = await chats.create();
    const driver = chats.driver(chat, chat.configDir, { env: codexEnv(chat.fake, chat.configDir, { CODEX_REQUEST_MAX_RETRIES: '1' }) });
    const session = new ChatSession(driver, acp.spec(chat));
    chat.fake.enqueue({ kind: 'error', status: 500 }, { kind: 'text', chunks: ['second try'] });
    const t = await session.turn('try twice');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.deepEqual(texts(t.events, 'text_delta'), ['second try']);
    assert.equal(chat.fake.mainRequests().length, 2);
    await session.close();
  });

  it("keeps a person's standing answer to the chat: Codex is allowed once, and writes no rule of its own for the node", LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
    const command = 'echo always >> always.txt';
    const run = () => codexToolCall(chat, { kind: 'shell', command, description: 'append' }, 'default').reply;
    chat.fake.enqueue(run(), { kind: 'text', chunks: ['once'] }, run(), { kind: 'text', chunks: ['twice'] });
    const person = new ScriptedPerson(pick('allow_always'), pick('allow_once'));
    assert.equal((await session.turn('append', { answer: person.answer })).result.ok, true);
    const again = await session.turn('append again', { answer: person.answer });
    assert.equal(again.result.ok, true, JSON.stringify(again.result));
    assert.equal(person.asks.length, 2, 'Codex asked again: it was not told "always"');
    assert.equal(await readFile(path.join(chat.worktree, 'always.txt'), 'utf8'), 'always\nalways\n');
    assert.equal(existsSync(path.join(chat.configDir, 'agents', 'codex', 'rules')) && (await readdir(path.join(chat.configDir, 'agents', 'codex', 'rules'))).length > 0, false, 'no rule in the node-wide home');
    await session.close();
  });

  it('keeps the sandbox where nobody allowed more: a command that writes fails, and nothing is written', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
    chat.fake.enqueue(codexToolCall(chat, { kind: 'shell', command: 'echo no > sandboxed.txt', description: 'write' }, 'bypassPermissions').reply, { kind: 'text', chunks: ['could not'] });
    const t = await session.turn('write it');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    // What the model is told; codex-acp reports a command its sandbox refused as a tool call only now and then.
    assert.match(lastToolResult(chat.fake.mainRequests().at(-1)!) ?? '', /sandboxed\.txt: Read-only file system/);
    const result = t.events.find((e) => e.kind === 'tool_result');
    assert.ok(!result || (result.kind === 'tool_result' && result.isError), JSON.stringify(result));
    assert.equal(existsSync(path.join(chat.worktree, 'sandboxed.txt')), false);
    await session.close();
  });

  it('resumes with the whole history after dispose, on an empty home, from PostgreSQL', LIMIT, async () => {
    const { chat, driver, session } = await chats.chatSession();
    const token = await keepWord(chat, session, 'LYNX');
    await driver.dispose();

    const elsewhere = await chats.configDir();
    const fresh = chats.driver(chat, elsewhere);
    assert.equal(existsSync(path.join(elsewhere, 'agents')), false, 'nothing of the first machine is here');
    const again = new ChatSession(fresh, acp.spec(chat, { resume: token }));
    await askWord(chat, again, 'LYNX', token);
    await again.close();
  });

  it("runs the chat's model, and its home's config.toml is Hearth's", LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ model: 'gpt-6-astra' });
    chat.fake.enqueue({ kind: 'text', chunks: ['astra here'] });
    const t = await session.turn('which model?');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.deepEqual(texts(t.events, 'text_delta'), ['astra here'], 'a model of the catalog, with no warning about it');
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'gpt-6-astra');
    assert.equal(await readFile(path.join(chat.configDir, 'agents', 'codex', 'config.toml'), 'utf8'), CODEX_CONFIG_TOML);
    await session.close();
  });

  it("holds the demo's conversation: Codex lists the repository with its shell tool, against the demo's scripted model", LIMIT, async () => {
    const chat = await chats.create();
    await writeFile(path.join(chat.worktree, 'README.md'), 'demo\n');
    const dataDir = await chats.configDir();
    const demo = await startDemo(dataDir, { PATH: process.env.PATH, HOME: dataDir, OPENAI_API_KEY: 'a-real-key-that-must-stay-out', OPENAI_BASE_URL: 'https://api.example.invalid/v1' });
    try {
      const driver = chats.keep(new AcpDriver({ log, env: demo.agentEnv as Record<string, string>, processTagPrefix: chat.tagPrefix, homes: path.join(dataDir, 'agents') }));
      const session = await driver.open(acp.spec(chat), new RecordedReports());
      const t = await runTurn(session, 'what is here?');
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      const result = t.events.find((e) => e.kind === 'tool_result');
      assert.ok(result && result.kind === 'tool_result' && /README\.md/.test(result.output), JSON.stringify(result));
      const reply = texts(t.events, 'text_delta').join('');
      assert.match(reply, /stands in for Codex's model/);
      assert.match(reply, /- `README\.md`/);
      await session.close();
    } finally {
      await demo.close();
    }
  });
});

describe("Codex's modes", () => {
  const modes = { currentModeId: 'agent', availableModes: ['read-only', 'workspace-write', 'agent', 'agent-full-access'].map((id) => ({ id, name: id })) };
  it("takes codex-acp's mode for each of Hearth's, and read-only for none", () => {
    assert.equal(modeFor(null, modes, CODEX_MODES), 'read-only');
    assert.equal(modeFor('default', modes, CODEX_MODES), 'read-only');
    assert.equal(modeFor('plan', modes, CODEX_MODES), 'read-only');
    assert.equal(modeFor('acceptEdits', modes, CODEX_MODES), 'workspace-write');
    assert.equal(modeFor('bypassPermissions', modes, CODEX_MODES), 'agent-full-access');
    assert.equal(modeFor('auto', modes, CODEX_MODES), 'agent');
    assert.equal(modeFor('acceptEdits', { currentModeId: 'read-only', availableModes: [{ id: 'read-only', name: 'r' }] }, CODEX_MODES), 'read-only');
  });
});
