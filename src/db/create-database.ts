import postgres from 'postgres';
import { DatabaseStartError } from './errors.js';

/** The server's answer when a connection names a database that does not exist. */
const INVALID_CATALOG_NAME = '3D000';
/** What two concurrent CREATE DATABASE of one name get, besides the winner. */
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

export function isMissingDatabase(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === INVALID_CATALOG_NAME;
}

/**
 * Creates the database a connection URL names, connecting to the server's maintenance
 * database (`postgres`) as the same user. A database made meanwhile by another process
 * counts as created. When the server refuses, the error says how to create it by hand.
 */
export async function createDatabase(url: string): Promise<void> {
  const target = parse(url);
  const admin = postgres(target.maintenanceUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`SELECT 1 AS present FROM pg_database WHERE datname = ${target.database}`;
    if (!row) await admin`CREATE DATABASE ${admin(target.database)}`;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return;
    throw new DatabaseStartError(
      `the database "${target.database}" does not exist on ${target.server} and could not be created ` +
        `as user "${target.user}": ${(err as Error).message}\n` +
        `Create it as a user who may (a superuser or one with CREATEDB), owned by "${target.user}":\n` +
        `  createdb ${target.cliArgs} -U postgres -O ${shellWord(target.user)} ${shellWord(target.database)}\n` +
        `or: psql ${target.cliArgs} -U postgres -d postgres -c ${shellWord(`CREATE DATABASE ${quoteIdent(target.database)} OWNER ${quoteIdent(target.user)}`)}`,
      null,
      { cause: err },
    );
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Connects to the database a URL names, creating it first when the server says it is missing. */
export async function ensureDatabase(url: string): Promise<void> {
  const probe = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await probe`SELECT 1`;
    return;
  } catch (err) {
    if (!isMissingDatabase(err)) throw err;
  } finally {
    await probe.end({ timeout: 5 });
  }
  await createDatabase(url);
}

interface Target {
  database: string;
  user: string;
  /** host:port, for messages. */
  server: string;
  /** The same server, its maintenance database. */
  maintenanceUrl: string;
  /** `-h host -p port` for createdb and psql. */
  cliArgs: string;
}

function parse(url: string): Target {
  const u = new URL(url);
  const user = decodeURIComponent(u.username) || 'postgres';
  // libpq's default: a URL without a database names the user's own.
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  const host = u.hostname || 'localhost';
  const port = u.port || '5432';
  const maintenance = new URL(url);
  maintenance.pathname = `/${database === 'postgres' ? 'template1' : 'postgres'}`;
  return {
    database,
    user,
    server: `${host}:${port}`,
    maintenanceUrl: maintenance.toString(),
    cliArgs: `-h ${shellWord(host.replace(/^\[|\]$/g, ''))} -p ${port}`,
  };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A word the shell takes as it is. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.\/:@%+=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
