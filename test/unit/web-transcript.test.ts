import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatEvent } from '../../src/api/events.js';
import { foldedParts } from '../../src/api/fold.js';
import { agentsOf, applyEvent, applyEvents, busy, emptyTranscript, type Transcript } from '../../web/src/transcript.js';

let seq = 0;
// Events as the server sends them: the name is the kind, the data does not repeat it.
const ev = (event: ChatEvent['event'], data: Record<string, unknown>) => ({ id: ++seq, event, data }) as ChatEvent;
const play = (events: ChatEvent[], from: Transcript = emptyTranscript) => events.reduce(applyEvent, from);

describe('the web UI transcript', () => {
  it('builds a turn from its events, and the complete message settles what the deltas built', () => {
    const t = play([
      ev('message', { turnId: 'a', role: 'user', parts: [{ type: 'text', text: 'hi' }] }),
      ev('turn_start', { turnId: 'a', backend: 'claude_pty' }),
      ev('thinking_delta', { turnId: 'a', messageId: 'm1', text: 'hmm' }),
      ev('text_delta', { turnId: 'a', messageId: 'm1', text: 'Hel' }),
      ev('tool_call_delta', { turnId: 'a', id: 't1', name: 'Bash', partialJson: '{"command":' }),
      // A delta was lost; the complete message has the whole text.
      ev('message', {
        turnId: 'a',
        role: 'assistant',
        messageId: 'm1',
        parts: [
          { type: 'thinking', text: 'hmm' },
          { type: 'text', text: 'Hello there' },
          { type: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' } },
        ],
      }),
      ev('tool_call', { turnId: 'a', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'running', title: 'ls', toolKind: 'execute' }),
      ev('tool_result', { turnId: 'a', id: 't1', output: 'README.md', isError: false }),
      ev('usage', { turnId: 'a', inputTokens: 10, outputTokens: 5, costUsd: 0.0001 }),
      ev('turn_end', { turnId: 'a', ok: true }),
    ]);
    const [turn] = t.turns;
    assert.equal(turn!.status, 'done');
    assert.equal(turn!.backend, 'claude_pty');
    // The reply is what the server's fold stores: no turn id, no kind, the call completed by its result.
    assert.deepEqual(foldedParts(turn!.reply), [
      { type: 'thinking', text: 'hmm' },
      { type: 'text', text: 'Hello there' },
      { type: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'completed', title: 'ls', toolKind: 'execute' },
      { type: 'tool_result', id: 't1', output: 'README.md', isError: false },
    ]);
    assert.equal(turn!.tokens, 15);
    assert.equal(busy(t), false);
  });

  it('ignores an event it has seen, marks queued and stopped turns, and keeps errors', () => {
    const start = play([
      ev('message', { turnId: 'a', role: 'user', parts: [{ type: 'text', text: 'one' }] }),
      ev('turn_start', { turnId: 'a', backend: 'claude_sdk' }),
      ev('message', { turnId: 'b', role: 'user', parts: [{ type: 'text', text: 'two' }] }),
      ev('status', { turnId: 'b', message: 'queued', position: 1 }),
    ]);
    assert.deepEqual(start.turns.map((x) => x.status), ['running', 'queued']);
    assert.equal(busy(start), true);
    const delta = ev('text_delta', { turnId: 'a', messageId: 'm', text: 'x' });
    const once = play([delta], start);
    assert.equal(play([delta], once), once, 'a repeated event changes nothing');
    const end = play(
      [
        ev('error', { turnId: 'a', message: 'API Error: 529' }),
        ev('turn_end', { turnId: 'a', ok: false, code: 'api_error', error: 'API Error: 529' }),
        ev('turn_end', { turnId: 'b', ok: false, code: 'aborted', error: 'aborted before it started' }),
      ],
      once,
    );
    assert.deepEqual(end.turns.map((x) => x.status), ['failed', 'aborted']);
    assert.deepEqual(foldedParts(end.turns[0]!.reply).at(-1), { type: 'error', message: 'API Error: 529' });
  });
  it('takes a run of events in one step as it would one by one, repeats of a reconnect included', () => {
    const run = [
      ev('message', { turnId: 'r', role: 'user', parts: [{ type: 'text', text: 'count' }] }),
      ev('turn_start', { turnId: 'r', backend: 'claude_sdk' }),
      ...Array.from({ length: 50 }, (_, i) => ev('text_delta', { turnId: 'r', messageId: 'm', text: `${i} ` })),
      ev('turn_end', { turnId: 'r', ok: true }),
    ];
    const oneByOne = play(run);
    // The first frame takes part of it; a reconnect hands some of those over again.
    const inFrames = applyEvents(applyEvents(emptyTranscript, run.slice(0, 20)), run.slice(10));
    assert.deepEqual(inFrames, oneByOne);
    assert.equal(applyEvents(oneByOne, []), oneByOne);
  });

  it('keeps which agent each turn was for, and the agents of the chat in the order they first spoke', () => {
    const t = play([
      ev('message', { turnId: 'x', role: 'user', agent: 'claude', messageId: 'u1', parts: [{ type: 'text', text: 'one' }] }),
      ev('message', { turnId: 'y', role: 'user', agent: 'claude-acp', messageId: 'u2', parts: [{ type: 'text', text: 'two' }] }),
      ev('turn_start', { turnId: 'y', agent: 'claude-acp', backend: 'warm_acp' }),
      ev('message', { turnId: 'z', role: 'user', agent: 'claude', messageId: 'u3', parts: [{ type: 'text', text: 'three' }] }),
    ]);
    assert.deepEqual(t.turns.map((x) => [x.userText, x.agent]), [['one', 'claude'], ['two', 'claude-acp'], ['three', 'claude']]);
    assert.deepEqual(agentsOf(t), ['claude', 'claude-acp']);
    assert.deepEqual(agentsOf(emptyTranscript), []);
  });

  it('shows plans in the reply, and notices and mode changes where they arrived, apart from it', () => {
    const t = play([
      ev('message', { turnId: 'p', role: 'user', agent: 'claude', messageId: 'u', parts: [{ type: 'text', text: 'plan it' }] }),
      ev('turn_start', { turnId: 'p', agent: 'claude', backend: 'claude_sdk' }),
      ev('mode', { turnId: 'p', mode: 'plan' }),
      ev('tool_call', { turnId: 'p', id: 't', name: 'TodoWrite', input: { todos: [] }, status: 'running' }),
      ev('plan', { turnId: 'p', entries: [{ content: 'write', status: 'in_progress' }] }),
      ev('status', { turnId: 'p', message: 'compacting the conversation' }),
      ev('plan', { turnId: 'p', entries: [{ content: 'write', status: 'completed' }], text: '# Plan' }),
      // Data that still repeats its kind folds the same.
      ev('text_delta', { turnId: 'p', kind: 'text_delta', messageId: 'm', text: 'done' }),
      ev('turn_end', { turnId: 'p', ok: true, stopReason: 'end_turn' }),
    ]);
    const [turn] = t.turns;
    assert.deepEqual(foldedParts(turn!.reply), [
      { type: 'tool_call', id: 't', name: 'TodoWrite', input: { todos: [] }, status: 'running' },
      { type: 'plan', entries: [{ content: 'write', status: 'completed' }], text: '# Plan' },
      { type: 'text', text: 'done' },
    ]);
    assert.deepEqual(turn!.notices, [
      { kind: 'mode', mode: 'plan', at: 0 },
      { kind: 'status', message: 'compacting the conversation', at: 2 },
    ]);
    assert.equal(turn!.status, 'done');
  });

  it('shows a permission request where it arose and how it ended, once, also when its events come again', () => {
    const request = {
      turnId: 'r',
      requestId: 'q1',
      kind: 'permission',
      tool: 'Write',
      toolCallId: 't',
      input: { file_path: '/w/a.txt', content: 'a' },
      options: [
        { id: 'allow_once', kind: 'allow_once', label: 'Allow once' },
        { id: 'reject_once', kind: 'reject_once', label: 'Deny' },
      ],
      details: { title: 'a.txt', diffs: [{ path: '/w/a.txt', oldText: null, newText: 'a' }] },
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    const asked = play([
      ev('message', { turnId: 'r', role: 'user', parts: [{ type: 'text', text: 'write' }] }),
      ev('turn_start', { turnId: 'r', backend: 'claude_sdk' }),
      ev('tool_call', { turnId: 'r', id: 't', name: 'Write', input: request.input, status: 'pending' }),
      ev('permission_request', request),
    ]);
    const { turnId: _, ...shown } = request;
    assert.deepEqual(foldedParts(asked.turns[0]!.reply).at(-1), { type: 'permission', ...shown });

    // Another page answered: the resolution reaches this one as an event of the chat.
    const resolved = play(
      [
        ev('permission_resolved', { turnId: 'r', requestId: 'q1', outcome: 'denied', optionId: 'reject_once', message: 'not there', answeredAt: '2025-01-01T00:00:05.000Z' }),
        ev('permission_request', request),
        ev('tool_result', { turnId: 'r', id: 't', output: 'denied', isError: true }),
      ],
      asked,
    );
    const parts = foldedParts(resolved.turns[0]!.reply);
    assert.equal(parts.filter((p) => p.type === 'permission').length, 1, 'the request shows once');
    assert.deepEqual(parts.find((p) => p.type === 'permission'), {
      type: 'permission',
      ...shown,
      outcome: 'denied',
      optionId: 'reject_once',
      message: 'not there',
      answeredAt: '2025-01-01T00:00:05.000Z',
    });
  });

  it('keeps the last context fill of a turn, and a cost the agent does not report unknown', () => {
    const t = play([
      ev('message', { turnId: 'c', role: 'user', parts: [{ type: 'text', text: 'hi' }] }),
      ev('turn_start', { turnId: 'c', backend: 'warm_acp' }),
      ev('context', { turnId: 'c', used: 1_200, size: 200_000 }),
      ev('context', { turnId: 'c', used: 3_400, size: 200_000 }),
      ev('usage', { turnId: 'c', inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: null }),
      ev('turn_end', { turnId: 'c', ok: true }),
    ]);
    const [turn] = t.turns;
    assert.deepEqual(turn!.context, { used: 3_400, size: 200_000 });
    assert.equal(turn!.costUsd, null, 'unknown, not free');
    assert.equal(turn!.tokens, 15);
  });

  it('leaves the transcript it is given as it was', () => {
    const start = play([
      ev('message', { turnId: 'x', role: 'user', parts: [{ type: 'text', text: 'x' }] }),
      ev('text_delta', { turnId: 'x', messageId: 'm', text: 'a' }),
    ]);
    const before = structuredClone(start);
    play([ev('text_delta', { turnId: 'x', messageId: 'm', text: 'b' }), ev('mode', { turnId: 'x', mode: 'plan' }), ev('turn_end', { turnId: 'x', ok: true })], start);
    assert.deepEqual(start, before);
  });
});
