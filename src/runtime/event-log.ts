import type { Logger } from 'pino';
import type { PendingQuery, Row, TransactionSql } from 'postgres';
import type { Sql } from '../db/sql.js';
import { whileUnreachable } from '../db/unreachable.js';

/** One entry of a chat's event log: what SSE sends, `seq` being its id. */
export interface ChatEvent {
  seq: number;
  kind: string;
  data: Record<string, unknown>;
}

/** An event as the log keeps it: its payload still JSON text, as a replay sends it. */
export interface StoredChatEvent {
  seq: number;
  kind: string;
  json: string;
}

export type ChatEventListener = (event: ChatEvent) => void;

/** An event waiting to be written, and the caller waiting for its sequence number. */
interface Waiting {
  kind: string;
  data: Record<string, unknown>;
  done: (event: ChatEvent | null) => void;
  /** Rows committed with the event, for an event written by `appendWith`; its failure goes to `fail`. */
  with?: { rows: (tx: TransactionSql) => PendingQuery<Row[]>; fail: (err: unknown) => void; onlyIfRows: boolean };
}

/** What `appendWith` rejects with when told to log the event only if the caller's statement touched a row, and it touched none. */
export class NothingChanged extends Error {
  override readonly name = 'NothingChanged';
}

/** Events written in one statement at most. */
const BATCH = 500;

/**
 * A chat's events, written to PostgreSQL in order with per-chat sequence numbers and
 * handed to live subscribers once written, so a subscriber that reconnects replays from
 * the database exactly what it missed. The sequence numbers come from the chat's row, so
 * they never repeat.
 *
 * One write per chat is in flight at a time; events that arrive meanwhile go together in
 * the next one, so a fast stream of deltas costs a statement per round trip, not one per
 * delta, and a lone event goes out at once. While the database cannot be reached, a
 * chat's events wait in order (up to `databaseWaitMs`) and go out once it is back.
 */
export class EventLog {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly listeners = new Map<string, Set<ChatEventListener>>();
  private readonly closing = new AbortController();
  private readonly databaseWaitMs: number;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    options: { databaseWaitMs?: number } = {},
  ) {
    this.databaseWaitMs = options.databaseWaitMs ?? 10 * 60_000;
  }

  /** Stops waiting for an unreachable database: what is still waiting is logged as not saved. */
  close(): void {
    this.closing.abort(new Error('the event log is closed'));
  }

  /** Resolves with the event as written, or null when it could not be (the chat is gone, or the database). */
  append(chatId: string, kind: string, data: Record<string, unknown>): Promise<ChatEvent | null> {
    return new Promise((done) => this.enqueue(chatId, { kind, data, done }));
  }

  /**
   * Appends an event in one transaction with rows of the caller's, so both are committed
   * or neither: what a client sees of a stored fact can never be missing from the log, nor
   * the reverse. It takes its place in the chat's order like any append. Rejects with the
   * transaction's error, which is not retried: the caller decides. With `onlyIfRows`, a
   * statement that returns no rows rolls back and logs nothing (`NothingChanged`): a
   * conditional update and the event that reports it stand or fall together.
   */
  appendWith(
    chatId: string,
    kind: string,
    data: Record<string, unknown>,
    rows: (tx: TransactionSql) => PendingQuery<Row[]>,
    options: { onlyIfRows?: boolean } = {},
  ): Promise<ChatEvent> {
    return new Promise((done, fail) => {
      const written = (event: ChatEvent | null) => (event ? done(event) : fail(new Error(`no chat ${chatId}`)));
      this.enqueue(chatId, { kind, data, done: written, with: { rows, fail, onlyIfRows: options.onlyIfRows ?? false } });
    });
  }

  /** Puts an event in the chat's line, and starts writing the line if nothing is. */
  private enqueue(chatId: string, waiting: Waiting): void {
    let queue = this.waiting.get(chatId);
    if (!queue) this.waiting.set(chatId, (queue = []));
    queue.push(waiting);
    if (!this.writing.has(chatId)) this.writing.set(chatId, this.drain(chatId));
  }

  /** Writes the chat's waiting events until none are left; it ends in the same tick it finds the queue empty, so no append is missed. */
  private async drain(chatId: string): Promise<void> {
    for (;;) {
      const queue = this.waiting.get(chatId);
      if (!queue || queue.length === 0) {
        this.waiting.delete(chatId);
        this.writing.delete(chatId);
        return;
      }
      // An event with rows of its own goes alone; plain events go together up to the next such one.
      const alone = queue[0]!.with !== undefined;
      const next = queue.findIndex((w) => w.with);
      const batch = queue.splice(0, alone ? 1 : Math.min(BATCH, next < 0 ? queue.length : next));
      const events = alone ? await this.writeWith(chatId, batch[0]!) : await this.write(chatId, batch);
      for (const [i, w] of batch.entries()) {
        const event = events?.[i] ?? null;
        if (event) this.publish(chatId, event);
        // A failed appendWith has been told already.
        if (event || !alone) w.done(event);
      }
    }
  }

  /** Writes a batch in one statement: the chat's counter moves on by its size. Null when nothing was written. */
  private async write(chatId: string, batch: Waiting[]): Promise<ChatEvent[] | null> {
    try {
      const [row] = await whileUnreachable(() => this.insert(this.sql, chatId, batch), {
        log: this.log,
        what: 'the chat event log',
        giveUpAfterMs: this.databaseWaitMs,
        signal: this.closing.signal,
        context: { chatId },
      });
      return row ? sequenced(batch, Number(row.last)) : null; // no row: the chat is gone
    } catch (err) {
      const kinds = [...new Set(batch.map((w) => w.kind))];
      this.log.error({ err, chatId, kinds, count: batch.length }, 'events not saved; live subscribers do not see them either');
      return null;
    }
  }

  /**
   * Writes an event and the caller's rows in one transaction, both statements sent at once,
   * so it costs one commit. A failure is handed to the caller, not logged.
   */
  private async writeWith(chatId: string, waiting: Waiting): Promise<ChatEvent[] | null> {
    try {
      const [row] = await this.sql.begin(async (tx) => {
        const [changed, logged] = await Promise.all([waiting.with!.rows(tx), this.insert(tx, chatId, [waiting])]);
        if (logged.length === 0) throw new Error(`no chat ${chatId}`); // rolls the rows back too
        if (waiting.with!.onlyIfRows && changed.length === 0) throw new NothingChanged(`nothing to log for ${waiting.kind}`);
        return logged;
      });
      return sequenced([waiting], Number(row!.last));
    } catch (err) {
      waiting.with!.fail(err);
      return null;
    }
  }

  /** The statement that writes a batch: the chat's counter moves on by its size. No row when the chat is gone. */
  private insert(sql: Sql | TransactionSql, chatId: string, batch: Waiting[]) {
    const kinds = batch.map((w) => w.kind);
    const payloads = batch.map((w) => JSON.stringify(w.data));
    return sql<{ last: string }[]>`
      WITH s AS (UPDATE chats SET last_seq = last_seq + ${batch.length} WHERE id = ${chatId} RETURNING last_seq),
      ins AS (
        INSERT INTO chat_events (chat_id, seq, kind, data)
        SELECT ${chatId}, s.last_seq - ${batch.length} + e.ord, e.kind, e.data
        FROM s, ROWS FROM (unnest(${kinds}::text[]), unnest(${payloads}::text[])) WITH ORDINALITY AS e(kind, data, ord)
      )
      SELECT last_seq AS last FROM s`;
  }

  private publish(chatId: string, event: ChatEvent): void {
    for (const listener of this.listeners.get(chatId) ?? []) {
      try {
        listener(event);
      } catch (err) {
        this.log.warn({ err, chatId }, 'event subscriber threw');
      }
    }
  }

  /** Waits until every event appended so far for the chat is written. */
  async flushed(chatId: string): Promise<void> {
    await this.writing.get(chatId);
  }

  subscribe(chatId: string, listener: ChatEventListener): () => void {
    let set = this.listeners.get(chatId);
    if (!set) this.listeners.set(chatId, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.listeners.get(chatId) === set) this.listeners.delete(chatId);
    };
  }

  subscriberCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /**
   * The chat's events after `afterSeq`, oldest first, as stored: at most `maxEvents`, and
   * no more than `maxBytes` of payload beyond the first event, so a page of large events
   * stays small. `more` says whether events may follow the page.
   */
  async page(
    chatId: string,
    afterSeq: number,
    { maxEvents = 1_000, maxBytes = 256 * 1024 }: { maxEvents?: number; maxBytes?: number } = {},
  ): Promise<{ events: StoredChatEvent[]; more: boolean }> {
    const rows = await this.sql<{ seq: string; kind: string; data: string; before: string }[]>`
      SELECT seq, kind, data, before FROM (
        SELECT seq, kind, data, sum(octet_length(data)) OVER (ORDER BY seq) - octet_length(data) AS before
        FROM chat_events
        WHERE chat_id = ${chatId} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${maxEvents}
      ) page
      WHERE before < ${maxBytes}
      ORDER BY seq`;
    const last = rows.at(-1);
    const bytes = last ? Number(last.before) + Buffer.byteLength(last.data) : 0;
    return {
      events: rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, json: r.data })),
      more: rows.length === maxEvents || bytes >= maxBytes,
    };
  }
}

/** A written batch's events, given the chat's counter after it. */
function sequenced(batch: Waiting[], last: number): ChatEvent[] {
  const first = last - batch.length + 1;
  return batch.map((w, i) => ({ seq: first + i, kind: w.kind, data: w.data }));
}
