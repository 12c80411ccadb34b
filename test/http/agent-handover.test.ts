// One chat, several agents, end to end: a real server hands a chat between the real Claude
// Code on the SDK backend (`claude`) and the real claude-agent-acp on the warm ACP backend
// (`claude-acp`), both against the fake model; each agent's first turn is told the
// conversation so far, a later one what the other did meanwhile, and each keeps its own
// session row with its own usage. Also: what GET /api/agents and /health say of agents.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackendKind } from '../../src/api/views.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { lastUserText, type RecordedRequest, type Usage } from '../fixtures/fake-anthropic.js';
import { untilTurnEnd, type SseEvent } from '../fixtures/hearth-client.js';
import type { TestServer } from '../fixtures/test-server.js';
import { sent } from '../fixtures/backend-chats.js';

const TOKEN = 'handover-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('handover', TOKEN);
let server: TestServer;

async function ready(): Promise<TestServer> {
  server ??= await suite.serve({ runtime: { prewarm: false } });
  return server;
}

interface Turn {
  turnId: string;
  events: SseEvent[];
  /** The main model requests the turn made, in order. */
  requests: RecordedRequest[];
  /** What the agent was sent: the last user text of its first request. */
  prompt: string;
}

/** Sends a message for `agent`, its reply scripted, and follows the turn to its end. */
async function turn(chatId: string, text: string, agent: string | undefined, reply: string, usage: Usage): Promise<Turn> {
  const before = suite.fake.mainRequests().length;
  suite.fake.enqueue({ kind: 'text', chunks: [reply], usage });
  const sent = await server.client.request('POST', `/api/chats/${chatId}/messages`, { text, ...(agent ? { agent } : {}) });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = (await server.client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 })).filter((e) => e.data.turnId === sent.body.turnId);
  const end = events.at(-1)!;
  assert.equal(end.data.ok, true, JSON.stringify(end.data));
  assert.equal(suite.fake.pending(), 0, 'the turn used its scripted reply');
  const requests = suite.fake.mainRequests().slice(before);
  assert.ok(requests.length >= 1, 'the turn asked the model');
  return { turnId: sent.body.turnId, events, requests, prompt: lastUserText(requests[0]!) };
}

const backendOf = (t: Turn) => t.events.find((e) => e.event === 'turn_start')?.data.backend as BackendKind | undefined;
const usageOf = (turns: Turn[]) =>
  turns.flatMap((t) => t.events.filter((e) => e.event === 'usage')).reduce(
    (sum, e) => ({
      input: sum.input + Number(e.data.inputTokens) + Number(e.data.cacheReadTokens ?? 0) + Number(e.data.cacheWriteTokens ?? 0),
      output: sum.output + Number(e.data.outputTokens),
      cost: sum.cost + Number(e.data.costUsd),
    }),
    { input: 0, output: 0, cost: 0 },
  );
/** The turn's status notices that say what its agent was told. */
const notices = (t: Turn) => t.events.filter((e) => e.event === 'status' && / was told /.test(String(e.data.message))).map((e) => e.data.message);
/** Everything the request's conversation holds, as text. */
const conversationOf = (req: RecordedRequest) => JSON.stringify(req.body.messages);

async function sessionRows(chatId: string) {
  return suite.db.sql<{ agent: string; backend: string; status: string; agent_session_id: string | null; input_tokens: string; output_tokens: string; cost: string }[]>`
    SELECT agent, backend, status, agent_session_id, input_tokens, output_tokens, cost::text AS cost
    FROM agent_sessions WHERE chat_id = ${chatId} ORDER BY agent`;
}

describe('one chat, several agents', () => {
  it('hands a chat from claude to claude-acp and back: each is told what it has not seen, and keeps its own session and usage', LIMIT, async () => {
    await ready();
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    assert.equal(chat.agent, 'claude');
    const started = Date.now();

    const one = await turn(chat.id, 'Write the parser, call it PARSER-ALPHA', undefined, 'CLAUDE-ONE: I wrote PARSER-ALPHA in parser.ts.', { input_tokens: 100, output_tokens: 10 });
    assert.equal(backendOf(one), 'claude_sdk');
    assert.equal(one.prompt, 'Write the parser, call it PARSER-ALPHA', "the chat's first message goes as it is");

    // claude-acp has no conversation in this chat: its first turn is told the chat so far.
    const two = await turn(chat.id, 'Review the parser', 'claude-acp', 'ACP-TWO: the parser looks fine.', { input_tokens: 7, output_tokens: 3 });
    assert.equal(backendOf(two), 'warm_acp');
    assert.match(two.prompt, /^\[Hearth\] You \(claude-acp\) are joining a conversation in progress\./);
    assert.match(two.prompt, /User \(to claude\): Write the parser, call it PARSER-ALPHA\nclaude: CLAUDE-ONE: I wrote PARSER-ALPHA in parser\.ts\./);
    assert.ok(two.prompt.endsWith('Now the user says to you:\n\nReview the parser'), two.prompt);
    const handoverChars = two.prompt.length - 'Review the parser'.length;
    assert.deepEqual(notices(two), ['claude-acp was told the conversation so far (1 exchange)'], 'the person sees the agent was briefed');
    assert.deepEqual(notices(one), []);

    // Back to claude, whose conversation goes on: it is told only what happened since its last turn.
    const three = await turn(chat.id, 'Back to you: add a test', 'claude', 'CLAUDE-THREE: test added.', { input_tokens: 100, output_tokens: 10 });
    assert.equal(backendOf(three), 'claude_sdk');
    assert.match(three.prompt, /^\[Hearth\] Meanwhile, in this chat, since your last turn/);
    assert.match(three.prompt, /User \(to claude-acp\): Review the parser\nclaude-acp: ACP-TWO: the parser looks fine\./);
    assert.doesNotMatch(three.prompt, /CLAUDE-ONE|Write the parser/, 'what is in its own conversation is not told again');
    assert.ok(three.prompt.endsWith('Now the user says to you:\n\nBack to you: add a test'));
    assert.match(conversationOf(three.requests[0]!), /CLAUDE-ONE: I wrote PARSER-ALPHA/, "claude's own conversation went on");
    assert.deepEqual(notices(three), ['claude was told what other agents did since its last turn (1 exchange)']);

    // And claude-acp again: it hears of claude's third turn, and nothing it already has.
    const four = await turn(chat.id, 'Check the test', 'claude-acp', 'ACP-FOUR: the test passes.', { input_tokens: 7, output_tokens: 3 });
    assert.match(four.prompt, /^\[Hearth\] Meanwhile/);
    assert.match(four.prompt, /User \(to claude\): Back to you: add a test\nclaude: CLAUDE-THREE: test added\./);
    assert.doesNotMatch(four.prompt, /ACP-TWO|CLAUDE-ONE/);
    assert.match(conversationOf(four.requests[0]!), /ACP-TWO/, "claude-acp's own conversation went on");

    // A message for the agent the chat already talks to, with nothing in between, goes as it is.
    const five = await turn(chat.id, 'Thanks', 'claude-acp', 'ACP-FIVE: welcome.', { input_tokens: 7, output_tokens: 3 });
    assert.equal(five.prompt, 'Thanks');
    assert.deepEqual(notices(five), []);
    const elapsed = Date.now() - started;

    // The history keeps the user's own words and says who replied.
    const history = (await server.client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages as Array<{ role: string; agent: string; parts: Array<{ type: string; text?: string }> }>;
    const said = history.map((m) => `${m.role}:${m.agent}:${m.parts.filter((p) => p.type === 'text').map((p) => p.text).join('')}`);
    assert.deepEqual(said, [
      'user:claude:Write the parser, call it PARSER-ALPHA',
      'assistant:claude:CLAUDE-ONE: I wrote PARSER-ALPHA in parser.ts.',
      'user:claude-acp:Review the parser',
      'assistant:claude-acp:ACP-TWO: the parser looks fine.',
      'user:claude:Back to you: add a test',
      'assistant:claude:CLAUDE-THREE: test added.',
      'user:claude-acp:Check the test',
      'assistant:claude-acp:ACP-FOUR: the test passes.',
      'user:claude-acp:Thanks',
      'assistant:claude-acp:ACP-FIVE: welcome.',
    ]);

    // One session row per agent, each with its own backend, conversation, usage and cost.
    const rows = await sessionRows(chat.id);
    assert.deepEqual(rows.map((r) => [r.agent, r.backend]), [['claude', 'claude_sdk'], ['claude-acp', 'warm_acp']]);
    assert.notEqual(rows[0]!.agent_session_id, rows[1]!.agent_session_id);
    for (const [row, turns] of [[rows[0]!, [one, three]], [rows[1]!, [two, four, five]]] as const) {
      const usage = usageOf([...turns]);
      assert.equal(Number(row.input_tokens), usage.input, `${row.agent}: input tokens are its own turns'`);
      assert.equal(Number(row.output_tokens), usage.output, `${row.agent}: output tokens are its own turns'`);
      assert.ok(Math.abs(Number(row.cost) - usage.cost) < 1e-9, `${row.agent}: cost ${row.cost} is its own turns' ${usage.cost}`);
    }
    assert.equal(Number(rows[0]!.output_tokens), 20, "claude's two turns, 10 output tokens each");
    assert.equal(Number(rows[1]!.output_tokens), 9, "claude-acp's three turns, 3 output tokens each");
    const view = (await server.client.request('GET', `/api/chats/${chat.id}`)).body;
    assert.deepEqual(
      view.sessions.map((s: any) => [s.agent, s.outputTokens]),
      [['claude', 20], ['claude-acp', 9]],
      'the chat shows each agent with its own usage',
    );
    console.log(`hand-over: ${handoverChars} characters before the user's words; five turns on two agents in ${elapsed} ms`);
  });

  it('hands a chat from claude to codex and back, each seeing the whole conversation in its own API', LIMIT, async () => {
    await ready();
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    const usage = { input_tokens: 10, output_tokens: 5 };
    const one = await turn(chat.id, 'Name the module MODULE-KAPPA', 'claude', 'CLAUDE-ONE: it is MODULE-KAPPA.', usage);
    assert.equal(one.requests[0]!.dialect, 'anthropic');

    const two = await turn(chat.id, 'What did claude call it?', 'codex', 'CODEX-TWO: MODULE-KAPPA, as claude said.', usage);
    assert.equal(backendOf(two), 'warm_acp');
    assert.equal(two.requests[0]!.dialect, 'openai-responses', 'codex speaks the Responses API');
    assert.match(two.prompt, /^\[Hearth\] You \(codex\) are joining a conversation in progress\./);
    assert.match(two.prompt, /User \(to claude\): Name the module MODULE-KAPPA\nclaude: CLAUDE-ONE: it is MODULE-KAPPA\./);
    assert.ok(two.prompt.endsWith('Now the user says to you:\n\nWhat did claude call it?'), two.prompt);

    const three = await turn(chat.id, 'And what did codex say?', 'claude', 'CLAUDE-THREE: codex agreed.', usage);
    assert.match(three.prompt, /User \(to codex\): What did claude call it\?\ncodex: CODEX-TWO: MODULE-KAPPA, as claude said\./);
    assert.match(sent(three.requests[0]), /CLAUDE-ONE/, "claude's own conversation went on");

    const four = await turn(chat.id, 'Anything to add?', 'codex', 'CODEX-FOUR: nothing.', usage);
    assert.match(four.prompt, /^\[Hearth\] Meanwhile/);
    assert.match(four.prompt, /claude: CLAUDE-THREE: codex agreed\./);
    assert.doesNotMatch(four.prompt, /CODEX-TWO|CLAUDE-ONE/, 'what is in its own conversation is not told again');
    assert.match(sent(four.requests[0]), /CODEX-TWO/, "codex's own conversation went on");

    const rows = await sessionRows(chat.id);
    assert.deepEqual(rows.map((r) => [r.agent, r.backend]), [['claude', 'claude_sdk'], ['codex', 'warm_acp']]);
    assert.equal(rows.find((r) => r.agent === 'codex')!.cost, null, 'codex reports no cost: unknown, not zero');
    assert.ok(Number(rows.find((r) => r.agent === 'claude')!.cost) > 0);
  });

  it("tells an agent whose earlier session was lost the whole chat, its own part included", LIMIT, async () => {
    await ready();
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    await turn(chat.id, 'Remember the word HEARTHSTONE', undefined, 'CLAUDE: remembered HEARTHSTONE.', { input_tokens: 10, output_tokens: 5 });
    // Its session ends and its record says it crashed: the next turn starts a new conversation.
    await server.runtime.pool.remove(chat.id, 'claude', 'the test ends it');
    await suite.db.sql`UPDATE agent_sessions SET status = 'crashed' WHERE chat_id = ${chat.id} AND agent = 'claude'`;
    const again = await turn(chat.id, 'Which word?', undefined, 'CLAUDE: HEARTHSTONE.', { input_tokens: 10, output_tokens: 5 });
    assert.match(again.prompt, /^\[Hearth\] You \(claude\) are joining a conversation in progress\./);
    assert.match(again.prompt, /User \(to claude\): Remember the word HEARTHSTONE\nclaude: CLAUDE: remembered HEARTHSTONE\./);
    assert.ok(again.prompt.endsWith('Now the user says to you:\n\nWhich word?'));
    const roles = (again.requests[0]!.body.messages as Array<{ role: string }>).map((m) => m.role);
    assert.deepEqual(roles.filter((r) => r !== 'system'), ['user'], 'the new conversation holds nothing but the told history');
  });

  it('refuses a message for an agent that is not installed, naming those that are, and stores nothing', LIMIT, async () => {
    await ready();
    const chat = (await server.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    const res = await server.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hello', agent: 'nobody' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'agent_not_installed');
    const installed = (await server.client.request('GET', '/api/agents')).body.agents.map((a: { name: string }) => a.name);
    assert.ok(installed.includes('claude') && installed.includes('claude-acp'), installed.join(', '));
    assert.equal(res.body.error.message, `agent "nobody" is not installed on this node (installed: ${installed.join(', ')})`);
    assert.deepEqual((await server.client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages, []);
  });
});

describe('what the server says of its agents', () => {
  it('lists each installed agent with its backends and capabilities', LIMIT, async () => {
    await ready();
    const res = await server.client.request('GET', '/api/agents');
    assert.equal(res.status, 200);
    const byName = new Map((res.body.agents as any[]).map((a) => [a.name, a]));
    assert.deepEqual(byName.get('claude').capabilities, {
      resumes: true,
      permissionModes: ['default', 'acceptEdits', 'bypassPermissions', 'plan', 'dontAsk', 'auto'],
    });
    assert.deepEqual(byName.get('claude-acp').backends, [{ kind: 'warm_acp', status: 'up' }]);
    assert.deepEqual(byName.get('claude-acp').capabilities, {
      resumes: true,
      permissionModes: ['default', 'acceptEdits', 'plan', 'auto', 'bypassPermissions'],
    });
    const health = (await server.client.request('GET', '/health')).body;
    assert.equal(health.agents.claude.status, 'up');
    assert.equal(health.agents.claude.version, byName.get('claude').version);
    assert.equal(health.agents['claude-acp'].status, 'up');
  });

  it('shows an agent whose executable fails its --version check as down in /health, with why, and refuses it with that reason', LIMIT, async () => {
    const broken = path.join(suite.root, 'broken-acp');
    await writeFile(broken, '#!/bin/sh\necho "error: cannot load the runtime" >&2\nexit 3\n');
    await chmod(broken, 0o755);
    const other = await suite.serve({ runtime: { prewarm: false, agentPaths: { 'claude-acp': broken } } });
    const health = (await other.client.request('GET', '/health')).body;
    assert.equal(health.status, 'ok');
    assert.equal(health.agents.claude.status, 'up');
    assert.deepEqual(health.agents['claude-acp'], {
      status: 'down',
      error: `\`${broken} --version\` failed: exit code 3: error: cannot load the runtime`,
    });
    assert.ok(
      health.warnings.some((w: any) => w.code === 'agent_down' && w.message.startsWith('agent claude-acp does not start: ')),
      JSON.stringify(health.warnings),
    );
    const listed: string[] = (await other.client.request('GET', '/api/agents')).body.agents.map((a: any) => a.name);
    assert.ok(listed.includes('claude') && !listed.includes('claude-acp'), `only agents that start are offered: ${listed.join(', ')}`);
    const chat = (await other.client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    const res = await other.client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hello', agent: 'claude-acp' });
    assert.equal(res.status, 400);
    assert.match(res.body.error.message, /agent "claude-acp" is on this node but does not start \(.*exit code 3.*\) \(installed: claude[,)]/);
    assert.ok(res.body.error.message.endsWith(`(installed: ${listed.join(', ')})`), res.body.error.message);
    // Anonymous callers learn nothing of it.
    const anonymous = (await fetch(`${other.url}/health`).then((r) => r.json())) as { agents?: unknown };
    assert.equal(anonymous.agents, undefined);
  });
});
