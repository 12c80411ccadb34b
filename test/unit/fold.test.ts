// The fold of a turn's events into its reply, the one the server stores and the clients show.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentEvent } from '../../src/api/events.js';
import { emptyFold, foldEvent, foldEvents, foldedParts, type TurnFold } from '../../src/api/fold.js';

const parts = (events: AgentEvent[], from: TurnFold = emptyFold) => foldedParts(foldEvents(events, from));

/** A deep copy, to tell afterwards whether a fold was changed in place. */
const copy = (fold: TurnFold): TurnFold => structuredClone(fold);

describe('foldEvent', () => {
  it('grows a text part from its deltas, and starts another for thinking or another message', () => {
    const fold = foldEvents([
      { kind: 'thinking_delta', messageId: 'm1', text: 'Let ' },
      { kind: 'thinking_delta', messageId: 'm1', text: 'me see' },
      { kind: 'text_delta', messageId: 'm1', text: 'Hel' },
      { kind: 'text_delta', messageId: 'm1', text: 'lo' },
      { kind: 'text_delta', messageId: 'm2', text: 'Again' },
    ]);
    assert.deepEqual(foldedParts(fold), [
      { type: 'thinking', text: 'Let me see' },
      { type: 'text', text: 'Hello' },
      { type: 'text', text: 'Again' },
    ]);
    assert.deepEqual(
      fold.items.map((x) => x.streaming),
      [{ messageId: 'm1' }, { messageId: 'm1' }, { messageId: 'm2' }],
    );
  });

  it('puts a whole message in place of its deltas, which may have been cut short, and shows nothing twice', () => {
    const fold = foldEvents([
      { kind: 'text_delta', messageId: 'm1', text: 'Hel' },
      { kind: 'text_delta', messageId: 'm2', text: 'Second' },
      { kind: 'message', role: 'assistant', messageId: 'm1', parts: [{ type: 'text', text: 'Hello there' }] },
    ]);
    assert.deepEqual(foldedParts(fold), [
      { type: 'text', text: 'Hello there' },
      { type: 'text', text: 'Second' },
    ]);
    assert.equal(fold.items[0]!.streaming, undefined, 'the message is settled');
    assert.deepEqual(fold.items[1]!.streaming, { messageId: 'm2' });
  });

  it('appends a message no delta streamed', () => {
    assert.deepEqual(
      parts([
        { kind: 'text_delta', messageId: 'm1', text: 'One' },
        { kind: 'message', role: 'assistant', messageId: 'm1', parts: [{ type: 'text', text: 'One' }] },
        { kind: 'message', role: 'assistant', messageId: 'm2', parts: [{ type: 'text', text: 'Two' }] },
      ]),
      [
        { type: 'text', text: 'One' },
        { type: 'text', text: 'Two' },
      ],
    );
  });

  it('keeps a tool call reported before its message with its status and details, and gives it the message input', () => {
    const fold = foldEvents([
      { kind: 'text_delta', messageId: 'm1', text: 'Writing' },
      { kind: 'tool_call_delta', id: 't1', name: 'Write', partialJson: '{"file_path":' },
      {
        kind: 'tool_call',
        id: 't1',
        name: 'Write',
        input: { file_path: 'a.txt' },
        status: 'running',
        title: 'a.txt',
        toolKind: 'edit',
        diffs: [{ path: 'a.txt', oldText: null, newText: 'x' }],
      },
      {
        kind: 'message',
        role: 'assistant',
        messageId: 'm1',
        parts: [
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_call', id: 't1', name: 'Write', input: { file_path: 'a.txt', content: 'x' } },
        ],
      },
    ]);
    assert.deepEqual(foldedParts(fold), [
      { type: 'text', text: 'Writing it.' },
      {
        type: 'tool_call',
        id: 't1',
        name: 'Write',
        input: { file_path: 'a.txt', content: 'x' },
        status: 'running',
        title: 'a.txt',
        toolKind: 'edit',
        diffs: [{ path: 'a.txt', oldText: null, newText: 'x' }],
      },
    ]);
    assert.equal(fold.items[1]!.partialInput, undefined);
  });

  it('keeps a tool result under its call when the message arrives after the result', () => {
    assert.deepEqual(
      parts([
        { kind: 'text_delta', messageId: 'm1', text: 'Li' },
        { kind: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'running' },
        { kind: 'tool_result', id: 't1', output: 'README.md', isError: false },
        { kind: 'message', role: 'assistant', messageId: 'm1', parts: [{ type: 'text', text: 'Listing' }, { type: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' } }] },
      ]),
      [
        { type: 'text', text: 'Listing' },
        { type: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'completed' },
        { type: 'tool_result', id: 't1', output: 'README.md', isError: false },
      ],
    );
  });

  it('keeps deltas no message covers ahead of an error', () => {
    assert.deepEqual(
      parts([
        { kind: 'text_delta', messageId: 'm1', text: 'Half a rep' },
        { kind: 'error', message: 'API Error: 529' },
      ]),
      [
        { type: 'text', text: 'Half a rep' },
        { type: 'error', message: 'API Error: 529' },
      ],
    );
  });

  it('builds a tool call from its input deltas, then takes the whole call in its place', () => {
    const writing = foldEvents([
      { kind: 'tool_call_delta', id: 't1', name: 'Bash', partialJson: '{"comm' },
      { kind: 'tool_call_delta', id: 't1', name: 'Bash', partialJson: 'and":"ls"}' },
    ]);
    assert.equal(writing.items.length, 1);
    assert.equal(writing.items[0]!.partialInput, '{"command":"ls"}');
    assert.deepEqual(writing.items[0]!.part, { type: 'tool_call', id: 't1', name: 'Bash', input: undefined, status: 'pending' });
    const called = foldEvent(writing, { kind: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'running', title: 'ls' });
    assert.deepEqual(called.items, [{ part: { type: 'tool_call', id: 't1', name: 'Bash', input: { command: 'ls' }, status: 'running', title: 'ls' } }]);
  });

  it('merges a tool update into its call, keeping what the update leaves out', () => {
    const fold = foldEvents([
      { kind: 'tool_call', id: 't1', name: 'Edit', input: { file_path: 'a.ts' }, status: 'pending', title: 'a.ts', toolKind: 'edit' },
      { kind: 'tool_update', id: 't1', status: 'running' },
      { kind: 'tool_update', id: 't1', status: undefined, locations: [{ path: 'a.ts', line: 3 }] },
    ]);
    assert.deepEqual(foldedParts(fold), [
      { type: 'tool_call', id: 't1', name: 'Edit', input: { file_path: 'a.ts' }, status: 'running', title: 'a.ts', toolKind: 'edit', locations: [{ path: 'a.ts', line: 3 }] },
    ]);
    // An update may come first: it makes the call, which its own report then completes.
    assert.deepEqual(
      parts([
        { kind: 'tool_update', id: 't2', status: 'pending', title: 'later' },
        { kind: 'tool_call', id: 't2', name: 'Read', input: { file_path: 'b' }, status: 'running' },
      ]),
      [{ type: 'tool_call', id: 't2', name: 'Read', input: { file_path: 'b' }, status: 'running', title: 'later' }],
    );
  });

  it('marks a call completed or failed by its result, which follows it, each under its own call', () => {
    const fold = foldEvents([
      { kind: 'tool_call', id: 'a', name: 'Bash', input: { command: 'true' }, status: 'running' },
      { kind: 'tool_call', id: 'b', name: 'Bash', input: { command: 'false' }, status: 'running' },
      { kind: 'tool_result', id: 'b', output: 'exit 1', isError: true },
      { kind: 'tool_result', id: 'a', output: '', isError: false },
      // Reported again after its result, a call keeps the status the result gave it.
      { kind: 'tool_call', id: 'a', name: 'Bash', input: { command: 'true' }, status: 'running' },
    ]);
    assert.deepEqual(
      foldedParts(fold).map((p) => [p.type, 'id' in p ? p.id : '', p.type === 'tool_call' ? p.status : '']),
      [
        ['tool_call', 'a', 'completed'],
        ['tool_result', 'a', ''],
        ['tool_call', 'b', 'failed'],
        ['tool_result', 'b', ''],
      ],
    );
    assert.deepEqual(parts([{ kind: 'tool_result', id: 'x', output: 'orphan', isError: false }]), [
      { type: 'tool_result', id: 'x', output: 'orphan', isError: false },
    ]);
  });

  it('keeps one plan, in the place it first took, with its written text until another replaces it', () => {
    const fold = foldEvents([
      { kind: 'plan', entries: [], text: '# Plan\n\n1. write' },
      { kind: 'text_delta', messageId: 'm', text: 'ok' },
      { kind: 'plan', entries: [{ content: 'write', status: 'in_progress' }] },
      { kind: 'plan', entries: [{ content: 'write', status: 'completed' }] },
    ]);
    assert.deepEqual(foldedParts(fold), [
      { type: 'plan', entries: [{ content: 'write', status: 'completed' }], text: '# Plan\n\n1. write' },
      { type: 'text', text: 'ok' },
    ]);
    assert.deepEqual(parts([{ kind: 'plan', entries: [{ content: 'a', status: 'pending' }] }]), [
      { type: 'plan', entries: [{ content: 'a', status: 'pending' }] },
    ]);
  });

  it('leaves the fold as it is for events that are not part of the reply', () => {
    const fold = foldEvents([{ kind: 'text_delta', messageId: 'm', text: 'x' }]);
    const others: AgentEvent[] = [
      { kind: 'usage', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 },
      { kind: 'status', message: 'compacting the conversation' },
      { kind: 'mode', mode: 'plan' },
    ];
    for (const event of others) assert.equal(foldEvent(fold, event), fold, event.kind);
  });

  it('never changes the fold it is given', () => {
    const events: AgentEvent[] = [
      { kind: 'text_delta', messageId: 'm1', text: 'a' },
      { kind: 'tool_call_delta', id: 't', name: 'Bash', partialJson: '{' },
      { kind: 'tool_call', id: 't', name: 'Bash', input: {}, status: 'running' },
      { kind: 'tool_update', id: 't', title: 'x' },
      { kind: 'tool_result', id: 't', output: 'o', isError: false },
      { kind: 'message', role: 'assistant', messageId: 'm1', parts: [{ type: 'text', text: 'ab' }, { type: 'tool_call', id: 't', name: 'Bash', input: {} }] },
      { kind: 'text_delta', messageId: 'm2', text: 'c' },
      { kind: 'text_delta', messageId: 'm2', text: 'd' },
      { kind: 'plan', entries: [{ content: 'e', status: 'pending' }], text: 't' },
      { kind: 'plan', entries: [] },
      { kind: 'error', message: 'e' },
    ];
    let fold = emptyFold;
    for (const event of events) {
      const before = copy(fold);
      const next = foldEvent(fold, event);
      assert.deepEqual(fold, before, `${event.kind} changed the fold it was given`);
      assert.notEqual(next, fold);
      fold = next;
    }
    assert.deepEqual(emptyFold, { items: [] });
  });

  it('puts a permission request under the call it asks about, its result after it, and takes its outcome when it is resolved', () => {
    const ask = (requestId: string, toolCallId: string | null): AgentEvent => ({
      kind: 'permission_request',
      request: { requestId, kind: 'permission', tool: 'Write', toolCallId, input: { file_path: 'a' }, options: [], createdAt: 't0' },
    });
    const folded = parts([
      { kind: 'tool_call', id: 'w', name: 'Write', input: { file_path: 'a' }, status: 'pending' },
      { kind: 'text_delta', messageId: 'm', text: 'meanwhile' },
      ask('r1', 'w'),
      ask('r1', 'w'),
      ask('r2', null),
      { kind: 'permission_resolved', requestId: 'r1', outcome: 'allowed', optionId: 'allow_once', answeredAt: 't1' },
      { kind: 'permission_resolved', requestId: 'unknown', outcome: 'denied', answeredAt: 't1' },
      { kind: 'tool_result', id: 'w', output: 'written', isError: false },
    ]);
    assert.deepEqual(
      folded.map((p) => (p.type === 'permission' ? `permission ${p.requestId} ${p.outcome ?? 'pending'}` : p.type)),
      ['tool_call', 'permission r1 allowed', 'tool_result', 'text', 'permission r2 pending'],
    );
    const r1 = folded[1]!;
    assert.equal(r1.type === 'permission' && r1.answeredAt, 't1');
    assert.equal(r1.type === 'permission' && r1.optionId, 'allow_once');
  });
});
