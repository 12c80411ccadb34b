// How warm is warm: the real Claude Code binary through ClaudeSdkBackend against the
// fake model server on loopback, so the times are Hearth's and the agent's, never a
// model's. Cold is a first turn from spawn (ensureSession included), warm is a later turn
// on the same process, resume is a first turn on a new process whose conversation comes
// back from PostgreSQL into an empty config directory. Run: npm run bench -- claude

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudeSdkBackend } from '../src/agents/claude/sdk/claude-sdk-backend.js';
import type { EnsureSessionOpts } from '../src/agents/contract/agent-backend.js';
import { startFakeModel, type FakeModelServer } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../test/fixtures/database.js';
import { median, ms, percentile, ratio, table } from './report.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const log = pino({ level: 'silent' });

interface Sample {
  firstDelta: number;
  end: number;
}

interface Ctx {
  fake: FakeModelServer;
  db: TestSchema;
  dirs: string[];
}

async function chat(ctx: Ctx): Promise<{ id: string; worktree: string }> {
  const worktree = await mkdtemp(path.join(tmpdir(), 'hearth-bench-wt-'));
  execFileSync('git', ['init', '-q', worktree]);
  ctx.dirs.push(worktree);
  const [row] = await ctx.db.sql<{ id: string }[]>`INSERT INTO chats (repo_path) VALUES (${worktree}) RETURNING id`;
  return { id: row!.id, worktree };
}

async function backend(ctx: Ctx, chatId: string): Promise<ClaudeSdkBackend> {
  const configDir = await makeConfigDir();
  ctx.dirs.push(configDir);
  return new ClaudeSdkBackend({
    sql: ctx.db.sql,
    log,
    chatId,
    agent: 'claude',
    installPath: null,
    env: claudeEnv(ctx.fake, configDir),
  });
}

/** One turn timed from `started` (which may precede ensureSession) to its first delta and its end. */
async function timedTurn(b: ClaudeSdkBackend, c: { id: string; worktree: string }, text: string): Promise<Sample> {
  const started = performance.now();
  const opts: EnsureSessionOpts = { chatId: c.id, agent: 'claude', worktreeId: null, worktreePath: c.worktree, model: null };
  const handle = await b.ensureSession(`bench-${c.id}`, opts);
  let firstDelta = NaN;
  const result = await b.prompt(handle, text, {
    signal: new AbortController().signal,
    worktreePath: c.worktree,
    model: null,
    onEvent: (e) => {
      if (e.kind === 'text_delta' && Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
    },
  });
  if (!result.ok) throw new Error(`turn failed: ${result.error}`);
  return { firstDelta, end: performance.now() - started };
}

/** Resident memory of a process and everything under it, in MiB. */
function treeRssMiB(pid: number): number {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,rss='], { encoding: 'utf8' });
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
  const inTree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of rows) if (inTree.has(pp) && !inTree.has(p)) (inTree.add(p), (grew = true));
  }
  return rows.filter(([p]) => inTree.has(p)).reduce((sum, [, , rss]) => sum + rss, 0) / 1024;
}

export async function benchClaudeSdkBackend(): Promise<void> {
  const ctx: Ctx = { fake: await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } }), db: await testSchema('bench_claude'), dirs: [] };
  try {
    // Cold: a new backend, a new process, for every sample.
    const cold: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const c = await chat(ctx);
      const b = await backend(ctx, c.id);
      cold.push(await timedTurn(b, c, `cold ${i}`));
      await b.dispose();
    }

    // Warm: one process, many turns (the first one is the spawn and is left out).
    const wc = await chat(ctx);
    const wb = await backend(ctx, wc.id);
    await timedTurn(wb, wc, 'spawn');
    const warm: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) warm.push(await timedTurn(wb, wc, `warm ${i}`));
    const pid = wb.agentPid()!;
    const rss = treeRssMiB(pid);
    const selfRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    await wb.dispose();

    // Resume: a ten-turn conversation, then a new process with an empty config directory.
    const rc = await chat(ctx);
    const seed = await backend(ctx, rc.id);
    for (let i = 0; i < 10; i++) await timedTurn(seed, rc, `history ${i}`);
    await seed.dispose();
    const resumed: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const b = await backend(ctx, rc.id);
      resumed.push(await timedTurn(b, rc, `resume ${i}`));
      await b.dispose();
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
        `ClaudeSdkBackend, ${SAMPLES} turns each (fake model; times from the start of the turn, ensureSession included)`,
        ['turn', 'first delta p50', 'first delta p95', 'turn end p50', 'turn end p95', 'cold/this (first delta)'],
        [row('cold (spawn)', cold, cold), row('warm (same process)', warm, cold), row('resume from PostgreSQL', resumed, cold)],
      ),
    );
    console.log(`\nresident memory of one warm session: ${selfRss.toFixed(0)} MiB (agent process), ${rss.toFixed(0)} MiB with its children\n`);
  } finally {
    await ctx.fake.close();
    await ctx.db.drop();
    await Promise.all(ctx.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchClaudeSdkBackend();
