// The scripted model speaking the Gemini API, over real HTTP: what a main turn is, what
// each reply looks like on the wire, and what the script reads back from a request.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lastToolResult, lastUserText, startScriptedModel, type ScriptedModelServer } from '../../src/demo/scripted-model.js';

const TOOLS = [{ functionDeclarations: [{ name: 'run_shell_command', description: 'runs', parameters: { type: 'object' } }] }];

let model: ScriptedModelServer;
before(async () => {
  model = await startScriptedModel();
});
after(async () => {
  await model.close();
});

async function post(method: string, body: unknown): Promise<Response> {
  return fetch(`${model.url}/v1beta/models/gemini-2.5-flash:${method}${method === 'streamGenerateContent' ? '?alt=sse' : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
    body: JSON.stringify(body),
  });
}

/** The SSE chunks of a streamed answer, parsed. */
async function chunks(res: Response): Promise<any[]> {
  const text = await res.text();
  return text
    .split('\r\n\r\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => JSON.parse(block.slice('data: '.length)));
}

const turn = (text: string) => ({ contents: [{ role: 'user', parts: [{ text: '<session_context>\nlisting\n</session_context>' }, { text }] }], tools: TOOLS });

describe('the Gemini dialect of the scripted model', () => {
  it('streams text parts, the last with the finish reason and the usage', async () => {
    model.enqueue({ kind: 'text', chunks: ['one ', 'two'], usage: { input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 5 } });
    const res = await post('streamGenerateContent', turn('hello there'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const got = await chunks(res);
    assert.deepEqual(got.map((c) => c.candidates[0].content.parts), [[{ text: 'one ' }], [{ text: 'two' }]]);
    assert.equal(got[0].candidates[0].finishReason, undefined);
    assert.equal(got[1].candidates[0].finishReason, 'STOP');
    assert.deepEqual(got[1].usageMetadata, { promptTokenCount: 12, candidatesTokenCount: 3, cachedContentTokenCount: 5, totalTokenCount: 15 });
    const req = model.requests.at(-1)!;
    assert.equal(req.dialect, 'gemini');
    assert.equal(req.main, true);
    assert.equal(lastUserText(req), 'hello there', 'the session context is not the prompt');
    assert.equal(lastToolResult(req), null);
  });

  it('sends thinking as thought parts and a tool call as a functionCall part', async () => {
    model.enqueue({ kind: 'thinking', thinking: ['**Plan** it'], text: ['done'] }, { kind: 'tool_use', name: 'run_shell_command', input: { command: 'ls' }, text: 'looking' });
    const thinking = await chunks(await post('streamGenerateContent', turn('think')));
    assert.deepEqual(thinking.map((c) => c.candidates[0].content.parts[0]), [{ text: '**Plan** it', thought: true }, { text: 'done' }]);
    const call = await chunks(await post('streamGenerateContent', turn('call')));
    const parts = call.map((c) => c.candidates[0].content.parts[0]);
    assert.deepEqual(parts[0], { text: 'looking' });
    assert.equal(parts[1].functionCall.name, 'run_shell_command');
    assert.deepEqual(parts[1].functionCall.args, { command: 'ls' });
    assert.match(parts[1].functionCall.id, /^call_fake_/);
  });

  it('reads the result of the function call a request ends with', async () => {
    model.enqueue({ kind: 'text', chunks: ['ok'] });
    const body = {
      contents: [
        ...turn('list it').contents,
        { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'run_shell_command', args: { command: 'ls' } } }] },
        { role: 'user', parts: [{ functionResponse: { id: 'c1', name: 'run_shell_command', response: { output: 'a.txt\nb.txt' } } }] },
      ],
      tools: TOOLS,
    };
    await (await post('streamGenerateContent', body)).text();
    const req = model.requests.at(-1)!;
    assert.equal(lastToolResult(req), 'a.txt\nb.txt');
    assert.equal(lastUserText(req), 'list it');
  });

  it('answers an error with its status and a Google error body', async () => {
    model.enqueue({ kind: 'error', status: 429 }, { kind: 'error', status: 400, message: 'bad one' });
    const limited = await post('streamGenerateContent', turn('a'));
    assert.equal(limited.status, 429);
    assert.deepEqual(await limited.json(), { error: { code: 429, message: 'scripted 429 RESOURCE_EXHAUSTED', status: 'RESOURCE_EXHAUSTED' } });
    const bad = await post('streamGenerateContent', turn('b'));
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error: { code: 400, message: 'bad one', status: 'INVALID_ARGUMENT' } });
  });

  it('leaves a stalled stream open after its chunks', async () => {
    model.enqueue({ kind: 'stall', chunks: ['so far'] });
    const res = await post('streamGenerateContent', turn('stall'));
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /"so far"/);
    const more = await Promise.race([reader.read().then(() => 'more'), new Promise((r) => setTimeout(() => r('still open'), 300))]);
    assert.equal(more, 'still open');
    await reader.cancel();
  });

  it('tells helper calls from turns: JSON asked, no tools, or not streamed; and answers them in the shape asked', async () => {
    const schema = { type: 'object', properties: { next_speaker: { type: 'string', enum: ['user', 'model'] }, reasoning: { type: 'string' } } };
    const helper = await post('generateContent', { ...turn('who speaks next?'), generationConfig: { responseMimeType: 'application/json', responseJsonSchema: schema } });
    const answer = (await helper.json()) as any;
    assert.deepEqual(JSON.parse(answer.candidates[0].content.parts[0].text), { next_speaker: 'user', reasoning: 'Fake session' });
    assert.equal(answer.usageMetadata.promptTokenCount, 0);
    assert.equal(model.requests.at(-1)!.main, false);
    await (await post('streamGenerateContent', { contents: turn('x').contents })).text();
    assert.equal(model.requests.at(-1)!.main, false, 'no tools offered');
    await (await post('streamGenerateContent', { ...turn('y'), generationConfig: { responseMimeType: 'application/json' } })).text();
    assert.equal(model.requests.at(-1)!.main, false, 'JSON asked');
    const counted = (await (await post('countTokens', { contents: turn('count me').contents })).json()) as { totalTokens: number };
    assert.ok(counted.totalTokens > 0);
    assert.equal(model.pending(), 0, 'no helper took a scripted reply');
  });
});
