// One conversation on two roads: a chat moves between the SDK path and the PTY path,
// in both directions and across nodes, over real HTTP with the real Claude Code binary.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { untilTurnEnd, type HearthClient, type SseEvent } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'paths-token-0123456789';
const LIMIT = { timeout: 120_000 };
let db: TestSchema;
let fake: FakeModelServer;
let root: string;
let repo: string;
const nodes: TestServer[] = [];

before(async () => {
  db = await testSchema('paths');
  // Every prompt is a code word; the reply names it, so each exchange is recognizable in a request.
  fake = await startFakeModel({ reply: (req) => ({ kind: 'text', chunks: ['noted ', `<${lastUserText(req)}>`] }) });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-paths-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
});

after(async () => {
  for (const server of nodes) await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

/** A node of its own: its own id and Claude configuration directory, the shared database and worktrees. */
async function node(): Promise<HearthClient> {
  const server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, runtime: { maxQueued: 2 } });
  nodes.push(server);
  return server.client;
}

async function say(client: HearthClient, chatId: string, text: string, backend?: string): Promise<SseEvent[]> {
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text, ...(backend ? { backend } : {}) });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 });
  const mine = events.filter((e) => e.data.turnId === sent.body.turnId);
  assert.equal(mine.at(-1)!.data.ok, true, JSON.stringify(mine.at(-1)!.data));
  return mine;
}

async function session(chatId: string) {
  const [r] = await db.sql<{ backend: string; agent_session_id: string; input_tokens: string; cost: string; status: string }[]>`
    SELECT backend, agent_session_id, input_tokens, cost::text AS cost, status FROM agent_sessions WHERE chat_id = ${chatId}`;
  return r!;
}

describe('a chat moving between the SDK path and the PTY path', () => {
  it('keeps the whole conversation through two switches each way and onto another node', LIMIT, async () => {
    const a = await node();
    const chat = (await a.request('POST', '/api/chats', { repoPath: repo })).body;
    const words: string[] = [];
    const step = async (client: HearthClient, word: string, ask: string | undefined, expect: string) => {
      const events = await say(client, chat.id, word, ask);
      assert.equal(events.find((e) => e.event === 'turn_start')!.data.backend, expect, `${word} ran on ${expect}`);
      assert.equal(events.filter((e) => e.event === 'text_delta').map((e) => e.data.text).join(''), `noted <${word}>`);
      const request = JSON.stringify(fake.mainRequests().at(-1)!.body.messages);
      for (const earlier of words) {
        assert.ok(request.includes(earlier), `${word}: the model sees the earlier prompt ${earlier}`);
        assert.ok(request.includes(`noted <${earlier}>`), `${word}: the model sees the reply to ${earlier}`);
      }
      words.push(word);
      assert.equal((await session(chat.id)).backend, expect);
    };

    await step(a, 'ALPHA', undefined, 'claude_sdk');
    const sessionId = (await session(chat.id)).agent_session_id;
    await step(a, 'BRAVO', 'claude_pty', 'claude_pty');
    await step(a, 'CHARLIE', undefined, 'claude_sdk');
    await step(a, 'DELTA', 'claude_pty', 'claude_pty');
    await step(a, 'ECHO', 'claude_sdk', 'claude_sdk');

    // Another node has neither a warm process nor a local transcript: only the database.
    const b = await node();
    await step(b, 'FOXTROT', 'claude_pty', 'claude_pty');
    await step(b, 'GOLF', undefined, 'claude_sdk');
    await step(a, 'HOTEL', 'claude_pty', 'claude_pty');

    const row = await session(chat.id);
    assert.equal(row.agent_session_id, sessionId, 'one agent session all along');
    assert.equal(row.status, 'idle');
    // Eight model calls of the default usage, each counted once whichever path ran it.
    assert.equal(Number(row.input_tokens), 80);
    assert.equal(Number(row.cost), 8 * (10 * 4 + 5 * 20) / 1e6);

    const history = (await b.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
    assert.deepEqual(
      history.filter((m: any) => m.role === 'user').map((m: any) => m.parts[0].text),
      words,
    );
    const turns = await db.sql<{ backend: string }[]>`SELECT backend FROM turns WHERE chat_id = ${chat.id} ORDER BY created_at`;
    assert.deepEqual(
      turns.map((t) => t.backend),
      ['claude_sdk', 'claude_pty', 'claude_sdk', 'claude_pty', 'claude_sdk', 'claude_pty', 'claude_sdk', 'claude_pty'],
    );
  });

  it('refuses a path for an agent that is not claude, and an unknown path', LIMIT, async () => {
    const a = nodes[0]?.client ?? (await node());
    const chat = (await a.request('POST', '/api/chats', { repoPath: repo })).body;
    const unknown = await a.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hi', backend: 'claude_tmux' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 'invalid_request');
    const notClaude = await a.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hi', agent: 'gemini', backend: 'claude_pty' });
    assert.equal(notClaude.status, 400);
    assert.match(notClaude.body.error.message, /gemini/);
  });
});
