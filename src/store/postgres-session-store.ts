import {
  foldSessionSummary,
  type SessionKey,
  type SessionStore,
  type SessionStoreEntry,
  type SessionSummaryEntry,
} from '@anthropic-ai/claude-agent-sdk';
import type { PendingQuery, Row, TransactionSql } from 'postgres';
import { pino, type Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import { checkIdentifier } from '../db/errors.js';
import { whileUnreachable } from '../db/unreachable.js';

export interface PostgresSessionStoreOptions {
  /** Schema holding the store's tables. Default: whatever `search_path` resolves. */
  schema?: string;
  /**
   * How long an append waits for an unreachable database before it fails. Default: 45 s,
   * inside the minute the SDK gives an append before it drops the batch.
   */
  databaseWaitMs?: number;
  /** Where a wait for the database is reported. Default: nowhere. */
  log?: Logger;
}

/** Entries per INSERT on the locked path, so a batch of any size stays a sane statement. */
const INSERT_CHUNK = 5_000;
/** Transcript rows remembered for the one-statement append; the oldest is forgotten first. */
const KNOWN_LIMIT = 10_000;

type Summary = { data: Record<string, unknown>; json: string };

/** A transcript row as this store last saw it. */
interface Known {
  id: string;
  version: string;
  /** The folded summary of a main transcript; undefined for a subagent transcript. */
  summary: Summary | undefined;
}

/**
 * The Claude Agent SDK's `SessionStore` on PostgreSQL, so a conversation lives in the
 * database rather than on one machine's disk.
 *
 * Each transcript key has a row in `claude_transcripts` with its mtime, a version and,
 * for a main transcript, the folded summary, so listing reads one row per session and
 * none of the entries; entries sit in `claude_transcript_entries` as JSON text, in
 * insertion order.
 *
 * An append to a key this store knows is one statement: it updates the transcript row
 * (mtime, version, and the summary it folded in advance) if the version is the one
 * remembered, and inserts the entries under that row lock. Anything unexpected (another writer's summary, a
 * deleted row, a first append, a replayed uuid) goes down the locked path, which reads the row afresh
 * under its lock; that is also what serializes the summary's read-fold-write. Appends
 * from this process to one key queue in call order before they reach the database.
 */
export class PostgresSessionStore implements SessionStore {
  private readonly sql: Sql;
  private readonly transcripts: PendingQuery<Row[]>;
  private readonly entries: PendingQuery<Row[]>;
  /** Tail of the append chain of each key with an append in progress. */
  private readonly appending = new Map<string, Promise<void>>();
  private readonly known = new Map<string, Known>();
  /** The hot path's statement, built once: assembling it from fragments per append costs more than running it. */
  private readonly appendKnownSql: string;
  private readonly databaseWaitMs: number;
  private readonly log: Logger;

  constructor(sql: Sql, options: PostgresSessionStoreOptions = {}) {
    this.sql = sql;
    this.databaseWaitMs = options.databaseWaitMs ?? 45_000;
    this.log = options.log ?? pino({ level: 'silent' });
    const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema);
    this.transcripts = schema ? sql`${sql(schema)}.claude_transcripts` : sql`claude_transcripts`;
    this.entries = schema ? sql`${sql(schema)}.claude_transcript_entries` : sql`claude_transcript_entries`;
    const prefix = schema ? `"${schema}".` : '';
    this.appendKnownSql = appendKnownSql(`${prefix}claude_transcripts`, `${prefix}claude_transcript_entries`);
  }

  append(key: SessionKey, entries: SessionStoreEntry[]): Promise<void> {
    const id = keyId(key);
    const previous = this.appending.get(id) ?? Promise.resolve();
    // A failed append is reported to its own caller; the next one still runs after it.
    const next = previous
      .catch(() => {})
      .then(() =>
        whileUnreachable(() => this.appendInOrder(id, key, entries), {
          log: this.log,
          what: 'the transcript',
          giveUpAfterMs: this.databaseWaitMs,
          context: { sessionId: key.sessionId, subpath: key.subpath },
        }),
      );
    const tail = next.catch(() => {});
    this.appending.set(id, tail);
    void tail.then(() => {
      if (this.appending.get(id) === tail) this.appending.delete(id);
    });
    return next;
  }

  private async appendInOrder(id: string, key: SessionKey, entries: SessionStoreEntry[]): Promise<void> {
    const subpath = subpathOf(key);
    const known = this.known.get(id);
    if (known && (await this.appendKnown(id, key, known, entries))) return;
    this.remember(id, await this.appendLocked(key, subpath, entries));
  }

  /**
   * The one-statement append. False when it wrote nothing: the row was not as remembered,
   * or a uuid in the batch is stored already (a replay), which the locked path sorts out.
   */
  private async appendKnown(id: string, key: SessionKey, known: Known, entries: SessionStoreEntry[]): Promise<boolean> {
    if (entries.length === 0) return true;
    const folded = known.summary && fold(known.summary, key, entries);
    const summary = folded && folded.json !== known.summary!.json ? folded.json : null;
    let rows: { version: string }[];
    try {
      rows = await this.sql.unsafe<{ version: string }[]>(
        this.appendKnownSql,
        [known.id, known.version, summary, JSON.stringify(entries), entries.map(uuidOf)],
        { prepare: true },
      );
    } catch (err) {
      if (!isReplayedUuid(err)) throw err;
      rows = [];
    }
    const [r] = rows;
    if (!r) {
      this.known.delete(id);
      return false;
    }
    this.remember(id, { id: known.id, version: r.version, summary: folded });
    return true;
  }

  /** Creates the row if needed, takes its lock, inserts what is new and folds what landed. */
  private async appendLocked(key: SessionKey, subpath: string, entries: SessionStoreEntry[]): Promise<Known> {
    return this.sql.begin(async (tx) => {
      const [t] = await tx<{ id: string; version: string; summary: string | null }[]>`
        INSERT INTO ${this.transcripts} (project_key, session_id, subpath)
        VALUES (${key.projectKey}, ${key.sessionId}, ${subpath})
        ON CONFLICT (project_key, session_id, subpath) DO UPDATE SET version = ${this.transcripts}.version
        RETURNING id, version, summary`;
      const row = t!;
      const landed = await this.insertNew(tx, row.id, entries);
      const previous = row.summary === null ? undefined : { data: JSON.parse(row.summary), json: row.summary };
      const summary = subpath === '' ? fold(previous, key, landed) : undefined;
      const [u] = await tx<{ version: string }[]>`
        UPDATE ${this.transcripts} SET ${this.moveOn()} ${summary ? tx`, summary = ${summary.json}` : tx``}
        WHERE id = ${row.id} RETURNING version`;
      return { id: row.id, version: u!.version, summary };
    });
  }

  /**
   * What every append does to its transcript row: mtime moves on (integer epoch ms on the
   * database clock every node shares, never repeating) and so does the version.
   */
  private moveOn() {
    return this.sql`mtime = GREATEST(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint, mtime + 1),
      version = version + 1`;
  }

  /** Inserts the entries whose uuid is not stored under the transcript yet; returns those that landed. */
  private async insertNew(tx: TransactionSql, transcriptId: string, entries: SessionStoreEntry[]): Promise<SessionStoreEntry[]> {
    const landed: SessionStoreEntry[] = [];
    for (let start = 0; start < entries.length; start += INSERT_CHUNK) {
      const chunk = entries.slice(start, start + INSERT_CHUNK);
      const inserted = await tx<{ uuid: string | null }[]>`
        INSERT INTO ${this.entries} (transcript_id, uuid, entry)
        SELECT ${transcriptId}::bigint, v.uuid, v.entry::text FROM ${this.rowsOf(chunk)}
        ORDER BY v.ord
        ON CONFLICT (transcript_id, uuid) WHERE uuid IS NOT NULL DO NOTHING
        RETURNING uuid`;
      landed.push(...landedOf(chunk, inserted.map((r) => r.uuid)));
    }
    return landed;
  }

  /**
   * A batch as rows (entry, uuid, ord). The entries travel as one JSON array, whose
   * elements PostgreSQL hands back with their text untouched: cheaper than an array of
   * strings, which the driver would quote character by character. `::text::json` keeps
   * the driver from encoding the parameter as a JSON string of its own.
   */
  private rowsOf(entries: SessionStoreEntry[]) {
    const payload = JSON.stringify(entries);
    return this.sql`ROWS FROM (json_array_elements(${payload}::text::json), unnest(${entries.map(uuidOf)}::text[]))
      WITH ORDINALITY AS v(entry, uuid, ord)`;
  }

  private remember(id: string, known: Known): void {
    this.known.delete(id);
    this.known.set(id, known);
    if (this.known.size > KNOWN_LIMIT) this.known.delete(this.known.keys().next().value!);
  }

  async load(key: SessionKey): Promise<SessionStoreEntry[] | null> {
    const rows = await this.sql<{ entry: string | null }[]>`
      SELECT e.entry FROM ${this.transcripts} t
      LEFT JOIN ${this.entries} e ON e.transcript_id = t.id
      WHERE t.project_key = ${key.projectKey} AND t.session_id = ${key.sessionId} AND t.subpath = ${subpathOf(key)}
      ORDER BY e.id`;
    if (rows.length === 0) return null;
    if (rows.length === 1 && rows[0]!.entry === null) return [];
    return rows.map((r) => JSON.parse(r.entry!) as SessionStoreEntry);
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

  /** Deleting a main transcript deletes its subagent transcripts too. */
  async delete(key: SessionKey): Promise<void> {
    const main = key.subpath === undefined;
    await this.sql.begin(async (tx) => {
      // Deleting the rows first waits out appends holding them and stops any after.
      const gone = await tx<{ id: string }[]>`
        DELETE FROM ${this.transcripts}
        WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId}
          ${main ? tx`` : tx`AND subpath = ${subpathOf(key)}`}
        RETURNING id`;
      if (gone.length > 0) {
        await tx`DELETE FROM ${this.entries} WHERE transcript_id = ANY(${gone.map((g) => g.id)}::bigint[])`;
      }
    });
    for (const id of [...this.known.keys()]) {
      const [projectKey, sessionId, subpath] = JSON.parse(id) as [string, string, string | null];
      if (projectKey === key.projectKey && sessionId === key.sessionId && (main || subpath === key.subpath)) {
        this.known.delete(id);
      }
    }
  }

  /**
   * The project keys a session's main transcript is stored under, most recently written
   * first: how a reader that knows only the session id finds where the SDK filed it.
   */
  async projectKeysOf(sessionId: string): Promise<string[]> {
    const rows = await this.sql<{ project_key: string }[]>`
      SELECT project_key FROM ${this.transcripts}
      WHERE session_id = ${sessionId} AND subpath = ''
      ORDER BY mtime DESC`;
    return rows.map((r) => r.project_key);
  }

  /**
   * The newest entry of a type in a session's main transcript (under its most recently
   * written project key), read from the end, so finding a recent one is quick however
   * long the transcript.
   */
  async lastEntryOfType(sessionId: string, type: string): Promise<SessionStoreEntry | null> {
    const [row] = await this.sql<{ entry: string }[]>`
      SELECT e.entry FROM ${this.entries} e
      WHERE e.transcript_id = (
        SELECT id FROM ${this.transcripts} WHERE session_id = ${sessionId} AND subpath = '' ORDER BY mtime DESC LIMIT 1)
        AND e.entry::json->>'type' = ${type}
      ORDER BY e.id DESC LIMIT 1`;
    return row ? (JSON.parse(row.entry) as SessionStoreEntry) : null;
  }

  async listSubkeys(key: { projectKey: string; sessionId: string }): Promise<string[]> {
    const rows = await this.sql<{ subpath: string }[]>`
      SELECT subpath FROM ${this.transcripts}
      WHERE project_key = ${key.projectKey} AND session_id = ${key.sessionId} AND subpath <> ''
      ORDER BY subpath`;
    return rows.map((r) => r.subpath);
  }
}

/**
 * The one-statement append. It updates the transcript row only while the version is the
 * one remembered, which takes the row lock, so writers of one transcript go one at a time,
 * each batch stays contiguous, and the summary ($3, folded in advance; null when unchanged)
 * is folded from the one before. The entries ($4) travel as one JSON array, whose elements
 * PostgreSQL hands back with their text untouched, next to their uuids ($5). A plain INSERT,
 * not ON CONFLICT: a replay is rare, and the unique index refuses it whole, whereas ON
 * CONFLICT's speculative insertion costs every entry of every batch.
 */
function appendKnownSql(transcripts: string, entries: string): string {
  return `
    WITH t AS (
      UPDATE ${transcripts} SET
        mtime = GREATEST(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint, mtime + 1),
        version = version + 1,
        summary = coalesce($3::text, summary)
      WHERE id = $1::bigint AND version = $2::bigint
      RETURNING id, version
    ), ins AS (
      INSERT INTO ${entries} (transcript_id, uuid, entry)
      SELECT t.id, v.uuid, v.entry::text
      FROM t, ROWS FROM (json_array_elements($4::text::json), unnest($5::text[])) WITH ORDINALITY AS v(entry, uuid, ord)
      ORDER BY v.ord
    )
    SELECT version FROM t`;
}

/** A batch that repeats a stored uuid, refused whole by the unique index. */
function isReplayedUuid(err: unknown): boolean {
  const e = err as { code?: string; constraint_name?: string };
  return e.code === '23505' && e.constraint_name === 'claude_transcript_entries_uuid';
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

function uuidOf(entry: SessionStoreEntry): string | null {
  return typeof entry.uuid === 'string' ? entry.uuid : null;
}

/**
 * Which entries of a batch an INSERT ... ON CONFLICT DO NOTHING stored, given the uuids
 * it returned: every entry without a uuid, and the first entry of each returned uuid.
 */
function landedOf(entries: SessionStoreEntry[], returned: (string | null)[]): SessionStoreEntry[] {
  const fresh = new Set(returned.filter((u): u is string => u !== null));
  return entries.filter((e) => {
    const uuid = uuidOf(e);
    return uuid === null || fresh.delete(uuid);
  });
}

/** The SDK's fold; its mtime is not used, since the store keeps mtime in a column of its own. */
function fold(previous: Summary | undefined, key: SessionKey, entries: SessionStoreEntry[]): Summary {
  const prev = previous && { sessionId: key.sessionId, mtime: 0, data: previous.data };
  const data = foldSessionSummary(prev, key, entries, { mtime: 0 }).data;
  return { data, json: JSON.stringify(data) };
}
