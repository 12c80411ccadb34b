// Agents run as another user when the server runs as root (HEARTH_AGENT_USER): the real
// Claude Code binary on both roads, over real HTTP, in a worktree handed to that user.
// What the agent runs has that user's ids, owns what it writes, and cannot read the
// server's environment or its token.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cgroup2Mount } from '../../src/agents/process/agent-cgroups.js';
import { findAgentUser, giveTreeTo, type AgentUser } from '../../src/agents/process/agent-user.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { untilTurnEnd } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'agent-user-token-0123456789';
const LIMIT = { timeout: 120_000 };
const asRoot = process.getuid?.() === 0;
const cgroupRoot = cgroup2Mount();
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let root: string;
let repo: string;
let user: AgentUser;
let secretFile: string;

before(async () => {
  if (!asRoot) return;
  user = findAgentUser('nobody');
  db = await testSchema('agent_user');
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-agent-user-'));
  // The agent user passes through to its worktree; it may list nothing here.
  await chmod(root, 0o711);
  repo = path.join(root, 'repo');
  makeRepo(repo);
  secretFile = path.join(root, 'server-secret');
  await writeFile(secretFile, 'the-server-secret\n', { mode: 0o600 });
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, runtime: { agentUser: user } });
  // The agent's Claude configuration is its own, as a real agent user's home would be.
  await giveTreeTo(user, server.configDir);
});

after(async () => {
  if (!asRoot) return;
  await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

/** A Bash call that reports who runs it and what it can reach, and leaves a file it made. */
function probe(name: string) {
  const command = [
    'echo "uid=$(id -u) gid=$(id -g)"',
    `cat /proc/${process.pid}/environ > /dev/null 2>&1 && echo environ=readable || echo environ=denied`,
    `cat ${secretFile} > /dev/null 2>&1 && echo secret=readable || echo secret=denied`,
    `echo made > ${name}.txt && echo wrote`,
    // Moving itself to the top of the cgroup tree would take it out of its agent's cgroup.
    ...(cgroupRoot ? [`echo $$ > ${cgroupRoot}/cgroup.procs 2>/dev/null && echo cgroup=left || echo cgroup=stayed`] : []),
  ].join('; ');
  return { kind: 'tool_use' as const, name: 'Bash', input: { command, description: 'who am I' } };
}

describe('agents as another user', { skip: !asRoot && 'needs root' }, () => {
  it('run on both roads with that user, own what they write, and reach none of the server', LIMIT, async () => {
    const { client } = server;
    const created = await client.request('POST', '/api/chats', { repoPath: repo, permissionMode: 'bypassPermissions' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chat = created.body;
    assert.equal((await stat(chat.worktreePath)).uid, user.uid, 'the worktree is the agent user’s');
    assert.equal((await stat(path.join(chat.worktreePath, 'README.md'))).uid, user.uid);

    // SDK, then PTY (which resumes from the store), then SDK again (resuming what the PTY turn added).
    for (const [i, backend] of (['claude_sdk', 'claude_pty', 'claude_sdk'] as const).entries()) {
      const name = `turn-${i}`;
      fake.enqueue(probe(name), { kind: 'text', chunks: [`done ${i}`] });
      const sent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: `who are you, ${i}?`, backend });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const events = await client.follow(chat.id, untilTurnEnd(sent.body.turnId), { after: 0, timeoutMs: 90_000 });
      const mine = events.filter((e) => e.data.turnId === sent.body.turnId);
      assert.equal(mine.at(-1)!.data.ok, true, `${backend}: ${JSON.stringify(mine.at(-1)!.data)}`);
      assert.equal(mine.find((e) => e.event === 'turn_start')!.data.backend, backend);
      const output = String(mine.find((e) => e.event === 'tool_result')?.data.output);
      assert.match(output, new RegExp(`uid=${user.uid} gid=${user.gid}`), `${backend}: ${output}`);
      assert.match(output, /environ=denied/, `${backend} cannot read the server's environment`);
      assert.match(output, /secret=denied/, `${backend} cannot read the server's files`);
      assert.match(output, /wrote/);
      if (cgroupRoot) assert.match(output, /cgroup=stayed/, `${backend} cannot leave its cgroup`);
      assert.equal((await stat(path.join(chat.worktreePath, `${name}.txt`))).uid, user.uid, `${backend}: the agent owns what it wrote`);
    }
    // Each turn saw the ones before it, whichever road they ran on.
    const last = JSON.stringify(fake.mainRequests().at(-1)!.body.messages);
    assert.match(last, /done 0/);
    assert.match(last, /done 1/);

    assert.equal((await client.request('DELETE', `/api/chats/${chat.id}`)).status, 204);
    assert.ok(!existsSync(chat.worktreePath), 'the worktree is removed');
  });
});
