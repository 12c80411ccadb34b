import type { ContentBlock, SessionUpdate, ToolCallContent, ToolCallStatus, ToolCallUpdate, ToolKind as AcpToolKind } from '@agentclientprotocol/sdk';
import type { AgentEvent, FileDiff, FileLocation, ToolKind, ToolStatus } from '../../api/events.js';
import type { MessagePart } from '../../api/parts.js';

/**
 * One turn's `session/update` notifications as Hearth's events, and the parts of the
 * whole reply they add up to. Updates must be fed in the order they came.
 */
export class AcpTurnMapper {
  private readonly parts: MessagePart[] = [];
  private readonly calls = new Map<string, HeldCall>();
  /** Costs as the agent reports them: a running total for the session. */
  costUsd: number | null = null;

  constructor(
    private readonly unknownKind: (kind: string) => void,
    /** The agent's own way to name a call it gives only a title. */
    private readonly nameOf: (call: { toolCallId: string }) => string | null = () => null,
  ) {}

  map(update: SessionUpdate): AgentEvent[] {
    switch (update.sessionUpdate) {
      case 'agent_message_chunk':
        return this.chunk('text', update.content);
      case 'agent_thought_chunk':
        return this.chunk('thinking', update.content);
      case 'tool_call': {
        const held = this.hold(update);
        const done = finished(update.status, update.toolCallId, update.content, update.rawOutput, held.output);
        // A call whose input is still being written is announced once it is whole.
        return [...(hasInput(update.rawInput) || done.length ? this.announce(update.toolCallId) : []), ...done];
      }
      case 'tool_call_update': {
        const id = update.toolCallId;
        // Some agents (Gemini CLI) send no `tool_call` first: the first update makes the entry, and it is shown as it is.
        if (!this.calls.has(id)) {
          const held = this.hold(update);
          const done = finished(update.status, id, update.content, update.rawOutput, held.output);
          return [...this.announce(id), ...done];
        }
        const call = this.calls.get(id);
        if (call) call.output += terminalOutput(update._meta);
        const done = finished(update.status, id, update.content, update.rawOutput, call?.output ?? '');
        const more = details(update);
        if (call && !call.announced) {
          if (update.rawInput !== undefined) call.input = update.rawInput;
          if (update.status && !done.length) call.status = update.status;
          call.details = { ...call.details, ...more };
          return [...(hasInput(call.input) || done.length ? this.announce(id) : []), ...done];
        }
        if (call && update.rawInput !== undefined) this.setInput(id, update.rawInput);
        const changed = Object.keys(more).length > 0 || update.rawInput !== undefined || (update.status && !done.length);
        const ev: AgentEvent[] = changed
          ? [
              {
                kind: 'tool_update',
                id,
                ...(update.status && !done.length ? { status: toolStatus(update.status) } : {}),
                ...(update.rawInput !== undefined ? { input: update.rawInput } : {}),
                ...more,
              },
            ]
          : [];
        return [...ev, ...done];
      }
      case 'plan':
        return [{ kind: 'plan', entries: update.entries.map((e) => ({ content: e.content, status: e.status, priority: e.priority })) }];
      case 'current_mode_update':
        return [{ kind: 'mode', mode: update.currentModeId }];
      case 'usage_update':
        if (update.cost && update.cost.currency === 'USD') this.costUsd = update.cost.amount;
        return [{ kind: 'context', used: update.used, size: update.size }];
      case 'user_message_chunk':
      case 'available_commands_update':
      case 'config_option_update':
      case 'session_info_update':
        return [];
      default:
        this.unknownKind(String((update as { sessionUpdate?: unknown }).sessionUpdate));
        return [];
    }
  }

  /** Starts keeping a call, from the first the agent says of it. */
  private hold(update: ToolCallUpdate & { name?: string | null }): HeldCall {
    const name = toolName(update) ?? this.nameOf(update) ?? update.title ?? 'tool';
    const held: HeldCall = { name, input: update.rawInput, status: update.status ?? 'pending', details: details(update), announced: false, output: terminalOutput(update._meta) };
    this.calls.set(update.toolCallId, held);
    return held;
  }

  /**
   * The `tool_call` event of a call not yet announced, with the input known so far
   * (`input`, when the agent asks about the call, carries it whole); nothing once announced.
   * `asked`, the call as a permission request shows it, makes the entry of a call not seen before.
   */
  announce(id: string, input?: unknown, asked?: ToolCallUpdate): AgentEvent[] {
    if (asked && !this.calls.has(id)) this.hold(asked);
    const call = this.calls.get(id);
    if (!call || call.announced) return [];
    call.announced = true;
    if (input !== undefined && !hasInput(call.input)) call.input = input;
    const whole = call.input ?? {};
    this.parts.push({ type: 'tool_call', id, name: call.name, input: whole });
    return [{ kind: 'tool_call', id, name: call.name, input: whole, status: toolStatus(call.status), ...call.details }];
  }

  /** The diffs the agent has shown for a call so far, for a request about it that leaves them out. */
  diffsOf(id: string): FileDiff[] {
    return this.calls.get(id)?.details.diffs ?? [];
  }

  private setInput(id: string, input: unknown): void {
    const part = this.parts.find((p) => p.type === 'tool_call' && p.id === id);
    if (part && part.type === 'tool_call') part.input = input;
  }

  /** The reply as a whole, in the order it was written. */
  message(): AgentEvent | null {
    return this.parts.length ? { kind: 'message', role: 'assistant', messageId: null, parts: this.parts.map((p) => ({ ...p })) } : null;
  }

  private chunk(type: 'text' | 'thinking', content: ContentBlock): AgentEvent[] {
    if (content.type !== 'text' || !content.text) return [];
    const last = this.parts.at(-1);
    if (last && last.type === type) last.text += content.text;
    else this.parts.push({ type, text: content.text });
    return [{ kind: type === 'text' ? 'text_delta' : 'thinking_delta', messageId: null, text: content.text }];
  }
}

interface HeldCall {
  name: string;
  input: unknown;
  status: ToolCallStatus;
  details: ReturnType<typeof details>;
  announced: boolean;
  /** The command output streamed so far in `_meta` terminal chunks (codex-acp's `terminal_output_delta`). */
  output: string;
}

/** A command output chunk an agent sends in `_meta` rather than as content, as codex-acp does for a client without terminals. */
function terminalOutput(meta: Record<string, unknown> | null | undefined): string {
  const chunk = (meta?.terminal_output_delta ?? meta?.terminal_output) as { data?: unknown } | undefined;
  return typeof chunk?.data === 'string' ? chunk.data : '';
}

/** Whether the agent has given the call's input: claude-agent-acp first sends `{}` while the model writes it. */
function hasInput(input: unknown): boolean {
  return input !== undefined && input !== null && !(typeof input === 'object' && Object.keys(input).length === 0);
}

/** The tool's own name where the agent gives one (claude-agent-acp's in `_meta.claudeCode.toolName`). */
function toolName(call: { name?: string | null; _meta?: Record<string, unknown> | null }): string | null {
  if (call.name) return call.name;
  const claude = call._meta?.claudeCode as { toolName?: unknown } | undefined;
  return typeof claude?.toolName === 'string' ? claude.toolName : null;
}

function toolStatus(status: ToolCallStatus): ToolStatus {
  return status === 'in_progress' ? 'running' : status;
}

const TOOL_KINDS = new Set<ToolKind>(['read', 'edit', 'delete', 'move', 'search', 'execute', 'think', 'fetch', 'switch_mode', 'other']);

function details(u: {
  title?: string | null;
  kind?: AcpToolKind | null;
  locations?: Array<{ path: string; line?: number | null }> | null;
  content?: ToolCallContent[] | null;
}): { title?: string; toolKind?: ToolKind; locations?: FileLocation[]; diffs?: FileDiff[] } {
  const out: { title?: string; toolKind?: ToolKind; locations?: FileLocation[]; diffs?: FileDiff[] } = {};
  if (u.title) out.title = u.title;
  if (u.kind) out.toolKind = TOOL_KINDS.has(u.kind as ToolKind) ? (u.kind as ToolKind) : 'other';
  if (u.locations?.length) out.locations = u.locations.map((l) => (l.line != null ? { path: l.path, line: l.line } : { path: l.path }));
  const diffs = diffsOf(u.content);
  if (diffs.length) out.diffs = diffs;
  return out;
}

/** The diffs of a call's content; one that marks itself a new file (`_meta.kind: "add"`, as Gemini CLI's do) has no old text. */
export function diffsOf(content: ToolCallContent[] | null | undefined): FileDiff[] {
  return (content ?? []).flatMap((c) =>
    c.type === 'diff' ? [{ path: c.path, oldText: c._meta?.kind === 'add' ? null : (c.oldText ?? null), newText: c.newText }] : [],
  );
}

/** A tool_result for a call that has ended, or nothing while it runs. */
function finished(status: ToolCallStatus | null | undefined, id: string, content: ToolCallContent[] | null | undefined, raw: unknown, streamed: string): AgentEvent[] {
  if (status !== 'completed' && status !== 'failed') return [];
  return [{ kind: 'tool_result', id, output: outputOf(content, raw, streamed), isError: status === 'failed' }];
}

function outputOf(content: ToolCallContent[] | null | undefined, raw: unknown, streamed: string): string {
  const texts = (content ?? []).flatMap((c) => (c.type === 'content' && c.content.type === 'text' ? [c.content.text] : []));
  if (texts.length) return texts.join('\n');
  if (streamed) return streamed;
  if (typeof raw === 'string') return raw;
  return raw === undefined || raw === null ? '' : JSON.stringify(raw);
}
