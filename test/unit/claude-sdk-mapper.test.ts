// The mapper on message sequences recorded from the real Claude Code binary
// (test/fixtures/record-sdk-messages.ts writes them).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import { createClaudeSdkMapState, mapSdkMessage, toolOutputText } from '../../src/agents/claude/claude-sdk-mapper.js';
import type { AgentEvent } from '../../src/api/events.js';

function recorded(name: string): SDKMessage[] {
  return JSON.parse(readFileSync(new URL(`../fixtures/sdk-messages/${name}.json`, import.meta.url), 'utf8'));
}

function mapAll(messages: SDKMessage[]): AgentEvent[] {
  const state = createClaudeSdkMapState();
  return messages.flatMap((m) => mapSdkMessage(m, state));
}

const kinds = (events: AgentEvent[]) => events.map((e) => e.kind);
const textOf = (events: AgentEvent[], kind: 'text_delta' | 'thinking_delta') =>
  events.filter((e): e is Extract<AgentEvent, { kind: typeof kind }> => e.kind === kind).map((e) => e.text);

describe('mapSdkMessage on recorded turns', () => {
  it('streams text as deltas in order and completes the message once, without repeating the text', () => {
    const events = mapAll(recorded('text'));
    assert.deepEqual(textOf(events, 'text_delta'), ['Hello', ', ', 'world!']);
    const messages = events.filter((e) => e.kind === 'message');
    assert.equal(messages.length, 1);
    assert.deepEqual((messages[0] as Extract<AgentEvent, { kind: 'message' }>).parts, [{ type: 'text', text: 'Hello, world!' }]);
    assert.equal(kinds(events).at(-1), 'message');
  });

  it('streams thinking before text, each once', () => {
    const events = mapAll(recorded('thinking'));
    assert.deepEqual(textOf(events, 'thinking_delta'), ['Let me ', 'think.']);
    assert.deepEqual(textOf(events, 'text_delta'), ['Thought ', 'done.']);
    const firstText = kinds(events).indexOf('text_delta');
    assert.ok(kinds(events).lastIndexOf('thinking_delta') < firstText, 'thinking comes first');
    const [message] = events.filter((e) => e.kind === 'message') as Extract<AgentEvent, { kind: 'message' }>[];
    assert.deepEqual(message!.parts, [
      { type: 'thinking', text: 'Let me think.' },
      { type: 'text', text: 'Thought done.' },
    ]);
  });

  it('turns a tool use into input deltas, one tool call with the whole input, and its result', () => {
    const events = mapAll(recorded('tool-use'));
    const calls = events.filter((e) => e.kind === 'tool_call') as Extract<AgentEvent, { kind: 'tool_call' }>[];
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.name, 'Bash');
    assert.deepEqual(calls[0]!.input, { command: 'echo made > made.txt && cat made.txt', description: 'make a file' });
    const deltas = events.filter((e) => e.kind === 'tool_call_delta') as Extract<AgentEvent, { kind: 'tool_call_delta' }>[];
    assert.ok(deltas.length > 0);
    assert.deepEqual(JSON.parse(deltas.map((d) => d.partialJson).join('')), calls[0]!.input);
    assert.ok(deltas.every((d) => d.id === calls[0]!.id && d.name === 'Bash'));
    const results = events.filter((e) => e.kind === 'tool_result') as Extract<AgentEvent, { kind: 'tool_result' }>[];
    assert.equal(results.length, 1);
    assert.equal(results[0]!.id, calls[0]!.id);
    assert.equal(results[0]!.isError, false);
    assert.match(results[0]!.output, /made/);
    // Order: the call, then its result, then the closing text.
    const k = kinds(events);
    assert.ok(k.indexOf('tool_call') < k.indexOf('tool_result'));
    assert.ok(k.indexOf('tool_result') < k.lastIndexOf('text_delta'));
    assert.deepEqual(textOf(events, 'text_delta'), ['Making it.', 'Made ', 'it.']);
    assert.equal(events.filter((e) => e.kind === 'message').length, 2, 'one message before the tool, one after');
  });

  it('reports an API failure as an error, not as something the model said', () => {
    const events = mapAll(recorded('api-error'));
    assert.deepEqual(kinds(events), ['error']);
    assert.match((events[0] as Extract<AgentEvent, { kind: 'error' }>).message, /529/);
  });
});

describe('mapSdkMessage without partial messages', () => {
  it('renders complete assistant frames as text once, and de-duplicates replayed tool calls and results', () => {
    const messages = recorded('tool-use').filter((m) => m.type !== 'stream_event');
    const events = mapAll([...messages, ...messages.filter((m) => m.type === 'user')]);
    assert.deepEqual(textOf(events, 'text_delta'), ['Making it.', 'Made it.']);
    assert.equal(events.filter((e) => e.kind === 'tool_call').length, 1);
    assert.equal(events.filter((e) => e.kind === 'tool_result').length, 1);
  });

  it('ignores subagent traffic and maps retries and mirror failures to status notices', () => {
    const state = createClaudeSdkMapState();
    const sub = { ...recorded('text').find((m) => m.type === 'assistant')!, parent_tool_use_id: 'toolu_x' } as SDKMessage;
    assert.deepEqual(mapSdkMessage(sub, state), []);
    const retry = {
      type: 'system',
      subtype: 'api_retry',
      attempt: 1,
      max_retries: 3,
      retry_delay_ms: 500,
      error_status: 529,
      error: 'overloaded',
      uuid: 'u',
      session_id: 's',
    } as unknown as SDKMessage;
    assert.deepEqual(mapSdkMessage(retry, state), [
      { kind: 'status', message: 'model API error (HTTP 529); retry 1 of 3 in 500 ms' },
    ]);
    const mirror = { type: 'system', subtype: 'mirror_error', error: 'db down', key: {}, uuid: 'u', session_id: 's' } as unknown as SDKMessage;
    assert.match((mapSdkMessage(mirror, state)[0] as { message: string }).message, /not saved to the database: db down/);
  });
});

describe('mapSdkMessage on tool details and plans', () => {
  const calls = (events: AgentEvent[]) => events.filter((e) => e.kind === 'tool_call') as Extract<AgentEvent, { kind: 'tool_call' }>[];

  it('gives Write and Edit calls their title, kind, file and diff, relative to the session directory in the title only', () => {
    const [write, edit] = calls(mapAll(recorded('write-edit')));
    assert.deepEqual(
      { ...write!, id: '' },
      {
        kind: 'tool_call',
        id: '',
        name: 'Write',
        input: { file_path: '/repo/notes.txt', content: 'one\ntwo\n' },
        status: 'running',
        title: 'notes.txt',
        toolKind: 'edit',
        locations: [{ path: '/repo/notes.txt' }],
        diffs: [{ path: '/repo/notes.txt', oldText: null, newText: 'one\ntwo\n' }],
      },
    );
    assert.equal(edit!.title, 'notes.txt');
    assert.deepEqual(edit!.diffs, [{ path: '/repo/notes.txt', oldText: 'two', newText: 'three' }]);
  });

  it('states a Bash call by its command', () => {
    const [bash] = calls(mapAll(recorded('tool-use')));
    assert.equal(bash!.title, 'echo made > made.txt && cat made.txt');
    assert.equal(bash!.toolKind, 'execute');
  });

  it('follows a TodoWrite call with its todos as the plan, once', () => {
    const events = mapAll(recorded('todo-write'));
    const plans = events.filter((e) => e.kind === 'plan');
    assert.deepEqual(plans, [
      {
        kind: 'plan',
        entries: [
          { content: 'Write the notes', status: 'completed' },
          { content: 'Edit the notes', status: 'in_progress' },
          { content: 'Check the notes', status: 'pending' },
        ],
      },
    ]);
    assert.equal(kinds(events).indexOf('plan'), kinds(events).indexOf('tool_call') + 1);
  });

  it('follows an ExitPlanMode call with its written plan', () => {
    const events = mapAll(recorded('plan-mode'));
    assert.deepEqual(events.filter((e) => e.kind === 'plan'), [{ kind: 'plan', entries: [], text: '# The plan\n\n1. Write the notes\n2. Check them' }]);
    assert.equal(calls(events)[0]!.toolKind, 'switch_mode');
  });

  it('reports a change of permission mode, and not the mode a turn starts in or one reported again', () => {
    const state = createClaudeSdkMapState();
    const status = (permissionMode?: string) =>
      ({ type: 'system', subtype: 'status', status: null, ...(permissionMode ? { permissionMode } : {}), uuid: 'u', session_id: 's' }) as unknown as SDKMessage;
    const init = recorded('text').find((m) => m.type === 'system' && m.subtype === 'init')!;
    assert.equal((init as { permissionMode?: string }).permissionMode, 'bypassPermissions');
    assert.deepEqual(mapSdkMessage(init, state), []);
    assert.deepEqual(mapSdkMessage(status('bypassPermissions'), state), []);
    assert.deepEqual(mapSdkMessage(status(), state), []);
    assert.deepEqual(mapSdkMessage(status('plan'), state), [{ kind: 'mode', mode: 'plan' }]);
    assert.deepEqual(mapSdkMessage(status('plan'), state), []);
    assert.deepEqual(mapSdkMessage({ ...init, permissionMode: 'default' } as SDKMessage, state), [{ kind: 'mode', mode: 'default' }]);
    // Without an init first, the first mode reported is where the turn starts.
    assert.deepEqual(mapSdkMessage(status('acceptEdits'), createClaudeSdkMapState()), []);
  });
});

describe('toolOutputText', () => {
  it('flattens content blocks and names what is not text', () => {
    assert.equal(toolOutputText('plain'), 'plain');
    assert.equal(toolOutputText([{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'b' }]), 'a\n[image]\nb');
    assert.equal(toolOutputText(undefined), '');
    assert.equal(toolOutputText({ x: 1 }), '{"x":1}');
  });
});
