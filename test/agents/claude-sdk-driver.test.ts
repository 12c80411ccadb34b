// ClaudeSdkDriver driving the real Claude Code binary against the fake model server, on a
// real PostgreSQL and real git worktrees: the driver contract, then what is the SDK
// driver's own (one warm process across turns, options changed on it, its environment).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudeSdkDriver, type ClaudeSdkDriverDeps } from '../../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentEvent } from '../../src/api/events.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { lastUserText } from '../fixtures/fake-anthropic.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { BackendChats, sent, sessionSpec, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { ChatSession, texts, type Turn } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { driverContract } from './driver-contract.js';

let db: TestSchema;
const log = pino({ level: 'silent' });
const LIMIT = { timeout: 60_000 };

before(async () => {
  db = await testSchema('claude_sdk');
});
after(async () => {
  await db.drop();
});

function sdkDriver(chat: BackendChat, configDir = chat.configDir, extra: Partial<ClaudeSdkDriverDeps> = {}): ClaudeSdkDriver {
  return new ClaudeSdkDriver({
    log,
    sessionStore: new PostgresSessionStore(db.sql),
    env: claudeEnv(chat.fake, configDir),
    processTagPrefix: chat.tagPrefix,
    ...extra,
  });
}

driverContract({
  name: 'ClaudeSdkDriver',
  driver: (chat, configDir) => sdkDriver(chat, configDir),
  spec: sessionSpec,
  script: (chat, ...replies) => chat.fake.enqueue(...replies),
});

describe('ClaudeSdkDriver with the real Claude Code binary', () => {
  let chats: BackendChats;
  const drivers: ClaudeSdkDriver[] = [];
  before(() => {
    chats = new BackendChats();
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.dispose()));
    await chats.close();
  });
  const chatSession = async (extra: Partial<ClaudeSdkDriverDeps> = {}) => {
    const chat = await chats.create();
    const driver = sdkDriver(chat, chat.configDir, extra);
    drivers.push(driver);
    return { chat, driver, session: new ChatSession(driver, sessionSpec(chat)) };
  };
  const resultOf = (t: Turn) => t.events.find((e) => e.kind === 'tool_result') as Extract<AgentEvent, { kind: 'tool_result' }>;

  it('is warm, and says why when switched off', () => {
    const off = new ClaudeSdkDriver({ log, sessionStore: new PostgresSessionStore(db.sql), switchedOff: 'switched off by CLAUDE_SDK_BACKEND' });
    assert.equal(off.warm, true);
    assert.equal(off.backend, 'claude_sdk');
    assert.equal(off.unavailable(), 'switched off by CLAUDE_SDK_BACKEND');
  });

  it('refuses to open a session while switched off', LIMIT, async () => {
    const chat = await chats.create();
    const off = sdkDriver(chat, chat.configDir, { switchedOff: 'switched off by CLAUDE_SDK_BACKEND' });
    await assert.rejects(off.open(sessionSpec(chat), { resumeToken: () => {} }), (err) => err instanceof AgentStartError && /CLAUDE_SDK_BACKEND/.test(err.message));
  });

  it('keeps one warm process across turns, and the second turn streams far sooner', LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['first ', 'answer'] }, { kind: 'text', chunks: ['second ', 'answer'] });
    // A cold turn is timed from before its session opens.
    const opening = performance.now();
    await session.session();
    const openMs = performance.now() - opening;
    const one = await session.turn('first question');
    assert.equal(one.result.ok, true);
    const pid = session.pid();
    assert.ok(pid && alive(pid));
    const two = await session.turn('second question');
    assert.equal(two.result.ok, true);
    assert.equal(session.pid(), pid, 'the same process served both turns');
    assert.deepEqual(texts(two.events, 'text_delta'), ['second ', 'answer']);
    const cold = openMs + one.firstDeltaMs!;
    assert.ok(two.firstDeltaMs! * 2 < cold, `warm first delta ${two.firstDeltaMs!.toFixed(0)} ms vs cold ${cold.toFixed(0)} ms`);
    // The second request carries the first exchange: one conversation.
    const last = sent(chat.fake.mainRequests().at(-1));
    assert.match(last, /first question/);
    assert.match(last, /first answer/);
  });

  it('changes the permission mode warm where the agent allows, and takes a new process where it does not', LIMIT, async () => {
    const { chat, session } = await chatSession();
    const marker = path.join(chat.worktree, 'touched.txt');
    const touch = () =>
      chat.fake.enqueue(
        { kind: 'tool_use', name: 'Bash', input: { command: `touch ${marker}`, description: 'touch' } },
        { kind: 'text', chunks: ['tried'] },
      );

    // The SDK's default mode asks before running a command; here the person refuses.
    touch();
    const person = new ScriptedPerson(pick('reject_once'));
    const refused = await session.turn('touch it', { answer: person.answer });
    assert.equal(refused.result.ok, true);
    assert.equal(person.only().subject, `touch ${marker}`);
    assert.equal(resultOf(refused).isError, true);
    assert.equal(existsSync(marker), false);
    const defaultPid = session.pid();

    // Entering bypassPermissions takes a process launched for it: reconfigure says so.
    const live = await session.session();
    assert.equal(await live.reconfigure({ worktreePath: chat.worktree, model: null, permissionMode: 'bypassPermissions' }), false);
    touch();
    // Nobody is asked in bypassPermissions: the default context would stop the turn.
    const allowed = await session.turn('touch it now', { with: { permissionMode: 'bypassPermissions' } });
    assert.equal(resultOf(allowed).isError, false);
    assert.equal(existsSync(marker), true);
    const bypassPid = session.pid();
    assert.notEqual(bypassPid, defaultPid);
    await waitUntil('the old process to exit', () => !alive(defaultPid!));
    // The new process resumed the conversation.
    assert.match(sent(chat.fake.mainRequests().at(-1)), /touch it now/);
    assert.match(sent(chat.fake.mainRequests().at(-1)), /"touch it"/);

    // Leaving it happens on the warm process.
    await rm(marker);
    touch();
    const again = new ScriptedPerson(pick('reject_once'));
    const refusedAgain = await session.turn('once more', { with: { permissionMode: 'default' }, answer: again.answer });
    again.only();
    assert.equal(resultOf(refusedAgain).isError, true);
    assert.equal(existsSync(marker), false);
    assert.equal(session.pid(), bypassPid);
    // The same options are taken as they are.
    assert.equal(await (await session.session()).reconfigure({ worktreePath: chat.worktree, model: null, permissionMode: 'default' }), true);
    assert.equal(session.pid(), bypassPid);
  });

  it("gives the agent what it needs and none of Hearth's secrets", LIMIT, async () => {
    const chat = await chats.create();
    const driver = sdkDriver(chat, chat.configDir, {
      env: {
        ...claudeEnv(chat.fake, chat.configDir),
        LANG: 'C.UTF-8',
        DATABASE_URL: 'postgres://hearth:db-secret@db/hearth',
        HEARTH_TOKEN: 'token-secret',
        HEARTH_ANYTHING: 'hearth-setting',
        STRIPE_KEY: 'configured-secret',
        ANTHROPIC_AUTH_TOKEN: 'also-configured',
        RANDOM_SERVER_SETTING: 'not-allowlisted',
      },
      secrets: ['STRIPE_KEY', 'ANTHROPIC_AUTH_TOKEN'],
    });
    drivers.push(driver);
    const session = new ChatSession(driver, sessionSpec(chat, { permissionMode: 'bypassPermissions' }));
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'env > env.txt', description: 'print env' } },
      { kind: 'text', chunks: ['printed'] },
    );
    const t = await session.turn('print the environment');
    assert.equal(t.result.ok, true);
    const env = await readFile(path.join(chat.worktree, 'env.txt'), 'utf8');
    for (const present of ['PATH=', 'HOME=', 'LANG=C.UTF-8', `ANTHROPIC_BASE_URL=${chat.fake.url}`, 'ANTHROPIC_API_KEY=', 'CLAUDE_CONFIG_DIR=']) {
      assert.ok(env.includes(present), `${present} reaches the agent`);
    }
    for (const secret of ['db-secret', 'token-secret', 'hearth-setting', 'configured-secret', 'also-configured', 'not-allowlisted']) {
      assert.ok(!env.includes(secret), `${secret} stays out`);
    }
  });

  it('asks for a new process on a model change, which keeps the conversation', LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['noted PENGUIN'] });
    await session.turn('the word is PENGUIN', { with: { model: 'claude-sonnet-4-5' } });
    const pid = session.pid();
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'claude-sonnet-4-5');
    const live = await session.session();
    assert.equal(await live.reconfigure({ worktreePath: chat.worktree, model: 'claude-haiku-4-5', permissionMode: null }), false);
    assert.equal(live.state(), 'idle', 'a refused change leaves the session as it was');
    chat.fake.enqueue({ kind: 'text', chunks: ['still PENGUIN'] });
    const t = await session.turn('which word?', { with: { model: 'claude-haiku-4-5' } });
    assert.equal(t.result.ok, true);
    assert.notEqual(session.pid(), pid, 'a new process for the new model');
    await waitUntil('the old process to exit', () => !alive(pid!));
    const last = chat.fake.mainRequests().at(-1)!;
    assert.equal(last.body.model, 'claude-haiku-4-5');
    assert.match(sent(last), /the word is PENGUIN/);
  });

  it('asks for a new process on a change of worktree', LIMIT, async () => {
    const { chat, session } = await chatSession();
    const live = await session.session();
    assert.equal(await live.reconfigure({ worktreePath: path.join(chat.worktree, '..'), model: null, permissionMode: null }), false);
  });

  it('returns an API error as the turn’s failure, in readable words, emitted once as it came', LIMIT, async () => {
    const { chat, session } = await chatSession();
    chat.fake.enqueue({ kind: 'error', status: 529, message: 'the fake is overloaded' });
    const failed = await session.turn('this fails');
    assert.ok(!failed.result.ok && failed.result.code === 'api_error', JSON.stringify(failed.result));
    assert.match(failed.result.error, /529/);
    const errors = failed.events.filter((e): e is Extract<AgentEvent, { kind: 'error' }> => e.kind === 'error');
    // Claude Code reports the failure as a message while the turn runs, then in its result: the first goes out, the second is returned.
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.message, failed.result.error, 'the same words, so the runtime sends it once');
  });

  it('runs ten chats at once, two turns each, with unmixed transcripts', LIMIT, async () => {
    const all = await Promise.all(Array.from({ length: 10 }, () => chats.create()));
    const results = await Promise.all(
      all.map(async (chat, i) => {
        const driver = sdkDriver(chat);
        drivers.push(driver);
        const session = new ChatSession(driver, sessionSpec(chat));
        const a = await session.turn(`echo: chat ${i} turn 1`);
        const b = await session.turn(`echo: chat ${i} turn 2`);
        await driver.dispose();
        return { i, a, b };
      }),
    );
    for (const { i, a, b } of results) {
      assert.equal(a.result.ok, true);
      assert.equal(b.result.ok, true);
      assert.equal(texts(a.events, 'text_delta').join(''), `reply to echo: chat ${i} turn 1`);
      assert.equal(texts(b.events, 'text_delta').join(''), `reply to echo: chat ${i} turn 2`);
      const second = all[i]!.fake.mainRequests().find((r) => lastUserText(r) === `echo: chat ${i} turn 2`);
      const body = sent(second);
      assert.match(body, new RegExp(`chat ${i} turn 1`));
      for (const j of all.keys()) if (j !== i) assert.doesNotMatch(body, new RegExp(`chat ${j} turn`), `chat ${i} sees nothing of chat ${j}`);
    }
  });
});
