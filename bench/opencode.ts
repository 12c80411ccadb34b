// OpenCode against the scripted model on loopback: warm turns through Hearth's server
// backend (one supervised `opencode serve` for the node, the session kept between turns)
// against a cold `opencode run` per turn, which is what a wrapper that starts the agent for
// each message does; a new chat's first turn on the running server; and the server's
// resident memory with 1, 5 and 20 sessions. Run: npm run bench -- opencode  (BENCH_SAMPLES)

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AGENT_CATALOG } from '../src/agents/catalog.js';
import type { AgentSession, SessionSpec } from '../src/agents/contract/driver.js';
import { seedConfigDir } from '../src/agents/opencode/opencode-config.js';
import { OpencodeDriver } from '../src/agents/opencode/opencode-driver.js';
import { ProcessTable } from '../src/agents/process/process-memory.js';
import { OpencodeSessions } from '../src/store/opencode-sessions.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { testSchema } from '../test/fixtures/database.js';
import { opencodeEnv, OPENCODE_MODEL_REF } from '../test/fixtures/opencode-env.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { chat, timedTurn, type Chat, type Ctx, type Sample } from './bench-chats.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const MEMORY_SESSIONS = [1, 5, 20];
const MiB = 1024 * 1024;
const log = pino({ level: 'silent' });

async function newDir(ctx: Ctx, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  ctx.dirs.push(dir);
  return dir;
}

function open(d: OpencodeDriver, installPath: string, c: Chat): Promise<AgentSession> {
  const spec: SessionSpec = { chatId: c.id, agent: 'opencode', installPath, worktreePath: c.worktree, model: OPENCODE_MODEL_REF, permissionMode: null, resume: c.token };
  return d.open(spec, { resumeToken: (token) => (c.token = token) });
}

/**
 * One `opencode run` of a message, in a home it has run in before: timed from the spawn to
 * the reply's text on stdout (its JSON events carry each part whole) and to its exit.
 */
async function coldRun(installPath: string, env: Record<string, string>, c: Chat, text: string): Promise<Sample> {
  const started = performance.now();
  // Its stdin is closed: `opencode run` otherwise waits to read a message from it.
  const child = spawn(installPath, ['run', '--format', 'json', '-m', OPENCODE_MODEL_REF, text], { cwd: c.worktree, env, stdio: ['ignore', 'pipe', 'ignore'] });
  let firstDelta = NaN;
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (Number.isNaN(firstDelta) && line.includes('"type":"text"')) firstDelta = performance.now() - started;
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0 || Number.isNaN(firstDelta)) throw new Error(`opencode run "${text}" ended with ${code} and ${Number.isNaN(firstDelta) ? 'no' : 'a'} reply`);
  return { firstDelta, end: performance.now() - started };
}

function serverRss(session: AgentSession): { self: number; tree: number } {
  const pid = session.pid();
  if (pid === null) return { self: NaN, tree: NaN };
  const processes = ProcessTable.scan();
  return { self: (processes.rss(pid) ?? NaN) / MiB, tree: (processes.treeRss(pid) ?? NaN) / MiB };
}

/** A server of its own, its resident memory measured as sessions are added, each after a turn. */
async function benchMemory(ctx: Ctx, installPath: string): Promise<void> {
  const home = await newDir(ctx, 'hearth-bench-opencode-memory-');
  const driver = new OpencodeDriver({ log, env: opencodeEnv(ctx.fake, home), homes: path.join(home, 'agents'), sessions: new OpencodeSessions(ctx.db.sql) });
  try {
    const sessions: AgentSession[] = [];
    const rows: string[][] = [];
    for (const n of MEMORY_SESSIONS) {
      while (sessions.length < n) {
        const s = await open(driver, installPath, await chat(ctx));
        await timedTurn(s, `memory ${sessions.length}`);
        sessions.push(s);
      }
      const rss = serverRss(sessions[0]!);
      rows.push([String(n), rss.self.toFixed(0), rss.tree.toFixed(0)]);
    }
    console.log(table("opencode's server, resident memory (MiB) with open sessions, each in a worktree of its own", ['sessions', 'server', 'server with its children'], rows));
    console.log('');
  } finally {
    await driver.dispose();
  }
}

export async function benchOpencode(): Promise<void> {
  const entry = AGENT_CATALOG.find((a) => a.name === 'opencode');
  const installPath = entry?.locate();
  if (!installPath) {
    console.log('opencode: not installed, left out\n');
    return;
  }
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } });
  const ctx: Ctx = { fake, db: await testSchema('bench_opencode'), dirs: [] };
  const home = await newDir(ctx, 'hearth-bench-opencode-');
  const env = opencodeEnv(fake, home);
  // As Hearth readies its own, so that the cold runs fetch nothing from the npm registry either.
  await seedConfigDir(home);
  const driver = new OpencodeDriver({ log, env, homes: path.join(home, 'agents'), sessions: new OpencodeSessions(ctx.db.sql) });
  try {
    // The cold runs' home is made once, as a user's would be: its database is not created inside the times.
    const coldChat = await chat(ctx);
    await coldRun(installPath, env, coldChat, 'first run');

    // The server's own start is left out of every time: a node starts it once.
    const warmChat = await chat(ctx);
    const serverStart = performance.now();
    const warmSession = await open(driver, installPath, warmChat);
    await timedTurn(warmSession, 'spawn');
    const startMs = performance.now() - serverStart;

    const cold: Sample[] = [];
    const warm: Sample[] = [];
    const fresh: Sample[] = [];
    // In turn, so each kind sees the same machine.
    for (let i = 0; i < SAMPLES; i++) {
      cold.push(await coldRun(installPath, env, coldChat, `cold ${i}`));
      warm.push(await timedTurn(warmSession, `warm ${i}`));
      const started = performance.now();
      const s = await open(driver, installPath, await chat(ctx));
      fresh.push(await timedTurn(s, `new ${i}`, started));
      await s.close();
    }

    const fd = (x: Sample[]) => x.map((s) => s.firstDelta);
    const end = (x: Sample[]) => x.map((s) => s.end);
    const row = (name: string, x: Sample[]) => [
      name,
      ms(median(fd(x))),
      ms(percentile(fd(x), 95)),
      ms(median(end(x))),
      ms(percentile(end(x), 95)),
      ratio(median(fd(cold)) / median(fd(x))),
    ];
    console.log(
      table(
        `opencode, ${SAMPLES} turns each (scripted model; times from the start of the turn, opening the session included)`,
        ['turn', 'first delta p50', 'first delta p95', 'turn end p50', 'turn end p95', 'cold/this (first delta)'],
        [
          row('cold: `opencode run` per message (baseline)', cold),
          row('warm: the same session on the running server', warm),
          row("a new chat's first turn on the running server", fresh),
        ],
      ),
    );
    console.log(`\nThe server's own start with its first turn: ${ms(startMs)}.\n`);
    await driver.dispose();
    await benchMemory(ctx, installPath);

  } finally {
    await driver.dispose();
    await fake.close();
    await ctx.db.drop();
    await Promise.all(ctx.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchOpencode();
