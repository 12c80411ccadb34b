// The HTTP API end to end: POST a message, time the first SSE text delta and the turn_end.
// Hearth (runtime and Fastify on loopback) and the client share this process; the agent is
// the real Claude Code binary against the fake model. Beside it, in the same run and
// interleaved with it, a ClaudeSdkDriver session alone against the same fake model: the
// difference is Hearth's own overhead. The headline is what a UI sees: one stream per chat
// kept open, the POST's events arriving on it; a client that opens a stream after each POST
// and replays from its last id is measured too. Cold is a chat's first message (the agent
// spawns, nothing prewarmed), warm a later one on the same agent. Run: npm run bench -- http

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../src/http/app.js';
import { createRuntime } from '../src/runtime/hearth-runtime.js';
import { ClaudeSdkDriver } from '../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentSession } from '../src/agents/contract/driver.js';
import { bundledClaudePath } from '../src/agents/claude/claude-install.js';
import { PostgresSessionStore } from '../src/store/postgres-session-store.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema } from '../test/fixtures/database.js';
import { HearthClient, type SseEvent } from '../test/fixtures/hearth-client.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { makeRepo } from '../test/fixtures/git-repo.js';
import { timedTurn, type Sample } from './bench-chats.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const PARALLEL = 20;
const TOKEN = 'bench-token-0123456789';

/**
 * One chat's event stream, open for the whole run as a UI keeps it: every event is kept
 * with the moment it arrived, so a turn's times are read off after its POST.
 */
class OpenStream {
  private readonly events: { event: SseEvent; at: number }[] = [];
  private readonly wake = new Set<() => void>();
  private readonly stop = new AbortController();
  private readonly following: Promise<unknown>;

  constructor(client: HearthClient, chatId: string) {
    this.following = client.follow(
      chatId,
      (event) => {
        this.events.push({ event, at: performance.now() });
        for (const w of this.wake) w();
        return false;
      },
      { signal: this.stop.signal, timeoutMs: 3_600_000 },
    );
  }

  /** When the turn's first text delta and its turn_end arrived. */
  async turn(turnId: string): Promise<{ firstDelta: number; end: number }> {
    for (;;) {
      const mine = this.events.filter((e) => e.event.data.turnId === turnId);
      const end = mine.find((e) => e.event.event === 'turn_end');
      if (end) {
        if (end.event.data.ok !== true) throw new Error(`turn failed: ${JSON.stringify(end.event.data)}`);
        const delta = mine.find((e) => e.event.event === 'text_delta');
        return { firstDelta: delta?.at ?? NaN, end: end.at };
      }
      await new Promise<void>((resolve) => {
        const w = () => (this.wake.delete(w), resolve());
        this.wake.add(w);
      });
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.following;
  }
}

async function post(client: HearthClient, chatId: string, text: string): Promise<string> {
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text });
  if (sent.status !== 202) throw new Error(`POST failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return sent.body.turnId as string;
}

/** A turn followed on the chat's open stream, timed from just before its POST. */
async function openStreamTurn(client: HearthClient, stream: OpenStream, chatId: string, text: string): Promise<Sample> {
  const started = performance.now();
  const at = await stream.turn(await post(client, chatId, text));
  return { firstDelta: at.firstDelta - started, end: at.end - started };
}

/** The last event id each chat's stream has shown, for the client that reconnects after each POST. */
const seen = new Map<string, number>();

/** A turn followed on a stream opened after its POST, replaying from the last id seen. */
async function reconnectTurn(client: HearthClient, chatId: string, text: string): Promise<Sample> {
  const started = performance.now();
  const turnId = await post(client, chatId, text);
  let firstDelta = NaN;
  const events = await client.follow(
    chatId,
    (e) => {
      if (e.event === 'text_delta' && e.data.turnId === turnId && Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
      return e.event === 'turn_end' && e.data.turnId === turnId;
    },
    { lastEventId: seen.get(chatId) ?? 0 },
  );
  seen.set(chatId, events.at(-1)!.id);
  if (events.at(-1)?.data.ok !== true) throw new Error(`turn failed: ${JSON.stringify(events.at(-1)?.data)}`);
  return { firstDelta, end: performance.now() - started };
}

/** A turn on the driver's session alone, timed from the prompt. */
const rawTurn = (session: AgentSession, text: string): Promise<Sample> => timedTurn(session, text);

export async function benchHttpApi(): Promise<void> {
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } });
  const db = await testSchema('bench_http');
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-bench-http-'));
  const repo = path.join(root, 'repo');
  makeRepo(repo);
  const log = pino({ level: 'silent' });
  const runtime = await createRuntime(db.sql, log, {
    nodeId: `bench-${process.pid}`,
    worktrees: { repoRoots: [root], worktreesDir: path.join(root, 'worktrees') },
    maxWarm: PARALLEL + 4,
    idleMs: 600_000,
    maxQueued: 5,
    claudeSdk: true,
    agentEnv: claudeEnv(fake, await makeConfigDir()),
    agentHomes: path.join(root, 'agent-homes'),
    // A cold first message here is one with nothing started ahead of it: bench first shows prewarming.
    prewarm: false,
  });
  const app = await buildApp({ sql: db.sql, databaseKind: 'external', runtime, token: TOKEN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const client = new HearthClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, TOKEN);
  const newChat = async () => {
    const made = await client.request('POST', '/api/chats', { repoPath: repo });
    if (made.status !== 201) throw new Error(`POST /api/chats failed: ${made.status} ${JSON.stringify(made.body)}`);
    return made.body.id as string;
  };
  const raw = new ClaudeSdkDriver({ log, sessionStore: new PostgresSessionStore(db.sql), env: claudeEnv(fake, await makeConfigDir()) });
  const streams: OpenStream[] = [];
  const openStream = (chatId: string) => {
    const s = new OpenStream(client, chatId);
    streams.push(s);
    return s;
  };
  try {
    const rawSession = await raw.open(
      {
        chatId: crypto.randomUUID(),
        agent: 'claude',
        installPath: bundledClaudePath() ?? 'claude',
        worktreePath: repo,
        model: null,
        permissionMode: null,
        resume: null,
      },
      { resumeToken: () => {} },
    );
    await rawTurn(rawSession, 'spawn');
    const liveChat = await newChat();
    const liveStream = openStream(liveChat);
    await openStreamTurn(client, liveStream, liveChat, 'spawn');
    const replayChat = await newChat();
    await reconnectTurn(client, replayChat, 'spawn');

    const samples = { raw: [] as Sample[], open: [] as Sample[], reconnect: [] as Sample[], cold: [] as Sample[] };
    // Interleaved, so each kind sees the same load on the machine.
    for (let i = 0; i < SAMPLES; i++) {
      samples.raw.push(await rawTurn(rawSession, `raw ${i}`));
      samples.open.push(await openStreamTurn(client, liveStream, liveChat, `warm ${i}`));
      samples.reconnect.push(await reconnectTurn(client, replayChat, `warm ${i}`));
      const coldChat = await newChat();
      samples.cold.push(await openStreamTurn(client, openStream(coldChat), coldChat, `cold ${i}`));
    }

    // Throughput: 20 chats at once, three messages each (the first of each is cold).
    const chats = await Promise.all(Array.from({ length: PARALLEL }, () => newChat()));
    const parallel: Sample[] = [];
    const started = performance.now();
    await Promise.all(
      chats.map(async (chatId, c) => {
        const stream = openStream(chatId);
        for (let i = 0; i < 3; i++) parallel.push(await openStreamTurn(client, stream, chatId, `parallel ${c}.${i}`));
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    const p = (s: Sample[], q: number, of: keyof Sample = 'firstDelta') => percentile(s.map((x) => x[of]), q);
    const overhead = (s: Sample[] | null, q: number) => (s ? ms(p(s, q) - p(samples.raw, q)) : '');
    const row = (name: string, s: Sample[], over: boolean) => [
      name,
      ms(median(s.map((x) => x.firstDelta))),
      ms(p(s, 95)),
      overhead(over ? s : null, 50),
      overhead(over ? s : null, 95),
      ms(p(s, 50, 'end')),
      ms(p(s, 95, 'end')),
      ratio(p(samples.cold, 50) / p(s, 50)),
    ];
    console.log(
      table(
        `HTTP API: POST /messages to the first SSE text_delta and to turn_end, beside the driver alone (${SAMPLES} turns each, interleaved; fake model; overhead = HTTP's percentile minus the driver's)`,
        ['turn', 'first delta p50', 'first delta p95', 'overhead p50', 'overhead p95', 'turn_end p50', 'turn_end p95', 'cold/this (first delta)'],
        [
          row('driver alone, warm (ClaudeSdkDriver.prompt)', samples.raw, false),
          row('warm, stream kept open (what a UI sees)', samples.open, true),
          row('warm, stream opened after the POST (replays)', samples.reconnect, true),
          row('cold (first message of a chat)', samples.cold, false),
          row(`${PARALLEL} chats at once, 3 messages each`, parallel, false),
        ],
      ),
    );
    console.log(`\nthroughput with ${PARALLEL} chats in parallel: ${(parallel.length / seconds).toFixed(1)} turns/s (${parallel.length} turns in ${seconds.toFixed(1)} s)\n`);
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await raw.dispose();
    await app.close();
    await runtime.close();
    await fake.close();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchHttpApi();
