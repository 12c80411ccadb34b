// Many chats at once across every installed agent, through the real server: each agent
// real (Claude Code through its SDK, the ACP agents through the warm ACP backend), each
// against the scripted model, each chat on its own worktree. Every reply must land in its
// own chat, in order, and every chat must keep its own agent's session.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lastUserText } from '../fixtures/fake-anthropic.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { untilTurnEnd } from '../fixtures/hearth-client.js';

const TOKEN = 'agents-at-once-token-0123456789';
const CHATS = 10;
// The scripted model answers each message with its own words, whichever chat and agent sent it.
const suite = apiSuite('agents_at_once', TOKEN, {
  reply: (req) => {
    const text = lastUserText(req);
    return text.startsWith('echo:') ? { kind: 'text', chunks: ['reply to ', text] } : undefined;
  },
});

describe('many chats across the agents at once', () => {
  it('keep every transcript unmixed, each on its own agent', { timeout: 300_000 }, async () => {
    const { client } = await suite.serve({ runtime: { maxWarm: CHATS, maxQueued: 2 } });
    const installed = ((await client.request('GET', '/api/agents')).body.agents as { name: string }[]).map((a) => a.name);
    const agents = installed.filter((a) => a === 'claude' || a === 'claude-acp' || a === 'codex' || a === 'gemini');
    assert.ok(agents.length >= 2, `agents installed: ${installed.join(', ')}`);
    const chats = await Promise.all(
      Array.from({ length: CHATS }, async (_, i) => {
        const agent = agents[i % agents.length]!;
        const res = await client.request('POST', '/api/chats', { repoPath: suite.repo, agent, title: `at once ${i}` });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return { id: res.body.id as string, agent, i };
      }),
    );
    await Promise.all(
      chats.map(async (c) => {
        for (const n of [1, 2]) {
          const text = `echo: chat ${c.i} message ${n}`;
          const sent = await client.request('POST', `/api/chats/${c.id}/messages`, { text });
          assert.equal(sent.status, 202, JSON.stringify(sent.body));
          const events = await client.follow(c.id, untilTurnEnd(sent.body.turnId), { timeoutMs: 120_000 });
          const end = events.find(untilTurnEnd(sent.body.turnId))!;
          assert.equal(end.data.ok, true, `${c.agent}: ${JSON.stringify(end.data)}`);
        }
      }),
    );
    for (const c of chats) {
      const history = (await client.request('GET', `/api/chats/${c.id}/messages`)).body.messages as { role: string; agent?: string; parts: { type: string; text?: string }[] }[];
      const said = history.map((m) => `${m.role}: ${m.parts.filter((p) => p.type === 'text').map((p) => p.text).join('')}`);
      assert.deepEqual(
        said,
        [`user: echo: chat ${c.i} message 1`, `assistant: reply to echo: chat ${c.i} message 1`, `user: echo: chat ${c.i} message 2`, `assistant: reply to echo: chat ${c.i} message 2`],
        `chat ${c.i} (${c.agent}) holds its own conversation alone`,
      );
      const view = (await client.request('GET', `/api/chats/${c.id}`)).body;
      assert.deepEqual(view.sessions.map((s: { agent: string }) => s.agent), [c.agent], `chat ${c.i} has one session, of its agent`);
    }
    // The second message of each chat reached the model with the first in its history.
    for (const c of chats) {
      const second = suite.fake.mainRequests().filter((r) => lastUserText(r) === `echo: chat ${c.i} message 2`);
      assert.ok(second.length >= 1, `chat ${c.i}'s second message reached the model`);
      assert.ok(second.every((r) => JSON.stringify(r.body).includes(`reply to echo: chat ${c.i} message 1`)), `chat ${c.i} (${c.agent}) sees its own history`);
      assert.ok(second.every((r) => !JSON.stringify(r.body).includes(`chat ${(c.i + 1) % CHATS} message`)), `chat ${c.i} sees no other chat`);
    }
  });
});
