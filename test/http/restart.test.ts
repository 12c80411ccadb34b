// `hearth serve` killed with SIGKILL mid-conversation, its reaper with it, then started
// again: the turn in flight is marked interrupted, the agent it left running is ended,
// and the next message continues the conversation with its whole history.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { connect } from '../../src/db/sql.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { alive, killGone } from '../fixtures/processes.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { spawnServe } from '../fixtures/serve-process.js';

const TOKEN = 'restart-token-0123456789';
const NODE = `restart-node-${process.pid}`;
let fake: FakeModelServer;
let root: string;
let repo: string;
let env: Record<string, string>;
const schema = `restart_${process.pid}`;
const servers: ChildProcess[] = [];

before(async () => {
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-restart-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  env = {
    ...claudeEnv(fake, await makeConfigDir()),
    DATABASE_URL: TEST_DATABASE_URL,
    HEARTH_DATABASE_SCHEMA: schema,
    HEARTH_DATA_DIR: path.join(root, 'data'),
    HEARTH_REPO_ROOTS: root,
    HEARTH_PORT: '0',
    HEARTH_TOKEN: TOKEN,
    HEARTH_NODE_ID: NODE,
    HEARTH_LOG_LEVEL: 'info',
  };
});

after(async () => {
  for (const s of servers) s.kill('SIGKILL');
  for (const pid of taggedProcesses({ prefix: `${NODE}:` })) killGone(pid);
  await fake.close();
  const sql = connect(TEST_DATABASE_URL, { max: 1 });
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
  await rm(root, { recursive: true, force: true });
});

async function start(): Promise<{ server: ChildProcess; client: HearthClient }> {
  const { process: server, client } = await spawnServe({ env, token: TOKEN, started: servers });
  return { server, client };
}

/** The reaper a server of this node started, found by the orders on its command line. */
function reaper(): number | undefined {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`"tagPrefix":"${NODE}:`) && alive(pid);
      } catch {
        return false;
      }
    });
}

it('survives SIGKILL mid-turn: interrupted turn, no orphan agent, whole history after restart', { timeout: 120_000 }, async () => {
  const first = await start();
  const created = await first.client.request('POST', '/api/chats', { repoPath: repo });
  assert.equal(created.status, 201);
  const chatId = created.body.id as string;

  fake.enqueue({ kind: 'text', chunks: ['Noted: the code is KESTREL.'] });
  const one = await first.client.request('POST', `/api/chats/${chatId}/messages`, { text: 'The code is KESTREL.' });
  await first.client.follow(chatId, untilTurnEnd(one.body.turnId));

  fake.enqueue({ kind: 'stall', chunks: ['Working on it'] });
  const two = await first.client.request('POST', `/api/chats/${chatId}/messages`, { text: 'Now think for a long time.' });
  await first.client.follow(chatId, (e) => e.event === 'text_delta' && e.data.turnId === two.body.turnId);
  const agents = taggedProcesses({ prefix: `${NODE}:` });
  assert.ok(agents.length > 0, 'the agent is running');
  // Killed with the server (as by a kill of every process on the machine), the reaper
  // cannot end the agent: the restart has to.
  const reaperPid = reaper();
  assert.ok(reaperPid, 'the server started a reaper');
  process.kill(reaperPid, 'SIGKILL');
  first.server.kill('SIGKILL');
  await new Promise((r) => first.server.once('exit', r));
  assert.ok(agents.some(alive), 'the killed server left its agent behind');

  const second = await start();
  for (const pid of agents) {
    // SIGKILL lands asynchronously; give it a moment.
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, `orphan ${pid} was ended at start`);
  }
  const history = await second.client.request('GET', `/api/chats/${chatId}/messages`);
  const users = history.body.messages.filter((m: any) => m.role === 'user');
  assert.deepEqual(
    users.map((m: any) => [m.parts[0].text, m.turnStatus]),
    [
      ['The code is KESTREL.', 'succeeded'],
      ['Now think for a long time.', 'interrupted'],
    ],
  );
  // What the interrupted turn had streamed is its stored reply, and says why it ended.
  const reply = history.body.messages.find((m: any) => m.role === 'assistant' && m.turnId === two.body.turnId);
  assert.ok(reply, 'the interrupted turn has a stored reply');
  assert.deepEqual(reply.parts, [
    { type: 'text', text: 'Working on it' },
    { type: 'error', message: 'the server stopped during this turn' },
  ]);
  const replay = await second.client.follow(chatId, untilTurnEnd(two.body.turnId), { after: 0 });
  assert.equal(replay.at(-1)!.data.code, 'interrupted');

  fake.enqueue({ kind: 'text', chunks: ['It was KESTREL.'] });
  const three = await second.client.request('POST', `/api/chats/${chatId}/messages`, { text: 'What was the code?' });
  const events = await second.client.follow(chatId, untilTurnEnd(three.body.turnId), { lastEventId: replay.at(-1)!.id });
  assert.equal(events.at(-1)!.data.ok, true, JSON.stringify(events.at(-1)));
  const sent = JSON.stringify(fake.mainRequests().at(-1)!.body.messages);
  assert.match(sent, /The code is KESTREL\./);
  assert.match(sent, /Noted: the code is KESTREL\./);
  assert.match(sent, /What was the code\?/);
  second.server.kill('SIGTERM');
  await new Promise((r) => second.server.once('exit', r));
});

it('expires a permission request the killed server waited on: after restart it is expired, its turn interrupted, and an answer gets 409', { timeout: 120_000 }, async () => {
  const first = await start();
  const created = await first.client.request('POST', '/api/chats', { repoPath: repo, permissionMode: 'default' });
  const chatId = created.body.id as string;
  const worktree = created.body.worktreePath as string;
  fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: 'never.txt', content: 'no\n' } });
  const sent = await first.client.request('POST', `/api/chats/${chatId}/messages`, { text: 'write never.txt' });
  const asked = await first.client.follow(chatId, (e) => e.event === 'permission_request' && e.data.turnId === sent.body.turnId);
  const requestId = asked.at(-1)!.data.requestId as string;
  first.server.kill('SIGKILL');
  await new Promise((r) => first.server.once('exit', r));

  const second = await start();
  const listed = (await second.client.request('GET', `/api/chats/${chatId}/permissions`)).body.permissions;
  assert.deepEqual(
    listed.map((p: any) => [p.requestId, p.status]),
    [[requestId, 'expired']],
  );
  assert.match(listed[0].message, /server stopped/);
  assert.equal((await second.client.request('GET', `/api/chats/${chatId}`)).body.pendingPermissions, 0);
  const late = await second.client.request('POST', `/api/chats/${chatId}/permissions/${requestId}`, { decision: 'allow' });
  assert.equal(late.status, 409);
  assert.equal(late.body.error.outcome, 'expired');
  const history = (await second.client.request('GET', `/api/chats/${chatId}/messages`)).body.messages;
  const reply = history.find((m: any) => m.role === 'assistant' && m.turnId === sent.body.turnId);
  assert.equal(reply.turnStatus, 'interrupted');
  assert.equal(reply.parts.find((p: any) => p.type === 'permission')?.outcome, 'expired');
  const replay = await second.client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 });
  assert.equal(replay.find((e) => e.event === 'permission_resolved')?.data.outcome, 'expired');
  assert.equal(replay.at(-1)!.data.code, 'interrupted');
  assert.equal(existsSync(path.join(worktree, 'never.txt')), false);
  second.server.kill('SIGTERM');
  await new Promise((r) => second.server.once('exit', r));
});
