// Prewarming over real HTTP with the real Claude Code binary against the fake model: a new
// chat's agent runs before its first message, that message's turn starts no process, an
// evicted chat opened again is warmed by its route, and deleting a new chat leaves nothing.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Runtime } from '../../src/runtime/hearth-runtime.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { untilTurnEnd, type HearthClient } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';
import { alive } from '../fixtures/processes.js';

const TOKEN = 'test-token-0123456789';
const LIMIT = { timeout: 90_000 };
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let runtime: Runtime;
let client: HearthClient;
let root: string;
let repo: string;

before(async () => {
  db = await testSchema('prewarm');
  fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['warm ', 'reply'] } });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-prewarm-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN });
  ({ runtime, client } = server);
});

after(async () => {
  await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

async function newChat(): Promise<{ id: string }> {
  const res = await client.request('POST', '/api/chats', { repoPath: repo });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** The pid of the chat's pooled agent, once its session is open. */
async function pooledPid(chatId: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pid = runtime.pool.sessions().find((s) => s.chatId === chatId)?.session.pid();
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`no agent started for chat ${chatId}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** This server's agent processes, and what they started, by their tag. */
const agents = () => new Set(taggedProcesses({ prefix: `${runtime.config.nodeId}:` }));

describe('prewarming over HTTP', () => {
  it('has a new chat’s agent running before its first message, and that message’s turn starts no process', LIMIT, async () => {
    const chat = await newChat();
    const pid = await pooledPid(chat.id);
    assert.ok(alive(pid), 'the agent process runs with no message sent');
    const before = agents();
    assert.ok(before.has(pid), 'it carries this server’s tag');

    const sent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hello' });
    assert.equal(sent.status, 202);
    const events = await client.follow(chat.id, untilTurnEnd(sent.body.turnId));
    assert.equal(events.at(-1)!.data.ok, true, JSON.stringify(events.at(-1)!.data));
    assert.equal(runtime.pool.sessions().find((s) => s.chatId === chat.id)?.session.pid(), pid, 'the turn ran on the prewarmed agent');
    assert.deepEqual([...agents()].filter((p) => !before.has(p)), [], 'the turn started no agent process');
    const view = await client.request('GET', `/api/chats/${chat.id}`);
    assert.equal(view.body.sessions[0].status, 'idle');
  });

  it('warms an evicted chat again through its route, and says when it is warm already', LIMIT, async () => {
    const chat = await newChat();
    const first = await pooledPid(chat.id);
    // The session is pooled a moment before its prewarm has finished recording it: until then the route says it is opening.
    let again = await client.request('POST', `/api/chats/${chat.id}/prewarm`, {});
    for (const deadline = Date.now() + 10_000; again.body.prewarm === 'opening' && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await client.request('POST', `/api/chats/${chat.id}/prewarm`, {});
    }
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { prewarm: 'warm', backend: 'claude_sdk' });
    assert.equal(runtime.pool.sessions().find((s) => s.chatId === chat.id)?.session.pid(), first, 'no second agent was started');

    await runtime.pool.remove(chat.id, 'claude', 'evicted for the test');
    assert.equal(alive(first), false, 'the evicted agent is gone');
    const reopened = await client.request('POST', `/api/chats/${chat.id}/prewarm`, {});
    assert.equal(reopened.status, 202);
    assert.deepEqual(reopened.body, { prewarm: 'opening', backend: 'claude_sdk' });
    const second = await pooledPid(chat.id);
    assert.notEqual(second, first);
    assert.ok(alive(second));

    const missing = await client.request('POST', '/api/chats/00000000-0000-4000-8000-000000000000/prewarm', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'chat_not_found');
  });

  it('leaves no agent process when a chat is deleted right after it is made', LIMIT, async () => {
    const before = agents();
    const chat = await newChat();
    const res = await client.request('DELETE', `/api/chats/${chat.id}`);
    assert.equal(res.status, 204);
    const left = [...agents()].filter((p) => !before.has(p) && alive(p));
    assert.deepEqual(left, [], 'the prewarm’s agent went with its chat');
    assert.equal(runtime.pool.sessions().some((s) => s.chatId === chat.id), false);
  });
});
