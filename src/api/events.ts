/**
 * What every agent's output becomes: one vocabulary for the event log, the SSE stream,
 * the web UI and the CLI, whichever agent and backend produced it. Its words for tools,
 * plans, permission options and stop reasons are the Agent Client Protocol's, so an ACP
 * agent's reports map onto it one to one and Claude's are translated once, in its mapper.
 *
 * This module and the others in `src/api/` are imported by the server, the CLI and the
 * web UI alike: they hold types and pure functions only, nothing of Node's.
 */
import type { MessagePart } from './parts.js';
import type { PermissionOutcome, PermissionRequestView } from './permissions.js';

/** Where a tool call stands. */
export type ToolStatus = 'pending' | 'running' | 'completed' | 'failed';

/** What a tool does, as a client may show or judge it. */
export type ToolKind = 'read' | 'edit' | 'delete' | 'move' | 'search' | 'execute' | 'think' | 'fetch' | 'switch_mode' | 'other';

/** A file a tool call reads or changes, with the line it is about where one is known. */
export interface FileLocation {
  path: string;
  line?: number;
}

/**
 * A change to one file: the text before it (null for a new file) and after. For an edit
 * of part of a file, the replaced text and its replacement, not the whole file.
 */
export interface FileDiff {
  path: string;
  oldText: string | null;
  newText: string;
}

/** One task of the agent's plan. */
export interface PlanEntry {
  content: string;
  status: 'pending' | 'in_progress' | 'completed';
  priority?: 'high' | 'medium' | 'low';
}

/** How an option answers a permission request: once or always, allowing or rejecting. */
export type PermissionOptionKind = 'allow_once' | 'allow_always' | 'reject_once' | 'reject_always';

/** An answer a person may give to a permission request; `id` is Hearth's, never an agent's own option id. */
export interface PermissionOption {
  id: string;
  kind: PermissionOptionKind;
  label: string;
}

/** Why a turn that did not fail ended. */
export type StopReason = 'end_turn' | 'max_tokens' | 'max_turn_requests' | 'refusal' | 'cancelled';

/** What a turn cost, counted once per turn. */
export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Null where the agent reports no cost: unknown, not free. */
  costUsd: number | null;
}

/** What a tool call says about itself besides its name and input, where the agent tells. */
export interface ToolCallDetails {
  /** A line for people: the command, the file, the search. */
  title?: string;
  toolKind?: ToolKind;
  locations?: FileLocation[];
  diffs?: FileDiff[];
}

export type AgentEvent =
  | { kind: 'text_delta'; messageId: string | null; text: string }
  | { kind: 'thinking_delta'; messageId: string | null; text: string }
  /** A tool call with its complete input. */
  | ({ kind: 'tool_call'; id: string; name: string; input: unknown; status: ToolStatus } & ToolCallDetails)
  /** Part of a tool call's input while the model is still writing it (JSON text). */
  | { kind: 'tool_call_delta'; id: string; name: string; partialJson: string }
  /** A change to a tool call already announced: its status, and any details learned since. */
  | ({ kind: 'tool_update'; id: string; status?: ToolStatus; input?: unknown } & ToolCallDetails)
  /** A tool's output; its call is then completed, or failed when `isError`. */
  | { kind: 'tool_result'; id: string; output: string; isError: boolean }
  /** One assistant message, whole, as the agent stored it. */
  | { kind: 'message'; role: 'assistant'; messageId: string | null; parts: MessagePart[] }
  /** The agent's plan as it stands: its task list, or a written plan it proposes (plan mode). */
  | { kind: 'plan'; entries: PlanEntry[]; text?: string }
  /** The session's mode changed (Claude's permission modes, an ACP agent's modes). */
  | { kind: 'mode'; mode: string }
  /** A request put to a person; the runtime reports it, drivers ask through `TurnContext.requestPermission`. */
  | { kind: 'permission_request'; request: Omit<PermissionRequestData, 'turnId'> }
  /** How a request ended. */
  | ({ kind: 'permission_resolved' } & Omit<PermissionResolvedData, 'turnId'>)
  | ({ kind: 'usage' } & TurnUsage)
  /** How full the agent's context window is, in tokens, where the agent says. */
  | { kind: 'context'; used: number; size: number }
  | { kind: 'status'; message: string }
  | { kind: 'error'; message: string };

export type AgentEventKind = AgentEvent['kind'];

/** An agent event as the log stores and the stream sends it: the kind is the event's name, the rest its data. */
export type AgentEventData<K extends AgentEventKind> = Omit<Extract<AgentEvent, { kind: K }>, 'kind'> & { turnId: string };

/** A permission request as the stream carries it: `kind` is the request's kind, as the API shows it. */
export type PermissionRequestData = Pick<
  PermissionRequestView,
  'requestId' | 'turnId' | 'kind' | 'tool' | 'toolCallId' | 'input' | 'options' | 'details' | 'questions' | 'plan' | 'createdAt'
>;

export type PermissionResolvedData = {
  turnId: string;
  requestId: string;
  outcome: PermissionOutcome;
  optionId?: string;
  message?: string;
  answers?: Record<string, string>;
  answeredAt: string;
};

/** The name and data under which an agent event is logged and streamed. */
export function agentEventData(event: AgentEvent, turnId: string): { name: AgentEventKind; data: Record<string, unknown> } {
  if (event.kind === 'permission_request') return { name: event.kind, data: { turnId, ...event.request } };
  const { kind, ...data } = event;
  return { name: kind, data: { turnId, ...data } };
}

/** The agent event a logged or streamed event stands for; its `turnId` is left out. */
export function agentEventOf(name: AgentEventKind, data: object): AgentEvent {
  const { turnId: _, ...rest } = data as { turnId?: string };
  if (name === 'permission_request') return { kind: name, request: rest as Omit<PermissionRequestData, 'turnId'> };
  return { ...rest, kind: name } as AgentEvent;
}

/** How a session's turn may fail, as its driver reports it. */
export type AgentFailure =
  | 'aborted' // stopped on request
  | 'busy' // a turn was already in flight in the session
  | 'api_error' // the model API answered with an error
  | 'agent_error' // the agent reported a failed turn (max turns, budget, ...)
  | 'crashed' // the agent process died or its library threw
  | 'start_failed' // the agent could not be started
  | 'closed'; // the session was closed under the turn

/** Why a turn failed, where a client may branch on it. */
export type TurnErrorCode =
  | AgentFailure
  | 'interrupted' // the server stopped during the turn, or before it started
  | 'database_unavailable' // the database could not be reached
  | 'internal' // a fault of Hearth's own; the server's log has the detail
  | (string & {}); // a refusal of the request, by its code (no_worktree, agent_not_installed, ...)

/** The data of each event a chat's stream carries, by event name. */
export interface ChatEventMap {
  /** A stored message: the user's when it is accepted, the agent's as it completes. */
  message:
    | { turnId: string; messageId: string; role: 'user'; agent: string; parts: MessagePart[] }
    | AgentEventData<'message'>;
  turn_start: { turnId: string; agent: string; backend: string };
  turn_end:
    | { turnId: string; ok: true; stopReason?: StopReason }
    | { turnId: string; ok: false; error: string; code: TurnErrorCode };
  /** A notice; `queued` with the turn's place in line while it waits. */
  status: { turnId: string; message: string; position?: number };
  text_delta: AgentEventData<'text_delta'>;
  thinking_delta: AgentEventData<'thinking_delta'>;
  tool_call: AgentEventData<'tool_call'>;
  tool_call_delta: AgentEventData<'tool_call_delta'>;
  tool_update: AgentEventData<'tool_update'>;
  tool_result: AgentEventData<'tool_result'>;
  plan: AgentEventData<'plan'>;
  mode: AgentEventData<'mode'>;
  permission_request: PermissionRequestData;
  permission_resolved: PermissionResolvedData;
  usage: AgentEventData<'usage'>;
  context: AgentEventData<'context'>;
  error: AgentEventData<'error'>;
}

export type ChatEventName = keyof ChatEventMap;

/** Every event name a chat's stream may carry; a browser's EventSource needs each registered. */
export const CHAT_EVENT_NAMES = [
  'message',
  'turn_start',
  'text_delta',
  'thinking_delta',
  'tool_call_delta',
  'tool_call',
  'tool_update',
  'tool_result',
  'plan',
  'mode',
  'usage',
  'context',
  'status',
  'error',
  'permission_request',
  'permission_resolved',
  'turn_end',
] as const satisfies readonly ChatEventName[];

/** One event of a chat's stream as a client receives it: `id` is the chat's sequence number. */
export type ChatEvent = { [K in ChatEventName]: { id: number; event: K; data: ChatEventMap[K] } }[ChatEventName];
