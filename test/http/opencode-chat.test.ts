// A chat with OpenCode end to end: a real Hearth server runs the real `opencode serve`
// on the opencode_server backend against the scripted model (chat completions). The
// turns stream, the tool runs in the chat's worktree, the session row adds up each
// turn's usage and cost exactly, and after the node goes away another one (empty
// OpenCode directories, the same database) continues the conversation.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { apiSuite } from '../fixtures/api-suite.js';
import type { ScriptedReply } from '../fixtures/fake-anthropic.js';
import { untilTurnEnd, type SseEvent } from '../fixtures/hearth-client.js';
import { opencodeCost, opencodeTokens } from '../fixtures/opencode-env.js';
import type { TestServer } from '../fixtures/test-server.js';
import { sent } from '../fixtures/backend-chats.js';

const TOKEN = 'opencode-chat-token-0123456789';
const LIMIT = { timeout: 180_000 };
const suite = apiSuite('opencode_chat', TOKEN);

async function turn(server: TestServer, chatId: string, message: string | { text: string; backend: string }, ...replies: ScriptedReply[]): Promise<SseEvent[]> {
  suite.fake.enqueue(...replies);
  const posted = await server.client.request('POST', `/api/chats/${chatId}/messages`, typeof message === 'string' ? { text: message } : message);
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  const events = (await server.client.follow(chatId, untilTurnEnd(posted.body.turnId), { after: 0 })).filter((e) => e.data.turnId === posted.body.turnId);
  const end = events.at(-1)!;
  assert.equal(end.data.ok, true, JSON.stringify(end.data));
  assert.equal(suite.fake.pending(), 0, 'the turn used its scripted replies');
  return events;
}

describe('a chat with OpenCode through its server', () => {
  it('streams turns, runs tools in the worktree, adds up usage, and goes on on another node', LIMIT, async (t) => {
    const at = performance.now();
    const mark = (what: string) => t.diagnostic(`${what} at ${(performance.now() - at).toFixed(0)} ms`);
    const one = await suite.serve({ runtime: { prewarm: false } });
    const chat = (await one.client.request('POST', '/api/chats', { repoPath: suite.repo, agent: 'opencode', permissionMode: 'bypassPermissions' })).body;
    assert.equal(chat.agent, 'opencode');
    const u1 = { input_tokens: 100, output_tokens: 20 };
    const first = await turn(one, chat.id, 'keep the word KESTREL', { kind: 'text', chunks: ['I keep ', 'KESTREL'], usage: u1 });
    mark('first turn ended');
    assert.equal(first.find((e) => e.event === 'turn_start')?.data.backend, 'opencode_server');
    assert.deepEqual(first.filter((e) => e.event === 'text_delta').map((e) => e.data.text), ['I keep ', 'KESTREL']);
    assert.deepEqual(first.find((e) => e.event === 'message' && e.data.role === 'assistant')?.data.parts, [{ type: 'text', text: 'I keep KESTREL' }]);

    const u2 = { input_tokens: 150, output_tokens: 30, cache_read_input_tokens: 50 };
    const u3 = { input_tokens: 200, output_tokens: 10 };
    const second = await turn(
      one,
      chat.id,
      'make a file',
      { kind: 'tool_use', name: 'bash', input: { command: 'echo made > made.txt', description: 'make it' }, usage: u2 },
      { kind: 'text', chunks: ['made'], usage: u3 },
    );
    assert.ok(second.some((e) => e.event === 'tool_call' && e.data.name === 'bash'));
    assert.ok(second.some((e) => e.event === 'tool_result' && e.data.isError === false));
    const view = (await one.client.request('GET', `/api/chats/${chat.id}`)).body;
    assert.equal((await readFile(path.join(view.worktreePath, 'made.txt'), 'utf8')).trim(), 'made');

    const steps = [u1, u2, u3].map(opencodeTokens);
    const usageEvents = [...first, ...second].filter((e) => e.event === 'usage');
    assert.equal(usageEvents.length, 2, 'one usage event a turn');
    const [row] = await suite.db.sql<{ backend: string; agent_session_id: string; input_tokens: string; output_tokens: string; cost: string }[]>`
      SELECT backend, agent_session_id, input_tokens, output_tokens, cost::text AS cost FROM agent_sessions WHERE chat_id = ${chat.id}`;
    assert.equal(row!.backend, 'opencode_server');
    assert.match(row!.agent_session_id, /^ses_/);
    // The row counts what was read from the cache as input too.
    assert.equal(Number(row!.input_tokens), steps.reduce((n, s) => n + s.input + s.cache.read + s.cache.write, 0));
    assert.equal(Number(row!.output_tokens), steps.reduce((n, s) => n + s.output + s.reasoning, 0));
    assert.ok(Math.abs(Number(row!.cost) - steps.reduce((n, s) => n + opencodeCost(s), 0)) < 1e-9, `cost ${row!.cost}`);
    mark('second turn ended');
    await one.close();
    mark('first node closed');

    // Another node: its own empty OpenCode directories, the same database.
    const two = await suite.serve({ runtime: { prewarm: false } });
    mark('second node up');
    const third = await turn(two, chat.id, 'which word?', { kind: 'text', chunks: ['KESTREL'] });
    mark('third turn ended');
    assert.deepEqual(third.filter((e) => e.event === 'text_delta').map((e) => e.data.text), ['KESTREL']);
    const conversation = sent(suite.fake.mainRequests().at(-1));
    for (const earlier of ['keep the word KESTREL', 'I keep KESTREL', 'make a file', 'which word?']) assert.ok(conversation.includes(earlier), `the request carries "${earlier}"`);
    const [after] = await suite.db.sql<{ agent_session_id: string }[]>`SELECT agent_session_id FROM agent_sessions WHERE chat_id = ${chat.id}`;
    assert.equal(after!.agent_session_id, row!.agent_session_id, 'the same OpenCode session goes on');
  });

  it('moves a chat from its server to its ACP mode and back, the same OpenCode session going on', LIMIT, async () => {
    const server = await suite.serve({ runtime: { prewarm: false } });
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo, agent: 'opencode', permissionMode: 'bypassPermissions' })).body;
    const backendOf = (events: SseEvent[]) => events.find((e) => e.event === 'turn_start')?.data.backend;
    const sessionRow = async () => (await suite.db.sql<{ backend: string; agent_session_id: string }[]>`SELECT backend, agent_session_id FROM agent_sessions WHERE chat_id = ${chat.id}`)[0]!;

    const first = await turn(server, chat.id, 'keep the word HERON', { kind: 'text', chunks: ['I keep HERON'] });
    assert.equal(backendOf(first), 'opencode_server');
    const started = await sessionRow();

    // Both roads keep OpenCode's sessions in the one database of the agent's home on this node.
    const second = await turn(server, chat.id, { text: 'which bird?', backend: 'warm_acp' }, { kind: 'text', chunks: ['HERON'] });
    assert.equal(backendOf(second), 'warm_acp');
    assert.deepEqual(second.filter((e) => e.event === 'text_delta').map((e) => e.data.text), ['HERON']);
    const onAcp = sent(suite.fake.mainRequests().at(-1));
    for (const earlier of ['keep the word HERON', 'I keep HERON', 'which bird?']) assert.ok(onAcp.includes(earlier), `the ACP road's request carries "${earlier}"`);
    assert.deepEqual(await sessionRow(), { backend: 'warm_acp', agent_session_id: started.agent_session_id }, 'the same OpenCode session goes on');

    const third = await turn(server, chat.id, { text: 'and again?', backend: 'opencode_server' }, { kind: 'text', chunks: ['HERON again'] });
    assert.equal(backendOf(third), 'opencode_server');
    const back = sent(suite.fake.mainRequests().at(-1));
    for (const earlier of ['keep the word HERON', 'which bird?', 'HERON', 'and again?']) assert.ok(back.includes(earlier), `the server's request carries "${earlier}"`);
    assert.deepEqual(await sessionRow(), { backend: 'opencode_server', agent_session_id: started.agent_session_id });
    await server.close();
  });
});
