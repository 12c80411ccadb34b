import { resolve } from 'node:path';
import { createDatabase, isMissingDatabase } from './create-database.js';
import { EmbeddedServer } from './embedded-server.js';
import { DatabaseStartError, checkIdentifier } from './errors.js';
import { connect, type Sql } from './sql.js';

export interface OpenDatabaseOptions {
  /** A server to use. Default: `DATABASE_URL`; when neither is set, the embedded server. */
  url?: string;
  /** Where the embedded server keeps its data. Default: `HEARTH_DATA_DIR`, else `.hearth/`. */
  dataDir?: string;
  /** Schema for unqualified table names (sets `search_path`). */
  schema?: string;
  /** Pool size. */
  max?: number;
  /** Receives the embedded server's log lines. */
  log?: (line: string) => void;
  /**
   * Told what was done for the user and where: a database created on the server the URL
   * names, the embedded cluster or its binaries kept outside the usual places.
   */
  notice?: (message: string) => void;
}

/** Embedded servers this process started, shared by every pool opened on the same data directory. */
const embedded = new Map<string, { server: Promise<EmbeddedServer>; pools: number }>();
const owners = new WeakMap<Sql, string>();

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.HEARTH_DATA_DIR || '.hearth');
}

/**
 * Opens the database Hearth runs on and checks that it answers. With a URL (option or
 * `DATABASE_URL`) that server is used; without one, the embedded PostgreSQL in the
 * data directory is started, or shared when this process already runs it.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Sql> {
  const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema);
  const url = options.url ?? (process.env.DATABASE_URL || undefined);
  if (url) {
    const sql = connect(url, { schema, max: options.max });
    const what = `the database at ${redact(url)}`;
    try {
      await ping(sql, what, null);
      return sql;
    } catch (err) {
      if (!isMissingDatabase((err as Error).cause)) throw err;
    }
    // The server is there, the database is not: make it, as one would with createdb.
    await createDatabase(url);
    options.notice?.(`created the database ${redact(url)}`);
    const created = connect(url, { schema, max: options.max });
    await ping(created, what, null);
    return created;
  }

  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  let entry = embedded.get(dataDir);
  if (!entry) {
    entry = { server: EmbeddedServer.start({ dataDir, log: options.log, notice: options.notice }), pools: 0 };
    embedded.set(dataDir, entry);
    entry.server.catch(() => embedded.delete(dataDir));
  }
  const server = await entry.server;
  entry.pools++;
  const sql = connect(server.url, { schema, max: options.max });
  owners.set(sql, dataDir);
  try {
    await ping(sql, `the embedded database in ${dataDir}`, dataDir);
  } catch (err) {
    await closeDatabase(sql);
    throw err;
  }
  return sql;
}

/** Closes a pool from `openDatabase`, and stops the embedded server with its last pool. */
export async function closeDatabase(sql: Sql): Promise<void> {
  await sql.end({ timeout: 5 });
  const dataDir = owners.get(sql);
  if (dataDir === undefined) return;
  owners.delete(sql);
  const entry = embedded.get(dataDir);
  if (!entry || --entry.pools > 0) return;
  embedded.delete(dataDir);
  await (await entry.server).stop();
}

async function ping(sql: Sql, what: string, dataDir: string | null): Promise<void> {
  try {
    await sql`SELECT 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new DatabaseStartError(`cannot reach ${what}: ${(err as Error).message}`, dataDir, { cause: err });
  }
}

/** A connection URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
