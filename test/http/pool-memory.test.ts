// The warm sessions' memory over real HTTP: the real Claude Code binary against the fake
// model, measured from /proc into /metrics and /health, and a memory cap that keeps the
// pool to what fits.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { untilTurnEnd } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';
import type { RuntimeConfig } from '../../src/runtime/hearth-runtime.js';
import { processTreeRss } from '../../src/agents/process/process-memory.js';

const TOKEN = 'test-token-0123456789';
const LIMIT = { timeout: 120_000 };
const MB = 1024 * 1024;
let db: TestSchema;
let fake: FakeModelServer;
let root: string;
let repo: string;

before(async () => {
  db = await testSchema('pool_memory');
  fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['fine'] } });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-pool-memory-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
});

after(async () => {
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

async function withServer(runtime: Partial<RuntimeConfig>, use: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, runtime });
  try {
    await use(server);
  } finally {
    await server.close();
  }
}

/** A new chat with one turn run to its end; returns the chat's id. */
async function chatWithATurn(server: TestServer): Promise<string> {
  const chat = await server.client.request('POST', '/api/chats', { repoPath: repo });
  assert.equal(chat.status, 201, JSON.stringify(chat.body));
  const sent = await server.client.request('POST', `/api/chats/${chat.body.id}/messages`, { text: 'hello' });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await server.client.follow(chat.body.id, untilTurnEnd(sent.body.turnId));
  assert.equal(events.at(-1)!.data.ok, true, JSON.stringify(events.at(-1)));
  return chat.body.id;
}

async function metricsOf(server: TestServer): Promise<string> {
  const res = await fetch(server.url + '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.text();
}

/** Checks the text exposition format line by line: every sample is of a metric whose TYPE came before it. */
function assertValidExposition(text: string): void {
  assert.ok(text.endsWith('\n'));
  const typed = new Set<string>();
  const label = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`;
  const sample = new RegExp(String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{${label}(?:,${label})*\})? (-?[0-9.e+]+|\+Inf|NaN)$`);
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      typed.add(type[1]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) continue;
    const m = sample.exec(line);
    assert.ok(m, `not a valid exposition line: ${JSON.stringify(line)}`);
    assert.ok(typed.has(m[1]!.replace(/_(bucket|sum|count)$/, '')) || typed.has(m[1]!), `no TYPE before ${m[1]}`);
  }
}

describe('warm session memory', () => {
  it('shows each warm session\'s resident memory in /metrics with its labels, and the total in /health', LIMIT, async () => {
    await withServer({}, async (server) => {
      const chatId = await chatWithATurn(server);
      const metrics = await metricsOf(server);
      assertValidExposition(metrics);
      const line = new RegExp(`^hearth_warm_session_resident_bytes\\{chat_id="${chatId}",agent="claude",backend="claude_sdk"\\} (\\d+)$`, 'm').exec(metrics);
      assert.ok(line, metrics);
      const bytes = Number(line[1]);
      assert.ok(bytes > 20 * MB && bytes < 4096 * MB, `${(bytes / MB).toFixed(0)} MB for a warm Claude Code session`);
      const total = Number(/^hearth_warm_sessions_resident_bytes (\d+)$/m.exec(metrics)?.[1]);
      assert.equal(total, bytes, 'one session: the total is its own');
      // The same figure as the module measures directly, a moment apart.
      const [warm] = server.runtime.pool.sessions();
      const direct = processTreeRss(warm!.session.pid()!)!;
      assert.ok(Math.abs(direct - bytes) < 0.2 * bytes, `/metrics ${bytes}, direct ${direct}`);

      const health = await server.client.request('GET', '/health');
      assert.equal(health.status, 200);
      assert.ok(health.body.pool.memoryBytes > 20 * MB, JSON.stringify(health.body.pool));
      assert.equal(health.body.pool.maxMemoryBytes, null, 'no memory cap unless one is set');
    });
  });

  it('keeps at most one warm session under a tiny memory cap: the second chat evicts the first once idle', LIMIT, async () => {
    await withServer({ maxWarm: 4, maxWarmMemory: 1 * MB }, async (server) => {
      const { pool } = server.runtime;
      const first = await chatWithATurn(server);
      assert.deepEqual(pool.sessions().map((s) => s.chatId), [first], 'one session alone is kept, even over the cap');
      const second = await chatWithATurn(server);
      assert.deepEqual(pool.sessions().map((s) => s.chatId), [second], 'the first, idle, made room');
      assert.ok(pool.evictions >= 1);
      const health = await server.client.request('GET', '/health');
      assert.equal(health.body.pool.maxMemoryBytes, 1 * MB);
      assert.equal(health.body.pool.warm, 1);
      const metrics = await metricsOf(server);
      assertValidExposition(metrics);
      assert.doesNotMatch(metrics, new RegExp(`chat_id="${first}"`), 'the closed session is not reported');
      assert.match(metrics, new RegExp(`^hearth_warm_session_resident_bytes\\{chat_id="${second}",`, 'm'));
    });
  });
});
