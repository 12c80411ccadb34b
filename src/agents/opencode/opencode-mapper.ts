import type { AssistantMessage, Message, Part, Todo, ToolPart } from '@opencode-ai/sdk/v2';
import type { AgentEvent, PlanEntry, ToolKind, ToolStatus, TurnUsage } from '../../api/events.js';
import type { MessagePart } from '../../api/parts.js';

/** What a turn's failure was, as OpenCode reported it on a message or the session. */
export type OpencodeError = NonNullable<AssistantMessage['error']>;

/**
 * One turn's OpenCode events as Hearth's events, and the whole reply they add up to.
 * Events must be fed in the order they came. Parts are keyed by their id, so an event
 * seen twice (a re-read after a reconnect) adds nothing: text grows only by what it
 * did not have, a tool call is announced once its input is whole, and its result once.
 */
export class OpencodeTurnMapper {
  /** The turn's messages by id, with their role; parts of any other message (the user's) are not the reply. */
  private readonly roles = new Map<string, Message['role']>();
  private readonly assistants = new Map<string, AssistantMessage>();
  /** The reply's parts in the order they began, by part id. */
  private readonly parts = new Map<string, HeldPart>();
  /** The first error a message of the turn reported. */
  error: OpencodeError | null = null;

  constructor(
    private readonly sessionId: string,
    /** Messages that were there before the turn: nothing of theirs is the turn's. */
    private readonly before: ReadonlySet<string>,
  ) {}

  message(info: Message): AgentEvent[] {
    if (info.sessionID !== this.sessionId || this.before.has(info.id)) return [];
    this.roles.set(info.id, info.role);
    if (info.role !== 'assistant') return [];
    this.assistants.set(info.id, info);
    if (info.error && !this.error) this.error = info.error;
    return [];
  }

  part(part: Part): AgentEvent[] {
    if (part.sessionID !== this.sessionId || this.roles.get(part.messageID) !== 'assistant') return [];
    switch (part.type) {
      case 'text':
        return part.synthetic || part.ignored ? [] : this.grow(part.id, 'text', part.text);
      case 'reasoning':
        return this.grow(part.id, 'thinking', part.text);
      case 'tool':
        return this.tool(part);
      default:
        return [];
    }
  }

  delta(d: { sessionID: string; messageID: string; partID: string; field: string; delta: string }): AgentEvent[] {
    if (d.sessionID !== this.sessionId || d.field !== 'text' || !d.delta) return [];
    const held = this.parts.get(d.partID);
    if (!held || held.kind === 'tool') return [];
    return this.append(held, d.delta);
  }

  /** The plan as the agent's todo list stands. */
  todos(todos: Todo[]): AgentEvent[] {
    return [{ kind: 'plan', entries: todos.flatMap(planEntry) }];
  }

  /** Text or reasoning known whole up to `text`: what it adds to what was streamed. */
  private grow(id: string, kind: 'text' | 'thinking', text: string): AgentEvent[] {
    let held = this.parts.get(id);
    if (!held) {
      held = { kind, text: '' };
      this.parts.set(id, held);
    }
    if (held.kind === 'tool' || !text.startsWith(held.text) || text.length === held.text.length) return [];
    return this.append(held, text.slice(held.text.length));
  }

  private append(held: Extract<HeldPart, { kind: 'text' | 'thinking' }>, text: string): AgentEvent[] {
    held.text += text;
    return [{ kind: held.kind === 'text' ? 'text_delta' : 'thinking_delta', messageId: null, text }];
  }

  private tool(part: ToolPart): AgentEvent[] {
    let held = this.parts.get(part.id);
    if (!held) {
      held = { kind: 'tool', callId: part.callID, name: part.tool, input: {}, announced: false, ended: false };
      this.parts.set(part.id, held);
    }
    if (held.kind !== 'tool') return [];
    const { state } = part;
    // A pending call's input is still being written.
    if (state.status !== 'pending') held.input = state.input;
    const out: AgentEvent[] = [];
    if (state.status !== 'pending') out.push(...this.announceHeld(held, state.status === 'running' ? 'running' : 'pending', 'title' in state ? state.title : undefined));
    if (held.ended) return out;
    if (state.status === 'completed') {
      held.ended = true;
      out.push({ kind: 'tool_result', id: held.callId, output: state.output, isError: false });
    } else if (state.status === 'error') {
      held.ended = true;
      out.push({ kind: 'tool_result', id: held.callId, output: state.error, isError: true });
    }
    return out;
  }

  /**
   * The `tool_call` of a call not yet announced, by its call id: a request about it
   * shows it first. Nothing for a call announced or not seen.
   */
  announce(callId: string): AgentEvent[] {
    for (const held of this.parts.values()) if (held.kind === 'tool' && held.callId === callId) return this.announceHeld(held, 'pending');
    return [];
  }

  private announceHeld(held: HeldTool, status: ToolStatus, title?: string): AgentEvent[] {
    if (held.announced) return [];
    held.announced = true;
    return [{ kind: 'tool_call', id: held.callId, name: held.name, input: held.input, status, toolKind: toolKind(held.name), ...(title ? { title } : {}) }];
  }

  /** The reply as a whole, in the order its parts began; null for a turn that said nothing. */
  reply(): AgentEvent | null {
    const parts: MessagePart[] = [];
    for (const held of this.parts.values()) {
      if (held.kind === 'tool') parts.push({ type: 'tool_call', id: held.callId, name: held.name, input: held.input });
      else if (held.text) parts.push({ type: held.kind, text: held.text });
    }
    return parts.length ? { kind: 'message', role: 'assistant', messageId: null, parts } : null;
  }

  /** The turn's usage: each of its assistant messages' tokens and cost as OpenCode last reported them, summed. */
  usage(): TurnUsage | null {
    if (this.assistants.size === 0) return null;
    const u: TurnUsage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 };
    for (const m of this.assistants.values()) {
      u.inputTokens += m.tokens.input;
      // Reasoning tokens are output the model was paid for.
      u.outputTokens += m.tokens.output + m.tokens.reasoning;
      u.cacheReadTokens += m.tokens.cache.read;
      u.cacheWriteTokens += m.tokens.cache.write;
      u.costUsd = (u.costUsd ?? 0) + m.cost;
    }
    u.costUsd = Number((u.costUsd ?? 0).toFixed(10));
    return u;
  }

  /** The ids of the turn's messages, the user's among them. */
  messageIds(): string[] {
    return [...this.roles.keys()];
  }

  /** The input of a tool call as it stands, by its call id; undefined for a call not seen. */
  inputOf(callId: string | null): unknown {
    if (callId === null) return undefined;
    for (const held of this.parts.values()) if (held.kind === 'tool' && held.callId === callId) return held.input;
    return undefined;
  }

  /** Whether every assistant message of the turn has completed. */
  completed(): boolean {
    return [...this.assistants.values()].every((m) => m.time.completed !== undefined);
  }
}

interface HeldTool {
  kind: 'tool';
  callId: string;
  name: string;
  input: unknown;
  announced: boolean;
  ended: boolean;
}

type HeldPart = { kind: 'text' | 'thinking'; text: string } | HeldTool;

const TOOL_KINDS: Record<string, ToolKind> = {
  bash: 'execute',
  edit: 'edit',
  write: 'edit',
  patch: 'edit',
  apply_patch: 'edit',
  multiedit: 'edit',
  read: 'read',
  glob: 'search',
  grep: 'search',
  list: 'search',
  codesearch: 'search',
  webfetch: 'fetch',
  websearch: 'fetch',
  todowrite: 'think',
  todoread: 'think',
  task: 'other',
  question: 'other',
};

export function toolKind(tool: string): ToolKind {
  return TOOL_KINDS[tool] ?? 'other';
}

function planEntry(todo: Todo): PlanEntry[] {
  if (todo.status === 'cancelled') return [];
  const status = todo.status === 'in_progress' || todo.status === 'completed' ? todo.status : 'pending';
  const priority = (todo as { priority?: unknown }).priority;
  return [{ content: todo.content, status, ...(priority === 'high' || priority === 'medium' || priority === 'low' ? { priority } : {}) }];
}

/** An OpenCode error in words. */
export function errorText(error: OpencodeError): string {
  const data = error.data as { message?: unknown } | undefined;
  const message = typeof data?.message === 'string' && data.message ? data.message : error.name;
  return message;
}
