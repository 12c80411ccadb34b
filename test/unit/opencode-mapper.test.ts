// OpencodeTurnMapper on OpenCode's events as the real server sends them (shapes taken
// from opencode-ai 1.18.33's stream): what each becomes, and that an event seen twice, as
// after a re-read, adds nothing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AssistantMessage, Part, UserMessage } from '@opencode-ai/sdk/v2';
import { OpencodeTurnMapper } from '../../src/agents/opencode/opencode-mapper.js';

const S = 'ses_1';
const user: UserMessage = { id: 'msg_u', sessionID: S, role: 'user', time: { created: 1 }, agent: 'build', model: { providerID: 'p', modelID: 'm' } };
const assistant = (id: string, tokens: { input: number; output: number; reasoning?: number; read?: number }, cost: number, completed = true): AssistantMessage => ({
  id,
  sessionID: S,
  role: 'assistant',
  time: { created: 2, ...(completed ? { completed: 3 } : {}) },
  parentID: 'msg_u',
  modelID: 'm',
  providerID: 'p',
  mode: 'build',
  agent: 'build',
  path: { cwd: '/w', root: '/w' },
  cost,
  tokens: { input: tokens.input, output: tokens.output, reasoning: tokens.reasoning ?? 0, cache: { read: tokens.read ?? 0, write: 0 } },
});
const text = (id: string, messageID: string, t: string): Part => ({ id, sessionID: S, messageID, type: 'text', text: t });

describe('OpencodeTurnMapper', () => {
  it('streams text once whether it comes as deltas, as the whole part, or both, and ignores the user’s parts', () => {
    const m = new OpencodeTurnMapper(S, new Set());
    assert.deepEqual(m.message(user), []);
    assert.deepEqual(m.part(text('prt_u', 'msg_u', 'the prompt')), [], 'the user’s own words are not the reply');
    m.message(assistant('msg_a', { input: 10, output: 5 }, 0.1, false));
    assert.deepEqual(m.part(text('prt_1', 'msg_a', '')), []);
    assert.deepEqual(m.delta({ sessionID: S, messageID: 'msg_a', partID: 'prt_1', field: 'text', delta: 'the ' }), [{ kind: 'text_delta', messageId: null, text: 'the ' }]);
    // A part update with more than was streamed gives only what is missing; one seen again gives nothing.
    assert.deepEqual(m.part(text('prt_1', 'msg_a', 'the verdict')), [{ kind: 'text_delta', messageId: null, text: 'verdict' }]);
    assert.deepEqual(m.part(text('prt_1', 'msg_a', 'the verdict')), []);
    assert.deepEqual(m.reply(), { kind: 'message', role: 'assistant', messageId: null, parts: [{ type: 'text', text: 'the verdict' }] });
    assert.equal(m.completed(), false);
    assert.deepEqual(m.messageIds(), ['msg_u', 'msg_a']);
  });

  it('announces a tool call once its input is whole, and its result once', () => {
    const m = new OpencodeTurnMapper(S, new Set());
    m.message(assistant('msg_a', { input: 1, output: 1 }, 0));
    const tool = (state: unknown): Part => ({ id: 'prt_t', sessionID: S, messageID: 'msg_a', type: 'tool', callID: 'call_1', tool: 'bash', state } as Part);
    assert.deepEqual(m.part(tool({ status: 'pending', input: {}, raw: '' })), [], 'its input is still being written');
    const input = { command: 'echo hi', description: 'd' };
    assert.deepEqual(m.part(tool({ status: 'running', input, time: { start: 1 } })), [{ kind: 'tool_call', id: 'call_1', name: 'bash', input, status: 'running', toolKind: 'execute' }]);
    assert.deepEqual(m.part(tool({ status: 'running', input, metadata: { output: 'hi' }, time: { start: 1 } })), []);
    const done = tool({ status: 'completed', input, output: 'hi\n', title: 'echo hi', metadata: {}, time: { start: 1, end: 2 } });
    assert.deepEqual(m.part(done), [{ kind: 'tool_result', id: 'call_1', output: 'hi\n', isError: false }]);
    assert.deepEqual(m.part(done), [], 'seen again after a re-read');
    assert.deepEqual(m.inputOf('call_1'), input);
  });

  it('sums the turn’s assistant messages as OpenCode last reported each, reasoning as output, and leaves earlier messages out', () => {
    const m = new OpencodeTurnMapper(S, new Set(['msg_old']));
    m.message(assistant('msg_old', { input: 1000, output: 1000 }, 9));
    m.message(assistant('msg_a', { input: 1, output: 1 }, 0.01, false));
    m.message(assistant('msg_a', { input: 100, output: 20, reasoning: 5, read: 50 }, 0.25));
    m.message(assistant('msg_b', { input: 200, output: 10 }, 0.5));
    assert.deepEqual(m.usage(), { inputTokens: 300, outputTokens: 35, cacheReadTokens: 50, cacheWriteTokens: 0, costUsd: 0.75 });
    assert.equal(m.completed(), true);
  });

  it('keeps the first error a message of the turn reported', () => {
    const m = new OpencodeTurnMapper(S, new Set());
    m.message({ ...assistant('msg_a', { input: 0, output: 0 }, 0), error: { name: 'APIError', data: { message: 'refused', isRetryable: false } } });
    assert.equal(m.error?.name, 'APIError');
    assert.equal(new OpencodeTurnMapper(S, new Set()).usage(), null, 'no reply, no usage');
  });
});
