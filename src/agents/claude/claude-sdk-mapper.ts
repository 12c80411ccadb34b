import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import type { AgentEvent } from '../../api/events.js';
import type { MessagePart } from '../../api/parts.js';
import { claudeToolDetails, claudeToolPlan } from './claude-tools.js';

/**
 * What the mapper remembers within one turn. With partial messages on, Claude Code
 * sends each piece twice: as stream deltas, then inside a complete `assistant` frame
 * (one frame per content block, all sharing the API message id). The state lets the
 * second copy complete the message without rendering anything again.
 */
export interface ClaudeSdkMapState {
  /** API message ids whose text or thinking already arrived as deltas. */
  streamed: Set<string>;
  toolCalls: Set<string>;
  toolResults: Set<string>;
  /** Content blocks of the message being streamed, by index. */
  blocks: Map<number, { type: string; id?: string; name?: string }>;
  /** The assistant message being assembled from `assistant` frames. */
  open: { id: string | null; parts: MessagePart[] } | null;
  /** The session's working directory, as its init said: tool titles show paths inside it relative to it. */
  cwd: string | undefined;
  /** The permission mode last reported; the first report sets it, only a different one is a change. */
  mode: string | null;
}

export function createClaudeSdkMapState(): ClaudeSdkMapState {
  return { streamed: new Set(), toolCalls: new Set(), toolResults: new Set(), blocks: new Map(), open: null, cwd: undefined, mode: null };
}

/** Maps one SDK message to the events it stands for; most messages map to none. */
export function mapSdkMessage(msg: SDKMessage, state: ClaudeSdkMapState): AgentEvent[] {
  // Subagent traffic (a Task tool's inner conversation) stays inside its tool call.
  if ('parent_tool_use_id' in msg && msg.parent_tool_use_id) return [];
  switch (msg.type) {
    case 'stream_event':
      return mapStreamEvent(msg.event as StreamEvent, state);
    case 'assistant':
      return mapAssistant(msg, state);
    case 'user':
      return [...closeMessage(state), ...mapToolResults(msg.message.content, state)];
    case 'result':
      return closeMessage(state);
    case 'system':
      return mapSystem(msg, state);
    default:
      return [];
  }
}

type StreamEvent =
  | { type: 'message_start'; message: { id: string } }
  | { type: 'content_block_start'; index: number; content_block: { type: string; id?: string; name?: string } }
  | {
      type: 'content_block_delta';
      index: number;
      delta: { type: string; text?: string; thinking?: string; partial_json?: string };
    }
  | { type: 'message_stop' }
  | { type: string };

function mapStreamEvent(event: StreamEvent, state: ClaudeSdkMapState): AgentEvent[] {
  if (isEvent(event, 'message_start')) {
    const done = state.open && state.open.id !== event.message.id ? closeMessage(state) : [];
    state.blocks.clear();
    state.open ??= { id: event.message.id, parts: [] };
    return done;
  }
  if (isEvent(event, 'content_block_start')) {
    const b = event.content_block;
    state.blocks.set(event.index, { type: b.type, id: b.id, name: b.name });
    return [];
  }
  if (isEvent(event, 'content_block_delta')) {
    const messageId = state.open?.id ?? null;
    const d = event.delta;
    if (d.type === 'text_delta' && d.text) {
      if (messageId) state.streamed.add(messageId);
      return [{ kind: 'text_delta', messageId, text: d.text }];
    }
    if (d.type === 'thinking_delta' && d.thinking) {
      if (messageId) state.streamed.add(messageId);
      return [{ kind: 'thinking_delta', messageId, text: d.thinking }];
    }
    if (d.type === 'input_json_delta' && d.partial_json) {
      const block = state.blocks.get(event.index);
      if (block?.id) return [{ kind: 'tool_call_delta', id: block.id, name: block.name ?? '', partialJson: d.partial_json }];
    }
    return [];
  }
  if (isEvent(event, 'message_stop')) return closeMessage(state);
  return [];
}

function isEvent<K extends string>(e: StreamEvent, type: K): e is Extract<StreamEvent, { type: K }> {
  return e.type === type;
}

function mapAssistant(msg: Extract<SDKMessage, { type: 'assistant' }>, state: ClaudeSdkMapState): AgentEvent[] {
  const content = msg.message.content as unknown as ContentBlock[];
  if (msg.error) {
    // A synthetic message carrying an API failure: an error, not something the model said.
    const text = content.map((b) => (b.type === 'text' ? b.text : '')).join('') || msg.error;
    return [...closeMessage(state), { kind: 'error', message: text }];
  }
  const id = msg.message.id ?? null;
  const out: AgentEvent[] = state.open && state.open.id !== id ? closeMessage(state) : [];
  const open = (state.open ??= { id, parts: [] });
  const streamed = id !== null && state.streamed.has(id);
  for (const block of content) {
    if (block.type === 'text') {
      open.parts.push({ type: 'text', text: block.text });
      if (!streamed && block.text) out.push({ kind: 'text_delta', messageId: id, text: block.text });
    } else if (block.type === 'thinking') {
      open.parts.push({ type: 'thinking', text: block.thinking });
      if (!streamed && block.thinking) out.push({ kind: 'thinking_delta', messageId: id, text: block.thinking });
    } else if (block.type === 'tool_use') {
      open.parts.push({ type: 'tool_call', id: block.id, name: block.name, input: block.input });
      if (!state.toolCalls.has(block.id)) {
        state.toolCalls.add(block.id);
        out.push(...toolCallEvents(block, state));
      }
    }
  }
  return out;
}

/** A whole tool call, with what its name and input tell, and the plan it states if any. */
function toolCallEvents(block: { id: string; name: string; input: unknown }, state: ClaudeSdkMapState): AgentEvent[] {
  const call: AgentEvent = { kind: 'tool_call', id: block.id, name: block.name, input: block.input, status: 'running', ...claudeToolDetails(block.name, block.input, state.cwd) };
  const plan = claudeToolPlan(block.name, block.input);
  return plan ? [call, { kind: 'plan', ...plan }] : [call];
}

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content?: unknown; is_error?: boolean };

/** Ends the assistant message being assembled, if any, as one `message` event. */
function closeMessage(state: ClaudeSdkMapState): AgentEvent[] {
  const open = state.open;
  state.open = null;
  if (!open || open.parts.length === 0) return [];
  return [{ kind: 'message', role: 'assistant', messageId: open.id, parts: open.parts }];
}

function mapToolResults(content: unknown, state: ClaudeSdkMapState): AgentEvent[] {
  if (!Array.isArray(content)) return [];
  const out: AgentEvent[] = [];
  for (const block of content as ContentBlock[]) {
    if (block.type !== 'tool_result') continue;
    const r = block;
    if (state.toolResults.has(r.tool_use_id)) continue;
    state.toolResults.add(r.tool_use_id);
    out.push({ kind: 'tool_result', id: r.tool_use_id, output: toolOutputText(r.content), isError: r.is_error === true });
  }
  return out;
}

/** Tool output as text: text blocks joined, anything else named by its type. */
export function toolOutputText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : JSON.stringify(content);
  return content
    .map((b: { type?: string; text?: string }) => (b.type === 'text' ? (b.text ?? '') : `[${b.type ?? 'content'}]`))
    .join('\n');
}

function mapSystem(msg: Extract<SDKMessage, { type: 'system' }>, state: ClaudeSdkMapState): AgentEvent[] {
  switch (msg.subtype) {
    case 'init':
      state.cwd = msg.cwd;
      return modeReported(msg.permissionMode, state);
    case 'api_retry': {
      const status = msg.error_status === null ? msg.error : `HTTP ${msg.error_status}`;
      return [
        {
          kind: 'status',
          message: `model API error (${status}); retry ${msg.attempt} of ${msg.max_retries} in ${msg.retry_delay_ms} ms`,
        },
      ];
    }
    case 'compact_boundary':
      return [{ kind: 'status', message: `conversation compacted (${msg.compact_metadata.trigger})` }];
    case 'status':
      // Every turn reports 'requesting'; only compaction is news to a person.
      return [
        ...modeReported(msg.permissionMode, state),
        ...(msg.status === 'compacting' ? [{ kind: 'status' as const, message: 'compacting the conversation' }] : []),
      ];
    case 'mirror_error':
      return [{ kind: 'status', message: `transcript not saved to the database: ${msg.error}` }];
    default:
      return [];
  }
}

/** A `mode` event when the reported permission mode differs from the one reported before. */
function modeReported(mode: string | undefined, state: ClaudeSdkMapState): AgentEvent[] {
  if (!mode || mode === state.mode) return [];
  const known = state.mode;
  state.mode = mode;
  return known === null ? [] : [{ kind: 'mode', mode }];
}
