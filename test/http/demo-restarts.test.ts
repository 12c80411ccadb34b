// A demo chat carried across restarts of a real `hearth serve --demo`: every server
// start brings a new scripted model, and the agent resumes a transcript written by the
// earlier ones. Each turn must be answered once, as the first one was: one look at the
// repository, one answer, the prompt quoted back as it was sent.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '../../src/db/sql.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { spawnServe } from '../fixtures/serve-process.js';

const TOKEN = 'demo-restarts-token-0123456789';
const schema = `demo_restarts_${process.pid}`;
let root: string;
let repo: string;
let env: Record<string, string>;
const servers: ChildProcess[] = [];

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'hearth-demo-restarts-'));
  repo = makeRepo(path.join(root, 'repos', 'shop'));
  env = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: TEST_DATABASE_URL,
    HEARTH_DATABASE_SCHEMA: schema,
    HEARTH_DATA_DIR: path.join(root, 'data'),
    HEARTH_REPO_ROOTS: path.join(root, 'repos'),
    HEARTH_PORT: '0',
    HEARTH_TOKEN: TOKEN,
  };
});

after(async () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  const sql = connect(TEST_DATABASE_URL, { max: 1 });
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
  await rm(root, { recursive: true, force: true });
});

async function start(): Promise<{ server: ChildProcess; client: HearthClient; output: () => string }> {
  const { process: server, client, output } = await spawnServe({ env, token: TOKEN, started: servers, args: ['--demo'], timeoutMs: 60_000 });
  return { server, client, output };
}

async function stop(server: ChildProcess): Promise<void> {
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

/** What the assistant said and did in reply to one user message, in order. */
function replyParts(messages: any[], userIndex: number): any[] {
  const users = messages.map((m, i) => [m, i] as const).filter(([m]) => m.role === 'user');
  const from = users[userIndex]![1] + 1;
  const to = users[userIndex + 1]?.[1] ?? messages.length;
  return messages.slice(from, to).flatMap((m) => m.parts);
}

it('answers each turn of a demo chat once across three restarts', { timeout: 300_000 }, async () => {
  const prompts = ['What is in this repository?', 'And what about tests?', 'Where is the README?', 'Thanks, one last thing.'];
  let chatId = '';
  for (let round = 0; round < prompts.length; round++) {
    const { server, client, output } = await start();
    if (round === 0) {
      const created = await client.request('POST', '/api/chats', { repoPath: repo });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      chatId = created.body.id;
    }
    const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text: prompts[round] });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { timeoutMs: 90_000 });
    assert.equal(events.at(-1)!.data.ok, true, `turn ${round + 1}: ${JSON.stringify(events.at(-1))}\n${output()}`);

    const history = await client.request('GET', `/api/chats/${chatId}/messages`);
    const messages = history.body.messages as any[];
    const users = messages.filter((m) => m.role === 'user');
    assert.deepEqual(
      users.map((m) => [m.parts[0].text, m.turnStatus]),
      prompts.slice(0, round + 1).map((p) => [p, 'succeeded']),
    );
    // Every turn so far, the earlier ones included, reads as the first did.
    for (let turn = 0; turn <= round; turn++) {
      const parts = replyParts(messages, turn);
      const what = `turn ${turn + 1} after ${round} restarts: ${JSON.stringify(parts)}`;
      const tools = parts.filter((p) => p.type === 'tool_use' || p.type === 'tool_call');
      assert.equal(tools.length, 1, `one tool call; ${what}`);
      const text = parts
        .filter((p) => p.type === 'text')
        .map((p) => p.text)
        .join('\n');
      assert.equal(text.match(/\(Demo\) You asked:/g)?.length, 1, `one look at the repository; ${what}`);
      assert.ok(text.includes(`(Demo) You asked: "${prompts[turn]}"`), `the prompt is quoted back; ${what}`);
      assert.doesNotMatch(text, /no content/, what);
      assert.equal(text.match(/This is Hearth's demo/g)?.length, 1, `one answer; ${what}`);
    }
    await stop(server);
  }
});
