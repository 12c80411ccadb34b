// Turns that break: what a crash mid-stream leaves in the history, and how far one
// chat's failure to start its agent reaches.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import type { RuntimeConfig } from '../../src/runtime/hearth-runtime.js';
import { untilTurnEnd, type HearthClient, type SseEvent } from '../fixtures/hearth-client.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { killGone } from '../fixtures/processes.js';

const TOKEN = 'failures-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('failures', TOKEN);
const serve = (runtime: Partial<RuntimeConfig> = {}) => suite.serve({ runtime });

async function newChat(client: HearthClient): Promise<string> {
  const res = await client.request('POST', '/api/chats', { repoPath: suite.repo });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

/** Sends a message and returns its turn's events, turn_end last. */
async function turn(client: HearthClient, chatId: string, text: string, backend?: string): Promise<SseEvent[]> {
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text, ...(backend ? { backend } : {}) });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 });
  return events.filter((e) => e.data.turnId === sent.body.turnId);
}

describe('an agent killed mid-turn', () => {
  for (const backend of ['claude_sdk', 'claude_pty']) {
    it(`keeps what it had streamed before the crash, ahead of the error (${backend})`, LIMIT, async () => {
      const server = await serve();
      const { client } = server;
      // Taken before the chat is made: its agent may start then, ahead of the message.
      const others = new Set(taggedProcesses({ prefix: `${server.runtime.config.nodeId}:` }));
      const chatId = await newChat(client);
      suite.fake.enqueue({ kind: 'stall', chunks: ['Half of ', 'an answer'] });
      const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text: 'go on', backend });
      const seen = await client.follow(
        chatId,
        (_, all) => all.filter((e) => e.event === 'text_delta' && e.data.turnId === sent.body.turnId).length >= 2,
        { after: 0 },
      );
      for (const pid of taggedProcesses({ prefix: `${server.runtime.config.nodeId}:` })) {
        if (!others.has(pid)) killGone(pid);
      }
      const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { lastEventId: seen.at(-1)!.id });
      assert.equal(events.at(-1)!.data.ok, false);

      const history = (await client.request('GET', `/api/chats/${chatId}/messages`)).body.messages;
      const reply = history.find((m: any) => m.role === 'assistant' && m.turnId === sent.body.turnId);
      assert.ok(reply, JSON.stringify(history));
      assert.deepEqual(reply.parts[0], { type: 'text', text: 'Half of an answer' }, JSON.stringify(reply.parts));
      assert.equal(reply.parts.at(-1).type, 'error');
      assert.equal(reply.parts.filter((p: any) => p.type === 'text').length, 1, 'the text is stored once');
    });
  }
});

describe('a chat whose own agent session cannot start', () => {
  it('falls back to the PTY path alone; other chats stay on the SDK path', LIMIT, async () => {
    const server = await serve();
    const { client, runtime } = server;
    const broken = await newChat(client);
    const first = await turn(client, broken, 'hello');
    assert.equal(first.at(-1)!.data.ok, true);
    // Its session now points at a conversation that exists nowhere, and its warm agent is gone.
    await runtime.pool.removeChat(broken);
    await suite.db.sql`UPDATE agent_sessions SET agent_session_id = gen_random_uuid()::text, status = 'idle' WHERE chat_id = ${broken}`;

    const fallback = await turn(client, broken, 'still there?');
    assert.equal(fallback.at(-1)!.data.ok, true, JSON.stringify(fallback.at(-1)));
    assert.match(String(fallback.find((e) => e.event === 'status')?.data.message), /runs on the PTY path: .*No conversation found/);
    assert.equal(fallback.find((e) => e.event === 'turn_start')!.data.backend, 'claude_pty');

    const health = (await client.request('GET', '/health')).body;
    assert.equal(health.backends.claude_sdk, 'up', 'one chat’s session says nothing about the node');
    const other = await newChat(client);
    const elsewhere = await turn(client, other, 'hello from another chat');
    assert.equal(elsewhere.at(-1)!.data.ok, true);
    assert.equal(elsewhere.find((e) => e.event === 'turn_start')!.data.backend, 'claude_sdk');

    // The chat itself stays on the PTY path for the retry window, without trying again.
    const again = await turn(client, broken, 'and now?');
    assert.equal(again.at(-1)!.data.ok, true);
    assert.equal(again.find((e) => e.event === 'turn_start')!.data.backend, 'claude_pty');
    assert.ok(!again.some((e) => e.event === 'status' && /cannot start/.test(String(e.data.message))));
  });
});
