// The security headers on every kind of answer a real server gives: the UI's page and its
// static files, API JSON, an event stream, and the errors (401, 404, 400, a malformed URL).
// The UI's files come from dist/web: run `npm run build` first.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'headers-token-0123456789';
const LIMIT = { timeout: 60_000 };
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let root: string;
let repo: string;

before(async () => {
  db = await testSchema('security_headers');
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-headers-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN });
});

after(async () => {
  await server?.close();
  await fake?.close();
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request through node:http, which sends the path exactly as given (fetch would
 * normalise a malformed one). With `firstBytes` it returns as soon as the body has begun,
 * for a stream that does not end.
 */
function get(pathname: string, options: { token?: boolean; method?: string; body?: string; firstBytes?: boolean } = {}): Promise<Answer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        method: options.method ?? 'GET',
        headers: {
          ...(options.token ? { authorization: `Bearer ${TOKEN}` } : {}),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          if (options.firstBytes) {
            resolve({ status: res.statusCode!, headers: res.headers, body });
            req.destroy();
          }
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', (err) => (options.firstBytes ? undefined : reject(err)));
    req.end(options.body);
  });
}

function assertSecurityHeaders(what: string, answer: Answer): void {
  const csp = answer.headers['content-security-policy'];
  assert.equal(typeof csp, 'string', `${what} (HTTP ${answer.status}) has a Content-Security-Policy`);
  const directives = new Map(
    (csp as string).split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values.join(' ')] as const;
    }),
  );
  assert.equal(directives.get('default-src'), "'self'", what);
  assert.equal(directives.get('img-src'), "'self'", `${what}: images only from the server itself`);
  assert.equal(directives.get('script-src'), "'self'", `${what}: no inline script`);
  assert.equal(directives.get('style-src'), "'self'", what);
  assert.equal(directives.get('connect-src'), "'self'", what);
  assert.equal(directives.get('frame-ancestors'), "'none'", what);
  assert.equal(directives.get('base-uri'), "'none'", what);
  assert.equal(directives.get('form-action'), "'self'", what);
  assert.equal(directives.get('object-src'), "'none'", what);
  assert.ok(!(csp as string).includes('unsafe-'), `${what}: nothing unsafe is allowed`);
  assert.equal(answer.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(answer.headers['referrer-policy'], 'no-referrer', what);
  assert.equal(answer.headers['x-frame-options'], 'DENY', what);
}

describe('security headers', () => {
  it('are on the UI page and its static files', LIMIT, async () => {
    const page = await get('/');
    assert.equal(page.status, 200, 'the web UI is built (npm run build)');
    assertSecurityHeaders('the UI page', page);
    const assets = [...page.body.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), page.body);
    for (const asset of assets) {
      const file = await get(`/${asset}`);
      assert.equal(file.status, 200, asset);
      assertSecurityHeaders(asset, file);
    }
  });

  it('are on API answers, the event stream and /health', LIMIT, async () => {
    const list = await get('/api/chats', { token: true });
    assert.equal(list.status, 200);
    assert.match(list.headers['content-type'] ?? '', /application\/json/);
    assertSecurityHeaders('GET /api/chats', list);
    const created = await get('/api/chats', { token: true, method: 'POST', body: JSON.stringify({ repoPath: repo }) });
    assert.equal(created.status, 201, created.body);
    assertSecurityHeaders('POST /api/chats', created);
    const stream = await get(`/api/chats/${JSON.parse(created.body).id}/events`, { token: true, firstBytes: true });
    assert.match(stream.headers['content-type'] ?? '', /text\/event-stream/);
    assertSecurityHeaders('the event stream', stream);
    assertSecurityHeaders('/health', await get('/health'));
  });

  it('are on errors: a 404, a 401, a refused body and a malformed URL', LIMIT, async () => {
    const missing = await get('/no/such/page', { token: true });
    assert.equal(missing.status, 404);
    assertSecurityHeaders('a 404', missing);
    const apiMissing = await get('/api/no-such-route', { token: true });
    assert.equal(apiMissing.status, 404);
    assertSecurityHeaders('an /api/ 404', apiMissing);
    const unauthorized = await get('/api/chats');
    assert.equal(unauthorized.status, 401);
    assertSecurityHeaders('a 401', unauthorized);
    const badBody = await get('/api/chats', { token: true, method: 'POST', body: '{not json' });
    assert.equal(badBody.status, 400);
    assertSecurityHeaders('a 400 for a broken body', badBody);
    const badUrl = await get('/%zz');
    assert.equal(badUrl.status, 400, badUrl.body);
    assertSecurityHeaders('a malformed URL', badUrl);
  });
});
