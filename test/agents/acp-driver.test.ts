// AcpDriver driving the real claude-agent-acp against the fake model server, on real git
// worktrees: the driver contract and the ACP contract, then what is the ACP driver's own
// (the client's file system confined to the worktree, options by kind) and claude-agent-acp's.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AcpDriver, modeFor } from '../../src/agents/acp/acp-driver.js';
import { claudeAcpPath } from '../../src/agents/acp/agents/claude-acp.js';
import { OutsideWorktreeError, readWorktreeFile, worktreePath, writeWorktreeFile } from '../../src/agents/acp/acp-fs.js';
import { acpAsk, acpOutcome } from '../../src/agents/acp/acp-permissions.js';
import { AcpTurnMapper } from '../../src/agents/acp/acp-mapper.js';
import { isCurrent, modelChoice } from '../../src/agents/acp/acp-config.js';
import type { SessionSpec } from '../../src/agents/contract/driver.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { acpDrivers, askWord, keepWord, log } from '../fixtures/acp-drivers.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { ChatSession, RecordedReports, runTurn, stoppedTurn, texts } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';
import { acpContract } from './acp-contract.js';
import { driverContract } from './driver-contract.js';

const acp = acpDrivers({ name: 'AcpDriver (claude-agent-acp)', agent: 'claude-acp', installPath: claudeAcpPath()!, schema: 'acp_driver', timeout: 60_000, env: (chat, homeDir) => claudeEnv(chat.fake, homeDir) });
const LIMIT = acp.limit;

driverContract({
  ...acp.contract,
  // claude-agent-acp offers "always" for the tool as a whole, with no command prefix.
  suggestsPrefixes: false,
  cannotHold: {
    'writes nothing when denied, and the agent hears the person’s words':
      'an ACP permission outcome carries an option id and nothing else: the person’s words have no way to the agent',
    'keeps the agent planning when its plan is not approved, with the person’s note':
      'an ACP permission outcome carries an option id and nothing else: the person’s note has no way to the agent',
    "puts the agent's questions with their choices, and the agent gets the answers":
      'claude-agent-acp sends no session/request_permission for AskUserQuestion to a client without elicitation',
    "counts a stopped turn's tokens and cost from the same figures, and the next turn only its own":
      'claude-agent-acp returns no tokens for a cancelled turn: the stopped call has not reported its usage when the prompt answers',
  },
});

acpContract({
  acp,
  reaches: (chat) => ['HOME=', `ANTHROPIC_BASE_URL=${chat.fake.url}`, 'CLAUDE_CONFIG_DIR='],
});

describe('AcpDriver with the real claude-agent-acp', () => {
  const chats = acp.chats();

  it('is warm, and says why when switched off', () => {
    const off = new AcpDriver({ log, switchedOff: 'switched off by ACP_BACKEND', homes: tmpdir() });
    assert.equal(off.warm, true);
    assert.equal(off.backend, 'warm_acp');
    assert.equal(off.unavailable(), 'switched off by ACP_BACKEND');
  });

  it("runs the chat's model through the agent's model option, and changes it on the same process", LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ model: 'sonnet' });
    assert.equal((await session.turn('which model?')).result.ok, true);
    const pid = session.pid();
    assert.match(String(chat.fake.mainRequests().at(-1)!.body.model), /sonnet/);
    const t = await session.turn('and now?', { with: { model: 'haiku' } });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.equal(session.pid(), pid, 'a model the agent offers is changed without a new process');
    assert.match(String(chat.fake.mainRequests().at(-1)!.body.model), /haiku/);
    await session.close();
  });

  it('resumes the conversation on the same machine without replaying it, and counts only the new turn', LIMIT, async () => {
    const { chat, driver, session } = await chats.chatSession();
    const token = await keepWord(chat, session, 'OCELOT');
    await session.close();

    const again = new ChatSession(driver, acp.spec(chat, { resume: token }));
    const t = await askWord(chat, again, 'OCELOT', token);
    assert.equal(t.result.ok && t.result.usage?.inputTokens, 10);
    await again.close();
  });
});

describe("the ACP client's file system", () => {
  let root: string;
  let outside: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'hearth-acp-fs-'));
    outside = await mkdtemp(path.join(tmpdir(), 'hearth-acp-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'SECRET');
    await writeFile(path.join(root, 'lines.txt'), 'one\ntwo\nthree\nfour\n');
    await symlink(outside, path.join(root, 'escape'));
    await symlink(path.join(outside, 'secret.txt'), path.join(root, 'secret-link.txt'));
    await mkdir(path.join(root, 'sub'));
  });

  it('reads and writes inside the worktree, lines by number where asked', async () => {
    assert.equal(await readWorktreeFile(root, path.join(root, 'lines.txt'), 2, 2), 'two\nthree');
    await writeWorktreeFile(root, path.join(root, 'sub', 'deeper', 'new.txt'), 'made');
    assert.equal(await readFile(path.join(root, 'sub', 'deeper', 'new.txt'), 'utf8'), 'made');
  });

  it('refuses a path outside the worktree, through .., a symlinked directory or a symlinked file, and relative paths', async () => {
    const refused = [
      path.join(outside, 'secret.txt'),
      path.join(root, '..', path.basename(outside), 'secret.txt'),
      path.join(root, 'escape', 'secret.txt'),
      path.join(root, 'secret-link.txt'),
      'lines.txt',
    ];
    for (const p of refused) {
      await assert.rejects(readWorktreeFile(root, p), OutsideWorktreeError, p);
      await assert.rejects(writeWorktreeFile(root, p, 'overwritten'), OutsideWorktreeError, p);
    }
    await assert.rejects(writeWorktreeFile(root, path.join(root, 'escape', 'planted.txt'), 'x'), OutsideWorktreeError);
    assert.equal(await readFile(path.join(outside, 'secret.txt'), 'utf8'), 'SECRET', 'nothing outside was written');
    assert.equal(await worktreePath(root, path.join(root, 'sub', 'not-yet.txt')), path.join(await realpath(root), 'sub', 'not-yet.txt'));
  });
});

describe('AcpDriver with a stand-in agent', () => {
  const STUB = fileURLToPath(new URL('../fixtures/stub-acp-agent.mjs', import.meta.url));
  const chats = acp.chats();
  const open = async (more: Partial<SessionSpec> = {}) => {
    const chat = await chats.create();
    const driver = chats.driver(chat, chat.configDir, { cancelGraceMs: 500 });
    const reports = new RecordedReports();
    return { chat, reports, session: await driver.open(acp.spec(chat, { installPath: STUB, ...more }), reports) };
  };

  it('loads a conversation where the agent cannot resume one, and shows none of the history it replays', LIMIT, async () => {
    const { session, reports } = await open({ resume: 'an-earlier-session' });
    assert.deepEqual(reports.tokens, ['an-earlier-session']);
    const t = await runTurn(session, 'say fresh words');
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.deepEqual(texts(t.events, 'text_delta'), ['fresh words'], 'the replayed history is not the turn’s');
    assert.deepEqual(
      t.events.filter((e) => e.kind === 'message').map((e) => e.kind === 'message' && e.parts),
      [[{ type: 'text', text: 'fresh words' }]],
    );
    await session.close();
  });

  it("gives the agent its own variables and none of Hearth's secrets", LIMIT, async () => {
    const chat = await chats.create();
    const env = {
      ...claudeEnv(chat.fake, chat.configDir),
      HEARTH_TOKEN: 'acp-secret-token',
      DATABASE_URL: 'postgres://u:acp-db-password@127.0.0.1/x',
      PGPASSWORD: 'acp-pg-password',
      MY_OWN_SECRET: 'acp-own-secret',
      CLAUDE_CODE_MAX_RETRIES: '0',
      UNRELATED_VARIABLE: 'not for agents',
    };
    const driver = chats.keep(new AcpDriver({ log, env, secrets: ['MY_OWN_SECRET'], processTagPrefix: chat.tagPrefix, homes: path.join(chat.configDir, 'agents') }));
    const session = await driver.open(acp.spec(chat, { installPath: STUB }), new RecordedReports());
    assert.equal((await runTurn(session, 'env')).result.ok, true);
    const seen = JSON.parse(await readFile(path.join(chat.worktree, 'env.json'), 'utf8')) as Record<string, string>;
    assert.equal(seen.CLAUDE_CODE_MAX_RETRIES, '0', "the agent's own variables pass");
    assert.ok(seen.PATH, 'and what any program needs');
    for (const name of ['HEARTH_TOKEN', 'DATABASE_URL', 'PGPASSWORD', 'MY_OWN_SECRET', 'UNRELATED_VARIABLE']) assert.equal(seen[name], undefined, name);
    assert.doesNotMatch(JSON.stringify(seen), /acp-secret-token|acp-db-password|acp-pg-password|acp-own-secret/);
    await session.close();
  });

  it('lets an idle agent close its session before its process is ended, and gives a busy one no such wait', LIMIT, async () => {
    const idle = await open();
    assert.equal((await runTurn(idle.session, 'say done')).result.ok, true);
    await idle.session.close();
    assert.ok(existsSync(path.join(idle.chat.worktree, 'closed-stub-session')), 'session/close reached the agent');

    const busy = await open();
    const t = runTurn(busy.session, 'hang', { onEvent: (e) => void (e.kind === 'text_delta' && busy.session.close()) });
    assert.equal((await t).result.ok, false);
    assert.equal(existsSync(path.join(busy.chat.worktree, 'closed-stub-session')), false, 'a session closed mid-turn is ended at once');
  });

  it("answers the agent's file requests inside the worktree and refuses those outside", LIMIT, async () => {
    const { chat, session } = await open();
    const outside = await mkdtemp(path.join(tmpdir(), 'hearth-acp-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'SECRET');
    await writeFile(path.join(chat.worktree, 'mine.txt'), 'MINE');
    await symlink(outside, path.join(chat.worktree, 'escape'));
    const said = async (prompt: string) => texts((await runTurn(session, prompt)).events, 'text_delta').join('');
    assert.equal(await said(`read ${path.join(chat.worktree, 'mine.txt')}`), 'got: MINE');
    assert.match(await said(`read ${path.join(outside, 'secret.txt')}`), /^refused: .*outside the worktree/);
    assert.match(await said(`read ${path.join(chat.worktree, 'escape', 'secret.txt')}`), /^refused: .*outside the worktree/);
    assert.match(await said(`write ${path.join(chat.worktree, 'escape', 'planted.txt')}`), /^refused: /);
    assert.equal(existsSync(path.join(outside, 'planted.txt')), false);
    assert.equal(await said(`write ${path.join(chat.worktree, 'planted.txt')}`), 'got: written');
    assert.equal(await readFile(path.join(chat.worktree, 'planted.txt'), 'utf8'), 'PLANTED');
    await session.close();
  });

  it('ends an agent that ignores a cancel once the grace period is over, and the turn is aborted', LIMIT, async () => {
    const { chat, session } = await open();
    const pid = session.pid()!;
    const t = await stoppedTurn((options) => runTurn(session, 'hang', options));
    assert.ok(t.stopMs !== null, 'the turn streamed');
    assert.deepEqual(t.result, { ok: false, code: 'aborted', error: 'aborted', usage: null });
    assert.ok(t.stopMs < 3_000, `the stop took ${t.stopMs.toFixed(0)} ms`);
    assert.equal(session.state(), 'closed', 'a process that had to be ended serves no more');
    await waitUntil('the stand-in to be gone', () => !alive(pid) && taggedProcesses({ prefix: chat.tagPrefix }).length === 0);
  });
});

describe('ACP modes', () => {
  const modes = { currentModeId: 'auto', availableModes: ['default', 'acceptEdits', 'plan', 'auto', 'bypassPermissions'].map((id) => ({ id, name: id })) };
  it("takes the agent's mode of the same id, its default for null or a mode it lacks", () => {
    assert.equal(modeFor('plan', modes), 'plan');
    assert.equal(modeFor('bypassPermissions', modes), 'bypassPermissions');
    assert.equal(modeFor(null, modes), 'default');
    assert.equal(modeFor('dontAsk', modes), 'default');
    assert.equal(modeFor('plan', { currentModeId: 'x', availableModes: [{ id: 'x', name: 'x' }] }), null);
  });
});

describe('ACP updates as events', () => {
  it("reports how full the context window is, and keeps the session's running cost where the agent gives one", () => {
    const mapper = new AcpTurnMapper(() => {});
    assert.deepEqual(mapper.map({ sessionUpdate: 'usage_update', used: 5_000, size: 200_000 }), [{ kind: 'context', used: 5_000, size: 200_000 }]);
    assert.equal(mapper.costUsd, null, 'no cost given: unknown');
    mapper.map({ sessionUpdate: 'usage_update', used: 6_000, size: 200_000, cost: { amount: 0.02, currency: 'USD' } });
    assert.equal(mapper.costUsd, 0.02);
  });
});

describe('ACP configuration options', () => {
  const options = [
    { id: 'mode', name: 'Mode', category: 'mode', type: 'select' as const, currentValue: 'auto', options: [{ value: 'auto', name: 'Auto' }] },
    {
      id: 'model',
      name: 'Model',
      category: 'model',
      type: 'select' as const,
      currentValue: 'default',
      options: [{ group: 'g', name: 'Claude', options: [{ value: 'default', name: 'Default' }, { value: 'opus', name: 'Opus 5.5' }] }],
    },
  ];
  it("sets the model option to the chat's model by value or by name, and leaves a model it does not offer to the agent", () => {
    assert.deepEqual(modelChoice('opus', options), { configId: 'model', value: 'opus' });
    assert.deepEqual(modelChoice('opus 5.5', options), { configId: 'model', value: 'opus' });
    assert.equal(modelChoice('claude-opus-5-5-20261101', options), null);
    assert.equal(modelChoice(null, options), null);
    assert.equal(modelChoice('opus', options.slice(0, 1)), null, 'no model option');
    assert.equal(isCurrent({ configId: 'model', value: 'default' }, options), true);
    assert.equal(isCurrent({ configId: 'model', value: 'opus' }, options), false);
  });
});

describe('ACP permission requests', () => {
  const request = {
    sessionId: 's',
    toolCall: { toolCallId: 'call-1', title: 'Run npm test', kind: 'execute' as const, rawInput: { command: 'npm test' } },
    // Another version's ids: the answer is chosen by kind.
    options: [
      { optionId: 'proceed', name: 'Yes', kind: 'allow_once' as const },
      { optionId: 'proceed_always', name: 'Always', kind: 'allow_always' as const },
      { optionId: 'cancel', name: 'No', kind: 'reject_once' as const },
    ],
  };

  it("offers Hearth's option ids, the ACP kinds, with the agent's labels and the command", () => {
    const ask = acpAsk(request, '/srv/chat-worktree');
    assert.deepEqual(ask.options, [
      { id: 'allow_once', kind: 'allow_once', label: 'Yes' },
      { id: 'allow_always', kind: 'allow_always', label: 'Always' },
      { id: 'reject_once', kind: 'reject_once', label: 'No' },
    ]);
    assert.equal(ask.toolCallId, 'call-1');
    assert.deepEqual(ask.details, { title: 'Run npm test', toolKind: 'execute', command: 'npm test', cwd: '/srv/chat-worktree' });
    assert.equal(ask.subject, 'npm test');
  });

  it("answers with the agent's option of the chosen kind, or cancelled", () => {
    assert.deepEqual(acpOutcome(request.options, { outcome: 'selected', optionId: 'reject_once', kind: 'reject_once' }), { outcome: 'selected', optionId: 'cancel' });
    assert.deepEqual(acpOutcome(request.options, { outcome: 'selected', optionId: 'allow_always', kind: 'allow_always' }), { outcome: 'selected', optionId: 'proceed_always' });
    assert.deepEqual(acpOutcome(request.options, { outcome: 'selected', optionId: 'reject_always', kind: 'reject_always' }), { outcome: 'selected', optionId: 'cancel' });
    assert.deepEqual(acpOutcome(request.options, { outcome: 'cancelled', message: 'stopped' }), { outcome: 'cancelled' });
  });
});
