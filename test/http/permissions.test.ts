// Asking a person over the HTTP API, with the real Claude Code binary in its default
// permission mode against the fake model: requests reach every client over SSE, one
// answer wins, a denial's message and a question's answers reach the model, "always"
// becomes a rule that outlives the server, and stopped or unanswered requests end with
// a fate a person can see.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RuntimeConfig } from '../../src/runtime/hearth-runtime.js';
import { HearthClient, untilTurnEnd, type SseEvent } from '../fixtures/hearth-client.js';
import { apiSuite } from '../fixtures/api-suite.js';
import type { RecordedRequest } from '../fixtures/fake-anthropic.js';
import { proposePlan } from '../fixtures/plan-replies.js';
import type { TestServer } from '../fixtures/test-server.js';

const TOKEN = 'permissions-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('permissions', TOKEN);

async function newChat(client: HearthClient, body: Record<string, unknown> = {}) {
  const made = await client.request('POST', '/api/chats', { repoPath: suite.repo, permissionMode: 'default', ...body });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return made.body as { id: string; worktreePath: string };
}

/** Posts a message and follows its turn until `until` says so (its turn_end by default). */
async function send(client: HearthClient, chatId: string, text: string, options: { backend?: string } = {}) {
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text, ...options });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  return sent.body.turnId as string;
}

/** The next permission_request of the turn, as its stream shows it. */
async function requestOf(client: HearthClient, chatId: string, turnId: string, after = 0): Promise<SseEvent> {
  const events = await client.follow(chatId, (e) => (e.event === 'permission_request' && e.data.turnId === turnId) || untilTurnEnd(turnId)(e), { after });
  const last = events.at(-1)!;
  assert.equal(last.event, 'permission_request', `no request came: ${events.map((e) => e.event).join(' ')} ${JSON.stringify(last.data)}`);
  return last;
}

async function turnEnd(client: HearthClient, chatId: string, turnId: string) {
  const events = await client.follow(chatId, untilTurnEnd(turnId), { after: 0 });
  return { end: events.at(-1)!.data, events: events.filter((e) => e.data.turnId === turnId) };
}

function answer(client: HearthClient, chatId: string, requestId: unknown, body: Record<string, unknown>) {
  return client.request('POST', `/api/chats/${chatId}/permissions/${String(requestId)}`, body);
}

/** The tool results the model was sent in the request after the tool call, as text. */
function toolResultsSeen(req: RecordedRequest | undefined): string {
  const messages = (req?.body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  return JSON.stringify(messages.filter((m) => m.role === 'user').map((m) => m.content));
}

function writeFile(name: string, content = 'written by the agent\n') {
  return { kind: 'tool_use' as const, name: 'Write', input: { file_path: name, content } };
}

let server: TestServer;
async function serve(config: Partial<RuntimeConfig> = {}) {
  server = await suite.serve({ runtime: config });
  return server;
}

describe('permission requests over the API', () => {
  it('refuses without the token, 404s unknown chats and requests, 400s bodies that fit no answer, and changes the permission mode by PATCH', LIMIT, async () => {
    const { client, url } = await serve();
    const chat = await newChat(client);
    const anonymous = new HearthClient(url, 'wrong-token');
    for (const [method, p] of [
      ['GET', '/api/permissions'],
      ['GET', `/api/chats/${chat.id}/permissions`],
      ['POST', `/api/chats/${chat.id}/permissions/00000000-0000-4000-8000-000000000000`],
      ['GET', `/api/chats/${chat.id}/permission-rules`],
      ['DELETE', `/api/chats/${chat.id}/permission-rules/00000000-0000-4000-8000-000000000000`],
    ] as const) {
      assert.equal((await anonymous.request(method, p, method === 'POST' ? { decision: 'allow' } : undefined)).status, 401, `${method} ${p}`);
    }
    assert.equal((await client.request('GET', '/api/chats/00000000-0000-4000-8000-000000000000/permissions')).status, 404);
    assert.equal((await client.request('GET', '/api/chats/not-a-uuid/permissions')).body.error.code, 'chat_not_found');
    const unknown = await answer(client, chat.id, '00000000-0000-4000-8000-000000000000', { decision: 'allow' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'permission_not_found');
    assert.equal((await answer(client, chat.id, 'nope', { decision: 'allow' })).status, 404);
    assert.equal((await answer(client, chat.id, 'nope', { decision: 'maybe' })).status, 400);
    assert.equal((await answer(client, chat.id, 'nope', { decision: 'allow', extra: 1 })).status, 400);
    assert.equal((await client.request('GET', '/api/permissions?status=bogus')).status, 400);
    assert.deepEqual((await client.request('GET', `/api/chats/${chat.id}/permission-rules`)).body, { rules: [] });
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.pendingPermissions, 0);

    const patched = await client.request('PATCH', `/api/chats/${chat.id}`, { permissionMode: 'acceptEdits' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.permissionMode, 'acceptEdits');
    assert.equal((await client.request('PATCH', `/api/chats/${chat.id}`, { permissionMode: null })).body.permissionMode, null);
    assert.equal((await client.request('PATCH', `/api/chats/${chat.id}`, { permissionMode: 'yolo' })).status, 400);
    assert.equal((await client.request('PATCH', `/api/chats/${chat.id}`, {})).status, 400);
  });

  it('relays a file write: the request reaches the stream and the lists, allow writes the file, and the history shows request, answer and result', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('allowed.txt'), { kind: 'text', chunks: ['Written.'] });
    const turnId = await send(client, chat.id, 'write allowed.txt');
    const request = await requestOf(client, chat.id, turnId);
    assert.equal(request.data.kind, 'permission');
    assert.equal(request.data.tool, 'Write');
    assert.deepEqual(
      (request.data.options as Array<{ kind: string }>).map((o) => o.kind).sort(),
      ['allow_always', 'allow_once', 'reject_once'].sort(),
    );
    const diffs = (request.data.details as { diffs?: Array<{ path: string; newText: string }> }).diffs;
    assert.match(diffs?.[0]?.path ?? '', /allowed\.txt$/);
    assert.equal(diffs?.[0]?.newText, 'written by the agent\n');
    assert.equal(existsSync(path.join(chat.worktreePath, 'allowed.txt')), false, 'nothing written before the answer');

    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.pendingPermissions, 1);
    assert.match((await client.request('GET', '/metrics')).body, /^hearth_permission_requests_waiting 1$/m);
    const everywhere = (await client.request('GET', '/api/permissions?status=pending')).body.permissions as Array<{ requestId: string }>;
    assert.ok(everywhere.some((p) => p.requestId === request.data.requestId));
    const listed = (await client.request('GET', `/api/chats/${chat.id}/permissions?status=pending`)).body.permissions;
    assert.equal(listed.length, 1);

    const allowed = await answer(client, chat.id, request.data.requestId, { decision: 'allow' });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    assert.equal(allowed.body.status, 'allowed');
    const { end, events } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(existsSync(path.join(chat.worktreePath, 'allowed.txt')), true, 'the file is written once allowed');
    const resolved = events.find((e) => e.event === 'permission_resolved');
    assert.equal(resolved?.data.outcome, 'allowed');
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.pendingPermissions, 0);

    const history = (await client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages as Array<{ role: string; parts: Array<{ type: string; outcome?: string }> }>;
    const reply = history.find((m) => m.role === 'assistant')!;
    const types = reply.parts.map((p) => p.type);
    assert.ok(types.includes('permission') && types.includes('tool_result'), types.join(' '));
    assert.equal(reply.parts.find((p) => p.type === 'permission')?.outcome, 'allowed');
    assert.ok(types.indexOf('permission') < types.indexOf('tool_result'), 'the request comes before the tool’s result');
  });

  it('wakes the turn of the node that waits when the answer comes through another node', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const elsewhere = await suite.serve({});
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('elsewhere.txt'), { kind: 'text', chunks: ['Written.'] });
    const turnId = await send(client, chat.id, 'write elsewhere.txt');
    const request = await requestOf(client, chat.id, turnId);
    const pending = (await elsewhere.client.request('GET', '/api/permissions?status=pending')).body.permissions as Array<{ requestId: string }>;
    assert.ok(pending.some((p) => p.requestId === request.data.requestId), 'the other node lists it');
    const allowed = await answer(elsewhere.client, chat.id, request.data.requestId, { decision: 'allow' });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    const { end } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(existsSync(path.join(chat.worktreePath, 'elsewhere.txt')), true);
  });

  it('denies with a message: no file, and the model’s next request carries the message', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('denied.txt'), { kind: 'text', chunks: ['Understood.'] });
    const turnId = await send(client, chat.id, 'write denied.txt');
    const request = await requestOf(client, chat.id, turnId);
    const before = suite.fake.mainRequests().length;
    const denied = await answer(client, chat.id, request.data.requestId, { decision: 'deny', message: 'use notes.md instead' });
    assert.equal(denied.body.status, 'denied');
    const { end } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(existsSync(path.join(chat.worktreePath, 'denied.txt')), false);
    assert.match(toolResultsSeen(suite.fake.mainRequests()[before]), /use notes\.md instead/);
  });

  it('takes one of two answers given at once: one 200, one 409 already_resolved with the outcome', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('raced.txt'), { kind: 'text', chunks: ['Done.'] });
    const turnId = await send(client, chat.id, 'write raced.txt');
    const request = await requestOf(client, chat.id, turnId);
    const [a, b] = await Promise.all([
      answer(client, chat.id, request.data.requestId, { decision: 'allow' }),
      answer(client, chat.id, request.data.requestId, { decision: 'deny' }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    const won = a.status === 200 ? a : b;
    const lost = a.status === 200 ? b : a;
    assert.equal(lost.body.error.code, 'already_resolved');
    assert.equal(lost.body.error.outcome, won.body.status);
    const { events } = await turnEnd(client, chat.id, turnId);
    assert.equal(events.filter((e) => e.event === 'permission_resolved').length, 1);
  });

  it('cancels a pending request when the turn is stopped: the turn ends aborted, nothing is written, and an answer gets 409', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('stopped.txt'));
    const turnId = await send(client, chat.id, 'write stopped.txt');
    const request = await requestOf(client, chat.id, turnId);
    assert.equal((await client.request('POST', `/api/chats/${chat.id}/abort`)).status, 200);
    const { end, events } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, false);
    assert.equal(end.code, 'aborted');
    assert.equal(events.find((e) => e.event === 'permission_resolved')?.data.outcome, 'cancelled');
    const late = await answer(client, chat.id, request.data.requestId, { decision: 'allow' });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.outcome, 'cancelled');
    assert.equal(existsSync(path.join(chat.worktreePath, 'stopped.txt')), false);
  });

  it('keeps "always" as a rule of the chat: the same command is not asked again, also on a new server', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    const bash = { kind: 'tool_use' as const, name: 'Bash', input: { command: 'touch made-by-bash', description: 'make a file' } };
    suite.fake.enqueue(bash, { kind: 'text', chunks: ['Made.'] });
    const first = await send(client, chat.id, 'make a file');
    const request = await requestOf(client, chat.id, first);
    assert.equal((request.data.details as { command?: string }).command, 'touch made-by-bash');
    const always = await answer(client, chat.id, request.data.requestId, { decision: 'allow', scope: 'always' });
    assert.equal(always.status, 200, JSON.stringify(always.body));
    assert.equal((await turnEnd(client, chat.id, first)).end.ok, true);
    const rules = (await client.request('GET', `/api/chats/${chat.id}/permission-rules`)).body.rules as Array<{ ruleId: string; tool: string; prefix: string | null }>;
    assert.equal(rules.length, 1);
    assert.equal(rules[0]!.tool, 'Bash');

    // A new server on the same database: the rule is PostgreSQL's, not the process's.
    const other = await suite.serve({});
    suite.fake.enqueue(bash, { kind: 'text', chunks: ['Made again.'] });
    const second = await send(other.client, chat.id, 'make it again');
    const { end, events } = await turnEnd(other.client, chat.id, second);
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(events.filter((e) => e.event === 'permission_request').length, 0, 'not asked again');
    assert.ok(events.some((e) => e.event === 'status' && /allowed by a rule of this chat/.test(String(e.data.message))));

    // The other road: Claude Code under a terminal asks through Hearth's prompt tool, and the rule answers there too.
    suite.fake.enqueue(bash, { kind: 'text', chunks: ['Made on the PTY road.'] });
    const third = await send(other.client, chat.id, 'and once more', { backend: 'claude_pty' });
    const pty = await turnEnd(other.client, chat.id, third);
    assert.equal(pty.end.ok, true, JSON.stringify(pty.end));
    assert.equal(pty.events.find((e) => e.event === 'turn_start')?.data.backend, 'claude_pty');
    assert.equal(pty.events.filter((e) => e.event === 'permission_request').length, 0, 'not asked on the PTY road either');

    const removed = await other.client.request('DELETE', `/api/chats/${chat.id}/permission-rules/${rules[0]!.ruleId}`);
    assert.equal(removed.status, 204);
    assert.equal((await other.client.request('DELETE', `/api/chats/${chat.id}/permission-rules/${rules[0]!.ruleId}`)).status, 404);
  });

  it('asks on the PTY road through the same relay: allow there writes the file, and a chat moves between roads with nothing left pending', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('pty.txt'), { kind: 'text', chunks: ['Written on the PTY road.'] });
    const turnId = await send(client, chat.id, 'write pty.txt', { backend: 'claude_pty' });
    const request = await requestOf(client, chat.id, turnId);
    assert.equal(request.data.tool, 'Write');
    assert.equal((await answer(client, chat.id, request.data.requestId, { decision: 'allow' })).body.status, 'allowed');
    const { end, events } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(events.find((e) => e.event === 'turn_start')?.data.backend, 'claude_pty');
    assert.equal(existsSync(path.join(chat.worktreePath, 'pty.txt')), true);

    // Stopped on the PTY road while it asks: cancelled there, and the SDK road's next turn finds nothing pending.
    suite.fake.enqueue(writeFile('never.txt'));
    const stopped = await send(client, chat.id, 'write never.txt', { backend: 'claude_pty' });
    await requestOf(client, chat.id, stopped);
    await client.request('POST', `/api/chats/${chat.id}/abort`);
    assert.equal((await turnEnd(client, chat.id, stopped)).end.code, 'aborted');
    assert.deepEqual((await client.request('GET', `/api/chats/${chat.id}/permissions?status=pending`)).body.permissions, []);
    suite.fake.enqueue({ kind: 'text', chunks: ['Back on the SDK road.'] });
    const next = await send(client, chat.id, 'carry on', { backend: 'claude_sdk' });
    assert.equal((await turnEnd(client, chat.id, next)).end.ok, true);
    assert.equal(existsSync(path.join(chat.worktreePath, 'never.txt')), false);
  });

  it('passes a question’s answers to the model', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client);
    const question = {
      kind: 'tool_use' as const,
      name: 'AskUserQuestion',
      input: {
        questions: [
          {
            question: 'Which database should the app use?',
            header: 'Database',
            multiSelect: false,
            options: [
              { label: 'PostgreSQL', description: 'the relational one' },
              { label: 'SQLite', description: 'a file' },
            ],
          },
        ],
      },
    };
    suite.fake.enqueue(question, { kind: 'text', chunks: ['Noted.'] });
    const turnId = await send(client, chat.id, 'ask me');
    const request = await requestOf(client, chat.id, turnId);
    assert.equal(request.data.kind, 'question');
    const questions = request.data.questions as Array<{ question: string; choices: Array<{ label: string }> }>;
    assert.deepEqual(questions[0]!.choices.map((c) => c.label), ['PostgreSQL', 'SQLite']);
    const bad = await answer(client, chat.id, request.data.requestId, { decision: 'allow' });
    assert.equal(bad.status, 400);
    const before = suite.fake.mainRequests().length;
    const answered = await answer(client, chat.id, request.data.requestId, {
      decision: 'allow',
      answers: { 'Which database should the app use?': 'PostgreSQL' },
    });
    assert.equal(answered.body.status, 'answered');
    assert.equal((await turnEnd(client, chat.id, turnId)).end.ok, true);
    assert.match(toolResultsSeen(suite.fake.mainRequests()[before]), /PostgreSQL/);
  });

  it('puts a plan to the person: approved goes on, rejected carries the note to the model', LIMIT, async () => {
    const { client } = server ?? (await serve());
    const chat = await newChat(client, { permissionMode: 'plan' });
    const plan = proposePlan;
    suite.fake.enqueue(...plan('1. Write the tests\n2. Make them pass'), { kind: 'text', chunks: ['Replanning.'] });
    const rejectedTurn = await send(client, chat.id, 'plan it');
    const rejected = await requestOf(client, chat.id, rejectedTurn);
    assert.equal(rejected.data.kind, 'plan');
    assert.match(String(rejected.data.plan), /Write the tests/);
    const before = suite.fake.mainRequests().length;
    assert.equal((await answer(client, chat.id, rejected.data.requestId, { decision: 'deny', message: 'tests last, please' })).body.status, 'denied');
    assert.equal((await turnEnd(client, chat.id, rejectedTurn)).end.ok, true);
    assert.match(toolResultsSeen(suite.fake.mainRequests()[before]), /tests last, please/);

    suite.fake.enqueue(...plan('1. Make it pass\n2. Then the tests'), { kind: 'text', chunks: ['Going.'] });
    const approvedTurn = await send(client, chat.id, 'plan again');
    const approved = await requestOf(client, chat.id, approvedTurn, 0);
    assert.equal((await answer(client, chat.id, approved.data.requestId, { decision: 'allow' })).body.status, 'allowed');
    const { end, events } = await turnEnd(client, chat.id, approvedTurn);
    assert.equal(end.ok, true);
    // An approved plan leaves plan mode, and the chat follows the agent.
    assert.ok(events.some((e) => e.event === 'mode' && e.data.mode === 'default'), events.map((e) => e.event).join(' '));
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.permissionMode, 'default');
  });

  it('denies a request nobody answers within HEARTH_PERMISSION_TIMEOUT_SECONDS, and the model sees why', LIMIT, async () => {
    const { client } = await serve({ permissionTimeoutMs: 1_500 });
    const chat = await newChat(client);
    suite.fake.enqueue(writeFile('late.txt'), { kind: 'text', chunks: ['Nobody came.'] });
    const before = suite.fake.mainRequests().length;
    const turnId = await send(client, chat.id, 'write late.txt');
    const { end, events } = await turnEnd(client, chat.id, turnId);
    assert.equal(end.ok, true, JSON.stringify(end));
    const resolved = events.find((e) => e.event === 'permission_resolved');
    assert.equal(resolved?.data.outcome, 'timed_out');
    assert.equal(existsSync(path.join(chat.worktreePath, 'late.txt')), false);
    assert.match(toolResultsSeen(suite.fake.mainRequests()[before + 1]), /nobody answered within 1\.5 s/);
  });
});
