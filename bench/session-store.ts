/**
 * Session store benchmark: Hearth's PostgresSessionStore against a baseline written to
 * the design of the Claude Agent SDK's reference Postgres adapter (one jsonb row per
 * entry, no de-duplication, listing by GROUP BY over the entries). Both run in one
 * process on one database, each in a fresh schema, fed the same synthetic transcripts.
 *
 * Why: Hearth's store does more per append than the reference (a row lock, uuid
 * de-duplication, a summary fold) so that listing reads one row per session.
 * The project's goals are at least parity on concurrent appends and listing at least
 * 20x faster on a project of 2,000 sessions; these tables say whether that holds.
 *
 * Run: `node --import tsx bench/session-store.ts` (or `npm run bench` for every
 * benchmark). DATABASE_URL picks the server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { foldSessionSummary, type SessionKey, type SessionStore, type SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import type { PendingQuery, Row } from 'postgres';
import { connect, type Sql } from '../src/db/sql.js';
import { migrate } from '../src/db/migrate.js';
import { PostgresSessionStore } from '../src/store/postgres-session-store.js';
import { BaselinePostgresSessionStore } from './baseline-postgres-store.js';
import { rng, transcript, transcriptEntry, uuidFrom } from './transcript.js';
import { median, ms, percentile, rate, ratio, table } from './report.js';

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Connections per store: both get the same. */
const POOL = 10;
const APPEND = { sessions: 50, batches: 40, batchSize: 10, rounds: 9 };
const LOAD = { sizes: [10_000, 50_000], runs: [9, 7], writeBatch: 1_000 };
const LIST = { sessions: 2_000, entries: 200, calls: 15, templates: 8 };
const LIST_PROJECT = 'bench-listing';
/** Session i of the listing project starts at BASE + i minutes; its entries are a second apart. */
const LIST_BASE_MS = 1_750_000_000_000;

interface Side {
  name: 'hearth' | 'baseline';
  store: SessionStore;
  schema: string;
}

/** Runs `f` for each side in turn, flipping which goes first on odd iterations so drift (caches, autovacuum) hits both alike. */
async function alternate(sides: readonly [Side, Side], iteration: number, f: (side: Side) => Promise<void>): Promise<void> {
  const order = iteration % 2 === 0 ? sides : ([sides[1], sides[0]] as const);
  for (const side of order) await f(side);
}

async function time(f: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await f();
  return performance.now() - start;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Same-shaped work on both stores before anything is timed: prepared statements, caches, JIT of the JS paths. */
async function warmUp(sides: readonly [Side, Side]): Promise<void> {
  const data = Array.from({ length: 5 }, (_, s) => transcript(9_000 + s, `warm-${s}`, 50));
  for (const side of sides) {
    await Promise.all(
      data.map(async (entries, s) => {
        const key = { projectKey: 'bench-warmup', sessionId: `warm-${s}` };
        for (let b = 0; b < entries.length; b += APPEND.batchSize) await side.store.append(key, entries.slice(b, b + APPEND.batchSize));
      }),
    );
    await side.store.load({ projectKey: 'bench-warmup', sessionId: 'warm-0' });
    await side.store.listSessions!('bench-warmup');
    await side.store.listSessionSummaries?.('bench-warmup');
  }
}

interface AppendRound {
  entriesPerSecond: number;
  p50: number;
  p95: number;
}

/** Every session appends its batches in order, awaiting each; all sessions run at once. */
async function appendRound(side: Side, projectKey: string, sessionIds: string[], batches: SessionStoreEntry[][][]): Promise<AppendRound> {
  const latencies: number[] = [];
  let entries = 0;
  const elapsed = await time(() =>
    Promise.all(
      batches.map(async (sessionBatches, s) => {
        const key: SessionKey = { projectKey, sessionId: sessionIds[s]! };
        for (const batch of sessionBatches) {
          const start = performance.now();
          await side.store.append(key, batch);
          latencies.push(performance.now() - start);
          entries += batch.length;
        }
      }),
    ),
  );
  return { entriesPerSecond: entries / (elapsed / 1000), p50: median(latencies), p95: percentile(latencies, 95) };
}

async function benchAppend(sides: readonly [Side, Side]): Promise<{ text: string; ratio: number }> {
  const results: Record<Side['name'], AppendRound[]> = { hearth: [], baseline: [] };
  const perSession = APPEND.batches * APPEND.batchSize;
  for (let round = 0; round < APPEND.rounds; round++) {
    const r = rng(100 + round);
    const sessionIds = Array.from({ length: APPEND.sessions }, () => uuidFrom(r));
    const batches = sessionIds.map((sessionId, s) => {
      const entries = transcript(1_000 * round + s, sessionId, perSession);
      return Array.from({ length: APPEND.batches }, (_, b) => entries.slice(b * APPEND.batchSize, (b + 1) * APPEND.batchSize));
    });
    const projectKey = `bench-append-${round}`;
    await alternate(sides, round, async (side) => {
      results[side.name].push(await appendRound(side, projectKey, sessionIds, batches));
      const loaded = await side.store.load({ projectKey, sessionId: sessionIds[0]! });
      check(loaded?.length === perSession, `${side.name} lost appended entries`);
    });
    progress(`append round ${round + 1}/${APPEND.rounds}: hearth ${rate(results.hearth.at(-1)!.entriesPerSecond)}, baseline ${rate(results.baseline.at(-1)!.entriesPerSecond)}`);
  }
  const m = (name: Side['name'], f: (x: AppendRound) => number) => median(results[name].map(f));
  // Each round runs the two stores back to back, so a round's ratio cancels load from
  // outside the benchmark that a median of each store's own rounds would not.
  const paired = (f: (hearth: AppendRound, baseline: AppendRound) => number) =>
    median(results.hearth.map((h, i) => f(h, results.baseline[i]!)));
  const rateRatio = paired((h, b) => h.entriesPerSecond / b.entriesPerSecond);
  const rows = [
    ['entries/s', rate(m('hearth', (x) => x.entriesPerSecond)), '', rate(m('baseline', (x) => x.entriesPerSecond)), '', ratio(rateRatio)],
    [
      'append latency',
      ms(m('hearth', (x) => x.p50)),
      ms(m('hearth', (x) => x.p95)),
      ms(m('baseline', (x) => x.p50)),
      ms(m('baseline', (x) => x.p95)),
      ratio(paired((h, b) => b.p50 / h.p50)),
    ],
  ];
  const title =
    `1. append: ${APPEND.sessions} sessions at once, each ${APPEND.batches} batches of ${APPEND.batchSize} entries in order; ` +
    `pool ${POOL} per store; median of ${APPEND.rounds} rounds (latency: of each round's median / p95; ratio: of each round's pair)`;
  const perRound = results.hearth
    .map((h, i) => `${Math.round(h.entriesPerSecond / 1000)}k/${Math.round(results.baseline[i]!.entriesPerSecond / 1000)}k`)
    .join(', ');
  return { text: `${table(title, HEADER, rows)}\nrounds, hearth/baseline entries/s: ${perRound}`, ratio: rateRatio };
}

async function benchLoad(sides: readonly [Side, Side]): Promise<string> {
  const rows: string[][] = [];
  for (const [i, size] of LOAD.sizes.entries()) {
    const key = { projectKey: 'bench-load', sessionId: `load-${size}` };
    const entries = transcript(7_000 + i, key.sessionId, size);
    for (const side of sides) {
      for (let b = 0; b < entries.length; b += LOAD.writeBatch) await side.store.append(key, entries.slice(b, b + LOAD.writeBatch));
    }
    const times: Record<Side['name'], number[]> = { hearth: [], baseline: [] };
    // One unmeasured load each first: the first read of fresh rows also sets hint bits.
    for (let run = -1; run < LOAD.runs[i]!; run++) {
      await alternate(sides, run + 1, async (side) => {
        let loaded: SessionStoreEntry[] | null = null;
        const t = await time(async () => {
          loaded = await side.store.load(key);
        });
        check((loaded as SessionStoreEntry[] | null)?.length === size, `${side.name} load returned the wrong count`);
        if (run >= 0) times[side.name].push(t);
      });
    }
    rows.push(statRow(`load ${size.toLocaleString('en-US')} entries (${LOAD.runs[i]} loads)`, times));
    progress(`load ${size}: done`);
  }
  return table('2. load of one transcript (median / p95 over loads)', HEADER, rows);
}

/** Listing-project transcript lines with placeholders the SQL fills per session and line. */
function listTemplates(): string[] {
  const r = rng(42);
  return Array.from({ length: LIST.templates }, (_, i) =>
    JSON.stringify(transcriptEntry(r, i, { uuid: '@@UUID@@', parentUuid: '@@PARENT@@', sessionId: '@@SESSION@@', timestamp: '@@TS@@' })),
  );
}

function md5Uuid(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Writes the listing project straight into both layouts with INSERT ... SELECT, which
 * is far quicker than going through append. For Hearth that means a claude_transcripts
 * row per session (mtime, and the summary the fold gives over the session's lines) and
 * its entries; for the baseline, the entry rows with created_at a
 * second apart, so max(created_at) equals Hearth's mtime.
 */
async function loadListingProject(admin: Sql, hearth: Side, baseline: Side): Promise<void> {
  const templates = listTemplates();
  const sessionIds = Array.from({ length: LIST.sessions }, (_, i) => md5Uuid(`listing:${i + 1}`));
  const summaries = sessionIds.map((sessionId, i) => {
    const startMs = LIST_BASE_MS + (i + 1) * 60_000;
    // The templates repeat every LIST.templates lines, so folding one cycle gives what folding all would.
    const lines = templates.map((tpl, g0) => {
      const g = g0 + 1;
      const text = tpl
        .replaceAll('@@UUID@@', md5Uuid(`${sessionId}:${g}`))
        .replaceAll('"@@PARENT@@"', g === 1 ? 'null' : `"${md5Uuid(`${sessionId}:${g - 1}`)}"`)
        .replaceAll('@@SESSION@@', sessionId)
        .replaceAll('@@TS@@', new Date(startMs + g * 1000).toISOString());
      return JSON.parse(text) as SessionStoreEntry;
    });
    const mtime = startMs + LIST.entries * 1000;
    return JSON.stringify(foldSessionSummary(undefined, { projectKey: LIST_PROJECT, sessionId }, lines, { mtime }).data);
  });

  const h = admin(hearth.schema);
  const b = admin(baseline.schema);
  // md5(session:g) gives each line a stable uuid and its parent the previous line's.
  const fill = (session: PendingQuery<Row[]>, startMs: PendingQuery<Row[]>) => admin`
    replace(replace(replace(replace(
      (${templates}::text[])[(g - 1) % ${LIST.templates} + 1],
      '@@UUID@@', md5(${session} || ':' || g)::uuid::text),
      '"@@PARENT@@"', CASE WHEN g = 1 THEN 'null' ELSE '"' || md5(${session} || ':' || (g - 1))::uuid::text || '"' END),
      '@@SESSION@@', ${session}),
      '@@TS@@', to_char(to_timestamp((${startMs} + g * 1000) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

  await admin`
    INSERT INTO ${h}.claude_transcripts (project_key, session_id, subpath, mtime, summary)
    SELECT ${LIST_PROJECT}, s.session_id, '', ${LIST_BASE_MS}::bigint + s.i * 60000 + ${LIST.entries * 1000}, s.summary
    FROM unnest(${sessionIds}::text[], ${summaries}::text[]) WITH ORDINALITY AS s(session_id, summary, i)`;
  // Two statements on two connections: one core each.
  await Promise.all([
    admin`
      INSERT INTO ${h}.claude_transcript_entries (transcript_id, uuid, entry)
      SELECT t.id, md5(t.session_id || ':' || g)::uuid::text,
        ${fill(admin`t.session_id`, admin`(t.mtime - ${LIST.entries * 1000})`)}
      FROM ${h}.claude_transcripts t CROSS JOIN generate_series(1, ${LIST.entries}) AS g
      WHERE t.project_key = ${LIST_PROJECT} AND t.subpath = ''`,
    admin`
      INSERT INTO ${b}.claude_session_entries (project_key, session_id, subpath, entry, created_at)
      SELECT ${LIST_PROJECT}, s.session_id, NULL,
        ${fill(admin`s.session_id`, admin`(${LIST_BASE_MS}::bigint + s.i * 60000)`)}::jsonb,
        to_timestamp((${LIST_BASE_MS}::bigint + s.i * 60000 + g * 1000) / 1000.0)
      FROM unnest(${sessionIds}::text[]) WITH ORDINALITY AS s(session_id, i)
        CROSS JOIN generate_series(1, ${LIST.entries}) AS g`,
  ]);
  // Statistics and a set visibility map, as autovacuum would leave a table at rest.
  await Promise.all([
    admin.unsafe(`VACUUM (ANALYZE) ${hearth.schema}.claude_transcripts, ${hearth.schema}.claude_transcript_entries`),
    admin.unsafe(`VACUUM (ANALYZE) ${baseline.schema}.claude_session_entries`),
  ]);
}

async function benchList(admin: Sql, sides: readonly [Side, Side]): Promise<{ text: string; ratio: number }> {
  const [hearth, baseline] = sides;
  const loadMs = await time(() => loadListingProject(admin, hearth, baseline));
  progress(`listing project written in ${(loadMs / 1000).toFixed(1)} s`);
  // Both layouts must hold the same transcripts, or the comparison is of different data.
  const sample = { projectKey: LIST_PROJECT, sessionId: md5Uuid(`listing:${LIST.sessions}`) };
  const [ours, theirs] = await Promise.all([hearth.store.load(sample), baseline.store.load(sample)]);
  check(ours?.length === LIST.entries && isDeepStrictEqual(ours, theirs), 'the listing project differs between the layouts');
  const times: Record<Side['name'], number[]> = { hearth: [], baseline: [] };
  for (let call = -1; call < LIST.calls; call++) {
    await alternate(sides, call + 1, async (side) => {
      let count = 0;
      const t = await time(async () => {
        count = (await side.store.listSessions!(LIST_PROJECT)).length;
      });
      check(count === LIST.sessions, `${side.name} listed ${count} sessions`);
      if (call >= 0) times[side.name].push(t);
    });
  }
  const summaries: number[] = [];
  for (let call = -1; call < LIST.calls; call++) {
    let count = 0;
    const t = await time(async () => {
      count = (await hearth.store.listSessionSummaries!(LIST_PROJECT)).length;
    });
    check(count === LIST.sessions, `hearth summarized ${count} sessions`);
    if (call >= 0) summaries.push(t);
  }
  const label = `${LIST.sessions.toLocaleString('en-US')} sessions x ${LIST.entries} entries`;
  const rows = [
    statRow(`listSessions, ${label}`, times),
    [`listSessionSummaries (hearth only)`, ms(median(summaries)), ms(percentile(summaries, 95)), 'n/a', 'n/a', ''],
  ];
  return {
    text: table(`3. listing (median / p95 over ${LIST.calls} calls)`, HEADER, rows),
    ratio: median(times.baseline) / median(times.hearth),
  };
}

const HEADER = ['case', 'hearth median', 'hearth p95', 'baseline median', 'baseline p95', 'ratio (>1: hearth faster)'];

function statRow(label: string, times: Record<Side['name'], number[]>): string[] {
  return [
    label,
    ms(median(times.hearth)),
    ms(percentile(times.hearth, 95)),
    ms(median(times.baseline)),
    ms(percentile(times.baseline, 95)),
    ratio(median(times.baseline) / median(times.hearth)),
  ];
}

export async function sessionStoreBench(url = DATABASE_URL): Promise<void> {
  const started = performance.now();
  const tag = randomBytes(4).toString('hex');
  const admin = connect(url, { max: 2 });
  const schemas = { hearth: `bench_hearth_${tag}`, baseline: `bench_baseline_${tag}` };
  const pools: Sql[] = [];
  try {
    await migrate(admin, { schema: schemas.hearth });
    await admin`CREATE SCHEMA ${admin(schemas.baseline)}`;
    const hearthSql = connect(url, { schema: schemas.hearth, max: POOL });
    const baselineSql = connect(url, { schema: schemas.baseline, max: POOL });
    pools.push(hearthSql, baselineSql);
    const baselineStore = new BaselinePostgresSessionStore(baselineSql, { schema: schemas.baseline });
    await baselineStore.ensureSchema();
    const sides = [
      { name: 'hearth', store: new PostgresSessionStore(hearthSql, { schema: schemas.hearth }), schema: schemas.hearth },
      { name: 'baseline', store: baselineStore, schema: schemas.baseline },
    ] as const satisfies readonly [Side, Side];

    const [settings] = await admin<{ version: string; jit: string }[]>`
      SELECT current_setting('server_version') AS version, current_setting('jit') AS jit`;
    const sample = transcript(1, 'size-sample', 400).map((e) => Buffer.byteLength(JSON.stringify(e)));
    console.log(
      `Session store benchmark: hearth = PostgresSessionStore, baseline = the SDK reference adapter's design.\n` +
        `PostgreSQL ${settings!.version} (jit ${settings!.jit}); entries ${Math.min(...sample)}–${Math.max(...sample)} bytes, ` +
        `mean ${Math.round(sample.reduce((a, b) => a + b, 0) / sample.length)}.\n` +
        `Ratio: baseline time / hearth time, or hearth rate / baseline rate; above 1 means hearth is faster.\n`,
    );

    await warmUp(sides);
    progress('warm-up done');
    // BENCH_STORE_CASES=append (or load, list, comma-separated) runs only those cases.
    const cases = (process.env.BENCH_STORE_CASES || 'append,load,list').split(',');
    const goals: string[] = [];
    if (cases.includes('append')) {
      const append = await benchAppend(sides);
      console.log(append.text + '\n');
      goals.push(`append parity ${append.ratio >= 1 ? 'MET' : 'MISSED'} (${ratio(append.ratio)} the baseline's entries/s)`);
    }
    if (cases.includes('load')) console.log((await benchLoad(sides)) + '\n');
    if (cases.includes('list')) {
      const list = await benchList(admin, sides);
      console.log(list.text + '\n');
      goals.push(`listing >= 20x ${list.ratio >= 20 ? 'MET' : 'MISSED'} (${ratio(list.ratio)})`);
    }
    if (goals.length) console.log(`Goals: ${goals.join('; ')}.`);
  } finally {
    await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
    await admin`DROP SCHEMA IF EXISTS ${admin(schemas.hearth)} CASCADE`;
    await admin`DROP SCHEMA IF EXISTS ${admin(schemas.baseline)} CASCADE`;
    await admin.end({ timeout: 5 });
    progress(`session store benchmark took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await sessionStoreBench();
}
