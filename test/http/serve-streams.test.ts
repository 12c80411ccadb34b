// `hearth serve` as a real process with clients on its event streams: it shuts down
// promptly on SIGTERM with streams open and a turn running, holds little memory for
// clients that read their replay slowly or not at all, and after a crash does not run
// messages that were still waiting.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { connect } from '../../src/db/sql.js';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { killGone } from '../fixtures/processes.js';
import { spawnServe } from '../fixtures/serve-process.js';

const TOKEN = 'serve-streams-token-0123456789';
const NODE = `serve-streams-${process.pid}`;
const LIMIT = { timeout: 180_000 };
const schema = `serve_streams_${process.pid}`;
let fake: FakeModelServer;
let root: string;
let repo: string;
let base: Record<string, string>;
const servers: ChildProcess[] = [];
const dataDirs: string[] = [];

before(async () => {
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-serve-streams-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  base = {
    ...claudeEnv(fake, await makeConfigDir()),
    HEARTH_REPO_ROOTS: root,
    HEARTH_PORT: '0',
    HEARTH_TOKEN: TOKEN,
    HEARTH_NODE_ID: NODE,
    HEARTH_LOG_LEVEL: 'info',
  };
});

after(async () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  for (const pid of taggedProcesses({ prefix: `${NODE}:` })) killGone(pid);
  await fake.close();
  const sql = connect(TEST_DATABASE_URL, { max: 1 });
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
  await rm(root, { recursive: true, force: true });
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

interface Server {
  process: ChildProcess;
  client: HearthClient;
  output: () => string;
  exited: Promise<number | null>;
}

async function start(env: Record<string, string>): Promise<Server> {
  const { process, client, output, exited } = await spawnServe({ env, token: TOKEN, started: servers, timeoutMs: 90_000 });
  return { process, client, output, exited };
}

const external = () => ({ ...base, DATABASE_URL: TEST_DATABASE_URL, HEARTH_DATABASE_SCHEMA: schema, HEARTH_DATA_DIR: path.join(root, 'data-ext') });

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m);
  assert.ok(line, 'VmRSS in /proc status');
  return Number(line[1]) * 1024;
}

describe('SIGTERM with event streams open and a turn running', () => {
  it('ends the streams, exits within seconds, and frees the data directory for the next server', LIMIT, async () => {
    // A directory of its own under the temporary directory, which the database's user can reach.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-serve-streams-data-'));
    dataDirs.push(dataDir);
    const env = { ...base, DATABASE_URL: '', HEARTH_DATA_DIR: dataDir };
    const first = await start(env);
    const chat = (await first.client.request('POST', '/api/chats', { repoPath: repo })).body;
    fake.enqueue({ kind: 'stall', chunks: ['thinking hard'] });
    const sent = await first.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'take your time' });
    assert.equal(sent.status, 202);
    const streams = Array.from({ length: 5 }, () =>
      first.client.follow(chat.id, () => false, { after: 0, timeoutMs: 120_000 }).then(
        (events) => `ended after ${events.length} events`,
        (err: Error) => `failed: ${err.message}`,
      ),
    );
    await first.client.follow(chat.id, (e) => e.event === 'text_delta', { after: 0 });

    const signalledAt = performance.now();
    first.process.kill('SIGTERM');
    const code = await first.exited;
    const took = performance.now() - signalledAt;
    assert.equal(code, 0, first.output());
    assert.ok(took < 9_000, `exited ${took.toFixed(0)} ms after SIGTERM`);
    assert.doesNotMatch(first.output(), /did not close/, 'nothing had to be left behind');
    for (const result of await Promise.all(streams)) assert.match(result, /^ended after \d+ events$/);
    assert.ok(!existsSync(path.join(env.HEARTH_DATA_DIR, 'hearth.pid')), 'the data directory was released');

    const second = await start(env);
    const history = (await second.client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
    assert.deepEqual(
      history.filter((m: any) => m.role === 'user').map((m: any) => m.parts[0].text),
      ['take your time'],
    );
    assert.notEqual(history[0].turnStatus, 'running', 'the stopped turn is not left running');
    second.process.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());
  });
});

describe('after a crash', () => {
  it('does not run a message that was still waiting: it is marked interrupted as never started', LIMIT, async () => {
    const first = await start(external());
    const chat = (await first.client.request('POST', '/api/chats', { repoPath: repo })).body;
    fake.enqueue({ kind: 'stall', chunks: ['on it'] });
    const running = await first.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'the running one' });
    await first.client.follow(chat.id, (e) => e.event === 'text_delta' && e.data.turnId === running.body.turnId, { after: 0 });
    const waiting = await first.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'the waiting one' });
    assert.equal(waiting.body.queued, 1);
    first.process.kill('SIGKILL');
    await first.exited;

    const second = await start(external());
    const replay = await second.client.follow(chat.id, untilTurnEnd(waiting.body.turnId), { after: 0 });
    const ends = new Map(replay.filter((e) => e.event === 'turn_end').map((e) => [e.data.turnId, e.data]));
    assert.match(String(ends.get(running.body.turnId)?.error), /stopped during this turn/);
    assert.equal(ends.get(waiting.body.turnId)?.code, 'interrupted');
    assert.match(String(ends.get(waiting.body.turnId)?.error), /before this turn started; it was not run/);

    // The chat carries on with the next message; the waiting one never reaches the model.
    fake.enqueue({ kind: 'text', chunks: ['fresh'] });
    const next = await second.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'a new one' });
    const events = await second.client.follow(chat.id, untilTurnEnd(next.body.turnId), { lastEventId: replay.at(-1)!.id });
    assert.equal(events.at(-1)!.data.ok, true);
    assert.ok(!fake.mainRequests().some((r) => lastUserText(r) === 'the waiting one'));
    const history = (await second.client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
    assert.deepEqual(
      history.filter((m: any) => m.role === 'user').map((m: any) => [m.parts[0].text, m.turnStatus]),
      [
        ['the running one', 'interrupted'],
        ['the waiting one', 'interrupted'],
        ['a new one', 'succeeded'],
      ],
    );
    second.process.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());
  });
});

describe('thirty readers of a large chat that read nothing', () => {
  it('add little to the server’s memory: each holds a small page, not the chat', LIMIT, async () => {
    const server = await start(external());
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: repo })).body;
    const count = 1_000;
    const sql = connect(TEST_DATABASE_URL, { schema, max: 1 });
    try {
      await sql`
        WITH c AS (UPDATE chats SET last_seq = ${count} WHERE id = ${chat.id} RETURNING id)
        INSERT INTO chat_events (chat_id, seq, kind, data)
        SELECT c.id, g, 'text_delta', json_build_object('turnId', null, 'i', g, 'text', repeat('x', 16000))::text
        FROM c, generate_series(1, ${count}) g`;
    } finally {
      await sql.end();
    }
    // One whole replay first, so what is measured next is the readers and nothing else.
    const whole = await server.client.follow(chat.id, (e) => e.id === count, { after: 0, timeoutMs: 60_000 });
    assert.equal(whole.length, count);
    const pid = server.process.pid!;
    const before = rssBytes(pid);

    const { port } = new URL(server.client.baseUrl);
    const readers: net.Socket[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const socket = net.connect(Number(port), '127.0.0.1');
        socket.on('error', () => {});
        await new Promise((r) => socket.once('connect', r));
        socket.write(`GET /api/chats/${chat.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
        socket.pause();
        readers.push(socket);
      }
      // Each replay reads as far as the socket takes and then waits: give them all time to get there.
      let peak = 0;
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        peak = Math.max(peak, rssBytes(pid));
        await new Promise((r) => setTimeout(r, 100));
      }
      const grown = peak - before;
      // Thirty readers of a 16 MB chat each holding a 1,000-event page come to the best part
      // of a gigabyte; small pages leave only what passed through to the sockets' buffers.
      assert.ok(grown < 300 * 1024 * 1024, `RSS grew by ${(grown / 1024 / 1024).toFixed(0)} MB with 30 stalled readers`);
    } finally {
      for (const socket of readers) socket.destroy();
    }
    assert.equal((await server.client.request('GET', `/api/chats/${chat.id}`)).status, 200);
    server.process.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.output());
  });
});
