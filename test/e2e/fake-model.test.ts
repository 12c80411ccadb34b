// Drives the real Claude Code binary (through the Agent SDK's query()) against
// the fake Anthropic server, proving the fixture speaks the API well enough
// for text, thinking, tool use, multi-turn input, errors and aborts.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { query } from '@anthropic-ai/claude-agent-sdk';
import type { Options, Query, SDKMessage, SDKResultMessage, SDKUserMessage } from '@anthropic-ai/claude-agent-sdk';
import { startFakeModel, type FakeModelServer, type RecordedRequest } from '../fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';

const tempDirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

async function gitRepo(): Promise<string> {
  const dir = await tempDir('hearth-e2e-repo-');
  execFileSync('git', ['init', '-q', dir]);
  return dir;
}

after(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function options(fake: FakeModelServer, cwd: string): Promise<Options> {
  const configDir = await makeConfigDir();
  tempDirs.push(configDir);
  return {
    cwd,
    env: claudeEnv(fake, configDir),
    permissionMode: 'bypassPermissions',
    allowDangerouslySkipPermissions: true,
    includePartialMessages: true,
  };
}

/**
 * Reads with next() up to and including the next result, leaving the query
 * open for more turns. An error before any result (say, the child dying) is
 * returned rather than thrown.
 */
async function untilResult(q: Query): Promise<{ messages: SDKMessage[]; result?: SDKResultMessage; error?: unknown }> {
  const messages: SDKMessage[] = [];
  try {
    for (;;) {
      const step = await q.next();
      if (step.done) return { messages };
      messages.push(step.value);
      if (step.value.type === 'result') return { messages, result: step.value };
    }
  } catch (error) {
    return { messages, error };
  }
}

function streamDeltas(messages: SDKMessage[], deltaType: string): any[] {
  const out: any[] = [];
  for (const m of messages) {
    if (m.type !== 'stream_event') continue;
    const event: any = m.event;
    if (event.type === 'content_block_delta' && event.delta?.type === deltaType) out.push(event.delta);
  }
  return out;
}

/** All text a request carries for one role, flattened. */
function textsOf(req: RecordedRequest, role: 'user' | 'assistant'): string[] {
  const out: string[] = [];
  for (const msg of req.body.messages as any[]) {
    if (msg.role !== role) continue;
    if (typeof msg.content === 'string') out.push(msg.content);
    else for (const block of msg.content) if (block.type === 'text') out.push(block.text);
  }
  return out;
}

/** A prompt stream for streaming-input mode: push a message, then read its turn. */
class Inbox implements AsyncIterable<SDKUserMessage> {
  private readonly items: SDKUserMessage[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(text: string): void {
    this.items.push({ type: 'user', message: { role: 'user', content: text }, parent_tool_use_id: null });
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SDKUserMessage> {
    for (;;) {
      const item = this.items.shift();
      if (item) {
        yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** A server of the test's own, so a failed test leaves no replies queued for the next. */
async function fakeFor(t: TestContext): Promise<FakeModelServer> {
  const fake = await startFakeModel({ chunkDelayMs: 2 });
  t.after(() => fake.close());
  return fake;
}

describe('fake model server with the real Claude Code binary', { timeout: 60_000 }, () => {

  test('streams a text reply and reports the scripted usage', async (t) => {
    const fake = await fakeFor(t);
    const usage = { input_tokens: 1234, output_tokens: 56, cache_read_input_tokens: 700, cache_creation_input_tokens: 300 };
    fake.enqueue({ kind: 'text', chunks: ['Hello', ', ', 'world', '!'], usage });

    const q = query({ prompt: 'Say hello.', options: await options(fake, await gitRepo()) });
    try {
      const { messages, result, error } = await untilResult(q);
      assert.equal(error, undefined);
      assert.deepEqual(
        streamDeltas(messages, 'text_delta').map((d) => d.text),
        ['Hello', ', ', 'world', '!'],
      );
      assert.ok(result);
      assert.equal(result.subtype, 'success');
      assert.equal(result.is_error, false);
      if (result.subtype === 'success') assert.equal(result.result, 'Hello, world!');
      assert.equal(result.usage.input_tokens, usage.input_tokens);
      assert.equal(result.usage.output_tokens, usage.output_tokens);
      assert.equal(result.usage.cache_read_input_tokens, usage.cache_read_input_tokens);
      assert.equal(result.usage.cache_creation_input_tokens, usage.cache_creation_input_tokens);

      const perModel = Object.values(result.modelUsage);
      assert.equal(perModel.length, 1);
      assert.equal(perModel[0]!.inputTokens, usage.input_tokens);
      assert.equal(perModel[0]!.outputTokens, usage.output_tokens);
      assert.ok(result.total_cost_usd > 0);
      assert.ok(Math.abs(result.total_cost_usd - perModel[0]!.costUSD) < 1e-12);

      const main = fake.mainRequests();
      assert.equal(main.length, 1);
      assert.equal(main[0]!.body.stream, true);
      assert.ok(textsOf(main[0]!, 'user').includes('Say hello.'));
    } finally {
      q.close();
    }
  });

  test('runs a scripted tool call in the cwd and sends back its result', async (t) => {
    const fake = await fakeFor(t);
    const cwd = await gitRepo();
    fake.enqueue(
      {
        kind: 'tool_use',
        name: 'Bash',
        input: { command: 'echo hi > file.txt', description: 'Write file.txt' },
        text: 'Writing the file.',
        usage: { input_tokens: 100, output_tokens: 20 },
      },
      { kind: 'thinking', thinking: ['The file ', 'is written.'], text: ['Done', '.'], usage: { input_tokens: 200, output_tokens: 30 } },
    );

    const q = query({ prompt: 'Create file.txt containing hi.', options: await options(fake, cwd) });
    try {
      const { messages, result, error } = await untilResult(q);
      assert.equal(error, undefined);
      assert.equal(await readFile(path.join(cwd, 'file.txt'), 'utf8'), 'hi\n');

      const toolUse = messages
        .flatMap((m) => (m.type === 'assistant' ? (m.message.content as any[]) : []))
        .find((b) => b.type === 'tool_use');
      assert.ok(toolUse, 'the assistant message carries the tool_use block');
      assert.equal(toolUse.name, 'Bash');
      assert.deepEqual(
        streamDeltas(messages, 'input_json_delta').map((d) => d.partial_json).join(''),
        JSON.stringify({ command: 'echo hi > file.txt', description: 'Write file.txt' }),
      );

      const main = fake.mainRequests();
      assert.equal(main.length, 2);
      const lastUser = (main[1]!.body.messages as any[]).filter((m) => m.role === 'user').at(-1);
      const toolResult = (lastUser.content as any[]).find((b) => b.type === 'tool_result');
      assert.ok(toolResult, 'the second request carries the tool_result');
      assert.equal(toolResult.tool_use_id, toolUse.id);
      assert.notEqual(toolResult.is_error, true);

      assert.deepEqual(streamDeltas(messages, 'thinking_delta').map((d) => d.thinking), ['The file ', 'is written.']);
      assert.equal(streamDeltas(messages, 'signature_delta').length, 1);

      assert.ok(result);
      assert.equal(result.subtype, 'success');
      if (result.subtype === 'success') assert.equal(result.result, 'Done.');
      assert.equal(result.num_turns, 2);
      // A turn's usage adds up every main-loop call it made.
      assert.equal(result.usage.input_tokens, 300);
      assert.equal(result.usage.output_tokens, 50);
    } finally {
      q.close();
    }
  });

  test('keeps context across two turns in streaming-input mode', async (t) => {
    const fake = await fakeFor(t);
    fake.enqueue(
      { kind: 'text', chunks: ['The answer ', 'is 42.'] },
      { kind: 'text', chunks: ['You asked about 42.'] },
    );
    const inbox = new Inbox();
    const q = query({ prompt: inbox, options: await options(fake, await gitRepo()) });
    try {
      let started = Date.now();
      inbox.push('What is the answer?');
      const first = await untilResult(q);
      const coldMs = Date.now() - started;
      assert.equal(first.error, undefined);
      assert.equal(first.result?.subtype, 'success');

      started = Date.now();
      inbox.push('What did I ask?');
      const second = await untilResult(q);
      const warmMs = Date.now() - started;
      assert.equal(second.error, undefined);
      assert.equal(second.result?.subtype, 'success');
      if (second.result?.subtype === 'success') assert.equal(second.result.result, 'You asked about 42.');
      t.diagnostic(`first turn ${coldMs} ms (cold), second turn ${warmMs} ms (warm)`);

      const main = fake.mainRequests();
      assert.equal(main.length, 2);
      assert.ok(textsOf(main[1]!, 'user').includes('What is the answer?'));
      assert.ok(textsOf(main[1]!, 'user').includes('What did I ask?'));
      assert.ok(textsOf(main[1]!, 'assistant').includes('The answer is 42.'));
      // Both turns belong to one session.
      assert.equal(main[0]!.headers['x-claude-code-session-id'], main[1]!.headers['x-claude-code-session-id']);
    } finally {
      inbox.end();
      q.close();
    }
  });

  test('turns an overloaded error into an error result without retrying', async (t) => {
    const fake = await fakeFor(t);
    fake.enqueue({ kind: 'error', status: 529, message: 'scripted overload' });
    const started = Date.now();
    const q = query({ prompt: 'Hello?', options: await options(fake, await gitRepo()) });
    try {
      const { result } = await untilResult(q);
      assert.ok(result, 'a result arrives');
      // Claude Code reports an API failure as subtype success with is_error
      // and api_error_status set; a one-shot query then throws "Claude Code
      // returned an error result" on the read after the result.
      assert.ok(result.is_error || result.subtype !== 'success');
      if (result.subtype === 'success') {
        assert.equal(result.api_error_status, 529);
        assert.match(result.result, /scripted overload/);
      }
      assert.equal(fake.mainRequests().length, 1, 'CLAUDE_CODE_MAX_RETRIES=0 leaves no retries');
      assert.ok(Date.now() - started < 15_000);
    } finally {
      q.close();
    }
  });

  test('interrupts a stalled stream', async (t) => {
    const fake = await fakeFor(t);
    fake.enqueue({ kind: 'stall', chunks: ['Thinking about it'] });
    const inbox = new Inbox();
    const q = query({ prompt: inbox, options: await options(fake, await gitRepo()) });
    try {
      inbox.push('Take your time.');
      const seen: SDKMessage[] = [];
      // Wait for the partial text, which proves the stream is open and stuck.
      for (;;) {
        const step = await q.next();
        assert.equal(step.done, false);
        seen.push(step.value);
        if (streamDeltas(seen, 'text_delta').length > 0) break;
      }
      await q.interrupt();
      const rest = await untilResult(q);
      assert.ok(rest.result, 'the interrupted turn still ends with a result');
      assert.equal(rest.result.subtype, 'error_during_execution');
      assert.equal(rest.result.is_error, true);

      // The session stays usable afterwards.
      inbox.push('Still there?');
      const next = await untilResult(q);
      assert.equal(next.result?.subtype, 'success');
      if (next.result?.subtype === 'success') assert.equal(next.result.result, 'ok');
    } finally {
      inbox.end();
      q.close();
    }
  });
});

describe('fake model server over plain HTTP', () => {
  let fake: FakeModelServer;

  before(async () => {
    fake = await startFakeModel();
  });

  after(async () => {
    await fake.close();
  });

  const post = (pathname: string, body: unknown) =>
    fetch(fake.url + pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const turn = { model: 'claude-test', max_tokens: 100, tools: [{ name: 'Bash', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'hi' }] };

  test('answers non-streaming turns with a whole message', async () => {
    fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: 'a.txt', content: 'x' }, usage: { input_tokens: 7, output_tokens: 3 } });
    const res = await post('/v1/messages', turn);
    assert.equal(res.status, 200);
    const msg: any = await res.json();
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(msg.usage, { input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    assert.deepEqual(msg.content[0].input, { file_path: 'a.txt', content: 'x' });
  });

  test('leaves the queue alone for auxiliary requests', async () => {
    fake.enqueue({ kind: 'text', chunks: ['queued'] });
    const title = await post('/v1/messages', {
      ...turn,
      tools: [],
      output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: { title: { type: 'string' } } } } },
    });
    const titleMsg: any = await title.json();
    assert.equal(typeof JSON.parse(titleMsg.content[0].text).title, 'string');
    const count: any = await (await post('/v1/messages/count_tokens', turn)).json();
    assert.ok(count.input_tokens > 0);
    assert.equal(fake.pending(), 1);
    const main: any = await (await post('/v1/messages', turn)).json();
    assert.equal(main.content[0].text, 'queued');
    assert.deepEqual(
      fake.requests.slice(-3).map((r) => r.main),
      [false, false, true],
    );
  });

  test('never hands out a message or tool-use id another server (a run before a restart) gave', async () => {
    const first = await startFakeModel();
    const second = await startFakeModel();
    try {
      const ids = new Set<string>();
      for (const server of [first, second, first, second]) {
        server.enqueue({ kind: 'tool_use', name: 'Bash', input: { command: 'ls' } });
        const res = await fetch(server.url + '/v1/messages', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(turn),
        });
        const msg: any = await res.json();
        ids.add(msg.id);
        ids.add(msg.content[0].id);
      }
      assert.equal(ids.size, 8, [...ids].join(' '));
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('sends errors in the API error shape', async () => {
    fake.enqueue({ kind: 'error', status: 429 });
    const res = await post('/v1/messages', turn);
    assert.equal(res.status, 429);
    assert.deepEqual(await res.json(), { type: 'error', error: { type: 'rate_limit_error', message: 'scripted 429 rate_limit_error' } });
  });

  test('close() ends a stalled stream', async () => {
    const own = await startFakeModel();
    own.enqueue({ kind: 'stall', chunks: ['partial'] });
    const res = await fetch(own.url + '/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...turn, stream: true }),
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /message_start/);
    await own.close();
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) throw new Error('stream ended without an error');
    });
  });
});

test('keeps an idle keep-alive connection open past Node’s 5 s idle timeout, so a warm agent’s next turn never meets a closing socket', { timeout: 30_000 }, async () => {
  const fake = await startFakeModel();
  const { default: http } = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  let closed = 0;
  const ask = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(`${fake.url}/v1/messages/count_tokens`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('socket', (socket) => {
        if (!sockets.has(socket)) socket.once('close', () => closed++);
        sockets.add(socket);
      });
      req.on('error', reject);
      req.end('{}');
    });
  try {
    assert.equal(await ask(), 200);
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal(closed, 0, 'the server left the idle connection open');
    assert.equal(await ask(), 200);
    assert.equal(sockets.size, 1, 'the second request went down the same connection');
  } finally {
    agent.destroy();
    await fake.close();
  }
});
