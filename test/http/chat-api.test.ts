// The chat API over real HTTP: a running Fastify server, the real Claude Code binary
// against the fake model, real git worktrees and PostgreSQL.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Runtime } from '../../src/runtime/hearth-runtime.js';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { HearthClient, untilTurnEnd, type SseEvent } from '../fixtures/hearth-client.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { alive } from '../fixtures/processes.js';

const TOKEN = 'test-token-0123456789';
const LIMIT = { timeout: 90_000 };
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let runtime: Runtime;
let client: HearthClient;
let root: string;
let repo: string;

before(async () => {
  db = await testSchema('api');
  fake = await startFakeModel({
    chunkDelayMs: 5,
    reply: (req) => {
      const text = lastUserText(req);
      return text.startsWith('echo:') ? { kind: 'text', chunks: [`reply to ${text}`] } : undefined;
    },
  });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-api-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({
    sql: db.sql,
    fake,
    root,
    token: TOKEN,
    runtime: { maxWarm: 2, maxQueued: 1 },
    app: { maxPromptBytes: 4096 },
  });
  ({ runtime, client } = server);
});

after(async () => {
  await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

async function newChat(body: Record<string, unknown> = {}): Promise<any> {
  const res = await client.request('POST', '/api/chats', { repoPath: repo, ...body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function send(chatId: string, text: string): Promise<{ messageId: string; turnId: string; queued: number }> {
  const res = await client.request('POST', `/api/chats/${chatId}/messages`, { text });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body;
}

const textOf = (events: SseEvent[], turnId: string) =>
  events.filter((e) => e.event === 'text_delta' && e.data.turnId === turnId).map((e) => e.data.text).join('');

describe('chat API', () => {
  it('creates a chat on a worktree, runs two turns, streams them, and keeps the history', LIMIT, async () => {
    const chat = await newChat({ title: 'first' });
    assert.ok(existsSync(chat.worktreePath), 'the worktree exists');
    assert.equal(chat.branch, `hearth/first-${chat.id.slice(0, 8)}`);
    assert.equal(execFileSync('git', ['-C', chat.worktreePath, 'branch', '--show-current'], { encoding: 'utf8' }).trim(), chat.branch);

    fake.enqueue({ kind: 'text', chunks: ['Hello ', 'there.'], usage: { input_tokens: 30, output_tokens: 4 } });
    const one = await send(chat.id, 'hi');
    const first = await client.follow(chat.id, untilTurnEnd(one.turnId));
    const kinds = first.map((e) => e.event);
    assert.deepEqual(kinds.slice(0, 2), ['message', 'turn_start']);
    assert.ok(kinds.includes('usage'));
    assert.equal(kinds.at(-1), 'turn_end');
    assert.equal(first.at(-1)!.data.ok, true);
    assert.equal(textOf(first, one.turnId), 'Hello there.');
    assert.deepEqual(first.map((e) => e.id), first.map((_, i) => i + 1), 'ids count up from 1 with no gaps');

    fake.enqueue({ kind: 'text', chunks: ['Second ', 'reply.'] });
    const two = await send(chat.id, 'and again');
    const second = await client.follow(chat.id, untilTurnEnd(two.turnId), { lastEventId: first.at(-1)!.id });
    assert.equal(second[0]!.id, first.at(-1)!.id + 1, 'the stream resumes right after the last id seen');
    assert.equal(textOf(second, two.turnId), 'Second reply.');
    const request = JSON.stringify(fake.mainRequests().at(-1)!.body.messages);
    assert.match(request, /Hello there\./, 'the model saw the first exchange');

    const history = await client.request('GET', `/api/chats/${chat.id}/messages`);
    assert.equal(history.status, 200);
    assert.deepEqual(
      history.body.messages.map((m: any) => [m.role, m.parts.map((p: any) => p.text).join('')]),
      [
        ['user', 'hi'],
        ['assistant', 'Hello there.'],
        ['user', 'and again'],
        ['assistant', 'Second reply.'],
      ],
    );
    const got = await client.request('GET', `/api/chats/${chat.id}`);
    assert.equal(got.body.sessions.length, 1);
    assert.equal(got.body.sessions[0].backend, 'claude_sdk');
    assert.equal(got.body.sessions[0].status, 'idle');
    assert.ok(got.body.sessions[0].inputTokens >= 30);
    const list = await client.request('GET', '/api/chats');
    assert.ok(list.body.chats.some((c: any) => c.id === chat.id));
  });

  it('stores tool calls with their results in the history', LIMIT, async () => {
    const chat = await newChat({ permissionMode: 'bypassPermissions' });
    fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'echo from-the-tool > tool.txt && cat tool.txt', description: 'write' } },
      { kind: 'text', chunks: ['Done.'] },
    );
    const t = await send(chat.id, 'use a tool');
    const events = await client.follow(chat.id, untilTurnEnd(t.turnId));
    assert.ok(events.some((e) => e.event === 'tool_call' && e.data.name === 'Bash'));
    assert.ok(events.some((e) => e.event === 'tool_result' && String(e.data.output).includes('from-the-tool')));
    assert.ok(existsSync(path.join(chat.worktreePath, 'tool.txt')));
    const history = await client.request('GET', `/api/chats/${chat.id}/messages`);
    const parts = history.body.messages[1].parts.map((p: any) => p.type);
    assert.deepEqual(parts, ['tool_call', 'tool_result', 'text']);
  });

  it('gives a client that reconnects mid-turn exactly what one that never left saw', LIMIT, async () => {
    const chat = await newChat();
    fake.enqueue({ kind: 'text', chunks: Array.from({ length: 40 }, (_, i) => `w${i} `) });
    const steady = client.follow(chat.id, (e) => e.event === 'turn_end');
    const t = await send(chat.id, 'a long one');
    const part = await client.follow(chat.id, (_, all) => all.filter((e) => e.event === 'text_delta').length >= 5);
    const rest = await client.follow(chat.id, untilTurnEnd(t.turnId), { lastEventId: part.at(-1)!.id });
    const whole = await steady;
    assert.deepEqual([...part, ...rest], whole);
    assert.equal(textOf(whole, t.turnId), Array.from({ length: 40 }, (_, i) => `w${i} `).join(''));
    // After the fact, ?after= replays the same.
    assert.deepEqual(await client.follow(chat.id, untilTurnEnd(t.turnId), { after: 0 }), whole);
  });

  it('queues a second message behind a running turn, refuses a third with 409, and stops on abort', LIMIT, async () => {
    const chat = await newChat();
    fake.enqueue({ kind: 'stall', chunks: ['thinking about it'] });
    const one = await send(chat.id, 'slow');
    await client.follow(chat.id, (e) => e.event === 'text_delta');
    const two = await send(chat.id, 'second');
    assert.equal(two.queued, 1);
    const three = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'third' });
    assert.equal(three.status, 409);
    assert.equal(three.body.error.code, 'queue_full');

    const stopped = await client.request('POST', `/api/chats/${chat.id}/abort`);
    assert.deepEqual(stopped.body, { stopped: 2 });
    const events = await client.follow(chat.id, (_, all) => all.filter((e) => e.event === 'turn_end').length >= 2, { after: 0 });
    const ends = events.filter((e) => e.event === 'turn_end');
    assert.deepEqual(
      ends.map((e) => [e.data.turnId, e.data.code]).sort(),
      [
        [one.turnId, 'aborted'],
        [two.turnId, 'aborted'],
      ].sort(),
    );
    // The chat goes on: the next message runs, and the model sees the stopped turn's prompt.
    fake.enqueue({ kind: 'text', chunks: ['after the stop'] });
    const four = await send(chat.id, 'carry on');
    const after = await client.follow(chat.id, untilTurnEnd(four.turnId), { lastEventId: ends.at(-1)!.id });
    assert.equal(after.at(-1)!.data.ok, true);
    const history = await client.request('GET', `/api/chats/${chat.id}/messages`);
    const statuses = history.body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.turnStatus);
    assert.deepEqual(statuses, ['aborted', 'aborted', 'succeeded']);
  });

  it('keeps two warm backends at most, evicting the least recently used, which resumes from PostgreSQL', LIMIT, async () => {
    const chats = [await newChat(), await newChat(), await newChat()];
    const before = runtime.pool.evictions;
    for (const [i, chat] of chats.entries()) {
      const t = await send(chat.id, `echo: first of chat ${i}`);
      await client.follow(chat.id, untilTurnEnd(t.turnId));
      assert.ok(runtime.pool.size <= 2, `pool holds ${runtime.pool.size}`);
    }
    assert.ok(runtime.pool.evictions > before, 'an eviction happened');
    // Chat 0 was evicted; its next turn starts a new process that resumes the conversation.
    const t = await send(chats[0].id, 'echo: second of chat 0');
    const events = await client.follow(chats[0].id, untilTurnEnd(t.turnId));
    assert.equal(events.at(-1)!.data.ok, true);
    const request = fake.mainRequests().find((r) => lastUserText(r) === 'echo: second of chat 0');
    assert.match(JSON.stringify(request!.body.messages), /first of chat 0/);
    assert.doesNotMatch(JSON.stringify(request!.body.messages), /chat 1|chat 2/);
    const health = await client.request('GET', '/health');
    assert.equal(health.body.pool.max, 2);
    assert.ok(health.body.pool.warm <= 2);
    assert.equal(health.body.backends.claude_sdk, 'up');
    const metrics = await fetch(client.baseUrl + '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
    assert.match(metrics, /^hearth_turns_total\{outcome="succeeded"\} \d+$/m);
    assert.match(metrics, /^hearth_backend_evictions_total [1-9]\d*$/m);
    assert.match(metrics, /^hearth_warm_backends [0-2]$/m);
    assert.match(metrics, /^hearth_agent_starts\{state="running"\} 0$/m, 'no start under way once the turns are done');
    assert.match(metrics, /^hearth_agent_starts\{state="waiting"\} 0$/m);
  });

  it('deletes a chat: its worktree goes, its branch stays, and it is gone from the API', LIMIT, async () => {
    const chat = await newChat();
    const t = await send(chat.id, 'echo: before delete');
    await client.follow(chat.id, untilTurnEnd(t.turnId));
    const res = await client.request('DELETE', `/api/chats/${chat.id}`);
    assert.equal(res.status, 204);
    assert.equal(existsSync(chat.worktreePath), false);
    assert.match(execFileSync('git', ['-C', repo, 'branch', '--list', chat.branch], { encoding: 'utf8' }), new RegExp(chat.branch));
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).status, 404);
    assert.equal((await client.request('DELETE', `/api/chats/${chat.id}`)).status, 404);
  });
});

describe('deleting a chat while its agent works', () => {
  it('stops the turn first, on the PTY road too: no process is left and the worktree goes', LIMIT, async () => {
    const chat = await newChat();
    // Other chats' warm agents carry this node's tag too: only what this turn starts counts.
    const tag = `${runtime.config.nodeId}:`;
    const others = new Set(taggedProcesses({ prefix: tag }));
    fake.enqueue({ kind: 'stall', chunks: ['working on it'] });
    const res = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'take your time', backend: 'claude_pty' });
    assert.equal(res.status, 202);
    await client.follow(chat.id, (e) => e.event === 'text_delta');
    const mine = taggedProcesses({ prefix: tag }).filter((pid) => !others.has(pid));
    assert.ok(mine.length > 0, 'the CLI is running');

    assert.equal((await client.request('DELETE', `/api/chats/${chat.id}`)).status, 204);
    assert.deepEqual(mine.filter(alive), [], 'the turn was stopped before the chat went');
    assert.equal(existsSync(chat.worktreePath), false);
    const [turn] = await db.sql<{ status: string }[]>`SELECT status FROM turns WHERE id = ${res.body.turnId}`;
    assert.equal(turn, undefined, 'the turn went with its chat');
  });
});

describe('chat API: bad input gets a clear 4xx and changes nothing', () => {
  it('refuses requests without the right token', async () => {
    const anonymous = new HearthClient(client.baseUrl, '');
    assert.equal((await anonymous.request('GET', '/api/chats')).status, 401);
    const wrong = new HearthClient(client.baseUrl, 'wrong-token-000000000');
    const res = await wrong.request('GET', '/api/chats');
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'unauthorized');
    assert.equal((await fetch(client.baseUrl + '/health')).status, 200, '/health needs no token');
  });

  it('rejects bad chat creation: no repo, not git, outside the roots, unknown agent, junk fields', async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{}, 400, /repoPath/],
      [{ repoPath: 'relative/path' }, 400, /absolute/],
      [{ repoPath: path.join(root, 'missing') }, 400, /does not exist/],
      [{ repoPath: root }, 400, /not a git repository/],
      [{ repoPath: tmpdir() }, 400, /outside the allowed roots .*HEARTH_REPO_ROOTS/],
      [{ repoPath: repo, agent: 'no-such-agent' }, 400, /agent "no-such-agent" is not installed on this node \(installed: claude, claude-acp, [^)]*\bgemini\b/],
      [{ repoPath: repo, permissionMode: 'yolo' }, 400, /permissionMode/],
      [{ repoPath: repo, surprise: 1 }, 400, /surprise|additional/],
    ];
    const before = (await client.request('GET', '/api/chats')).body.chats.length;
    for (const [body, status, message] of cases) {
      const res = await client.request('POST', '/api/chats', body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.body.error.message, message, JSON.stringify(res.body));
    }
    assert.equal((await client.request('GET', '/api/chats')).body.chats.length, before, 'no chat was made');
  });

  it('rejects malformed JSON, unknown chats, empty and oversized messages, and bad stream positions', async () => {
    const chat = await newChat();
    const malformed = await client.request('POST', `/api/chats/${chat.id}/messages`, '{"text": ', {
      'content-type': 'application/json',
    });
    assert.equal(malformed.status, 400);
    assert.equal((await client.request('POST', `/api/chats/00000000-0000-0000-0000-000000000000/messages`, { text: 'x' })).status, 404);
    assert.equal((await client.request('GET', '/api/chats/not-a-uuid')).status, 404);
    assert.equal((await client.request('POST', `/api/chats/${chat.id}/messages`, { text: '' })).status, 400);
    assert.equal((await client.request('POST', `/api/chats/${chat.id}/messages`, { text: '   ' })).status, 400);
    const big = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'x'.repeat(5000) });
    assert.equal(big.status, 413);
    assert.match(big.body.error.message, /5000 bytes; the limit is 4096/);
    const far = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'y'.repeat(100_000) });
    assert.equal(far.status, 413);
    const unknownAgent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'x', agent: 'no-such-agent' });
    assert.equal(unknownAgent.status, 400);
    const res = await fetch(`${client.baseUrl}/api/chats/${chat.id}/events`, {
      headers: { authorization: `Bearer ${TOKEN}`, 'last-event-id': 'yesterday' },
    });
    assert.equal(res.status, 400);
    assert.equal((await client.request('GET', `/api/chats/00000000-0000-0000-0000-000000000000/events`)).status, 404);
    const history = await client.request('GET', `/api/chats/${chat.id}/messages`);
    assert.deepEqual(history.body.messages, [], 'nothing was stored');
  });
});
