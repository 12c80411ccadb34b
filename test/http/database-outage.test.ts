// The database going away under a running server: requests say so plainly, and a turn
// that runs through the outage loses nothing. The server reaches the real PostgreSQL
// through a relay the test cuts and mends; the agent is the real Claude Code binary
// against the fake model.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type Sql } from '../../src/db/sql.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { openDatabaseLink, type DatabaseLink } from '../fixtures/database-link.js';
import { waitFor, waitUntil } from '../fixtures/backend-chats.js';
import type { HearthClient, SseEvent } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'test-token-outage-0123456789';
const LIMIT = { timeout: 110_000 };
let db: TestSchema;
let link: DatabaseLink;
let linked: Sql;
let fake: FakeModelServer;
let server: TestServer;
let client: HearthClient;
let root: string;
let repo: string;

before(async () => {
  db = await testSchema('outage');
  link = await openDatabaseLink();
  linked = connect(link.url, { schema: db.schema, max: 4 });
  fake = await startFakeModel({ chunkDelayMs: 5 });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-outage-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({ sql: linked, fake, root, token: TOKEN, runtime: { databaseWaitMs: 60_000 } });
  ({ client } = server);
});

after(async () => {
  await link.mend();
  await server.close();
  await linked.end({ timeout: 5 });
  await link.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

const textOf = (events: SseEvent[]) =>
  events.filter((e) => e.event === 'text_delta').map((e) => e.data.text).join('');

describe('the database going away', () => {
  it('answers 503 database_unavailable while it is away, and serves again once it is back', LIMIT, async () => {
    await link.cut();
    try {
      const list = await client.request('GET', '/api/chats');
      assert.equal(list.status, 503, JSON.stringify(list.body));
      assert.equal(list.body.error.code, 'database_unavailable');
      assert.match(list.body.error.message, /database cannot be reached/);
      const created = await client.request('POST', '/api/chats', { repoPath: repo });
      assert.equal(created.status, 503, JSON.stringify(created.body));
    } finally {
      await link.mend();
    }
    const list = await client.request('GET', '/api/chats');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.chats, [], 'the chat refused during the outage left nothing behind');
  });

  it('keeps every event, the reply, the turn record and the transcript of a turn that runs through the outage', LIMIT, async () => {
    const created = await client.request('POST', '/api/chats', { repoPath: repo, permissionMode: 'bypassPermissions' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chat = created.body;
    // The tool blocks on a FIFO until the test opens it, so the outage starts mid-turn.
    const gate = path.join(root, 'gate');
    execFileSync('mkfifo', [gate]);
    fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: `cat ${gate}`, description: 'wait at the gate' } },
      { kind: 'text', chunks: ['all ', 'of it ', 'kept'] },
    );
    let toolStarted!: () => void;
    const toolSeen = new Promise<void>((resolve) => (toolStarted = resolve));
    const live = client.follow(
      chat.id,
      (e) => {
        if (e.event === 'tool_call') toolStarted();
        return e.event === 'turn_end';
      },
      { timeoutMs: 100_000 },
    );
    const sent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'go through the gate' });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    await toolSeen;

    await link.cut();
    await writeFile(gate, 'through the gate\n');
    // The model gets the tool's output and answers while the database is still away.
    await waitUntil('the model to be asked again', () => fake.mainRequests().length >= 2, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const during = await client.request('GET', `/api/chats/${chat.id}/messages`);
    assert.equal(during.status, 503);
    // Seen past the relay: nothing of the answer has landed yet; it waits in the server.
    const [waiting] = await db.sql<{ status: string }[]>`SELECT status FROM turns WHERE id = ${sent.body.turnId}`;
    assert.equal(waiting!.status, 'running');
    assert.equal((await db.sql`SELECT 1 FROM messages WHERE turn_id = ${sent.body.turnId} AND role = 'assistant'`).length, 0);
    await link.mend();

    const seen = await live;
    const ids = seen.map((e) => e.id);
    assert.deepEqual(ids, ids.map((_, i) => ids[0]! + i), 'event ids run on without a gap');
    assert.equal(textOf(seen), 'all of it kept');
    assert.ok(seen.some((e) => e.event === 'tool_result' && String(e.data.output).includes('through the gate')));
    const end = seen.at(-1)!;
    assert.equal(end.data.ok, true, JSON.stringify(end.data));
    // A client that comes later replays exactly what the live one saw.
    assert.deepEqual(await client.follow(chat.id, (e) => e.event === 'turn_end', { after: 0 }), seen);

    const history = await client.request('GET', `/api/chats/${chat.id}/messages`);
    assert.equal(history.status, 200);
    assert.deepEqual(history.body.messages.map((m: { role: string }) => m.role), ['user', 'assistant']);
    assert.deepEqual(history.body.messages[1].parts.map((p: { type: string }) => p.type), ['tool_call', 'tool_result', 'text']);
    const [turn] = await db.sql<{ status: string }[]>`SELECT status FROM turns WHERE id = ${sent.body.turnId}`;
    assert.equal(turn!.status, 'succeeded');
    const [session] = await db.sql<{ agent_session_id: string; output_tokens: string; status: string }[]>`
      SELECT agent_session_id, output_tokens, status FROM agent_sessions WHERE chat_id = ${chat.id}`;
    assert.ok(Number(session!.output_tokens) > 0, 'the turn’s usage was added after the outage');
    assert.equal(session!.status, 'idle');

    // The transcript the SDK mirrored during the outage reached the store.
    const store = new PostgresSessionStore(db.sql);
    const [projectKey] = await store.projectKeysOf(session!.agent_session_id);
    const key = { projectKey: projectKey!, sessionId: session!.agent_session_id };
    const stored = await waitFor('the reply in the store', async () => {
      const text = JSON.stringify(await store.load(key));
      return text.includes('all of it kept') ? text : undefined;
    }, 20_000);
    assert.match(stored, /through the gate/);
    assert.match(stored, /all of it kept/);
  });
});
