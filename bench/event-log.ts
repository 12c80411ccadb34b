/**
 * Chat event log benchmark: Hearth's EventLog, which writes the events that pile up
 * behind a write in one statement, against a baseline that writes each event in a
 * statement of its own (one chain per chat, as the log did before it batched). Both run
 * in one process on one database, each in a fresh schema.
 *
 * Why: a model streams a delta every few milliseconds, and every delta is an event.
 * With many chats streaming at once, a statement per delta is a commit per delta.
 *
 * Run: `npm run bench -- events`. DATABASE_URL picks the server.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { connect, type Sql } from '../src/db/sql.js';
import { migrate } from '../src/db/migrate.js';
import { EventLog } from '../src/runtime/event-log.js';
import { median, ms, percentile, rate, ratio, table } from './report.js';

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const POOL = 10;
const CHATS = 20;
const DELTAS = 300;
/** Milliseconds between a chat's deltas: a brisk model, a very fast one, and no pause at all. */
const PACES = [4, 1, 0];
const ROUNDS = 5;

interface Writer {
  append(chatId: string, kind: string, data: Record<string, unknown>): Promise<unknown>;
}

/** One INSERT per event, chained per chat so the sequence stays in call order. */
class OneByOne implements Writer {
  private readonly tails = new Map<string, Promise<unknown>>();
  constructor(private readonly sql: Sql) {}
  append(chatId: string, kind: string, data: Record<string, unknown>): Promise<unknown> {
    const next = (this.tails.get(chatId) ?? Promise.resolve()).then(
      () => this.sql`
        WITH s AS (UPDATE chats SET last_seq = last_seq + 1 WHERE id = ${chatId} RETURNING last_seq)
        INSERT INTO chat_events (chat_id, seq, kind, data)
        SELECT ${chatId}, s.last_seq, ${kind}, ${JSON.stringify(data)} FROM s`,
    );
    this.tails.set(chatId, next);
    return next;
  }
}

interface Side {
  name: 'hearth' | 'baseline';
  sql: Sql;
  writer: Writer;
}

interface Round {
  /** Append to written, per event. */
  latencies: number[];
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every chat streams its deltas at the model's pace (or as fast as it can, paceMs 0); all chats at once. */
async function round(side: Side, paceMs: number): Promise<Round> {
  const chats = await side.sql<{ id: string }[]>`
    INSERT INTO chats (repo_path) SELECT '/bench' FROM generate_series(1, ${CHATS}) RETURNING id`;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    chats.map(async ({ id }) => {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < DELTAS; i++) {
        const t = performance.now();
        writes.push(side.writer.append(id, 'text_delta', { turnId: id, text: `token ${i} ` }).then(() => latencies.push(performance.now() - t)));
        if (paceMs > 0) await sleep(paceMs);
      }
      await Promise.all(writes);
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

export async function benchEventLog(url = DATABASE_URL): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const admin = connect(url, { max: 1 });
  const schemas = { hearth: `bench_events_h_${tag}`, baseline: `bench_events_b_${tag}` };
  const pools: Sql[] = [];
  try {
    await migrate(admin, { schema: schemas.hearth });
    await migrate(admin, { schema: schemas.baseline });
    const hearthSql = connect(url, { schema: schemas.hearth, max: POOL });
    const baselineSql = connect(url, { schema: schemas.baseline, max: POOL });
    pools.push(hearthSql, baselineSql);
    const sides: Side[] = [
      { name: 'hearth', sql: hearthSql, writer: new EventLog(hearthSql, pino({ level: 'silent' })) },
      { name: 'baseline', sql: baselineSql, writer: new OneByOne(baselineSql) },
    ];
    console.log(
      `Event log benchmark: hearth = EventLog (what piles up behind a write goes in one statement), ` +
        `baseline = one statement per event.\n${CHATS} chats at once, ${DELTAS} text deltas each; pool ${POOL} per side; ` +
        `${ROUNDS} rounds, alternating which side goes first. Ratio: baseline / hearth time, or hearth / baseline rate.\n`,
    );
    const rows: string[][] = [];
    for (const pace of PACES) {
      const label = pace > 0 ? `a delta every ${pace} ms per chat` : 'a burst, as fast as they come';
      const results: Record<Side['name'], Round[]> = { hearth: [], baseline: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const side of r % 2 === 0 ? sides : [...sides].reverse()) results[side.name].push(await round(side, pace));
      }
      const lat = (name: Side['name'], p: number) => median(results[name].map((x) => percentile(x.latencies, p)));
      const eps = (name: Side['name']) => median(results[name].map((x) => (CHATS * DELTAS) / x.seconds));
      rows.push(
        [`${label}: append to written`, ms(lat('hearth', 50)), ms(lat('hearth', 95)), ms(lat('baseline', 50)), ms(lat('baseline', 95)), ratio(lat('baseline', 50) / lat('hearth', 50))],
        [`${label}: events/s`, rate(eps('hearth')), '', rate(eps('baseline')), '', ratio(eps('hearth') / eps('baseline'))],
      );
      process.stderr.write(`[bench] events ${label}: done\n`);
    }
    console.log(table('latency: median over rounds of each round\'s p50 / p95', ['case', 'hearth p50', 'hearth p95', 'baseline p50', 'baseline p95', 'ratio (>1: hearth better)'], rows));
  } finally {
    await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
    await admin`DROP SCHEMA IF EXISTS ${admin(schemas.hearth)} CASCADE`;
    await admin`DROP SCHEMA IF EXISTS ${admin(schemas.baseline)} CASCADE`;
    await admin.end({ timeout: 5 });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchEventLog();
}
