// The scripted model speaking OpenAI's chat-completions API, over real HTTP, as OpenCode
// speaks to it: what a main turn is, what each reply looks like on the wire, and what the
// script reads back from a request. The real OpenCode runs against it in
// test/e2e/opencode-chat-completions.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demoReply } from '../../src/demo/demo-script.js';
import { lastToolResult, lastUserText, startScriptedModel, type RecordedRequest, type ScriptedModelServer } from '../../src/demo/scripted-model.js';

const TOOLS = [{ type: 'function', function: { name: 'bash', description: 'runs', parameters: { type: 'object', properties: { command: { type: 'string' } } } } }];
const SYSTEM = { role: 'system', content: 'You are opencode.' };
const turn = (messages: unknown[], more: Record<string, unknown> = {}) => ({
  model: 'scripted',
  max_tokens: 8192,
  messages: [SYSTEM, ...messages],
  tools: TOOLS,
  tool_choice: 'auto',
  stream: true,
  stream_options: { include_usage: true },
  ...more,
});

let model: ScriptedModelServer;
before(async () => {
  model = await startScriptedModel();
});
after(async () => {
  await model.close();
});

const post = (body: unknown) =>
  fetch(`${model.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify(body) });

/** The SSE data lines of a streamed answer: the chunks parsed, and whether it ended with `[DONE]`. */
async function stream(body: unknown): Promise<{ chunks: any[]; done: boolean }> {
  const res = await post(body);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const data = (await res.text())
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));
  const done = data.at(-1) === '[DONE]';
  return { chunks: (done ? data.slice(0, -1) : data).map((d) => JSON.parse(d)), done };
}

const deltas = (chunks: any[]) => chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].delta);

describe('the scripted model speaking chat completions', () => {
  it('streams text deltas, a finish reason, then the usage in a chunk of its own, and [DONE]', async () => {
    model.enqueue({ kind: 'text', chunks: ['hel', 'lo'], usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 } });
    const { chunks, done } = await stream(turn([{ role: 'user', content: 'say hello' }]));
    const req = model.requests.at(-1)!;
    assert.equal(req.dialect, 'openai-chat');
    assert.equal(req.main, true);
    assert.equal(lastUserText(req), 'say hello');
    assert.equal(lastToolResult(req), null);
    assert.ok(done, 'the stream ends with [DONE]');
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id && c.model === 'scripted'));
    assert.deepEqual(deltas(chunks), [{ role: 'assistant', content: '' }, { content: 'hel' }, { content: 'lo' }, {}]);
    assert.deepEqual(chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].finish_reason), [null, null, null, 'stop']);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    // The prompt counts the cached tokens too; the API has no field for those written to the cache.
    assert.deepEqual(last.usage, {
      prompt_tokens: 1150,
      completion_tokens: 20,
      total_tokens: 1170,
      prompt_tokens_details: { cached_tokens: 1000 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('sends no usage chunk where the request asks for none', async () => {
    model.enqueue({ kind: 'text', chunks: ['plain'] });
    const { chunks, done } = await stream({ ...turn([{ role: 'user', content: 'x' }]), stream_options: undefined });
    assert.ok(done);
    assert.ok(chunks.every((c) => c.usage === undefined && c.choices.length === 1));
  });

  it('streams thinking as reasoning_content deltas before the text, with its reasoning tokens', async () => {
    model.enqueue({ kind: 'thinking', thinking: ['weigh', 'ing'], text: ['answer'], usage: { input_tokens: 10, output_tokens: 20, reasoning_tokens: 7 } });
    const { chunks } = await stream(turn([{ role: 'user', content: 'think' }]));
    assert.deepEqual(deltas(chunks).slice(1, -1), [{ reasoning_content: 'weigh' }, { reasoning_content: 'ing' }, { content: 'answer' }]);
    assert.deepEqual(chunks.at(-1)!.usage.completion_tokens_details, { reasoning_tokens: 7 });
    assert.equal(chunks.at(-1)!.usage.completion_tokens, 20, 'the reasoning is part of the completion');
  });

  it('streams a tool call as tool_calls deltas: id and name first, the arguments in pieces, finishing with tool_calls', async () => {
    model.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'ls -A', description: 'list' }, text: 'looking' });
    const { chunks } = await stream(turn([{ role: 'user', content: 'list it' }]));
    const got = deltas(chunks);
    assert.deepEqual(got[1], { content: 'looking' });
    const calls = got.filter((d) => d.tool_calls).map((d) => d.tool_calls[0]);
    assert.equal(calls.length, 2);
    assert.equal(calls[0].index, 0);
    assert.match(calls[0].id, /^call_fake_/);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].function.name, 'bash');
    assert.equal(calls[1].id, undefined, 'later pieces carry only the index and more arguments');
    assert.deepEqual(JSON.parse(calls.map((c) => c.function.arguments).join('')), { command: 'ls -A', description: 'list' });
    assert.equal(chunks.filter((c) => c.choices.length > 0).at(-1)!.choices[0].finish_reason, 'tool_calls');
  });

  it('reads the result of the tool call a request ends with, and the prompt before it past the agent’s reminders', async () => {
    model.enqueue({ kind: 'text', chunks: ['ok'] });
    await stream(
      turn([
        { role: 'user', content: [{ type: 'text', text: 'list it' }, { type: 'text', text: '<system-reminder>\nplan mode\n</system-reminder>' }] },
        { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'bash', arguments: '{"command":"ls"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'a.txt\nb.txt\n' },
      ]),
    );
    const req = model.requests.at(-1)!;
    assert.equal(lastToolResult(req), 'a.txt\nb.txt\n');
    assert.equal(lastUserText(req), 'list it');
  });

  it('answers the title call, which offers no tools, apart from the script, with zero usage', async () => {
    model.enqueue({ kind: 'text', chunks: ['for the main turn'] });
    const title = await stream({
      ...turn([{ role: 'user', content: 'Generate a title for this conversation:\n' }, { role: 'user', content: 'say hello' }]),
      tools: undefined,
      tool_choice: undefined,
      reasoning_effort: 'low',
    });
    assert.equal(model.requests.at(-1)!.main, false);
    assert.equal(deltas(title.chunks).map((d) => d.content ?? '').join(''), 'Fake session');
    assert.equal(title.chunks.at(-1)!.usage.total_tokens, 0);
    assert.equal(model.pending(), 1, 'the script is untouched');
    const main = await stream(turn([{ role: 'user', content: 'go' }]));
    assert.equal(deltas(main.chunks).map((d) => d.content ?? '').join(''), 'for the main turn');
  });

  it('answers a request that does not stream with the whole message', async () => {
    model.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'pwd' } });
    const res = await post({ ...turn([{ role: 'user', content: 'where?' }]), stream: false, stream_options: undefined });
    const body = (await res.json()) as any;
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(body.choices[0].message.tool_calls[0].function.arguments), { command: 'pwd' });
    assert.deepEqual(body.usage.prompt_tokens, 10);
  });

  it('says an error with its HTTP status and an OpenAI error body', async () => {
    model.enqueue({ kind: 'error', status: 429 }, { kind: 'error', status: 400, message: 'bad one' });
    const limited = await post(turn([{ role: 'user', content: 'a' }]));
    assert.equal(limited.status, 429);
    assert.deepEqual(await limited.json(), { error: { message: 'scripted 429 rate_limit_exceeded', type: 'rate_limit_exceeded', param: null, code: 'rate_limit_exceeded' } });
    const bad = await post(turn([{ role: 'user', content: 'b' }]));
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.message, 'bad one');
  });

  it('leaves a stalled stream open after its text, with no finish and no usage', async () => {
    model.enqueue({ kind: 'stall', chunks: ['so far'] });
    const res = await post(turn([{ role: 'user', content: 'stall' }]));
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"so far"')) text += new TextDecoder().decode((await reader.read()).value);
    const more = await Promise.race([reader.read().then(() => 'more'), new Promise((r) => setTimeout(() => r('still open'), 300))]);
    assert.equal(more, 'still open');
    assert.ok(!text.includes('finish_reason":"stop') && !text.includes('usage') && !text.includes('[DONE]'));
    await reader.cancel();
  });

  it("has the demo list the repository with OpenCode's bash tool, then answer from what it printed", () => {
    const req = (messages: unknown[]): RecordedRequest => ({ method: 'POST', path: '/v1/chat/completions', headers: {}, body: turn(messages), main: true, dialect: 'openai-chat' });
    const first = demoReply(req([{ role: 'user', content: 'hello' }]));
    assert.deepEqual(first, { kind: 'tool_use', name: 'bash', input: { command: 'ls -A', description: 'List the repository' }, text: '(Demo) You asked: "hello". Let me look at the repository first.' });
    const answer = demoReply(
      req([
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'c', type: 'function', function: { name: 'bash', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c', content: '.git\nREADME.md\nsrc\n' },
      ]),
    );
    assert.ok(answer.kind === 'text');
    const text = answer.chunks.join('');
    assert.match(text, /stands in for OpenCode's model/);
    assert.match(text, /2 entries/);
    assert.match(text, /`README\.md`/);
  });
});
