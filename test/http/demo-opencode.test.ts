// An opencode chat in a real `hearth serve --demo`: OpenCode's server talks to the scripted
// model in chat completions, runs its own bash tool in the chat's worktree, and the answer
// is built from what the tool found.

import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '../../src/db/sql.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { untilTurnEnd } from '../fixtures/hearth-client.js';
import { spawnServe } from '../fixtures/serve-process.js';

const TOKEN = 'demo-opencode-token-0123456789';
const schema = `demo_opencode_${process.pid}`;
const servers: ChildProcess[] = [];
const dirs: string[] = [];

after(async () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  const sql = connect(TEST_DATABASE_URL, { max: 1 });
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

it('runs an opencode chat of the demo against the scripted model, its bash tool included', { timeout: 240_000 }, async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-demo-opencode-'));
  dirs.push(root);
  const repo = makeRepo(path.join(root, 'repos', 'shop'));
  const env = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: TEST_DATABASE_URL,
    HEARTH_DATABASE_SCHEMA: schema,
    HEARTH_DATA_DIR: path.join(root, 'data'),
    HEARTH_REPO_ROOTS: path.join(root, 'repos'),
    HEARTH_PORT: '0',
    HEARTH_TOKEN: TOKEN,
    // A key or endpoint of the user's must not reach the scripted model or win over it.
    OPENCODE_CONFIG_CONTENT: JSON.stringify({ model: 'theirs/model', provider: { theirs: { options: { baseURL: 'http://127.0.0.1:9/not-the-demo' } } } }),
  };
  const { process: server, client, output } = await spawnServe({ env, token: TOKEN, started: servers, args: ['--demo'], timeoutMs: 60_000 });
  const agents = await client.request('GET', '/api/agents');
  assert.ok(JSON.stringify(agents.body).includes('"opencode"'), `opencode is installed: ${JSON.stringify(agents.body)}\n${output()}`);
  // The demo's command runs unasked: no one is at this chat to answer.
  const created = await client.request('POST', '/api/chats', { repoPath: repo, agent: 'opencode', permissionMode: 'bypassPermissions' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const chatId = created.body.id as string;
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text: 'What is in this repository?' });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { timeoutMs: 180_000 });
  assert.equal(events.at(-1)!.data.ok, true, `${JSON.stringify(events.at(-1))}\n${output()}`);

  const history = await client.request('GET', `/api/chats/${chatId}/messages`);
  const parts = (history.body.messages as any[]).filter((m) => m.role !== 'user').flatMap((m) => m.parts);
  const tools = parts.filter((p) => p.type === 'tool_call' || p.type === 'tool_use');
  assert.equal(tools.length, 1, JSON.stringify(parts));
  assert.equal(tools[0].name, 'bash');
  const text = parts
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('\n');
  assert.match(text, /\(Demo\) You asked: "What is in this repository\?"/);
  assert.match(text, /stands in for OpenCode's model/);
  assert.match(text, /README\.md/, 'the answer is built from what the tool found in the worktree');
  server.kill('SIGTERM');
});
