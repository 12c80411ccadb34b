/**
 * The benchmark's baseline: a `SessionStore` built to the published design of the
 * Claude Agent SDK's reference Postgres adapter (examples/session-stores/postgres in
 * the SDK's repository), written on postgres.js so both stores share one driver.
 *
 * The design: one table, one row per transcript entry in a `jsonb` column, ordered by
 * a `bigserial` id; `append` is one multi-row INSERT with no uuid de-duplication and no
 * transaction; `load` selects a key's entries by id; `listSessions` groups the
 * project's entries by session and takes the newest `created_at`. There is no summary
 * sidecar, so it has no `listSessionSummaries`.
 */
import type { SessionKey, SessionStore, SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from '../src/db/sql.js';
import { checkIdentifier } from '../src/db/errors.js';

export interface BaselineStoreOptions {
  /** Schema holding the table; it must exist. Default: whatever `search_path` resolves. */
  schema?: string;
}

export class BaselinePostgresSessionStore implements SessionStore {
  private readonly sql: Sql;
  private readonly table: PendingQuery<Row[]>;

  constructor(sql: Sql, options: BaselineStoreOptions = {}) {
    this.sql = sql;
    const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema);
    this.table = schema ? sql`${sql(schema)}.claude_session_entries` : sql`claude_session_entries`;
  }

  /** The design's table and its one covering index on key then id. */
  async ensureSchema(): Promise<void> {
    await this.sql`
      CREATE TABLE IF NOT EXISTS ${this.table} (
        id           bigserial PRIMARY KEY,
        project_key  text NOT NULL,
        session_id   text NOT NULL,
        -- NULL is the main transcript.
        subpath      text,
        entry        jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
      )`;
    await this.sql`
      CREATE INDEX IF NOT EXISTS claude_session_entries_key_idx
        ON ${this.table} (project_key, session_id, subpath, id)`;
  }

  async append(key: SessionKey, entries: SessionStoreEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // sql.json is a jsonb parameter that postgres.js serializes with JSON.stringify:
    // the design's JSON.stringify plus ::jsonb cast.
    const rows = entries.map((entry) => ({
      project_key: key.projectKey,
      session_id: key.sessionId,
      subpath: key.subpath ?? null,
      entry: this.sql.json(entry as Parameters<Sql['json']>[0]),
    }));
    await this.sql`
      INSERT INTO ${this.table} ${this.sql(rows, 'project_key', 'session_id', 'subpath', 'entry')}`;
  }

  async load(key: SessionKey): Promise<SessionStoreEntry[] | null> {
    // IS NOT DISTINCT FROM lets NULL match NULL, as the design does for the main transcript.
    const rows = await this.sql<{ entry: SessionStoreEntry }[]>`
      SELECT entry FROM ${this.table}
      WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId}
        AND subpath IS NOT DISTINCT FROM ${key.subpath ?? null}
      ORDER BY id`;
    return rows.length > 0 ? rows.map((r) => r.entry) : null;
  }

  async listSessions(projectKey: string): Promise<Array<{ sessionId: string; mtime: number }>> {
    const rows = await this.sql<{ session_id: string; mtime: Date }[]>`
      SELECT session_id, max(created_at) AS mtime FROM ${this.table}
      WHERE project_key = ${projectKey} AND subpath IS NULL
      GROUP BY session_id
      ORDER BY mtime DESC`;
    return rows.map((r) => ({ sessionId: r.session_id, mtime: r.mtime.getTime() }));
  }

  async delete(key: SessionKey): Promise<void> {
    if (key.subpath === undefined) {
      await this.sql`
        DELETE FROM ${this.table} WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId}`;
    } else {
      await this.sql`
        DELETE FROM ${this.table}
        WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId} AND subpath = ${key.subpath}`;
    }
  }

  async listSubkeys(key: { projectKey: string; sessionId: string }): Promise<string[]> {
    const rows = await this.sql<{ subpath: string }[]>`
      SELECT DISTINCT subpath FROM ${this.table}
      WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId} AND subpath IS NOT NULL`;
    return rows.map((r) => r.subpath);
  }
}
