// How warm is warm: the real Claude Code binary through ClaudeSdkDriver against the
// fake model server on loopback, so the times are Hearth's and the agent's, never a
// model's. Cold is a first turn from spawn (opening the session included), warm is a later turn
// on the same process, resume is a first turn on a new process whose conversation comes
// back from PostgreSQL into an empty config directory. Cold and resume samples are taken in
// turn, so they see the same load on the machine, and each is split into the store's load()
// of the transcript, the rest of opening the session (the SDK writing the transcript out,
// the spawn, the agent's start) and the prompt to its first delta. Run: npm run bench -- claude

import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { ClaudeSdkDriver } from '../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentSession, SessionSpec } from '../src/agents/contract/driver.js';
import { bundledClaudePath } from '../src/agents/claude/claude-install.js';
import { ProcessTable } from '../src/agents/process/process-memory.js';
import { PostgresSessionStore } from '../src/store/postgres-session-store.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema } from '../test/fixtures/database.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { chat, timedTurn as turnOf, type Chat, type Ctx, type Sample } from './bench-chats.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const CLAUDE = bundledClaudePath() ?? 'claude';
const log = pino({ level: 'silent' });


/** A store that adds up how long its load() calls take. */
class TimedStore extends PostgresSessionStore {
  loadMs = 0;
  override async load(...args: Parameters<PostgresSessionStore['load']>) {
    const started = performance.now();
    try {
      return await super.load(...args);
    } finally {
      this.loadMs += performance.now() - started;
    }
  }
}

async function driver(ctx: Ctx, store = new TimedStore(ctx.db.sql)): Promise<ClaudeSdkDriver> {
  const configDir = await makeConfigDir();
  ctx.dirs.push(configDir);
  return new ClaudeSdkDriver({ log, sessionStore: store, env: claudeEnv(ctx.fake, configDir) });
}

/** A first turn on a new process, split into its parts. */
interface OpenSample extends Sample {
  load: number;
  open: number;
}

/** A first turn on a new driver: the session opened (resuming the chat's conversation if it has one), then prompted. */
async function firstTurn(ctx: Ctx, c: Chat, text: string): Promise<OpenSample> {
  const store = new TimedStore(ctx.db.sql);
  const d = await driver(ctx, store);
  try {
    const started = performance.now();
    const session = await open(d, c);
    const opened = performance.now() - started;
    const s = await timedTurn(session, text, started);
    return { ...s, load: store.loadMs, open: opened };
  } finally {
    await d.dispose();
  }
}

/** A session of the chat, resuming its conversation when it has one. */
function open(d: ClaudeSdkDriver, c: Chat): Promise<AgentSession> {
  const spec: SessionSpec = {
    chatId: c.id,
    agent: 'claude',
    installPath: CLAUDE,
    worktreePath: c.worktree,
    model: null,
    permissionMode: null,
    resume: c.token,
  };
  return d.open(spec, { resumeToken: (token) => (c.token = token) });
}

/** One turn timed from `started` (before the session opens, for a first turn) to its first delta and its end. */
async function timedTurn(session: AgentSession | Promise<AgentSession>, text: string, started = performance.now()): Promise<Sample> {
  return turnOf(await session, text, started);
}

/** Resident memory of the process alone and of its tree, in MiB, as the pool measures it; and what one measure of /proc costs. */
function memoryOf(pid: number): { self: number; tree: number; scanMs: number } {
  const runs = 20;
  const started = performance.now();
  for (let i = 1; i < runs; i++) ProcessTable.scan();
  const table = ProcessTable.scan();
  const scanMs = (performance.now() - started) / runs;
  const MiB = 1024 * 1024;
  return { self: (table.rss(pid) ?? NaN) / MiB, tree: (table.treeRss(pid) ?? NaN) / MiB, scanMs };
}

export async function benchClaudeSdkDriver(): Promise<void> {
  const ctx: Ctx = { fake: await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } }), db: await testSchema('bench_claude'), dirs: [] };
  try {
    // Conversations of ten and twenty turns, to resume.
    const histories = await Promise.all(
      [10, 20].map(async (turns) => {
        const c = await chat(ctx);
        const seed = await driver(ctx);
        const s = await open(seed, c);
        for (let i = 0; i < turns; i++) await timedTurn(s, `history ${i}`);
        await seed.dispose();
        return c;
      }),
    );

    // Cold (a new chat, a new process) and resume (a new process, an empty config directory,
    // the conversation from PostgreSQL), in turn.
    const cold: OpenSample[] = [];
    const resumed10: OpenSample[] = [];
    const resumed20: OpenSample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      cold.push(await firstTurn(ctx, await chat(ctx), `cold ${i}`));
      resumed10.push(await firstTurn(ctx, histories[0]!, `resume10 ${i}`));
      resumed20.push(await firstTurn(ctx, histories[1]!, `resume20 ${i}`));
    }

    // Warm: one process, many turns (the first one is the spawn and is left out).
    const wc = await chat(ctx);
    const wd = await driver(ctx);
    const ws = await open(wd, wc);
    await timedTurn(ws, 'spawn');
    const warm: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) warm.push(await timedTurn(ws, `warm ${i}`));
    const pid = ws.pid()!;
    const memory = memoryOf(pid);
    await wd.dispose();

    const row = (name: string, s: Sample[], base: Sample[]) => [
      name,
      ms(median(s.map((x) => x.firstDelta))),
      ms(percentile(s.map((x) => x.firstDelta), 95)),
      ms(median(s.map((x) => x.end))),
      ms(percentile(s.map((x) => x.end), 95)),
      ratio(median(base.map((x) => x.firstDelta)) / median(s.map((x) => x.firstDelta))),
    ];
    console.log(
      table(
        `ClaudeSdkDriver, ${SAMPLES} turns each (fake model; times from the start of the turn, opening the session included)`,
        ['turn', 'first delta p50', 'first delta p95', 'turn end p50', 'turn end p95', 'cold/this (first delta)'],
        [
          row('cold (spawn)', cold, cold),
          row('warm (same process)', warm, cold),
          row('resume after 10 turns', resumed10, cold),
          row('resume after 20 turns', resumed20, cold),
        ],
      ),
    );
    const part = (s: OpenSample[], of: (x: OpenSample) => number) => ms(median(s.map(of)));
    const parts = (name: string, s: OpenSample[]) => [
      name,
      part(s, (x) => x.load),
      part(s, (x) => x.open - x.load),
      part(s, (x) => x.open),
      part(s, (x) => x.firstDelta - x.open),
      part(s, (x) => x.firstDelta),
      ratio(median(s.map((x) => x.firstDelta)) / median(cold.map((x) => x.firstDelta))),
    ];
    console.log(
      '\n' +
        table(
          'A first turn on a new process, in parts (medians): the store\'s load(), the rest of opening (the SDK writes the transcript out, spawns the agent, waits for its start), the prompt to its first delta',
          ['turn', 'store load()', 'rest of open', 'open', 'prompt to first delta', 'first delta', 'this/cold'],
          [parts('cold (spawn)', cold), parts('resume after 10 turns', resumed10), parts('resume after 20 turns', resumed20)],
        ),
    );
    console.log(
      `\nresident memory of one warm session: ${memory.self.toFixed(0)} MiB (agent process), ${memory.tree.toFixed(0)} MiB with its children` +
        ` (one measure of /proc, as the pool takes it: ${memory.scanMs.toFixed(1)} ms)\n`,
    );
  } finally {
    await ctx.fake.close();
    await ctx.db.drop();
    await Promise.all(ctx.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchClaudeSdkDriver();
