// The event stream's own resources: what a client that leaves early, reads slowly or
// stops reading leaves behind on the server, over real HTTP on the real database.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { waitUntil } from '../fixtures/backend-chats.js';
import { apiSuite } from '../fixtures/api-suite.js';
import type { TestServer } from '../fixtures/test-server.js';
import type { AppDeps } from '../../src/http/app.js';

const TOKEN = 'stream-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('stream', TOKEN);
const serve = (app: Partial<AppDeps> = {}) => suite.serve({ app });

/** A chat whose log holds `count` events of about `size` bytes each, written straight into the database. */
async function largeChat(server: TestServer, count: number, size: number): Promise<string> {
  const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
  await suite.db.sql`
    WITH c AS (UPDATE chats SET last_seq = ${count} WHERE id = ${chat.id} RETURNING id)
    INSERT INTO chat_events (chat_id, seq, kind, data)
    SELECT c.id, g, 'text_delta', json_build_object('turnId', null, 'i', g, 'text', repeat('x', ${size}))::text
    FROM c, generate_series(1, ${count}) g`;
  return chat.id;
}

function request(chatId: string, headers = ''): string {
  return `GET /api/chats/${chatId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n${headers}\r\n`;
}

function connect(server: TestServer): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  return new Promise((resolve, reject) => socket.once('connect', () => resolve(socket)).once('error', reject));
}

/** Reads a stream in small sips with pauses between, until the event with id `lastId` is in. */
async function sip(socket: net.Socket, lastId: number, pauseMs: number): Promise<number> {
  const marker = `id: ${lastId}\n`;
  let tail = '';
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      tail = (tail + chunk.toString('latin1')).slice(-64 * 1024);
      if (tail.includes(marker)) {
        socket.destroy();
        resolve(bytes);
        return;
      }
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`stream closed after ${bytes} bytes before event ${lastId}`)));
  });
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('a client that leaves as soon as it asks', () => {
  it('leaves no subscriber and no heartbeat behind, of 1,000 that connect and drop', LIMIT, async () => {
    const server = await serve();
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    const timersBefore = timers();
    let next = 0;
    // Fifty at a time, each dropping at a different moment of the lookup.
    const worker = async () => {
      while (next < 1_000) {
        const i = next++;
        const socket = await connect(server);
        socket.on('error', () => {});
        socket.write(request(chat.id));
        if (i % 4 === 1) await new Promise((r) => setImmediate(r));
        else if (i % 4 === 2) await new Promise((r) => setTimeout(r, 1));
        else if (i % 4 === 3) await new Promise((r) => setTimeout(r, i % 7));
        socket.destroy();
        await new Promise((r) => socket.once('close', r));
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await waitUntil(
      `no subscribers left (${server.runtime.events.subscriberCount()} still there)`,
      () => server.runtime.events.subscriberCount() === 0,
      20_000,
    );
    // Other timers come and go (the pool's, the database driver's); a leak would be hundreds.
    await waitUntil(`the heartbeat timers to go (${timers() - timersBefore} more than before)`, () => timers() <= timersBefore + 10, 20_000);

    // The stream still works for a client that stays.
    const sent = await server.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'still there?' });
    const events = await server.client.follow(chat.id, (e) => e.event === 'turn_end' && e.data.turnId === sent.body.turnId, { after: 0 });
    assert.equal(events.at(-1)!.data.ok, true);
    await waitUntil('the follower to be gone', () => server.runtime.events.subscriberCount() === 0);
  });
});

describe('slow readers of a large chat', () => {
  it('are replayed in pages bounded by bytes, with no listener piling up', LIMIT, async () => {
    const server = await serve();
    const count = 1_000;
    const chatId = await largeChat(server, count, 8_000);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const pages: number[] = [];
    const page = server.runtime.events.page.bind(server.runtime.events);
    server.runtime.events.page = async (...args) => {
      const result = await page(...args);
      pages.push(result.events.reduce((n, e) => n + Buffer.byteLength(e.json), 0));
      return result;
    };
    try {
      const readers = await Promise.all(Array.from({ length: 5 }, () => connect(server)));
      const done = readers.map((socket) => {
        socket.write(request(chatId));
        return sip(socket, count, 5);
      });
      const received = await Promise.all(done);
      for (const bytes of received) assert.ok(bytes > count * 8_000, `a reader got ${bytes} bytes`);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => `${w.name}: ${w.message}`),
      [],
      'no warnings, MaxListenersExceededWarning among them',
    );
    assert.ok(pages.length >= 5 * 20, `${pages.length} pages for 5 replays of 8 MB`);
    assert.ok(Math.max(...pages) <= 256 * 1024 + 9_000, `the largest page held ${Math.max(...pages)} bytes`);
    await waitUntil('the readers to be gone', () => server.runtime.events.subscriberCount() === 0);
  });

  it('cuts off a reader that takes nothing of its replay for the stall timeout; it resumes from Last-Event-ID', LIMIT, async () => {
    const server = await serve({ sseStallMs: 1_000 });
    const count = 1_000;
    const chatId = await largeChat(server, count, 8_000);
    const socket = await connect(server);
    socket.write(request(chatId));
    socket.pause();
    socket.on('error', () => {});
    await waitUntil('the reader to subscribe', () => server.runtime.events.subscriberCount() === 1);
    const stalledAt = performance.now();
    // Reading nothing, it is cut off on the server's side.
    await waitUntil('the stalled reader to be cut off', () => server.runtime.events.subscriberCount() === 0, 30_000);
    const took = performance.now() - stalledAt;
    assert.ok(took >= 500, `cut off after only ${took.toFixed(0)} ms`);
    // What the server sent before is still there to read, and then the stream ends.
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = new Promise((r) => socket.once('close', r));
    socket.resume();
    await closed;
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(ids.length > 0 && ids.at(-1)! < count, `the stalled reader got ${ids.length} events, not all ${count}`);

    const rest = await server.client.follow(chatId, (e) => e.id === count, { lastEventId: ids.at(-1)! });
    assert.equal(rest[0]!.id, ids.at(-1)! + 1, 'it picks up where it was cut off');
    assert.equal(rest.length, count - ids.at(-1)!);
  });
});
