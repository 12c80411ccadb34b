// DATABASE_URL naming a database the server does not have: Hearth creates it, or says
// exactly how when the server will not let it. Against the machine's own PostgreSQL.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeDatabase, openDatabase } from '../../src/db/database.js';
import { DatabaseStartError } from '../../src/db/errors.js';
import { connect } from '../../src/db/sql.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';

const databases: string[] = [];
const roles: string[] = [];

/** TEST_DATABASE_URL with another database (and, optionally, user). */
function urlFor(database: string, user?: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${database}`;
  if (user) {
    u.username = user;
    u.password = 'hearth-test-password';
  }
  return u.toString();
}

function freshName(prefix: string, list: string[]): string {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  list.push(name);
  return name;
}

const admin = () => connect(TEST_DATABASE_URL, { max: 1 });

after(async () => {
  const sql = admin();
  try {
    for (const d of databases) await sql`DROP DATABASE IF EXISTS ${sql(d)} WITH (FORCE)`;
    for (const r of roles) await sql`DROP ROLE IF EXISTS ${sql(r)}`;
  } finally {
    await sql.end();
  }
});

async function exists(database: string): Promise<boolean> {
  const sql = admin();
  try {
    return (await sql`SELECT 1 FROM pg_database WHERE datname = ${database}`).length === 1;
  } finally {
    await sql.end();
  }
}

describe('openDatabase with a URL naming a missing database', () => {
  it('creates it on the same server and says so', async () => {
    const name = freshName('hearth_new', databases);
    const notices: string[] = [];
    const sql = await openDatabase({ url: urlFor(name), notice: (m) => notices.push(m) });
    try {
      assert.equal((await sql`SELECT current_database() AS db`)[0]!.db, name);
      await sql`CREATE TABLE kept (n int)`;
    } finally {
      await closeDatabase(sql);
    }
    assert.match(notices.join('\n'), new RegExp(`created the database postgres://.*/${name}`));
    // Found the next time, not made again.
    notices.length = 0;
    const again = await openDatabase({ url: urlFor(name), notice: (m) => notices.push(m) });
    try {
      assert.equal((await again`SELECT count(*)::int AS n FROM kept`)[0]!.n, 0);
    } finally {
      await closeDatabase(again);
    }
    assert.deepEqual(notices, []);
  });

  it('lets two processes starting at once both have it', async () => {
    const name = freshName('hearth_race', databases);
    const pools = await Promise.all([openDatabase({ url: urlFor(name) }), openDatabase({ url: urlFor(name) }), openDatabase({ url: urlFor(name) })]);
    try {
      for (const sql of pools) assert.equal((await sql`SELECT current_database() AS db`)[0]!.db, name);
    } finally {
      await Promise.all(pools.map((p) => closeDatabase(p)));
    }
  });

  it('says exactly how to create it when the user may not', async () => {
    const role = freshName('hearth_nocreate', roles);
    const sql = admin();
    try {
      await sql`CREATE ROLE ${sql(role)} LOGIN NOCREATEDB PASSWORD 'hearth-test-password'`;
    } finally {
      await sql.end();
    }
    const name = freshName('hearth_refused', databases);
    const host = new URL(TEST_DATABASE_URL);
    await assert.rejects(openDatabase({ url: urlFor(name, role) }), (err) => {
      assert.ok(err instanceof DatabaseStartError, String(err));
      assert.match(err.message, new RegExp(`the database "${name}" does not exist on ${host.hostname}:${host.port || 5432}`));
      assert.match(err.message, /permission denied to create database/);
      assert.ok(
        err.message.includes(`createdb -h ${host.hostname} -p ${host.port || 5432} -U postgres -O ${role} ${name}`),
        err.message,
      );
      assert.ok(err.message.includes(`CREATE DATABASE "${name}" OWNER "${role}"`), err.message);
      assert.doesNotMatch(err.message, /hearth-test-password/);
      return true;
    });
    assert.equal(await exists(name), false);
  });

  it('still reports a server that cannot be reached as such', async () => {
    await assert.rejects(openDatabase({ url: 'postgres://postgres@127.0.0.1:1/nowhere' }), (err) => {
      assert.ok(err instanceof DatabaseStartError);
      assert.match(err.message, /cannot reach the database at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere/);
      return true;
    });
  });
});

describe('the test fixtures', () => {
  it('create the test database when it is missing', async () => {
    const name = freshName('hearth_fixture', databases);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "await import('./test/fixtures/database.ts');"],
      { env: { ...process.env, DATABASE_URL: urlFor(name) }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0, out);
    assert.equal(await exists(name), true);
  });
});
