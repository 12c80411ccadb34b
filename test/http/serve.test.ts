// `hearth serve` as a user starts it: a real process, the embedded database, real HTTP.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../../src/http/app.js';
import { connect } from '../../src/db/sql.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function hearth(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', ...env },
  });
  children.push(child);
  return child;
}

function output(child: ChildProcess): { text: () => string; exit: Promise<number | null> } {
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  return { text: () => text, exit: new Promise((r) => child.once('exit', (code) => r(code))) };
}

async function waitForLine(get: () => string, pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = get().match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${pattern} in output:\n${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('hearth serve', () => {
  it('starts on the embedded database, reports it healthy, and shuts down cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-serve-'));
    dirs.push(dataDir);
    const child = hearth(['serve'], { HEARTH_DATA_DIR: dataDir, HEARTH_PORT: '0' });
    const out = output(child);
    const [, url] = await waitForLine(out.text, /Hearth listening on (http:\/\/127\.0\.0\.1:\d+)/);

    const token = (await readFile(path.join(dataDir, 'token'), 'utf8')).trim();
    const res = await fetch(`${url}/health`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; database: { up: boolean; kind: string } };
    assert.equal(body.status, 'ok');
    assert.deepEqual({ up: body.database.up, kind: body.database.kind }, { up: true, kind: 'embedded' });
    assert.ok(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION')), 'the cluster lives in the data directory');
    const serverFile = path.join(dataDir, 'server.json');
    assert.deepEqual(JSON.parse(await readFile(serverFile, 'utf8')), { url, pid: child.pid });
    assert.equal((await stat(serverFile)).mode & 0o777, 0o600);

    // The CLI finds the server and its token through the data directory alone.
    const cli = output(hearth(['chats', '--json'], { HEARTH_DATA_DIR: dataDir, HEARTH_URL: '', HEARTH_TOKEN: '' }));
    assert.equal(await cli.exit, 0, cli.text());
    assert.deepEqual(JSON.parse(cli.text()), { chats: [] });

    child.kill('SIGTERM');
    assert.equal(await out.exit, 0, out.text());
    assert.ok(!existsSync(serverFile), 'server.json is removed on shutdown');
    assert.ok(!existsSync(path.join(dataDir, 'postgres', 'postmaster.pid')), 'the database was stopped');
    assert.ok(!existsSync(path.join(dataDir, 'hearth.pid')));
  });

  it('uses DATABASE_URL when set, migrates it, and prints a generated token once', async () => {
    const schema = `serve_${process.pid}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-serve-ext-'));
    dirs.push(dataDir);
    const env = { DATABASE_URL: TEST_DATABASE_URL, HEARTH_DATABASE_SCHEMA: schema, HEARTH_PORT: '0', HEARTH_DATA_DIR: dataDir, HEARTH_TOKEN: '' };
    const child = hearth(['serve'], env);
    const out = output(child);
    const [, url] = await waitForLine(out.text, /Hearth listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const [, token] = out.text().match(/Hearth API token \(kept in .*\): (\S+)/) ?? [];
    assert.ok(token, 'the generated token is printed');
    const body = (await (await fetch(`${url}/health`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      database: { kind: string };
    };
    assert.equal(body.database.kind, 'external');
    assert.ok(!existsSync(path.join(dataDir, 'postgres')), 'no embedded server was started');
    assert.equal((await readFile(path.join(dataDir, 'token'), 'utf8')).trim(), token);
    assert.equal((await fetch(`${url}/api/chats`)).status, 401);
    assert.equal((await fetch(`${url}/api/chats`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    child.kill('SIGINT');
    assert.equal(await out.exit, 0);
    const sql = connect(TEST_DATABASE_URL, { max: 1 });
    try {
      const tables = await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`;
      assert.ok(tables.some((t) => t.table_name === 'agent_sessions'), 'migrated into its schema');
      await sql`DROP SCHEMA ${sql(schema)} CASCADE`;
    } finally {
      await sql.end();
    }
  });

  it('--demo runs a whole round trip, tool call included, with no API key, and says it is a demo', async () => {
    const schema = `demo_${process.pid}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-demo-'));
    dirs.push(dataDir);
    const repo = makeRepo(path.join(dataDir, 'repos', 'shop'));
    await writeFile(path.join(repo, 'checkout.ts'), 'export {};\n');
    const token = 'demo-token-0123456789';
    const env = {
      DATABASE_URL: TEST_DATABASE_URL,
      HEARTH_DATABASE_SCHEMA: schema,
      HEARTH_PORT: '0',
      HEARTH_DATA_DIR: dataDir,
      HEARTH_TOKEN: token,
      HEARTH_REPO_ROOTS: path.join(dataDir, 'repos'),
      // A key of the user's must not reach the scripted model or win over it.
      ANTHROPIC_API_KEY: 'sk-ant-users-own-key',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/not-the-demo',
    };
    const child = hearth(['serve', '--demo'], env);
    const out = output(child);
    const [, url] = await waitForLine(out.text, /Hearth listening on (http:\/\/127\.0\.0\.1:\d+)/);
    assert.match(out.text(), /DEMO MODE: the agents talk to a scripted model at http:\/\/127\.0\.0\.1:\d+, not to Claude/);
    const health = (await (await fetch(`${url}/health`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      demo?: boolean;
      warnings?: unknown[];
    };
    assert.equal(health.demo, true);
    assert.deepEqual(health.warnings, [], 'the demo brings its own key: no credentials warning');
    assert.doesNotMatch(out.text(), /no Claude credentials/);

    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const chat = (await (await fetch(`${url}/api/chats`, { method: 'POST', headers: auth, body: JSON.stringify({ repoPath: repo }) })).json()) as {
      id: string;
    };
    const send = output(hearth(['send', chat.id.slice(0, 8), 'What is in this repository?'], { ...env, HEARTH_URL: url!, HEARTH_TOKEN: token }));
    assert.equal(await send.exit, 0, send.text());
    const reply = send.text();
    assert.match(reply, /demo mode: the reply comes from a scripted model/);
    assert.match(reply, /Bash\(ls -A\)/, 'the tool call is shown');
    assert.match(reply, /This is Hearth's demo/);
    assert.match(reply, /README\.md/, 'the answer is built from what the tool found in the worktree');
    assert.doesNotMatch(reply, /checkout\.ts/, 'the worktree holds what was committed, not the uncommitted file');

    const chats = output(hearth(['chats'], { ...env, HEARTH_URL: url!, HEARTH_TOKEN: token }));
    assert.equal(await chats.exit, 0);
    assert.match(chats.text(), /demo mode/);
    assert.ok(existsSync(path.join(dataDir, 'demo-claude')), 'the agents use a configuration directory of their own');

    child.kill('SIGTERM');
    assert.equal(await out.exit, 0, out.text());
    const sql = connect(TEST_DATABASE_URL, { max: 1 });
    try {
      await sql`DROP SCHEMA ${sql(schema)} CASCADE`;
    } finally {
      await sql.end();
    }
  });

  it('exits non-zero with a clear message when the database cannot be reached', async () => {
    const child = hearth(['serve'], { DATABASE_URL: 'postgres://postgres:pw@127.0.0.1:1/none', HEARTH_PORT: '0' });
    const out = output(child);
    assert.equal(await out.exit, 1);
    assert.match(out.text(), /hearth: cannot reach the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none/);
  });

  it('rejects a bad HEARTH_PORT before starting anything', async () => {
    const child = hearth(['serve'], { HEARTH_PORT: 'eighty' });
    const out = output(child);
    assert.equal(await out.exit, 1);
    assert.match(out.text(), /HEARTH_PORT must be a whole number/);
  });

  it('prints help, and refuses unknown commands', async () => {
    const help = output(hearth(['--help'], {}));
    assert.equal(await help.exit, 0);
    assert.match(help.text(), /Usage: hearth <command>/);
    const bad = output(hearth(['frobnicate'], {}));
    assert.equal(await bad.exit, 2);
    assert.match(bad.text(), /unknown command "frobnicate"/);
  });
});

describe('hearth serve beyond loopback', () => {
  it('refuses to bind a non-loopback address without TLS or a stated proxy, before anything starts', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-remote-'));
    dirs.push(dataDir);
    const out = output(hearth(['serve'], { HEARTH_DATA_DIR: dataDir, HEARTH_PORT: '0', HEARTH_HOST: '0.0.0.0' }));
    assert.equal(await out.exit, 1);
    assert.match(out.text(), /HEARTH_HOST=0\.0\.0\.0 is not a loopback address: the API token would cross the network/);
    assert.ok(!existsSync(path.join(dataDir, 'postgres')), 'no database was started');
  });

  it('serves HTTPS with a certificate and key, and names a bad certificate file clearly', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-tls-'));
    dirs.push(dataDir);
    const cert = path.join(dataDir, 'cert.pem');
    const key = path.join(dataDir, 'key.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    const env = { DATABASE_URL: TEST_DATABASE_URL, HEARTH_DATABASE_SCHEMA: `tls_${process.pid}`, HEARTH_DATA_DIR: dataDir, HEARTH_PORT: '0', HEARTH_TOKEN: 'tls-token-0123456789' };

    const broken = output(hearth(['serve'], { ...env, HEARTH_TLS_CERT: key, HEARTH_TLS_KEY: key }));
    assert.equal(await broken.exit, 1);
    assert.match(broken.text(), /HEARTH_TLS_CERT and HEARTH_TLS_KEY are not a usable certificate and key/);

    const child = hearth(['serve'], { ...env, HEARTH_TLS_CERT: cert, HEARTH_TLS_KEY: key });
    const out = output(child);
    const [, url] = await waitForLine(out.text, /Hearth listening on (https:\/\/127\.0\.0\.1:\d+)/);
    const ca = await readFile(cert);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`${url}/api/chats`, { ca, headers: { authorization: 'Bearer tls-token-0123456789' } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { chats: [] });
    await assert.rejects(fetch(url!.replace('https:', 'http:') + '/health'), 'plain HTTP is not served');
    child.kill('SIGTERM');
    assert.equal(await out.exit, 0, out.text());
    const sql = connect(TEST_DATABASE_URL, { max: 1 });
    await sql`DROP SCHEMA IF EXISTS ${sql(`tls_${process.pid}`)} CASCADE`;
    await sql.end();
  });
});

describe('hearth serve on a terminal and on a busy port', () => {
  it('names HEARTH_PORT when the port is busy, before preparing the database, and says where the token is on every start', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-port-'));
    dirs.push(dataDir);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const out = output(hearth(['serve'], { HEARTH_DATA_DIR: dataDir, HEARTH_PORT: String(busy) }));
      assert.equal(await out.exit, 1, out.text());
      assert.match(out.text(), new RegExp(`port ${busy} on 127\\.0\\.0\\.1 is already in use; .*HEARTH_PORT`));
      assert.ok(!existsSync(path.join(dataDir, 'postgres')), 'the database was not prepared');
    } finally {
      blocker.close();
    }
    const env = { DATABASE_URL: TEST_DATABASE_URL, HEARTH_DATABASE_SCHEMA: `port_${process.pid}`, HEARTH_DATA_DIR: dataDir, HEARTH_PORT: '0', HEARTH_TOKEN: '' };
    for (const round of [1, 2]) {
      const child = hearth(['serve'], { ...env, HEARTH_LOG_FORMAT: round === 2 ? 'pretty' : '' });
      const out = output(child);
      await waitForLine(out.text, /Hearth listening on/);
      if (round === 1) assert.match(out.text(), /Hearth API token \(kept in .*token\): \S+/);
      else {
        assert.match(out.text(), new RegExp(`Hearth API token: kept in ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/token\n`));
        assert.doesNotMatch(out.text(), /Hearth API token \(kept/, 'the token itself is shown only once');
        assert.match(out.text(), /INFO.*: Hearth listening on http/, 'readable lines when asked');
        assert.doesNotMatch(out.text(), /"msg":"Hearth listening/);
      }
      child.kill('SIGTERM');
      assert.equal(await out.exit, 0, out.text());
    }
    const sql = connect(TEST_DATABASE_URL, { max: 1 });
    await sql`DROP SCHEMA IF EXISTS ${sql(`port_${process.pid}`)} CASCADE`;
    await sql.end();
  });
});

describe('hearth serve with HEARTH_AGENT_USER', () => {
  it('refuses an unknown user and root before anything starts', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-agent-user-'));
    dirs.push(dataDir);
    for (const [name, message] of [
      ['no-such-user-hearth', /HEARTH_AGENT_USER=no-such-user-hearth: no user "no-such-user-hearth" on this machine/],
      ['root', process.getuid?.() === 0 ? /"root" is root/ : /only a server running as root/],
    ] as const) {
      const out = output(hearth(['serve'], { HEARTH_DATA_DIR: dataDir, HEARTH_PORT: '0', HEARTH_AGENT_USER: name }));
      assert.equal(await out.exit, 1, out.text());
      assert.match(out.text(), message);
    }
    assert.ok(!existsSync(path.join(dataDir, 'postgres')), 'no database was started');
  });
});

describe('GET /health', () => {
  it('answers 503 with the reason while the database is unreachable', async () => {
    const sql = connect('postgres://postgres@127.0.0.1:1/none', { max: 1 });
    const app = await buildApp({ sql, databaseKind: 'external' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${address.port}/health`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { status: string; database: { up: boolean; error: string } };
      assert.equal(body.status, 'degraded');
      assert.equal(body.database.up, false);
      assert.match(body.database.error, /ECONNREFUSED|no answer/);
    } finally {
      await app.close();
      await sql.end({ timeout: 1 });
    }
  });
});
