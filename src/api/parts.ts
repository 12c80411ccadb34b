/** The parts of stored messages: what a turn leaves in the history, the same for every agent. */
import type { FileDiff, FileLocation, PermissionRequestData, PlanEntry, ToolKind, ToolStatus } from './events.js';
import type { PermissionOutcome } from './permissions.js';

/** A part of an assistant message as the agent reports it whole. */
export type MessagePart =
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | { type: 'tool_call'; id: string; name: string; input: unknown };

/** A tool call as stored: what was asked, and what the agent said about it along the way. */
export interface StoredToolCall {
  type: 'tool_call';
  id: string;
  name: string;
  input: unknown;
  /** Left out where the agent never said (a result, when there is one, says how it ended). */
  status?: ToolStatus;
  title?: string;
  toolKind?: ToolKind;
  locations?: FileLocation[];
  diffs?: FileDiff[];
}

/** A request put to a person during the turn, and how it ended (no outcome while it waits). */
export type StoredPermission = { type: 'permission' } & Omit<PermissionRequestData, 'turnId'> & {
    outcome?: PermissionOutcome;
    optionId?: string;
    message?: string;
    answers?: Record<string, string>;
    answeredAt?: string;
  };

/** A part of a stored message. */
export type StoredPart =
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | StoredToolCall
  | { type: 'tool_result'; id: string; output: string; isError: boolean }
  | { type: 'plan'; entries: PlanEntry[]; text?: string }
  | StoredPermission
  | { type: 'error'; message: string };
