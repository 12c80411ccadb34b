// How warm is warm: the real Claude Code binary through ClaudeSdkDriver against the
// fake model server on loopback, so the times are Hearth's and the agent's, never a
// model's. Cold is a first turn from spawn (opening the session included), warm is a later turn
// on the same process, resume is a first turn on a new process whose conversation comes
// back from PostgreSQL into an empty config directory. Run: npm run bench -- claude

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
import { chat, type Chat, type Ctx, type Sample } from './bench-chats.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const CLAUDE = bundledClaudePath() ?? 'claude';
const log = pino({ level: 'silent' });


async function driver(ctx: Ctx): Promise<ClaudeSdkDriver> {
  const configDir = await makeConfigDir();
  ctx.dirs.push(configDir);
  return new ClaudeSdkDriver({ log, sessionStore: new PostgresSessionStore(ctx.db.sql), env: claudeEnv(ctx.fake, configDir) });
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
  let firstDelta = NaN;
  const result = await (await session).prompt(text, {
    signal: new AbortController().signal,
    emit: (e) => {
      if (e.kind === 'text_delta' && Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
    },
    requestPermission: async () => ({ outcome: 'cancelled', message: 'nobody answers in a benchmark' }),
  });
  if (!result.ok) throw new Error(`turn failed: ${result.error}`);
  return { firstDelta, end: performance.now() - started };
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
    // Cold: a new driver, a new process, for every sample.
    const cold: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const c = await chat(ctx);
      const d = await driver(ctx);
      const started = performance.now();
      cold.push(await timedTurn(open(d, c), `cold ${i}`, started));
      await d.dispose();
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

    // Resume: a ten-turn conversation, then a new process with an empty config directory.
    const rc = await chat(ctx);
    const seed = await driver(ctx);
    const rs = await open(seed, rc);
    for (let i = 0; i < 10; i++) await timedTurn(rs, `history ${i}`);
    await seed.dispose();
    const resumed: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const d = await driver(ctx);
      const started = performance.now();
      resumed.push(await timedTurn(open(d, rc), `resume ${i}`, started));
      await d.dispose();
    }

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
        [row('cold (spawn)', cold, cold), row('warm (same process)', warm, cold), row('resume from PostgreSQL', resumed, cold)],
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
