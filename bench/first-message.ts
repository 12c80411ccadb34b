// A chat's first message over the HTTP API: POST it, follow the chat's SSE stream, time the first
// text delta and the turn_end. Hearth (runtime and Fastify on loopback) and the client
// share this process; the agent is the real Claude Code binary against the fake model.
// Warm is a later message on the same agent, the baseline of the ratio column; cold a chat's
// first message with nothing prewarmed; then a first message typed for a second with and
// without prewarming, and a storm of 20 new chats at once with agent starts bounded by the
// cores and unbounded. Run: npm run bench -- first

import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../src/http/app.js';
import { createRuntime } from '../src/runtime/hearth-runtime.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema } from '../test/fixtures/database.js';
import { HearthClient } from '../test/fixtures/hearth-client.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { makeRepo } from '../test/fixtures/git-repo.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const PARALLEL = 20;
/** How long a person takes to type a chat's first message, between making the chat and sending it. */
const TYPING_MS = 1_000;
const TOKEN = 'bench-token-0123456789';

interface Sample {
  firstDelta: number;
  end: number;
}

/** The last event id each chat's stream has shown, so each turn follows on from there. */
const seen = new Map<string, number>();

async function timedTurn(client: HearthClient, chatId: string, text: string): Promise<Sample> {
  const started = performance.now();
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text });
  if (sent.status !== 202) throw new Error(`POST failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  let firstDelta = NaN;
  // Following from the last id seen replays whatever happened between the POST and now.
  const events = await client.follow(
    chatId,
    (e) => {
      if (e.event === 'text_delta' && Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
      return e.event === 'turn_end' && e.data.turnId === sent.body.turnId;
    },
    { lastEventId: seen.get(chatId) ?? 0 },
  );
  seen.set(chatId, events.at(-1)!.id);
  if (events.at(-1)?.data.ok !== true) throw new Error(`turn failed: ${JSON.stringify(events.at(-1)?.data)}`);
  return { firstDelta, end: performance.now() - started };
}

/** A Hearth of its own for one part of the run, sharing the fake model, the database schema and the repository. */
async function startHearth(
  db: Awaited<ReturnType<typeof testSchema>>,
  fake: Awaited<ReturnType<typeof startFakeModel>>,
  root: string,
  name: string,
  options: { prewarm: boolean; maxStarts?: number },
) {
  const runtime = await createRuntime(db.sql, pino({ level: 'silent' }), {
    nodeId: `bench-${process.pid}-${name}`,
    worktrees: { repoRoots: [root], worktreesDir: path.join(root, `worktrees-${name}`) },
    maxWarm: PARALLEL + 2,
    idleMs: 600_000,
    maxQueued: 5,
    claudeSdk: true,
    agentEnv: claudeEnv(fake, await makeConfigDir()),
    agentHomes: path.join(root, 'agent-homes'),
    ...options,
  });
  const app = await buildApp({ sql: db.sql, databaseKind: 'external', runtime, token: TOKEN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const client = new HearthClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, TOKEN);
  const repo = path.join(root, 'repo');
  return {
    runtime,
    client,
    newChat: async () => {
      const made = await client.request('POST', '/api/chats', { repoPath: repo });
      if (made.status !== 201) throw new Error(`POST /api/chats failed: ${made.status} ${JSON.stringify(made.body)}`);
      return made.body.id as string;
    },
    /** Settles once the chat's warm session is in the pool, ready. */
    ready: async (chatId: string) => {
      while (!runtime.pool.sessions().some((x) => x.chatId === chatId)) await sleep(5);
    },
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}

/** 20 chats at once, three messages each (the first of each is the chat's first). */
async function storm(h: Awaited<ReturnType<typeof startHearth>>): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async (_, c) => {
      const chatId = await h.newChat();
      for (let i = 0; i < 3; i++) samples.push(await timedTurn(h.client, chatId, `storm ${c}.${i}`));
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

export async function benchFirstMessage(): Promise<void> {
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } });
  const db = await testSchema('bench_http');
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-bench-http-'));
  makeRepo(path.join(root, 'repo'));
  const cores = availableParallelism();
  try {
    // Prewarm on (the default): warm turns, and a first message typed for a second.
    const on = await startHearth(db, fake, root, 'prewarm', { prewarm: true });
    const warm: Sample[] = [];
    const typedWarm: Sample[] = [];
    try {
      const warmChat = await on.newChat();
      await timedTurn(on.client, warmChat, 'spawn');
      for (let i = 0; i < SAMPLES; i++) {
        const chatId = await on.newChat();
        await sleep(TYPING_MS);
        typedWarm.push(await timedTurn(on.client, chatId, `typed ${i}`));
        warm.push(await timedTurn(on.client, warmChat, `warm ${i}`));
      }
    } finally {
      await on.close();
    }

    // Prewarm off: the first message starts the agent, sent at once or after a second of typing.
    const off = await startHearth(db, fake, root, 'cold', { prewarm: false });
    const cold: Sample[] = [];
    const typedCold: Sample[] = [];
    try {
      for (let i = 0; i < SAMPLES; i++) {
        cold.push(await timedTurn(off.client, await off.newChat(), `cold ${i}`));
        const chatId = await off.newChat();
        await sleep(TYPING_MS);
        typedCold.push(await timedTurn(off.client, chatId, `typed ${i}`));
      }
    } finally {
      await off.close();
    }

    // The machine's pace of starting agents one after another: from a chat's 201 to its warm session.
    const serial = await startHearth(db, fake, root, 'serial', { prewarm: true, maxStarts: 1 });
    let backToBack = 0;
    try {
      for (let i = 0; i < PARALLEL; i++) {
        const chatId = await serial.newChat();
        const t0 = performance.now();
        await serial.ready(chatId);
        backToBack += performance.now() - t0;
      }
    } finally {
      await serial.close();
    }

    const storms: Array<{ name: string; samples: Sample[]; seconds: number }> = [];
    for (const [name, maxStarts] of [[`storm, starts bounded at ${cores} (the cores)`, cores], ['storm, starts unbounded (1000)', 1000]] as const) {
      const h = await startHearth(db, fake, root, `storm-${maxStarts}`, { prewarm: true, maxStarts });
      try {
        storms.push({ name, ...(await storm(h)) });
      } finally {
        await h.close();
      }
    }

    const warmDelta = median(warm.map((x) => x.firstDelta));
    const row = (name: string, s: Sample[]) => [
      name,
      ms(median(s.map((x) => x.firstDelta))),
      ms(percentile(s.map((x) => x.firstDelta), 95)),
      ms(median(s.map((x) => x.end))),
      ms(percentile(s.map((x) => x.end), 95)),
      ratio(median(s.map((x) => x.firstDelta)) / warmDelta),
    ];
    console.log(
      table(
        `HTTP API: POST /messages to the first SSE text_delta and to turn_end (${SAMPLES} turns each, storms ${PARALLEL} chats x 3; fake model)`,
        ['turn', 'first delta p50', 'first delta p95', 'turn_end p50', 'turn_end p95', 'this/warm (first delta p50)'],
        [
          row('warm (later message)', warm),
          row('cold (first message, sent at once, no prewarm)', cold),
          row(`first message typed for ${TYPING_MS / 1000} s, prewarm off`, typedCold),
          row(`first message typed for ${TYPING_MS / 1000} s, prewarm on`, typedWarm),
          ...storms.map((s) => row(s.name, s.samples)),
        ],
      ),
    );
    console.log(`\n${PARALLEL} agents started back to back: ${ms(backToBack)} (goal: storm turn_end p95 within twice that, ${ms(2 * backToBack)})`);
    for (const s of storms) {
      const p95 = percentile(s.samples.map((x) => x.end), 95);
      console.log(`${s.name}: turn_end p95 ${ms(p95)} = ${ratio(p95 / backToBack)} the back-to-back starts; ${(s.samples.length / s.seconds).toFixed(1)} turns/s (${s.samples.length} turns in ${s.seconds.toFixed(1)} s)`);
    }
    console.log('');
  } finally {
    await fake.close();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFirstMessage();
