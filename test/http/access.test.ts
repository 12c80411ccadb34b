// Who may reach what, tried as an attacker would: the token checked on the route that
// matched whatever the request line looks like, Host and Origin checks against DNS
// rebinding and cross-site requests, the query token only on event streams, what /health
// and /metrics show without the token, strict request bodies, 500s that reveal nothing,
// and requests that never finish arriving.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../../src/http/app.js';
import { withoutToken } from '../../src/http/auth.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'access-token-0123456789';
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let root: string;
let repo: string;
let port: number;
let chatId: string;

before(async () => {
  db = await testSchema('access');
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-access-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, app: { publicHosts: ['hearth.example.org'] } });
  port = Number(new URL(server.url).port);
  const chat = await server.client.request('POST', '/api/chats', { repoPath: repo });
  assert.equal(chat.status, 201, JSON.stringify(chat.body));
  chatId = chat.body.id;
});

after(async () => {
  await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends bytes exactly as given (no client normalizes the path) and reads the response until the server closes. */
function raw(request: string, options: { port?: number; waitMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options.port ?? port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, headers: head, body });
    });
    socket.write(request);
    if (options.waitMs !== undefined) setTimeout(() => socket.destroy(), options.waitMs);
  });
}

function get(target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const lines = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return raw(`GET ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
}

function post(target: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const text = JSON.stringify(body);
  const all = {
    host: `127.0.0.1:${port}`,
    connection: 'close',
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  };
  const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}`);
  return raw(`POST ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${text}`);
}

const bearer = { authorization: `Bearer ${TOKEN}` };

async function chatCount(): Promise<number> {
  const [row] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM chats`;
  return Number(row!.n);
}

async function messageCount(): Promise<number> {
  const [row] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM messages`;
  return Number(row!.n);
}

describe('the token is checked on the route that matched', () => {
  const encodings = () => [
    '/api/chats',
    '/%61pi/chats',
    '/ap%69/chats',
    '/%61%70%69/%63hats',
    '/api/%63hats',
    '/API/chats',
    '/Api/Chats',
    '//api/chats',
    '/api//chats',
    '/api/chats/',
    '/api/chats.',
    '/api./chats',
    '/./api/chats',
    '/x/../api/chats',
    '/api%2Fchats',
    '/api/chats?',
    '/api/chats#',
    '/api/chats;',
    '/api/chats%00',
    'http://x/api/chats',
    'http://127.0.0.1/api/chats',
    `http://127.0.0.1:${port}/%61pi/chats`,
  ];

  it('refuses every spelling of a protected path without the token', async () => {
    for (const target of encodings()) {
      const res = await get(target);
      assert.ok(res.status === 401 || res.status === 400, `${target}: ${res.status} ${res.body}`);
      assert.doesNotMatch(res.body, new RegExp(chatId), `${target} leaks the chat list`);
    }
  });

  it('with the token the decoded spelling reaches the route, so the refusal above was about the token', async () => {
    const res = await get('/%61pi/chats', bearer);
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, new RegExp(chatId));
    const absolute = await get(`http://127.0.0.1:${port}/api/chats`, bearer);
    assert.equal(absolute.status, 200, absolute.body);
  });

  it('refuses making a chat or running a turn through an encoded path, and stores nothing', async () => {
    const chats = await chatCount();
    const messages = await messageCount();
    const made = await post('/%61pi/chats', { repoPath: repo, permissionMode: 'bypassPermissions' });
    assert.equal(made.status, 401, made.body);
    const turn = await post(`/ap%69/chats/${chatId}/messages`, { text: 'run rm -rf' });
    assert.equal(turn.status, 401, turn.body);
    const absolute = await post(`http://x/api/chats/${chatId}/messages`, { text: 'run rm -rf' });
    assert.equal(absolute.status, 401, absolute.body);
    assert.equal(await chatCount(), chats);
    assert.equal(await messageCount(), messages);
    assert.equal(fake.mainRequests().length, 0, 'no turn reached the model');
  });

  it('denies unknown routes and HEAD requests without the token, and serves the public list without it', async () => {
    assert.equal((await get('/no/such/route')).status, 401);
    assert.equal((await get('/no/such/route', bearer)).status, 404);
    assert.equal((await raw(`HEAD /api/chats HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`)).status, 401);
    assert.equal((await get('/metrics')).status, 401, '/metrics needs the token');
    const metrics = await get('/metrics', bearer);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /hearth_turns_total/);
    assert.equal((await get('/health')).status, 200, 'liveness is public');
    const ui = await get('/');
    assert.ok(ui.status === 200 || ui.status === 503, `the web UI page is public: ${ui.status}`);
  });

  it('takes a token from the query only on the event stream route', async () => {
    assert.equal((await get(`/api/chats?token=${TOKEN}`)).status, 401);
    assert.equal((await get(`/api/chats/${chatId}?token=${TOKEN}`)).status, 401);
    assert.equal((await get(`/api/chats/${chatId}/messages?token=${TOKEN}&x=/events`)).status, 401);
    assert.equal((await get(`/api/chats/${chatId}/messages/events?token=${TOKEN}`)).status, 401);
    const stream = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('error', reject);
      socket.on('data', (d: string) => {
        text += d;
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.write(`GET /api/chats/${chatId}/events?%74oken=${TOKEN} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
    });
    assert.match(stream, /^HTTP\/1\.1 200/);
    assert.match(stream, /text\/event-stream/);
  });

  it('accepts the bearer scheme in any case and refuses other schemes and wrong tokens', async () => {
    assert.equal((await get('/api/chats', { authorization: `bearer ${TOKEN}` })).status, 200);
    assert.equal((await get('/api/chats', { authorization: `Basic ${TOKEN}` })).status, 401);
    assert.equal((await get('/api/chats', { authorization: `Bearer ${TOKEN}x` })).status, 401);
    assert.equal((await get('/api/chats', { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status, 401);
    assert.equal((await get('/api/chats', { authorization: 'Bearer' })).status, 401);
  });
});

describe('Host and Origin', () => {
  it('refuses a name that could have been rebound to loopback, with or without the token', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1.evil.example', 'localhost.evil.example', 'user@127.0.0.1', '']) {
      const res = await get('/api/chats', { ...bearer, host });
      assert.equal(res.status, 421, `${host}: ${res.status} ${res.body}`);
      assert.doesNotMatch(res.body, new RegExp(chatId));
      assert.equal((await get('/health', { host })).status, 421, `${host} on /health`);
    }
    const noHost = await raw(`GET /api/chats HTTP/1.0\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
    assert.equal(noHost.status, 421, 'a request without a Host is refused');
  });

  it('accepts loopback names, IP literals and the configured public names', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', 'localhost.', `[::1]:${port}`, '192.0.2.7', 'hearth.example.org', 'Hearth.Example.Org:443']) {
      const res = await get('/api/chats', { ...bearer, host });
      assert.equal(res.status, 200, `${host}: ${res.status} ${res.body}`);
    }
  });

  it("refuses a state-changing request from another site's page, and changes nothing", async () => {
    const chats = await chatCount();
    for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `http://localhost:${port + 1}`, 'file://', 'garbage']) {
      const res = await post('/api/chats', { repoPath: repo }, { ...bearer, origin });
      assert.equal(res.status, 403, `${origin}: ${res.status} ${res.body}`);
      assert.match(res.body, /cross_origin/);
    }
    const del = await raw(
      `DELETE /api/chats/${chatId} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: http://evil.example\r\nauthorization: Bearer ${TOKEN}\r\nconnection: close\r\n\r\n`,
    );
    assert.equal(del.status, 403);
    assert.equal(await chatCount(), chats, 'nothing was made or deleted');
    // Reading is left to the browser's same-origin rule: Hearth sends no CORS headers.
    const read = await get('/api/chats', { ...bearer, origin: 'http://evil.example' });
    assert.equal(read.status, 200);
    assert.doesNotMatch(read.headers, /access-control-allow-origin/i);
  });

  it('accepts a same-origin request and one from a configured public name', async () => {
    const same = await post('/api/chats', { repoPath: repo }, { ...bearer, host: `localhost:${port}`, origin: `http://localhost:${port}` });
    assert.equal(same.status, 201, same.body);
    const proxied = await post('/api/chats', { repoPath: repo }, { ...bearer, origin: 'https://hearth.example.org' });
    assert.equal(proxied.status, 201, proxied.body);
  });
});

describe('what the public routes show', () => {
  it('/health says only whether the server is alive without the token, and everything with it', async () => {
    const anonymous = JSON.parse((await get('/health')).body);
    assert.deepEqual(anonymous, { status: 'ok', database: { up: true } });
    const full = JSON.parse((await get('/health', bearer)).body);
    assert.equal(full.database.kind, 'external');
    assert.equal(typeof full.database.latencyMs, 'number');
    assert.equal(full.backends.claude_sdk, 'up');
    const drivers = server.runtime.router.allDrivers().map((d) => d.backend);
    assert.deepEqual(Object.keys(full.backends).sort(), drivers.sort(), 'only drivers that exist');
    assert.ok(drivers.includes('opencode_server'));
    assert.ok(full.pool);
  });
});

describe('request bodies', () => {
  it('refuses a NUL in any field with 400 and stores nothing', async () => {
    const chats = await chatCount();
    for (const body of [
      { repoPath: repo, title: 'a\u0000b' },
      { repoPath: repo, model: 'claude\u0000' },
      { repoPath: `${repo}\u0000` },
    ]) {
      const res = await server.client.request('POST', '/api/chats', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'invalid_text');
      assert.doesNotMatch(JSON.stringify(res.body), /invalid byte sequence|22021|postgres/i);
    }
    const messages = await messageCount();
    const text = await server.client.request('POST', `/api/chats/${chatId}/messages`, { text: 'hi\u0000there' });
    assert.equal(text.status, 400);
    assert.equal(await chatCount(), chats);
    assert.equal(await messageCount(), messages);
  });

  it('refuses values of the wrong type instead of coercing them', async () => {
    const messages = await messageCount();
    for (const body of [{ text: 1 }, { text: true }, { text: ['hello'] }, { text: 'hi', agent: 5 }]) {
      const res = await server.client.request('POST', `/api/chats/${chatId}/messages`, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    }
    const chat = await server.client.request('POST', '/api/chats', { repoPath: repo, title: 12 });
    assert.equal(chat.status, 400);
    assert.equal(await messageCount(), messages);
  });

  it('answers an internal failure with a request id and none of its details', async () => {
    const lines: string[] = [];
    const app = await buildApp({
      sql: db.sql,
      databaseKind: 'external',
      token: TOKEN,
      logger: pino({ level: 'error' }, { write: (line: string) => void lines.push(line) }),
    });
    app.get('/api/boom', async () => {
      throw new Error('secret detail at /srv/hearth/internal.ts');
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/boom', headers: { ...bearer, host: 'localhost' } });
      assert.equal(res.statusCode, 500);
      const body = res.json();
      assert.equal(body.error.code, 'internal');
      assert.doesNotMatch(res.body, /secret detail|srv/);
      assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
      assert.match(body.error.message, new RegExp(body.error.requestId));
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === body.error.requestId);
      assert.ok(logged, 'the log has the request id');
      assert.match(JSON.stringify(logged), /secret detail/, 'and the details');
    } finally {
      await app.close();
    }
  });
});

describe('slow requests', () => {
  it('closes a connection whose body never arrives once the request timeout passes', { timeout: 30_000 }, async () => {
    const app = await buildApp({ sql: db.sql, databaseKind: 'external', token: TOKEN, requestTimeoutMs: 1_000 });
    app.post('/api/echo', async (req) => req.body);
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const appPort = (app.server.address() as net.AddressInfo).port;
      const started = Date.now();
      const res = await raw(
        `POST /api/echo HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":`,
        { port: appPort, waitMs: 20_000 },
      );
      const took = Date.now() - started;
      assert.ok(took < 10_000, `the connection was closed after ${took} ms`);
      assert.ok(res.status === 408 || res.status === 0, `status ${res.status}`);
    } finally {
      await app.close();
    }
  });
});

describe('the token never reaches the log', () => {
  it('redacts a query token however its name is escaped', () => {
    assert.equal(withoutToken('/api/chats/x/events?token=abc'), '/api/chats/x/events?token=[redacted]');
    assert.equal(withoutToken('/api/chats/x/events?after=1&%74oken=abc&x=2'), '/api/chats/x/events?after=1&%74oken=[redacted]&x=2');
    assert.equal(withoutToken('/e?%74%6F%6B%65%6E=abc'), '/e?%74%6F%6B%65%6E=[redacted]');
    assert.equal(withoutToken('/e?tok%65n'), '/e?tok%65n=[redacted]');
    assert.equal(withoutToken('/e?tokens=abc'), '/e?tokens=abc');
    assert.equal(withoutToken('/e?token=abc#frag'), '/e?token=[redacted]#frag');
  });
});
