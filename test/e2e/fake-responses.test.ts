// The scripted model's Responses API dialect, spoken to over HTTP as Codex speaks to it:
// which requests are main turns, the stream each reply becomes, what the request says
// back (the prompt, a tool's output), errors and stalls. Codex itself runs against it in
// test/agents/acp-codex.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demoReply } from '../../src/demo/demo-script.js';
import { lastToolResult, lastUserText, startScriptedModel, type RecordedRequest, type ScriptedModelServer } from '../../src/demo/scripted-model.js';

interface SseEvent {
  event: string;
  data: any;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
      return { event, data };
    });
}

const user = (text: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });
const CODE_MODE_TOOLS = { type: 'additional_tools', role: 'developer', tools: [{ type: 'namespace', name: 'functions', tools: [{ type: 'custom', name: 'exec' }, { type: 'function', name: 'wait' }] }] };
const turn = (input: unknown[], more: Record<string, unknown> = {}) => ({ model: 'gpt-fake', stream: true, input, ...more });

describe('the scripted model speaking the Responses API', () => {
  let model: ScriptedModelServer;
  before(async () => {
    model = await startScriptedModel();
  });
  after(async () => {
    await model.close();
  });
  const post = (body: unknown) => fetch(`${model.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const stream = async (body: unknown) => parseSse(await (await post(body)).text());

  it('answers a main turn from the script: text deltas, the whole item, and usage in OpenAI’s terms', async () => {
    model.enqueue({ kind: 'text', chunks: ['hel', 'lo'], usage: { input_tokens: 200, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 } });
    const events = await stream(turn([CODE_MODE_TOOLS, user('hi there')]));
    assert.equal(model.requests.at(-1)!.main, true);
    assert.equal(model.requests.at(-1)!.dialect, 'openai-responses');
    assert.equal(events[0]!.event, 'response.created');
    assert.deepEqual(events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta), ['hel', 'lo']);
    const done = events.find((e) => e.event === 'response.output_item.done')!.data.item;
    assert.deepEqual(done.content, [{ type: 'output_text', text: 'hello', annotations: [] }]);
    const completed = events.at(-1)!;
    assert.equal(completed.event, 'response.completed');
    assert.deepEqual(completed.data.response.usage, {
      input_tokens: 1250,
      input_tokens_details: { cached_tokens: 1000, cache_write_tokens: 50 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 1270,
    });
    assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, i) => i));
  });

  it('streams thinking as a reasoning summary before the text', async () => {
    model.enqueue({ kind: 'thinking', thinking: ['weigh', 'ing'], text: ['done'] });
    const events = await stream(turn([{ type: 'message', role: 'user', content: 'think' }], { tools: [{ type: 'function', name: 'exec_command' }] }));
    const kinds = events.map((e) => e.event);
    assert.deepEqual(events.filter((e) => e.event === 'response.reasoning_summary_text.delta').map((e) => [e.data.delta, e.data.summary_index]), [['weigh', 0], ['ing', 0]]);
    assert.ok(kinds.lastIndexOf('response.reasoning_summary_text.delta') < kinds.indexOf('response.output_text.delta'));
    const items = events.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item);
    assert.deepEqual(items[0].summary, [{ type: 'summary_text', text: 'weighing' }]);
  });

  it('calls a function tool with its arguments in deltas, and a freeform tool with its raw input', async () => {
    model.enqueue({ kind: 'tool_use', name: 'exec_command', input: { cmd: 'ls' } });
    const fn = await stream(turn([user('list')], { tools: [{ type: 'function', name: 'exec_command' }] }));
    assert.equal(fn.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data.delta).join(''), '{"cmd":"ls"}');
    const call = fn.find((e) => e.event === 'response.output_item.done')!.data.item;
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'exec_command');
    assert.deepEqual(JSON.parse(call.arguments), { cmd: 'ls' });
    assert.ok(call.call_id);

    model.enqueue({ kind: 'tool_use', name: 'exec', input: { input: 'text(1)' }, text: 'first a word' });
    const custom = await stream(turn([CODE_MODE_TOOLS, user('run')]));
    const items = custom.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item);
    assert.deepEqual(items.map((i) => i.type), ['message', 'custom_tool_call']);
    assert.equal(items[1].input, 'text(1)');
  });

  it('reads the prompt past Codex’s own context, and a tool’s output past code mode’s status', () => {
    const req = (input: unknown[]): RecordedRequest => ({ method: 'POST', path: '/v1/responses', headers: {}, body: { input }, main: true, dialect: 'openai-responses' });
    const asked = req([user('<environment_context>\n  <cwd>/x</cwd>\n</environment_context>'), user('what now?')]);
    assert.equal(lastUserText(asked), 'what now?');
    assert.equal(lastToolResult(asked), null);
    const ran = req([
      user('run it'),
      { type: 'custom_tool_call_output', call_id: 'c', output: [{ type: 'input_text', text: 'Script completed\nWall time 0.1 seconds\nOutput:\n' }, { type: 'input_text', text: 'README.md\n' }] },
    ]);
    assert.equal(lastToolResult(ran), 'README.md\n');
    assert.equal(lastToolResult(req([{ type: 'function_call_output', call_id: 'c', output: 'plain' }])), 'plain');
  });

  it('answers a JSON-schema request (the title, the guardian) apart from the script, with a value of its shape', async () => {
    model.enqueue({ kind: 'text', chunks: ['for the main turn'] });
    const schema = { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] };
    const events = await stream(turn([CODE_MODE_TOOLS, user('name it')], { text: { format: { type: 'json_schema', name: 'codex_output_schema', schema } } }));
    assert.equal(model.requests.at(-1)!.main, false);
    const text = events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join('');
    assert.deepEqual(JSON.parse(text), { title: 'Fake session' });
    assert.equal(events.at(-1)!.data.response.usage.total_tokens, 0);
    assert.equal(model.pending(), 1, 'the script is untouched');
    assert.equal((await stream(turn([CODE_MODE_TOOLS, user('go')]))).filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join(''), 'for the main turn');
  });

  it('says an error with its HTTP status and an OpenAI error body', async () => {
    model.enqueue({ kind: 'error', status: 429 });
    const res = await post(turn([CODE_MODE_TOOLS, user('too much')]));
    assert.equal(res.status, 429);
    const body = (await res.json()) as { error: { type: string; message: string; code: string } };
    assert.equal(body.error.type, 'rate_limit_exceeded');
    assert.match(body.error.message, /429/);
  });

  it('leaves a stalled stream open after its text, with no item done and no completion', async () => {
    model.enqueue({ kind: 'stall', chunks: ['part'] });
    const res = await post(turn([CODE_MODE_TOOLS, user('stall')]));
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"delta":"part"')) text += new TextDecoder().decode((await reader.read()).value);
    const more = await Promise.race([reader.read().then(() => 'more'), new Promise((r) => setTimeout(() => r('open'), 300))]);
    assert.equal(more, 'open');
    assert.ok(!text.includes('response.output_item.done') && !text.includes('response.completed'));
    await reader.cancel();
  });

  it("has the demo list the repository with Codex's shell tool, through code mode where that is all it offers", () => {
    const req = (body: unknown): RecordedRequest => ({ method: 'POST', path: '/v1/responses', headers: {}, body, main: true, dialect: 'openai-responses' });
    const coded = demoReply(req({ input: [CODE_MODE_TOOLS, user('hello')] }));
    assert.ok(coded.kind === 'tool_use' && coded.name === 'exec' && /tools\.exec_command\(\{ cmd: 'ls -A' \}\)/.test(String(coded.input.input)), JSON.stringify(coded));
    const plain = demoReply(req({ input: [user('hello')], tools: [{ type: 'function', name: 'exec_command' }] }));
    assert.ok(plain.kind === 'tool_use' && plain.name === 'exec_command', JSON.stringify(plain));
    assert.deepEqual(plain.kind === 'tool_use' && plain.input, { cmd: 'ls -A' });
  });
});
