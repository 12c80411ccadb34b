import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionUpdate } from '@agentclientprotocol/sdk';
import { AcpTurnMapper } from '../../src/agents/acp/acp-mapper.js';
import type { AgentEvent } from '../../src/api/events.js';

const byIdPrefix = ({ toolCallId }: { toolCallId: string }) => (toolCallId.includes('__') ? toolCallId.slice(0, toolCallId.lastIndexOf('__')) : null);

function feed(mapper: AcpTurnMapper, ...updates: SessionUpdate[]): AgentEvent[] {
  return updates.flatMap((u) => mapper.map(u));
}

describe('AcpTurnMapper with tool calls that start with an update', () => {
  it('makes the entry from a first tool_call_update, announces it once, then its result', () => {
    const mapper = new AcpTurnMapper(() => {}, byIdPrefix);
    const events = feed(
      mapper,
      { sessionUpdate: 'tool_call_update', toolCallId: 'run_shell_command__c1', status: 'in_progress', title: 'echo hi', kind: 'execute' },
      { sessionUpdate: 'tool_call_update', toolCallId: 'run_shell_command__c1', status: 'completed', title: 'echo hi', kind: 'execute', content: [{ type: 'content', content: { type: 'text', text: 'hi' } }] },
    );
    assert.deepEqual(events, [
      { kind: 'tool_call', id: 'run_shell_command__c1', name: 'run_shell_command', input: {}, status: 'running', title: 'echo hi', toolKind: 'execute' },
      { kind: 'tool_update', id: 'run_shell_command__c1', title: 'echo hi', toolKind: 'execute' },
      { kind: 'tool_result', id: 'run_shell_command__c1', output: 'hi', isError: false },
    ]);
    assert.deepEqual(mapper.message(), { kind: 'message', role: 'assistant', messageId: null, parts: [{ type: 'tool_call', id: 'run_shell_command__c1', name: 'run_shell_command', input: {} }] });
  });

  it('shows a call whose only update says it is done: the call, then its result', () => {
    const mapper = new AcpTurnMapper(() => {});
    const events = feed(mapper, { sessionUpdate: 'tool_call_update', toolCallId: 'x1', status: 'failed', title: 'Write notes.md', content: [{ type: 'content', content: { type: 'text', text: 'denied' } }] });
    assert.deepEqual(
      events.map((e) => e.kind),
      ['tool_call', 'tool_result'],
    );
    assert.equal((events[0] as Extract<AgentEvent, { kind: 'tool_call' }>).name, 'Write notes.md', 'the title names a call with no name of its own');
    assert.deepEqual(events[1], { kind: 'tool_result', id: 'x1', output: 'denied', isError: true });
  });

  it('takes the input an update gives, and the rawInput of a call asked about before any update', () => {
    const mapper = new AcpTurnMapper(() => {}, byIdPrefix);
    const first = feed(mapper, { sessionUpdate: 'tool_call_update', toolCallId: 'write_file__w', rawInput: { file_path: '/a', content: 'x' } });
    assert.deepEqual(first, [{ kind: 'tool_call', id: 'write_file__w', name: 'write_file', input: { file_path: '/a', content: 'x' }, status: 'pending' }]);

    const asked = mapper.announce('replace__r', undefined, { toolCallId: 'replace__r', title: 'Edit a.txt', kind: 'edit', status: 'pending', content: [{ type: 'diff', path: '/a.txt', oldText: 'a', newText: 'b' }] });
    assert.deepEqual(asked, [
      { kind: 'tool_call', id: 'replace__r', name: 'replace', input: {}, status: 'pending', title: 'Edit a.txt', toolKind: 'edit', diffs: [{ path: '/a.txt', oldText: 'a', newText: 'b' }] },
    ]);
    assert.deepEqual(feed(mapper, { sessionUpdate: 'tool_call_update', toolCallId: 'replace__r', status: 'completed' }), [{ kind: 'tool_result', id: 'replace__r', output: '', isError: false }]);
    assert.deepEqual(mapper.announce('replace__r'), [], 'announced once');
  });

  it('leaves calls that begin with tool_call as they were', () => {
    const mapper = new AcpTurnMapper(() => {});
    const events = feed(
      mapper,
      { sessionUpdate: 'tool_call', toolCallId: 't', title: 'Bash', rawInput: {}, status: 'pending', _meta: { claudeCode: { toolName: 'Bash' } } },
      { sessionUpdate: 'tool_call_update', toolCallId: 't', rawInput: { command: 'ls' } },
      { sessionUpdate: 'tool_call_update', toolCallId: 't', status: 'completed', rawOutput: 'a\nb' },
    );
    assert.deepEqual(events, [
      { kind: 'tool_call', id: 't', name: 'Bash', input: { command: 'ls' }, status: 'pending', title: 'Bash' },
      { kind: 'tool_result', id: 't', output: 'a\nb', isError: false },
    ]);
  });
});
