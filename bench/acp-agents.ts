// Each ACP agent of the catalog through the warm ACP backend against the scripted model on
// loopback: cold (a new process, the session opened, then the first turn), warm (a later
// turn on the same process), resumed (a new process on an empty agent home, its session
// files restored from PostgreSQL), the resident memory of one warm session, and Hearth's
// overhead: the same agent's warm turns driven by a minimal ACP client of a few lines in
// the same run. Run: npm run bench -- acp  (BENCH_SAMPLES, BENCH_ACP_AGENTS=claude-acp,...)

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { client, methods, ndJsonStream, PROTOCOL_VERSION } from '@agentclientprotocol/sdk';
import { pino } from 'pino';
import { AcpDriver } from '../src/agents/acp/acp-driver.js';
import type { AcpAgent } from '../src/agents/acp/acp-agent.js';
import { AGENT_CATALOG } from '../src/agents/catalog.js';
import type { AgentSession, SessionSpec } from '../src/agents/contract/driver.js';
import { agentEnv } from '../src/agents/process/agent-env.js';
import { ProcessTable } from '../src/agents/process/process-memory.js';
import { AgentSessionFiles } from '../src/store/agent-session-files.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { testSchema } from '../test/fixtures/database.js';
import { benchAgentEnv } from './acp-agent-envs.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { chat, timedTurn, type Chat, type Ctx, type Sample } from './bench-chats.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const log = pino({ level: 'silent' });

interface Bench {
  ctx: Ctx;
  name: string;
  agent: AcpAgent;
  installPath: string;
  env: Record<string, string>;
  files: AgentSessionFiles;
}

async function newDir(ctx: Ctx, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  ctx.dirs.push(dir);
  return dir;
}

async function driver(b: Bench): Promise<AcpDriver> {
  return new AcpDriver({ log, env: b.env, homes: await newDir(b.ctx, 'hearth-bench-acp-home-'), agents: new Map([[b.name, b.agent]]), sessionFiles: b.files });
}

function open(b: Bench, d: AcpDriver, c: Chat): Promise<AgentSession> {
  const spec: SessionSpec = { chatId: c.id, agent: b.name, installPath: b.installPath, worktreePath: c.worktree, model: null, permissionMode: null, resume: c.token };
  return d.open(spec, { resumeToken: (token) => (c.token = token) });
}

/** A first turn on a new driver, the session opened inside the time. */
async function firstTurn(b: Bench, c: Chat, text: string): Promise<Sample> {
  const d = await driver(b);
  try {
    const started = performance.now();
    return await timedTurn(await open(b, d, c), text, started);
  } finally {
    await d.dispose();
  }
}

/** A session of the same agent through the ACP library alone, with nothing of Hearth between its first chunk and the clock. */
interface BareSession {
  turn(text: string): Promise<Sample>;
  close(): void;
}

async function bareSession(b: Bench, c: Chat): Promise<BareSession> {
  const launch = await b.agent.launch({
    installPath: b.installPath,
    env: agentEnv(b.env, { allowPrefixes: b.agent.envPrefixes }),
    home: await newDir(b.ctx, 'hearth-bench-acp-bare-'),
    worktreePath: c.worktree,
    model: null,
    permissionMode: null,
  });
  const child = spawn(launch.command, launch.args, { cwd: c.worktree, env: launch.env, stdio: ['pipe', 'pipe', 'ignore'] });
  let onChunk: (() => void) | null = null;
  const conn = client({ name: 'bench' })
    .onNotification(methods.client.session.update, ({ params }) => {
      if (params.update.sessionUpdate === 'agent_message_chunk') onChunk?.();
    })
    .onRequest(methods.client.session.requestPermission, async () => ({ outcome: { outcome: 'cancelled' as const } }))
    .connect(ndJsonStream(Writable.toWeb(child.stdin) as WritableStream<Uint8Array>, Readable.toWeb(child.stdout) as unknown as ReadableStream<Uint8Array>));
  const close = () => {
    conn.close();
    child.stdin.end();
    child.kill('SIGKILL');
  };
  try {
    await conn.agent.request(methods.agent.initialize, { protocolVersion: PROTOCOL_VERSION, clientCapabilities: {} });
    const meta = b.agent.sessionMeta ? { _meta: b.agent.sessionMeta } : {};
    const { sessionId } = await conn.agent.request(methods.agent.session.new, { cwd: c.worktree, mcpServers: [], ...meta });
    return {
      async turn(text) {
        const started = performance.now();
        let firstDelta = NaN;
        onChunk = () => {
          if (Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
        };
        await conn.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text }] });
        return { firstDelta, end: performance.now() - started };
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

async function benchAgent(b: Bench): Promise<void> {
  // A conversation of twenty turns to resume, and a session kept warm.
  const history = await chat(b.ctx);
  const seed = await driver(b);
  const s = await open(b, seed, history);
  for (let i = 0; i < 20; i++) await timedTurn(s, `history ${i}`);
  await seed.dispose();

  const cold: Sample[] = [];
  const resumed: Sample[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    cold.push(await firstTurn(b, await chat(b.ctx), `cold ${i}`));
    resumed.push(await firstTurn(b, history, `resume ${i}`));
  }

  // Warm turns through Hearth and through a bare client, in turn, so both see the same machine.
  const wc = await chat(b.ctx);
  const wd = await driver(b);
  const ws = await open(b, wd, wc);
  const bareClient = await bareSession(b, await chat(b.ctx));
  // Each process's own first turn is left out.
  await timedTurn(ws, 'spawn');
  await bareClient.turn('spawn');
  const warm: Sample[] = [];
  const bare: Sample[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    warm.push(await timedTurn(ws, `warm ${i}`));
    bare.push(await bareClient.turn(`bare ${i}`));
  }
  bareClient.close();
  const table0 = ProcessTable.scan();
  const pid = ws.pid()!;
  const MiB = 1024 * 1024;
  const rss = { self: (table0.rss(pid) ?? NaN) / MiB, tree: (table0.treeRss(pid) ?? NaN) / MiB };
  await wd.dispose();

  const fd = (x: Sample[]) => x.map((s) => s.firstDelta);
  const row = (name: string, x: Sample[]) => [
    name,
    ms(median(fd(x))),
    ms(percentile(fd(x), 95)),
    ms(median(x.map((s) => s.end))),
    ms(percentile(x.map((s) => s.end), 95)),
    ratio(median(fd(cold)) / median(fd(x))),
  ];
  console.log(
    table(
      `${b.name} on warm_acp, ${SAMPLES} turns each (scripted model; times from the start of the turn, opening the session included)`,
      ['turn', 'first delta p50', 'first delta p95', 'turn end p50', 'turn end p95', 'cold/this (first delta)'],
      [row('cold (spawn)', cold), row('warm (same process)', warm), row('resumed, empty home, after 20 turns', resumed), row('warm, bare ACP client (baseline)', bare)],
    ),
  );
  console.log(
    `\nHearth's overhead on a warm turn: ${ms(median(fd(warm)) - median(fd(bare)))} at the median to first delta ` +
      `(${ms(median(fd(warm)))} vs ${ms(median(fd(bare)))} bare), ${ms(median(warm.map((x) => x.end)) - median(bare.map((x) => x.end)))} to the turn's end ` +
      `(the session files mirrored into PostgreSQL before it ends); resident memory of one warm session: ` +
      `${rss.self.toFixed(0)} MiB (agent process), ${rss.tree.toFixed(0)} MiB with its children\n`,
  );
}

export async function benchAcpAgents(): Promise<void> {
  const wanted = process.env.BENCH_ACP_AGENTS?.split(',').filter(Boolean);
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } });
  const ctx: Ctx = { fake, db: await testSchema('bench_acp'), dirs: [] };
  try {
    const files = new AgentSessionFiles(ctx.db.sql);
    for (const entry of AGENT_CATALOG) {
      if (!entry.acp || (wanted && !wanted.includes(entry.name))) continue;
      const installPath = entry.locate();
      if (!installPath) {
        console.log(`${entry.name}: not installed, left out\n`);
        continue;
      }
      const env = await benchAgentEnv(entry.name, fake, await newDir(ctx, 'hearth-bench-acp-config-'));
      await benchAgent({ ctx, name: entry.name, agent: entry.acp, installPath, env, files });
    }
  } finally {
    await fake.close();
    await ctx.db.drop();
    await Promise.all(ctx.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchAcpAgents();
