// Asking a person, timed: the real Claude Code binary in the default permission mode asks
// to write a file, one request after another. For each: from the agent's request reaching
// Hearth to the permission_request event at an SSE client, and from the answer's POST to
// the decision reaching the agent's driver and to the tool's result at the client. The
// client answers the moment it sees a request. Baseline: an SSE round trip of a plain
// event (a status event appended and seen) in the same run. Run: npm run bench -- permissions

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../src/http/app.js';
import { createRuntime } from '../src/runtime/hearth-runtime.js';
import type { PermissionAsk, PermissionDecision } from '../src/agents/contract/driver.js';
import type { PermissionTurn } from '../src/runtime/permissions/permission-relay.js';
import { startFakeModel } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema } from '../test/fixtures/database.js';
import { HearthClient } from '../test/fixtures/hearth-client.js';
import { makeRepo } from '../test/fixtures/git-repo.js';
import { median, ms, percentile, ratio, table } from './report.js';

const REQUESTS = Number(process.env.BENCH_SAMPLES ?? 50);
const TOKEN = 'bench-token-0123456789';

export async function benchPermissions(): Promise<void> {
  const fake = await startFakeModel({ defaultReply: { kind: 'text', chunks: ['done'] } });
  const db = await testSchema('bench_permissions');
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-bench-permissions-'));
  makeRepo(path.join(root, 'repo'));
  const runtime = await createRuntime(db.sql, pino({ level: 'silent' }), {
    nodeId: `bench-permissions-${process.pid}`,
    worktrees: { repoRoots: [root], worktreesDir: path.join(root, 'worktrees') },
    maxWarm: 2,
    idleMs: 600_000,
    maxQueued: 5,
    claudeSdk: true,
    agentEnv: claudeEnv(fake, await makeConfigDir()),
    agentHomes: path.join(root, 'agent-homes'),
  });
  // The relay's entry and the decision it returns, timed where the driver meets it.
  const asked = new Map<string, number>();
  const decided = new Map<string, number>();
  const relay = runtime.permissions;
  const ask = relay.ask.bind(relay);
  relay.ask = async (turn: PermissionTurn, request: PermissionAsk): Promise<PermissionDecision> => {
    const key = request.toolCallId ?? '';
    asked.set(key, performance.now());
    const decision = await ask(turn, request);
    decided.set(key, performance.now());
    return decision;
  };
  const app = await buildApp({ sql: db.sql, databaseKind: 'external', runtime, token: TOKEN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const client = new HearthClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, TOKEN);
  try {
    const chat = (await client.request('POST', '/api/chats', { repoPath: path.join(root, 'repo'), permissionMode: 'default' })).body;
    for (let i = 0; i < REQUESTS; i++) {
      fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: `file-${i}.txt`, content: `${i}\n` } });
    }
    fake.enqueue({ kind: 'text', chunks: ['All written.'] });

    const toSse: number[] = [];
    const toDriver: number[] = [];
    const toResult: number[] = [];
    const posted = new Map<string, number>();
    const answering: Promise<unknown>[] = [];
    const sent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'write the files' });
    await client.follow(
      chat.id,
      (e) => {
        const now = performance.now();
        if (e.event === 'permission_request') {
          const call = String(e.data.toolCallId);
          toSse.push(now - asked.get(call)!);
          posted.set(call, performance.now());
          answering.push(client.request('POST', `/api/chats/${chat.id}/permissions/${String(e.data.requestId)}`, { decision: 'allow' }));
        } else if (e.event === 'tool_result' && posted.has(String(e.data.id))) {
          const call = String(e.data.id);
          toDriver.push(decided.get(call)! - posted.get(call)!);
          toResult.push(now - posted.get(call)!);
        }
        return e.event === 'turn_end' && e.data.turnId === sent.body.turnId;
      },
      { after: 0, timeoutMs: 300_000 },
    );
    await Promise.all(answering);

    // The same stream's plain round trip: an event appended and seen by a client.
    const plain: number[] = [];
    const status = await client.request('GET', `/api/chats/${chat.id}`);
    let last = status.body.lastEventId as number;
    for (let i = 0; i < 30; i++) {
      const seen = client.follow(chat.id, (e) => e.event === 'status', { lastEventId: last });
      await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      void runtime.events.append(chat.id, 'status', { turnId: sent.body.turnId, message: `ping ${i}` });
      const events = await seen;
      plain.push(performance.now() - t0);
      last = events.at(-1)!.id;
    }
    const base = median(plain);
    const row = (name: string, xs: number[]) => [name, String(xs.length), ms(median(xs)), ms(percentile(xs, 95)), ratio(median(xs) / base)];
    console.log(
      table(
        `\nPermission requests: ${REQUESTS} file writes asked one after another, answered at once (real claude, fake model, loopback)`,
        ['', 'n', 'p50', 'p95', 'x SSE round trip'],
        [
          row('SSE round trip of a plain event (baseline)', plain),
          row("agent's request to permission_request at the client", toSse),
          row("answer's POST to the decision at the driver", toDriver),
          row("answer's POST to the tool's result at the client", toResult),
        ],
      ),
    );
  } finally {
    await app.close();
    await runtime.close();
    await fake.close();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  }
}
