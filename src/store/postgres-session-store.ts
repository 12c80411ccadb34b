import {
  foldSessionSummary,
  type SessionKey,
  type SessionStore,
  type SessionStoreEntry,
  type SessionSummaryEntry,
} from '@anthropic-ai/claude-agent-sdk';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from '../db/sql.js';
import { checkIdentifier } from '../db/errors.js';

export interface PostgresSessionStoreOptions {
  /** Schema holding the store's tables. Default: whatever `search_path` resolves. */
  schema?: string;
}

/** Rows per INSERT; keeps a batch of any size under the protocol's parameter limit. */
const INSERT_CHUNK = 5_000;

type TranscriptRow = { id: string; next_seq: string; mtime: string; summary: string | null };

/**
 * The Claude Agent SDK's `SessionStore` on PostgreSQL, so a conversation lives in the
 * database rather than on one machine's disk.
 *
 * Each transcript key has a row in `claude_transcripts` holding its mtime, the next
 * sequence number and, for a main transcript, the folded summary; entries sit in
 * `claude_transcript_entries` as JSON text. An append locks the key's row, so appends
 * to one key from any number of connections are serialized and lose nothing, and the
 * summary's read-fold-write happens under the same lock. Appends from this process to
 * one key also queue in call order before they reach the database.
 */
export class PostgresSessionStore implements SessionStore {
  private readonly sql: Sql;
  private readonly transcripts: PendingQuery<Row[]>;
  private readonly entries: PendingQuery<Row[]>;
  /** Tail of the append chain of each key with an append in progress. */
  private readonly appending = new Map<string, Promise<void>>();

  constructor(sql: Sql, options: PostgresSessionStoreOptions = {}) {
    this.sql = sql;
    const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema);
    this.transcripts = schema ? sql`${sql(schema)}.claude_transcripts` : sql`claude_transcripts`;
    this.entries = schema ? sql`${sql(schema)}.claude_transcript_entries` : sql`claude_transcript_entries`;
  }

  append(key: SessionKey, entries: SessionStoreEntry[]): Promise<void> {
    const id = keyId(key);
    const previous = this.appending.get(id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.appendNow(key, entries));
    const tail = next.catch(() => {});
    this.appending.set(id, tail);
    void tail.then(() => {
      if (this.appending.get(id) === tail) this.appending.delete(id);
    });
    return next;
  }

  private async appendNow(key: SessionKey, entries: SessionStoreEntry[]): Promise<void> {
    const subpath = subpathOf(key);
    await this.sql.begin(async (tx) => {
      // The upsert takes the row lock. mtime is integer epoch ms on the database clock,
      // which every node shares, and never repeats for one key.
      const [row] = await tx<TranscriptRow[]>`
        INSERT INTO ${this.transcripts} (project_key, session_id, subpath, mtime)
        VALUES (${key.projectKey}, ${key.sessionId}, ${subpath}, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
        ON CONFLICT (project_key, session_id, subpath)
          DO UPDATE SET mtime = GREATEST(EXCLUDED.mtime, ${this.transcripts}.mtime + 1)
        RETURNING id, next_seq, mtime, summary`;
      const t = row!;
      const first = Number(t.next_seq);
      const landed: number[] = [];
      for (let start = 0; start < entries.length; start += INSERT_CHUNK) {
        const chunk = entries.slice(start, start + INSERT_CHUNK);
        const rows = chunk.map((entry, i) => ({
          transcript_id: t.id,
          seq: first + start + i,
          uuid: typeof entry.uuid === 'string' ? entry.uuid : null,
          entry: JSON.stringify(entry),
        }));
        // A uuid already stored under this key (a retried or replayed batch) is skipped.
        const inserted = await tx<{ seq: string }[]>`
          INSERT INTO ${this.entries} ${tx(rows, 'transcript_id', 'seq', 'uuid', 'entry')}
          ON CONFLICT (transcript_id, uuid) WHERE uuid IS NOT NULL DO NOTHING
          RETURNING seq`;
        for (const r of inserted) landed.push(Number(r.seq) - first);
      }
      const summary =
        subpath === '' && (landed.length > 0 || t.summary === null)
          ? JSON.stringify(
              foldSessionSummary(
                parseSummary(t.summary, key.sessionId),
                key,
                landed.sort((a, b) => a - b).map((i) => entries[i]!),
                { mtime: Number(t.mtime) },
              )
                .data,
            )
          : t.summary;
      await tx`
        UPDATE ${this.transcripts}
        SET next_seq = ${first + entries.length}, summary = ${summary}
        WHERE id = ${t.id}`;
    });
  }

  async load(key: SessionKey): Promise<SessionStoreEntry[] | null> {
    const [t] = await this.sql<{ id: string }[]>`
      SELECT id FROM ${this.transcripts}
      WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId} AND subpath = ${subpathOf(key)}`;
    if (!t) return null;
    const rows = await this.sql<{ entry: string }[]>`
      SELECT entry FROM ${this.entries} WHERE transcript_id = ${t.id} ORDER BY seq`;
    return rows.map((r) => JSON.parse(r.entry) as SessionStoreEntry);
  }

  async listSessions(projectKey: string): Promise<Array<{ sessionId: string; mtime: number }>> {
    const rows = await this.sql<{ session_id: string; mtime: string }[]>`
      SELECT session_id, mtime FROM ${this.transcripts}
      WHERE project_key = ${projectKey} AND subpath = ''`;
    return rows.map((r) => ({ sessionId: r.session_id, mtime: Number(r.mtime) }));
  }

  async listSessionSummaries(projectKey: string): Promise<SessionSummaryEntry[]> {
    const rows = await this.sql<{ session_id: string; mtime: string; summary: string }[]>`
      SELECT session_id, mtime, summary FROM ${this.transcripts}
      WHERE project_key = ${projectKey} AND subpath = '' AND summary IS NOT NULL`;
    return rows.map((r) => ({
      sessionId: r.session_id,
      mtime: Number(r.mtime),
      data: JSON.parse(r.summary) as Record<string, unknown>,
    }));
  }

  /** Deleting a main transcript deletes its subagent transcripts too; entries follow by cascade. */
  async delete(key: SessionKey): Promise<void> {
    if (key.subpath === undefined) {
      await this.sql`
        DELETE FROM ${this.transcripts}
        WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId}`;
    } else {
      await this.sql`
        DELETE FROM ${this.transcripts}
        WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId}
          AND subpath = ${subpathOf(key)}`;
    }
  }

  async listSubkeys(key: { projectKey: string; sessionId: string }): Promise<string[]> {
    const rows = await this.sql<{ subpath: string }[]>`
      SELECT subpath FROM ${this.transcripts}
      WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId} AND subpath <> ''
      ORDER BY subpath`;
    return rows.map((r) => r.subpath);
  }
}

/** The SDK marks a main transcript by leaving `subpath` out; an empty one is invalid. */
function subpathOf(key: SessionKey): string {
  if (key.subpath === undefined) return '';
  if (key.subpath === '') throw new TypeError('SessionKey.subpath must be omitted for a main transcript, not empty');
  return key.subpath;
}

function keyId(key: SessionKey): string {
  return JSON.stringify([key.projectKey, key.sessionId, key.subpath ?? null]);
}

function parseSummary(summary: string | null, sessionId: string): SessionSummaryEntry | undefined {
  if (summary === null) return undefined;
  // The fold keeps the previous mtime only when none is passed; this store always passes one.
  return { sessionId, mtime: 0, data: JSON.parse(summary) as Record<string, unknown> };
}
