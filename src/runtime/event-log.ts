import type { Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import { whileUnreachable } from '../db/unreachable.js';

/** One entry of a chat's event log: what SSE sends, `seq` being its id. */
export interface ChatEvent {
  seq: number;
  kind: string;
  data: Record<string, unknown>;
}

export type ChatEventListener = (event: ChatEvent) => void;

/**
 * A chat's events, written to PostgreSQL in order with per-chat sequence numbers and
 * handed to live subscribers once written, so a subscriber that reconnects replays from
 * the database exactly what it missed. Writes of one chat are chained in this process;
 * the sequence number comes from the chat's row, so it never repeats. While the database
 * cannot be reached, a chat's events wait in order (up to `databaseWaitMs`) and go out
 * once it is back.
 */
export class EventLog {
  private readonly writing = new Map<string, Promise<unknown>>();
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

  append(chatId: string, kind: string, data: Record<string, unknown>): Promise<ChatEvent | null> {
    const previous = this.writing.get(chatId) ?? Promise.resolve();
    const next = previous.then(() => this.write(chatId, kind, data));
    this.writing.set(chatId, next);
    void next.then(() => {
      if (this.writing.get(chatId) === next) this.writing.delete(chatId);
    });
    return next;
  }

  private async write(chatId: string, kind: string, data: Record<string, unknown>): Promise<ChatEvent | null> {
    let seq: number;
    try {
      const json = JSON.stringify(data);
      const [row] = await whileUnreachable(
        () => this.sql<{ seq: string }[]>`
          WITH s AS (UPDATE chats SET last_seq = last_seq + 1 WHERE id = ${chatId} RETURNING last_seq)
          INSERT INTO chat_events (chat_id, seq, kind, data)
          SELECT ${chatId}, s.last_seq, ${kind}, ${json} FROM s
          RETURNING seq`,
        { log: this.log, what: 'the chat event log', giveUpAfterMs: this.databaseWaitMs, signal: this.closing.signal, context: { chatId } },
      );
      if (!row) return null; // the chat is gone
      seq = Number(row.seq);
    } catch (err) {
      this.log.error({ err, chatId, kind }, 'event not saved; live subscribers do not see it either');
      return null;
    }
    const event = { seq, kind, data };
    for (const listener of this.listeners.get(chatId) ?? []) {
      try {
        listener(event);
      } catch (err) {
        this.log.warn({ err, chatId }, 'event subscriber threw');
      }
    }
    return event;
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

  async read(chatId: string, afterSeq: number, limit = 1_000): Promise<ChatEvent[]> {
    const rows = await this.sql<{ seq: string; kind: string; data: string }[]>`
      SELECT seq, kind, data FROM chat_events
      WHERE chat_id = ${chatId} AND seq > ${afterSeq}
      ORDER BY seq LIMIT ${limit}`;
    return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, data: JSON.parse(r.data) }));
  }
}
