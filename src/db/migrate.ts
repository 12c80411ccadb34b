import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { Sql } from './sql.js';
import { checkIdentifier, MigrationError } from './errors.js';

export interface MigrateOptions {
  /** Schema that receives the tables; created when missing. Default `public`. */
  schema?: string;
  /** Folder of `NNN_name.sql` files. Default: the migrations shipped with Hearth. */
  directory?: URL | string;
}

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

const SHIPPED = new URL('./migrations/', import.meta.url);
const FILE = /^\d{3,}_[a-z0-9_]+\.sql$/;

/** Reads the migration files in the order their numeric prefixes give. */
export async function readMigrations(directory: URL | string = SHIPPED): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((n) => FILE.test(n)).sort();
  const base = typeof directory === 'string' ? directory.replace(/\/?$/, '/') : directory;
  return Promise.all(
    names.map(async (name) => {
      const text = await readFile(typeof base === 'string' ? base + name : new URL(name, base), 'utf8');
      return { name, sql: text, checksum: createHash('sha256').update(text).digest('hex') };
    }),
  );
}

/**
 * Applies every migration not yet recorded, in one transaction. An advisory lock per
 * schema makes a second process that starts at the same moment wait, then find
 * nothing left to do. Returns the names applied by this call.
 */
export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<string[]> {
  const schema = checkIdentifier('schema', options.schema ?? 'public');
  const migrations = await readMigrations(options.directory);
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${'hearth.migrate:' + schema}))`;
    await tx`CREATE SCHEMA IF NOT EXISTS ${tx(schema)}`;
    await tx`SELECT set_config('search_path', ${schema}, true)`;
    await tx`
      CREATE TABLE IF NOT EXISTS hearth_migrations (
        name        text PRIMARY KEY,
        checksum    text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`;
    const applied = new Map(
      (await tx<{ name: string; checksum: string }[]>`SELECT name, checksum FROM hearth_migrations`).map((r) => [
        r.name,
        r.checksum,
      ]),
    );
    const done: string[] = [];
    for (const m of migrations) {
      const recorded = applied.get(m.name);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new MigrationError(
            `migration ${m.name} was applied to schema ${schema} but its file has changed since; ` +
              'add a new migration instead of editing an applied one',
            m.name,
          );
        }
        continue;
      }
      try {
        await tx.unsafe(m.sql);
      } catch (err) {
        throw new MigrationError(`migration ${m.name} failed in schema ${schema}: ${(err as Error).message}`, m.name, {
          cause: err,
        });
      }
      await tx`INSERT INTO hearth_migrations (name, checksum) VALUES (${m.name}, ${m.checksum})`;
      done.push(m.name);
    }
    return done;
  });
}
