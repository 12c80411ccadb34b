// The agent_sessions records as the runtime keeps them for every backend, end to end: a
// real server, the real Claude Code binary on the SDK road and the PTY road, the fake model.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import type { TurnUsage } from '../../src/api/events.js';
import type { BackendKind } from '../../src/api/views.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { DEFAULT_USAGE, lastUserText, type ScriptedReply, type Usage } from '../fixtures/fake-anthropic.js';
import { untilTurnEnd, type SseEvent } from '../fixtures/hearth-client.js';
import { killGone } from '../fixtures/processes.js';
import type { TestServer } from '../fixtures/test-server.js';

const TOKEN = 'records-token-0123456789';
const LIMIT = { timeout: 120_000 };
const ROADS: BackendKind[] = ['claude_sdk', 'claude_pty'];
const suite = apiSuite('records', TOKEN);
let server: TestServer;

/** The file's one server, started at first use, once the suite's world is made. */
async function ready(): Promise<TestServer> {
  server ??= await suite.serve();
  return server;
}

interface Row {
  backend: BackendKind;
  agentSessionId: string | null;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

async function row(chatId: string): Promise<Row> {
  const rows = await suite.db.sql<{ backend: BackendKind; agent_session_id: string | null; status: string; input_tokens: string; output_tokens: string; cost: string }[]>`
    SELECT backend, agent_session_id, status, input_tokens, output_tokens, cost::text AS cost
    FROM agent_sessions WHERE chat_id = ${chatId}`;
  assert.equal(rows.length, 1, 'one row per (chat, agent)');
  const r = rows[0]!;
  return {
    backend: r.backend,
    agentSessionId: r.agent_session_id,
    status: r.status,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cost: Number(r.cost),
  };
}

async function newChat(): Promise<string> {
  await ready();
  const res = await server.client.request('POST', '/api/chats', { repoPath: suite.repo });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

interface Turn {
  id: string;
  events: SseEvent[];
  end: Record<string, unknown>;
  /** The turn's usage events. */
  usage: TurnUsage[];
}

/** Scripts the model's replies, sends a message, and follows its turn to the end. */
async function turn(chatId: string, text: string, options: { backend?: BackendKind; replies?: ScriptedReply[] } = {}): Promise<Turn> {
  suite.fake.enqueue(...(options.replies ?? [{ kind: 'text', chunks: [`noted ${text}`] }]));
  const sent = await server.client.request('POST', `/api/chats/${chatId}/messages`, { text, ...(options.backend ? { backend: options.backend } : {}) });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = (await server.client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 })).filter((e) => e.data.turnId === sent.body.turnId);
  return finished(sent.body.turnId, events, options.backend);
}

function finished(id: string, events: SseEvent[], backend: BackendKind | undefined): Turn {
  assert.equal(suite.fake.pending(), 0, 'the turn used its scripted replies');
  if (backend) assert.equal(events.find((e) => e.event === 'turn_start')?.data.backend, backend, `the turn ran on ${backend}`);
  return { id, events, end: events.at(-1)!.data, usage: events.filter((e) => e.event === 'usage').map((e) => e.data as unknown as TurnUsage) };
}

function ok(t: Turn): Turn {
  assert.equal(t.end.ok, true, JSON.stringify(t.end));
  return t;
}

/** What the model was last sent, as text to search. */
const lastSent = () => JSON.stringify(suite.fake.mainRequests().at(-1)!.body.messages);
/** The session id Claude Code itself sent with its last request. */
const agentSessionHeader = () => suite.fake.mainRequests().at(-1)!.headers['x-claude-code-session-id'];

/** Starts a turn that stalls mid-stream, and returns once its first text has arrived. */
async function stalled(chatId: string, text: string, backend: BackendKind): Promise<{ turnId: string; seen: SseEvent[] }> {
  suite.fake.enqueue({ kind: 'stall', chunks: ['half of ', 'an answer'] });
  const sent = await server.client.request('POST', `/api/chats/${chatId}/messages`, { text, backend });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const seen = await server.client.follow(chatId, (e) => e.event === 'text_delta' && e.data.turnId === sent.body.turnId, { after: 0 });
  return { turnId: sent.body.turnId, seen };
}

async function rest(chatId: string, turnId: string, seen: SseEvent[], backend: BackendKind): Promise<Turn> {
  const more = await server.client.follow(chatId, untilTurnEnd(turnId), { lastEventId: seen.at(-1)!.id });
  return finished(turnId, [...seen, ...more].filter((e) => e.data.turnId === turnId), backend);
}

const total = (u: Usage) => u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

for (const road of ROADS) {
  describe(`the session record of a chat on ${road}`, () => {
    it('is idle after a turn, names its backend, and holds the session id the agent sends the model', LIMIT, async () => {
      const chatId = await newChat();
      ok(await turn(chatId, 'hello', { backend: road }));
      const r = await row(chatId);
      assert.equal(r.status, 'idle');
      assert.equal(r.backend, road);
      assert.ok(r.agentSessionId);
      assert.equal(r.agentSessionId, agentSessionHeader());

      const view = (await server.client.request('GET', `/api/chats/${chatId}`)).body;
      assert.deepEqual(
        view.sessions.map((s: any) => [s.agent, s.backend, s.status, s.inputTokens, s.outputTokens]),
        [['claude', road, 'idle', DEFAULT_USAGE.input_tokens, DEFAULT_USAGE.output_tokens]],
      );
    });

    it('adds each turn’s usage once: the scripted figures and the costs the usage events carried', LIMIT, async () => {
      const chatId = await newChat();
      const figures: Usage[] = [
        { input_tokens: 100, output_tokens: 10 },
        { input_tokens: 200, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 },
        { input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 300 },
      ];
      const turns: Turn[] = [];
      for (const [i, usage] of figures.entries()) {
        turns.push(ok(await turn(chatId, `count ${i}`, { backend: road, replies: [{ kind: 'text', chunks: [`counted ${i}`], usage }] })));
      }
      for (const [i, t] of turns.entries()) {
        assert.equal(t.usage.length, 1, `one usage event in turn ${i}`);
        const u = t.usage[0]!;
        const f = figures[i]!;
        assert.deepEqual(
          [u.inputTokens, u.cacheReadTokens, u.cacheWriteTokens, u.outputTokens],
          [f.input_tokens, f.cache_read_input_tokens ?? 0, f.cache_creation_input_tokens ?? 0, f.output_tokens],
        );
        assert.ok(u.costUsd! > 0);
      }
      const r = await row(chatId);
      assert.equal(r.inputTokens, sum(figures.map(total)));
      assert.equal(r.outputTokens, sum(figures.map((f) => f.output_tokens)));
      assert.ok(Math.abs(r.cost - sum(turns.map((t) => t.usage[0]!.costUsd!))) < 1e-10, `cost ${r.cost}`);
      assert.equal(r.status, 'idle');
    });

    it('is idle after an aborted turn, whose tokens still count', LIMIT, async () => {
      const chatId = await newChat();
      const first = ok(await turn(chatId, 'before the stop', { backend: road, replies: [{ kind: 'text', chunks: ['fine'], usage: { input_tokens: 20, output_tokens: 10 } }] }));
      const { turnId, seen } = await stalled(chatId, 'this one stalls', road);
      const stopped = await server.client.request('POST', `/api/chats/${chatId}/abort`);
      assert.equal(stopped.status, 200);
      const aborted = await rest(chatId, turnId, seen, road);
      assert.equal(aborted.end.code, 'aborted', JSON.stringify(aborted.end));
      assert.equal(aborted.usage.length, 1, 'a stopped turn has its usage');
      const u = aborted.usage[0]!;
      assert.equal(u.inputTokens, DEFAULT_USAGE.input_tokens);

      const r = await row(chatId);
      assert.equal(r.status, 'idle', 'a stop is not a crash');
      assert.equal(r.inputTokens, 20 + u.inputTokens);
      assert.equal(r.outputTokens, 10 + u.outputTokens);
      assert.ok(Math.abs(r.cost - first.usage[0]!.costUsd! - u.costUsd!) < 1e-10, `cost ${r.cost}`);

      ok(await turn(chatId, 'after the stop', { backend: road }));
      assert.match(lastSent(), /before the stop/, 'the conversation goes on');
      assert.equal((await row(chatId)).agentSessionId, agentSessionHeader());
    });

    it('stays idle after an API error, and the next turn carries the conversation on', LIMIT, async () => {
      const chatId = await newChat();
      ok(await turn(chatId, 'remember WALRUS', { backend: road }));
      const before = (await row(chatId)).agentSessionId;
      const failed = await turn(chatId, 'this one fails', { backend: road, replies: [{ kind: 'error', status: 529 }] });
      assert.equal(failed.end.ok, false);
      assert.equal(failed.end.code, 'api_error', JSON.stringify(failed.end));
      assert.equal((await row(chatId)).status, 'idle');

      ok(await turn(chatId, 'go on', { backend: road }));
      assert.match(lastSent(), /WALRUS/, 'the model sees the earlier turns');
      const r = await row(chatId);
      assert.equal(r.status, 'idle');
      assert.equal(r.agentSessionId, before, 'the same conversation');
      assert.equal(r.agentSessionId, agentSessionHeader());
    });

    it('is crashed after the agent is killed mid-turn, and the next turn starts a new conversation', LIMIT, async () => {
      const chatId = await newChat();
      // Other chats' agents, so this chat's are the rest: its warm SDK process, or the PTY turn's CLI.
      const prefix = `${server.runtime.config.nodeId}:`;
      const others = new Set(taggedProcesses({ prefix }));
      ok(await turn(chatId, 'remember MOOSE', { backend: road }));
      const before = (await row(chatId)).agentSessionId;
      const { turnId, seen } = await stalled(chatId, 'this one is killed', road);
      for (const pid of taggedProcesses({ prefix })) if (!others.has(pid)) killGone(pid);
      const killed = await rest(chatId, turnId, seen, road);
      assert.equal(killed.end.code, 'crashed', JSON.stringify(killed.end));
      assert.equal((await row(chatId)).status, 'crashed');

      ok(await turn(chatId, 'are you there?', { backend: road }));
      // A fresh conversation: nothing of the lost one but Hearth's account of the chat, ahead of the message.
      const request = suite.fake.mainRequests().at(-1)!;
      assert.deepEqual((request.body.messages as Array<{ role: string }>).map((m) => m.role).filter((role) => role !== 'system'), ['user'], 'a fresh conversation');
      assert.match(lastUserText(request), /^\[Hearth\] You \(claude\) are joining a conversation in progress\.[\s\S]*User \(to claude\): remember MOOSE\n[\s\S]*User \(to claude\): this one is killed\n[\s\S]*are you there\?$/);
      const r = await row(chatId);
      assert.equal(r.status, 'idle');
      assert.notEqual(r.agentSessionId, before);
      assert.equal(r.agentSessionId, agentSessionHeader());
    });
  });
}

describe('a warm SDK session leaving the pool', () => {
  it('is closed, and resumes the same conversation, counting each turn once', LIMIT, async () => {
    const chatId = await newChat();
    const usage = (n: number): Usage => ({ input_tokens: 10 * n, output_tokens: n, cache_read_input_tokens: 100 * n, cache_creation_input_tokens: n });
    const say = async (n: number, word: string) =>
      ok(await turn(chatId, `the word is ${word}`, { backend: 'claude_sdk', replies: [{ kind: 'text', chunks: [`kept ${word}`], usage: usage(n) }] }));

    const turns = [await say(1, 'OTTER')];
    const id = (await row(chatId)).agentSessionId;
    await server.runtime.pool.remove(chatId, 'claude');
    assert.equal((await row(chatId)).status, 'closed', 'removed');

    turns.push(await say(2, 'HERON'));
    assert.match(lastSent(), /OTTER/, 'resumed after removal');
    // The idle sweep, as if the idle timeout had passed.
    await server.runtime.pool.sweepIdle(Date.now() + server.runtime.config.idleMs + 1);
    assert.equal(server.runtime.pool.backendOf(chatId, 'claude'), null, 'swept');
    assert.equal((await row(chatId)).status, 'closed', 'swept');

    turns.push(await say(3, 'BISON'));
    const request = lastSent();
    for (const word of ['OTTER', 'HERON', 'kept OTTER', 'kept HERON']) assert.ok(request.includes(word), `the model sees ${word}`);
    const r = await row(chatId);
    assert.equal(r.agentSessionId, id, 'one conversation');
    assert.equal(r.agentSessionId, agentSessionHeader());
    assert.equal(r.status, 'idle');
    assert.equal(r.inputTokens, total(usage(1)) + total(usage(2)) + total(usage(3)));
    assert.equal(r.outputTokens, 1 + 2 + 3);
    assert.deepEqual(turns.map((t) => t.usage.length), [1, 1, 1]);
    assert.ok(Math.abs(r.cost - sum(turns.map((t) => t.usage[0]!.costUsd!))) < 1e-10, `cost ${r.cost}`);
  });

  it('stays warm in the pool after an API error', LIMIT, async () => {
    const chatId = await newChat();
    ok(await turn(chatId, 'hello', { backend: 'claude_sdk' }));
    assert.equal(server.runtime.pool.backendOf(chatId, 'claude'), 'claude_sdk');
    const failed = await turn(chatId, 'fails', { backend: 'claude_sdk', replies: [{ kind: 'error', status: 529 }] });
    assert.equal(failed.end.code, 'api_error');
    assert.equal(server.runtime.pool.backendOf(chatId, 'claude'), 'claude_sdk', 'the session serves the next turn');
    assert.equal((await row(chatId)).status, 'idle');
  });
});

describe('a chat moving between roads', () => {
  it('continues one conversation from the SDK to the PTY and back, counting each turn once', LIMIT, async () => {
    const chatId = await newChat();
    const turns = [ok(await turn(chatId, 'first is PUFFIN', { backend: 'claude_sdk' })), ok(await turn(chatId, 'second is LYNX', { backend: 'claude_sdk' }))];
    const id = (await row(chatId)).agentSessionId;

    turns.push(ok(await turn(chatId, 'third on the terminal', { backend: 'claude_pty' })));
    assert.match(lastSent(), /PUFFIN.*LYNX/s, 'the PTY turn sees the SDK turns');
    let r = await row(chatId);
    assert.deepEqual([r.backend, r.agentSessionId, r.status], ['claude_pty', id, 'idle']);
    assert.equal(agentSessionHeader(), id);

    turns.push(ok(await turn(chatId, 'fourth back on the SDK', { backend: 'claude_sdk' })));
    assert.match(lastSent(), /PUFFIN.*LYNX.*third on the terminal/s, 'the SDK turn sees every earlier turn');
    r = await row(chatId);
    assert.deepEqual([r.backend, r.agentSessionId, r.status], ['claude_sdk', id, 'idle']);
    assert.equal(agentSessionHeader(), id);
    assert.equal(r.inputTokens, 4 * DEFAULT_USAGE.input_tokens);
    assert.equal(r.outputTokens, 4 * DEFAULT_USAGE.output_tokens);
    assert.ok(Math.abs(r.cost - sum(turns.map((t) => t.usage[0]!.costUsd!))) < 1e-10, `cost ${r.cost}`);
  });
});
