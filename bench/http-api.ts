// The HTTP API end to end: POST a message, follow the chat's SSE stream, time the first
// text delta and the turn_end. Hearth (runtime and Fastify on loopback) and the client
// share this process; the agent is the real Claude Code binary against the fake model.
// Cold is a chat's first message (the agent spawns), warm a later one on the same agent;
// the baseline of the ratio column is cold. Run: npm run bench -- http

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

export async function benchHttpApi(): Promise<void> {
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['a ', 'short ', 'reply'] } });
  const db = await testSchema('bench_http');
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-bench-http-'));
  const repo = path.join(root, 'repo');
  makeRepo(repo);
  const runtime = await createRuntime(db.sql, pino({ level: 'silent' }), {
    nodeId: `bench-${process.pid}`,
    worktrees: { repoRoots: [root], worktreesDir: path.join(root, 'worktrees') },
    maxWarm: PARALLEL + 2,
    idleMs: 600_000,
    maxQueued: 5,
    claudeSdk: true,
    agentEnv: claudeEnv(fake, await makeConfigDir()),
  });
  const app = await buildApp({ sql: db.sql, databaseKind: 'external', runtime, token: TOKEN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const client = new HearthClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, TOKEN);
  const newChat = async () => (await client.request('POST', '/api/chats', { repoPath: repo })).body.id as string;
  try {
    const cold: Sample[] = [];
    const warm: Sample[] = [];
    const warmChat = await newChat();
    await timedTurn(client, warmChat, 'spawn');
    for (let i = 0; i < SAMPLES; i++) {
      cold.push(await timedTurn(client, await newChat(), `cold ${i}`));
      warm.push(await timedTurn(client, warmChat, `warm ${i}`));
    }

    // Throughput: 20 chats at once, three messages each (the first of each is cold).
    const chats = await Promise.all(Array.from({ length: PARALLEL }, () => newChat()));
    const parallel: Sample[] = [];
    const started = performance.now();
    await Promise.all(
      chats.map(async (chatId, c) => {
        for (let i = 0; i < 3; i++) parallel.push(await timedTurn(client, chatId, `parallel ${c}.${i}`));
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    const row = (name: string, s: Sample[]) => [
      name,
      ms(median(s.map((x) => x.firstDelta))),
      ms(percentile(s.map((x) => x.firstDelta), 95)),
      ms(median(s.map((x) => x.end))),
      ms(percentile(s.map((x) => x.end), 95)),
      ratio(median(cold.map((x) => x.firstDelta)) / median(s.map((x) => x.firstDelta))),
    ];
    console.log(
      table(
        `HTTP API: POST /messages to the first SSE text_delta and to turn_end (${SAMPLES} turns each; fake model)`,
        ['turn', 'first delta p50', 'first delta p95', 'turn_end p50', 'turn_end p95', 'cold/this (first delta)'],
        [
          row('cold (first message of a chat)', cold),
          row('warm (later message)', warm),
          row(`${PARALLEL} chats at once, 3 messages each`, parallel),
        ],
      ),
    );
    console.log(`\nthroughput with ${PARALLEL} chats in parallel: ${(parallel.length / seconds).toFixed(1)} turns/s (${parallel.length} turns in ${seconds.toFixed(1)} s)\n`);
  } finally {
    await app.close();
    await runtime.close();
    await fake.close();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchHttpApi();
