// A real `hearth serve` whose agents run tools that try to outlive them: a tool that
// drops the agent's tag and leaves its group and session for one of its own ends with
// its chat, with its turn on the PTY road, and with the server itself when the server
// is killed with SIGKILL, without waiting for a restart.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentCgroups, cgroup2Mount, cgroupName } from '../../src/agents/process/agent-cgroups.js';
import { AGENT_TAG_VAR, taggedProcesses } from '../../src/agents/process/agent-process.js';
import { connect } from '../../src/db/sql.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { alive, hasEnv, sessionOf, killGone } from '../fixtures/processes.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { spawnServe } from '../fixtures/serve-process.js';

const TOKEN = 'containment-token-0123456789';
const NODE = `containment-${process.pid}`;
const LIMIT = { timeout: 120_000 };
const probe = AgentCgroups.open(`${NODE}-probe`, 'probe');
const noCgroups = probe ? false : 'no cgroup v2 can be made here';
let fake: FakeModelServer;
let root: string;
let repo: string;
let env: Record<string, string>;
const schema = `containment_${process.pid}`;
const servers: ChildProcess[] = [];

before(async () => {
  await probe?.close();
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-containment-'));
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
  for (const pid of [...taggedProcesses({ prefix: `${NODE}:` }), ...marked(root)]) killGone(pid);
  await fake.close();
  const sql = connect(TEST_DATABASE_URL, { max: 1 });
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
  await rm(root, { recursive: true, force: true });
});

async function start(): Promise<{ server: ChildProcess; client: HearthClient; log: () => string }> {
  const { process: server, client, output } = await spawnServe({ env, token: TOKEN, started: servers });
  return { server, client, log: output };
}

/** Pids of the live processes whose command line names `marker`. */
function marked(marker: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number)
    .filter(alive);
}

/** The reaper this node's server started. */
function reapers(): number[] {
  return marked(`"tagPrefix":"${NODE}:`);
}

/** A Bash call that leaves `tail -f <marker>` running without the tag, in a session of its own. */
async function escapingTool(name: string) {
  const marker = path.join(root, `${name}-${randomUUID()}.txt`);
  await writeFile(marker, '');
  return {
    marker,
    call: {
      kind: 'tool_use' as const,
      name: 'Bash',
      input: { command: `env -u ${AGENT_TAG_VAR} setsid tail -f ${marker} > /dev/null 2>&1 &\necho started`, description: 'escape' },
    },
  };
}

/** The process the tool left, once it has settled outside its agent's session and tag. */
async function escaped(marker: string): Promise<number> {
  let pid = 0;
  await waitUntil('the tool to leave its process behind', () => {
    pid = marked(marker)[0] ?? 0;
    return pid > 0 && sessionOf(pid) === pid;
  });
  assert.equal(hasEnv(pid, AGENT_TAG_VAR), false, 'the tool dropped its tag');
  return pid;
}

describe('agents in a cgroup of their own', { skip: noCgroups }, () => {
  it('a tool that sheds its tag, group and session ends with its chat, and on the PTY road with its turn', LIMIT, async () => {
    const { server, client, log } = await start();
    assert.match(log(), /agent processes are tracked by cgroup/);
    assert.doesNotMatch(log(), /no cgroup v2 can be made here/, 'one tracking mode is logged, the one in use');
    const created = await client.request('POST', '/api/chats', { repoPath: repo, permissionMode: 'bypassPermissions' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chatId = created.body.id as string;

    const pty = await escapingTool('pty');
    fake.enqueue(pty.call, { kind: 'text', chunks: ['left one'] });
    const one = await client.request('POST', `/api/chats/${chatId}/messages`, { text: 'start a watcher', backend: 'claude_pty' });
    await client.follow(chatId, (e) => e.event === 'tool_result' && e.data.turnId === one.body.turnId);
    const ptyTool = await escaped(pty.marker);
    const first = await client.follow(chatId, untilTurnEnd(one.body.turnId), { after: 0 });
    assert.equal(first.at(-1)!.data.ok, true, JSON.stringify(first.at(-1)));
    await waitUntil("the PTY turn's tool to end with its turn", () => !alive(ptyTool));

    const sdk = await escapingTool('sdk');
    fake.enqueue(sdk.call, { kind: 'text', chunks: ['left another'] });
    const two = await client.request('POST', `/api/chats/${chatId}/messages`, { text: 'and another', backend: 'claude_sdk' });
    const second = await client.follow(chatId, untilTurnEnd(two.body.turnId), { after: 0 });
    assert.equal(second.at(-1)!.data.ok, true, JSON.stringify(second.at(-1)));
    const sdkTool = await escaped(sdk.marker);
    assert.ok(alive(sdkTool), "the warm SDK agent's tool runs on between turns");

    assert.equal((await client.request('DELETE', `/api/chats/${chatId}`)).status, 204);
    await waitUntil("the SDK agent's tool to end with its chat", () => !alive(sdkTool));
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  });

  for (const backend of ['claude_sdk', 'claude_pty'] as const) {
    it(`a server killed with SIGKILL takes its agents and their tools with it, without a restart (${backend})`, LIMIT, async () => {
      const { server, client } = await start();
      const created = await client.request('POST', '/api/chats', { repoPath: repo, permissionMode: 'bypassPermissions' });
      const chatId = created.body.id as string;
      const tool = await escapingTool(`killed-${backend}`);
      fake.enqueue(tool.call, { kind: 'stall', chunks: ['working on it'] });
      const turn = await client.request('POST', `/api/chats/${chatId}/messages`, { text: 'start a watcher and keep going', backend });
      await client.follow(chatId, (e) => e.event === 'text_delta' && e.data.turnId === turn.body.turnId);
      const left = await escaped(tool.marker);
      const agents = taggedProcesses({ prefix: `${NODE}:` });
      assert.ok(agents.length > 0, 'the agent is running');
      const [reaper] = reapers();
      assert.ok(reaper, 'the server started a reaper');

      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      // Generous for a loaded machine; in practice it takes a fraction of a second.
      await waitUntil('every agent process to end', () => ![...agents, left].some(alive), 20_000);
      await waitUntil('the reaper to exit', () => !alive(reaper!));
      const nodeDir = path.join(cgroup2Mount()!, 'hearth', cgroupName(NODE));
      assert.deepEqual(existsSync(nodeDir) ? readdirSync(nodeDir, { withFileTypes: true }).filter((e) => e.isDirectory()) : [], []);
    });
  }

  it('a server that stops normally leaves no reaper behind', LIMIT, async () => {
    const { server } = await start();
    const [reaper] = reapers();
    assert.ok(reaper, 'the server started a reaper');
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await waitUntil('the reaper to exit', () => !alive(reaper!));
  });
});
