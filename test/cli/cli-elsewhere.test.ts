// The CLI from a repository of the user's own, away from the clone: it finds the running
// `hearth serve` through the user's state directory, and says plainly when none runs.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_DATABASE_URL, testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { chatIdOf, CLI, freePort, ROOT, shown, spawnCli, until } from './cli-harness.js';

describe('hearth CLI from another repository', () => {
  let schema: TestSchema;
  let root: string;
  let state: string;
  let dataDir: string;
  let elsewhere: string;
  const servers: ChildProcess[] = [];

  before(async () => {
    schema = await testSchema('cli_elsewhere');
    root = await mkdtemp(path.join(tmpdir(), 'hearth-cli-elsewhere-'));
    state = await mkdtemp(path.join(tmpdir(), 'hearth-cli-state-'));
    dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-cli-serve-'));
    elsewhere = makeRepo(path.join(root, 'elsewhere'));
  });
  after(async () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    await schema.drop();
    await rm(state, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });

  /** `hearth serve` in the clone, its data directory elsewhere, recording itself under `state`. */
  async function serve(): Promise<{ child: ChildProcess; url: string; exit: Promise<number | null>; output: () => string }> {
    const child = spawn(process.execPath, [...CLI, 'serve'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: TEST_DATABASE_URL,
        HEARTH_DATABASE_SCHEMA: schema.schema,
        HEARTH_DATA_DIR: dataDir,
        HEARTH_PORT: '0',
        HEARTH_TOKEN: '',
        HEARTH_REPO_ROOTS: root,
        XDG_STATE_HOME: state,
        HEARTH_LOG_LEVEL: 'info',
      },
    });
    servers.push(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until(() => /Hearth listening on http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 'the server to listen', 60_000);
    const [, listening] = output.match(/Hearth listening on (http:\/\/127\.0\.0\.1:\d+)/) ?? [];
    assert.ok(listening, output);
    return { child, url: listening, exit, output: () => output };
  }

  /** The CLI as a user runs it in their own repository: no address, token or data directory given. */
  const fromElsewhere = (args: string[], env: Record<string, string> = {}) =>
    spawnCli(args, { cwd: elsewhere, env: { HEARTH_URL: '', HEARTH_TOKEN: '', HEARTH_DATA_DIR: '', XDG_STATE_HOME: state, ...env } }).done;

  it('finds the running server through the user\'s state directory, and says when none is running', { timeout: 120_000 }, async () => {
    const first = await serve();
    const record = path.join(state, 'hearth', 'server.json');
    assert.deepEqual(JSON.parse(await readFile(record, 'utf8')), {
      url: first.url,
      pid: first.child.pid,
      dataDir,
      tokenFile: path.join(dataDir, 'token'),
    });
    assert.equal((await stat(record)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(record))).mode & 0o777, 0o700);

    const id = chatIdOf(await fromElsewhere(['new', '.', '--title', 'from elsewhere']));
    const list = await fromElsewhere(['chats', '--json']);
    assert.equal(list.code, 0, shown(list));
    assert.deepEqual(
      JSON.parse(list.stdout).chats.map((c: { id: string; repoPath: string }) => [c.id, c.repoPath]),
      [[id, elsewhere]],
    );

    first.child.kill('SIGTERM');
    assert.equal(await first.exit, 0, first.output());
    assert.ok(!existsSync(record), 'the record is removed on shutdown');
    const port = await freePort();
    const none = await fromElsewhere(['chats'], { HEARTH_PORT: String(port) });
    assert.equal(none.code, 1, shown(none));
    assert.equal(
      none.stderr,
      `hearth: no Hearth server is running: none is recorded in ${record} or ${path.join(elsewhere, '.hearth', 'server.json')}, ` +
        `and none answers at http://127.0.0.1:${port}. Start one with "hearth serve", or give its address with --url or HEARTH_URL\n`,
    );

    // Another server recorded itself since: this one leaves that record alone when it stops.
    const second = await serve();
    const takenOver = { url: second.url, pid: process.pid, dataDir: path.join(root, 'another'), tokenFile: null };
    await writeFile(record, JSON.stringify(takenOver));
    second.child.kill('SIGTERM');
    assert.equal(await second.exit, 0, second.output());
    assert.deepEqual(JSON.parse(await readFile(record, 'utf8')), takenOver, 'the other server\'s record stays');
    const gone = await fromElsewhere(['chats']);
    assert.equal(gone.code, 1, shown(gone));
    assert.match(gone.stderr, new RegExp(`^hearth: cannot reach Hearth at ${second.url}, the server recorded in ${record}: .*ECONNREFUSED.*; is it still running\\?$`, 'm'));

    // A record left by a server that crashed names a process that is gone.
    await writeFile(record, JSON.stringify({ ...takenOver, pid: second.child.pid }));
    const crashed = await fromElsewhere(['chats'], { HEARTH_PORT: String(port) });
    assert.equal(crashed.code, 1, shown(crashed));
    assert.match(
      crashed.stderr,
      new RegExp(`^hearth: no Hearth server is running: the server recorded in ${record} \\(pid ${second.child.pid}\\) is no longer running, and none answers`),
    );
  });
});
