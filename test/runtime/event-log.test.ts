// The chat event log on the real PostgreSQL: order, sequence numbers, batching, and
// what happens to events of a chat that is gone.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { TransactionSql } from 'postgres';
import type { Sql } from '../../src/db/sql.js';
import { EventLog, type ChatEvent } from '../../src/runtime/event-log.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
const log = pino({ level: 'silent' });

before(async () => {
  db = await testSchema('events');
});
after(async () => {
  await db.drop();
});

async function newChat(): Promise<string> {
  const [row] = await db.sql<{ id: string }[]>`INSERT INTO chats (repo_path) VALUES ('/nowhere') RETURNING id`;
  return row!.id;
}

/** The same pool, counting the statements sent through it. */
function counting(sql: Sql): { sql: Sql; statements: () => number } {
  let n = 0;
  const wrapped = new Proxy(sql, {
    apply(target, self, args) {
      n++;
      return Reflect.apply(target, self, args);
    },
  });
  return { sql: wrapped, statements: () => n };
}

const stored = (chatId: string) =>
  db.sql<{ seq: string; kind: string; data: string }[]>`SELECT seq, kind, data FROM chat_events WHERE chat_id = ${chatId} ORDER BY seq`;

describe('EventLog', () => {
  it('numbers a burst of events in call order, writes them in a few statements, and tells subscribers in order', async () => {
    const chat = await newChat();
    const { sql, statements } = counting(db.sql);
    const events = new EventLog(sql, log);
    const heard: number[] = [];
    events.subscribe(chat, (e) => heard.push(e.data.i as number));
    const written = await Promise.all(Array.from({ length: 300 }, (_, i) => events.append(chat, 'text_delta', { i })));
    assert.deepEqual(written.map((e) => e!.seq), Array.from({ length: 300 }, (_, i) => i + 1));
    assert.deepEqual(heard, Array.from({ length: 300 }, (_, i) => i));
    const rows = await stored(chat);
    assert.deepEqual(rows.map((r) => JSON.parse(r.data).i), Array.from({ length: 300 }, (_, i) => i));
    assert.ok(statements() <= 10, `300 events took ${statements()} statements`);
    const [c] = await db.sql<{ last_seq: string }[]>`SELECT last_seq FROM chats WHERE id = ${chat}`;
    assert.equal(Number(c!.last_seq), 300);
  });

  it('misses nothing appended the moment a write ends, one at a time or in bursts', async () => {
    const chat = await newChat();
    const events = new EventLog(db.sql, log);
    const all: Promise<ChatEvent | null>[] = [];
    for (let round = 0; round < 40; round++) {
      const first = events.append(chat, 'status', { round, n: 0 });
      all.push(first);
      // Appended as the previous write resolves: the drain is finishing right then.
      all.push(first.then(() => events.append(chat, 'status', { round, n: 1 })));
      if (round % 5 === 0) await first;
    }
    const written = await Promise.all(all);
    assert.ok(written.every((e) => e !== null));
    await events.flushed(chat);
    const seqs = (await stored(chat)).map((r) => Number(r.seq));
    assert.deepEqual(seqs, Array.from({ length: 80 }, (_, i) => i + 1));
  });

  it('resolves null for a chat that is gone, and keeps writing for the others', async () => {
    const gone = await newChat();
    const kept = await newChat();
    await db.sql`DELETE FROM chats WHERE id = ${gone}`;
    const events = new EventLog(db.sql, log);
    const [a, b] = await Promise.all([events.append(gone, 'status', { x: 1 }), events.append(kept, 'status', { x: 2 })]);
    assert.equal(a, null);
    assert.equal(b!.seq, 1);
  });

  it('commits an appendWith event with its rows or neither, in its place among the others, and numbers on without a gap after a failed one', async () => {
    const chat = await newChat();
    const events = new EventLog(db.sql, log);
    const heard: string[] = [];
    events.subscribe(chat, (e) => heard.push(`${e.seq}:${e.data.n}`));
    const rows = (title: string) => (tx: TransactionSql) => tx`UPDATE chats SET title = ${title} WHERE id = ${chat}`;
    const before = events.append(chat, 'status', { n: 'before' });
    const kept = events.appendWith(chat, 'message', { n: 'kept' }, rows('kept'));
    // A statement that fails rolls its event back: the chat's counter does not move.
    const failed = events.appendWith(chat, 'message', { n: 'failed' }, (tx) => tx`SELECT 1 / 0`);
    const after = events.append(chat, 'status', { n: 'after' });
    assert.equal((await kept).seq, 2);
    await assert.rejects(failed, /division by zero/);
    assert.equal((await before)!.seq, 1);
    assert.equal((await after)!.seq, 3);
    assert.deepEqual((await stored(chat)).map((r) => `${r.seq}:${JSON.parse(r.data).n}`), ['1:before', '2:kept', '3:after']);
    assert.deepEqual(heard, ['1:before', '2:kept', '3:after']);
    const [c] = await db.sql<{ title: string; last_seq: string }[]>`SELECT title, last_seq FROM chats WHERE id = ${chat}`;
    assert.deepEqual({ ...c }, { title: 'kept', last_seq: '3' });
    // Rows the chat is gone for: rejected, nothing written.
    const gone = await newChat();
    await db.sql`DELETE FROM chats WHERE id = ${gone}`;
    await assert.rejects(events.appendWith(gone, 'message', {}, (tx) => tx`SELECT 1`));
    assert.equal((await stored(gone)).length, 0);
  });

  it('writes an event whose data holds NUL characters and astral-plane text as it was given', async () => {
    const chat = await newChat();
    const events = new EventLog(db.sql, log);
    const data = { text: 'a\u0000b 😀 \ud83d' };
    await events.append(chat, 'text_delta', data);
    assert.deepEqual(JSON.parse((await stored(chat))[0]!.data), data);
  });
});
