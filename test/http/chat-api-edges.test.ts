// The API where things go wrong: an SDK backend that cannot start (and the fallback to
// the PTY path), the SDK path switched off, and a client too slow to read its stream.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { RuntimeConfig } from '../../src/runtime/hearth-runtime.js';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { apiSuite } from '../fixtures/api-suite.js';

const TOKEN = 'edge-token-0123456789';
const LIMIT = { timeout: 90_000 };
const suite = apiSuite('api_edges', TOKEN);
const serve = (config: Partial<RuntimeConfig> = {}, sseMaxBufferedBytes?: number) => suite.serve({ runtime: config, app: { sseMaxBufferedBytes } });

/** Sends a message and returns its turn's events, turn_end last. */
async function turnEvents(client: HearthClient, chatId: string, text: string) {
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await client.follow(chatId, untilTurnEnd(sent.body.turnId), { after: 0 });
  return events.filter((e) => e.data.turnId === sent.body.turnId);
}

describe('when the claude SDK backend cannot run', () => {
  it('falls back to the PTY path: the turns run, health shows the SDK down, and the history stays whole', LIMIT, async () => {
    // Nothing prewarmed: the turn itself meets the failed start.
    const { client } = await serve({ sdkExecutable: path.join(suite.root, 'no-such-claude'), prewarm: false });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    suite.fake.enqueue({ kind: 'text', chunks: ['Fallback ', 'works.'] });
    const first = await turnEvents(client, chat.id, 'hello?');
    const end = first.at(-1)!.data;
    assert.equal(end.ok, true, JSON.stringify(end));
    const status = first.find((e) => e.event === 'status');
    assert.match(String(status?.data.message), /SDK backend cannot start, so this turn runs on the PTY path: cannot execute/);
    assert.equal(first.find((e) => e.event === 'turn_start')!.data.backend, 'claude_pty');
    assert.equal(first.filter((e) => e.event === 'text_delta').map((e) => e.data.text).join(''), 'Fallback works.');

    const health = (await client.request('GET', '/health')).body;
    assert.equal(health.backends.claude_sdk, 'down');
    assert.equal(health.backends.claude_pty, 'up');
    assert.match(health.backendErrors.claude_sdk, /cannot execute .*no-such-claude/);

    // While the SDK path stands down, turns go straight to the PTY path and keep the conversation.
    suite.fake.enqueue({ kind: 'text', chunks: ['Still here.'] });
    const second = await turnEvents(client, chat.id, 'anyone?');
    assert.equal(second.at(-1)!.data.ok, true);
    assert.ok(!second.some((e) => e.event === 'status'), 'no second attempt at the SDK path');
    assert.match(JSON.stringify(suite.fake.mainRequests().at(-1)!.body.messages), /Fallback works\./);

    const history = (await client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
    assert.deepEqual(
      history.map((m: any) => [m.role, m.parts.filter((p: any) => p.type === 'text').map((p: any) => p.text).join('')]),
      [
        ['user', 'hello?'],
        ['assistant', 'Fallback works.'],
        ['user', 'anyone?'],
        ['assistant', 'Still here.'],
      ],
    );
  });

  it('stands the SDK path down when a new chat’s prewarm cannot start it, and the first turn goes straight to the PTY path', LIMIT, async () => {
    const { client } = await serve({ sdkExecutable: path.join(suite.root, 'no-such-claude') });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    let health = (await client.request('GET', '/health')).body;
    for (let i = 0; i < 100 && health.backends.claude_sdk !== 'down'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      health = (await client.request('GET', '/health')).body;
    }
    assert.equal(health.backends.claude_sdk, 'down', 'the prewarm found the SDK path unable to start');
    assert.match(health.backendErrors.claude_sdk, /cannot execute .*no-such-claude/);
    suite.fake.enqueue({ kind: 'text', chunks: ['Straight ', 'there.'] });
    const first = await turnEvents(client, chat.id, 'hello?');
    assert.equal(first.at(-1)!.data.ok, true, JSON.stringify(first.at(-1)!.data));
    assert.equal(first.find((e) => e.event === 'turn_start')!.data.backend, 'claude_pty');
    assert.ok(!first.some((e) => e.event === 'error'), 'the failed prewarm put no error in the chat');
  });

  it('fails the turn with both paths’ reasons when no claude can run at all', LIMIT, async () => {
    // Answers --version like an agent would, then cannot hold a session.
    const impostor = path.join(suite.root, 'not-claude');
    await writeFile(impostor, '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "9.9.9 (impostor)"; exit 0; fi\necho "no session for you" >&2\nexit 3\n');
    await chmod(impostor, 0o755);
    // Nothing prewarmed: the turn itself meets both failures.
    const { client } = await serve({ agentPaths: { claude: impostor }, prewarm: false });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;

    const events = await turnEvents(client, chat.id, 'hello?');
    const end = events.at(-1)!.data;
    assert.equal(end.ok, false);
    assert.equal(end.code, 'crashed');
    assert.match(String(end.error), /claude exited without finishing the turn \(exit code 3\)/);
    assert.match(String(end.error), /no session for you/, 'the agent’s own words are in the error');
    const status = events.find((e) => e.event === 'status');
    assert.match(String(status?.data.message), /claude did not start/);
    assert.equal((await client.request('GET', '/health')).body.backends.claude_sdk, 'down');

    const history = (await client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
    assert.deepEqual(
      history.filter((m: any) => m.role === 'user').map((m: any) => [m.parts[0].text, m.turnStatus]),
      [['hello?', 'failed']],
      'the message is kept, with what became of it',
    );
  });

  it('runs on the PTY path when CLAUDE_SDK_BACKEND is off, and refuses a message that asks for the SDK', LIMIT, async () => {
    const { client } = await serve({ claudeSdk: false });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    suite.fake.enqueue({ kind: 'text', chunks: ['pty only'] });
    const events = await turnEvents(client, chat.id, 'hi');
    assert.equal(events.at(-1)!.data.ok, true);
    assert.equal(events.find((e) => e.event === 'turn_start')!.data.backend, 'claude_pty');
    const health = (await client.request('GET', '/health')).body;
    assert.deepEqual([health.backends.claude_sdk, health.backends.claude_pty], ['down', 'up']);

    const refused = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hi', backend: 'claude_sdk' });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'backend_unavailable');
    const unknown = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'hi', backend: 'tmux' });
    assert.equal(unknown.status, 400);
    assert.match(JSON.stringify(unknown.body), /backend/);
  });
});

describe('a client too slow to read its event stream', () => {
  it('is cut off instead of growing the server’s memory, and replays the rest when it comes back', LIMIT, async () => {
    const { client, runtime } = await serve({}, 512 * 1024);
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    // Far more than the kernel's socket buffers take in for a reader that does not read.
    const chunk = 'x'.repeat(4096);
    suite.fake.enqueue({ kind: 'text', chunks: Array.from({ length: 3000 }, () => chunk) });

    // A raw connection that asks for the stream and then reads nothing.
    const { port } = new URL(client.baseUrl);
    const slow = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    slow.write(`GET /api/chats/${chat.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    slow.pause();
    let closedByServer = false;
    slow.once('end', () => (closedByServer = true));
    // The server may reset the connection rather than close it gently: that is a close too.
    slow.on('error', () => (closedByServer = true));
    while (runtime.events.subscriberCount() === 0) await new Promise((r) => setTimeout(r, 10));
    const subscribersBefore = runtime.events.subscriberCount();

    const sent = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'say a lot' });
    // Wait for the end through the history, not a second stream in this same process.
    for (;;) {
      const history = (await client.request('GET', `/api/chats/${chat.id}/messages`)).body.messages;
      if (history.some((m: any) => m.turnId === sent.body.turnId && m.turnStatus === 'succeeded')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await runtime.events.flushed(chat.id);
    assert.ok(runtime.events.subscriberCount() < subscribersBefore, 'the slow subscriber was dropped');
    const whole = await client.follow(chat.id, untilTurnEnd(sent.body.turnId), { after: 0, timeoutMs: 60_000 });
    assert.equal(whole.at(-1)!.data.ok, true, 'a replay of everything goes through, at the reader’s pace');

    // Now read what the slow client got: a prefix, then the server closed the stream.
    slow.resume();
    let received = '';
    slow.on('data', (d) => (received += d));
    await new Promise((r) => (slow.readableEnded ? r(null) : slow.once('close', r)));
    assert.ok(closedByServer || slow.readableEnded || slow.destroyed, 'the server ended the stream');
    assert.doesNotMatch(received, /event: turn_end/, 'it never got to the end');
    const lastId = Math.max(...[...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])));
    assert.ok(lastId > 0);
    const rest = await client.follow(chat.id, untilTurnEnd(sent.body.turnId), { lastEventId: lastId });
    assert.equal(rest[0]!.id, lastId + 1);
    assert.equal(rest.at(-1)!.id, whole.at(-1)!.id, 'reconnecting, it catches up to the end');
  });
});
