/**
 * The one set of rules by which a turn's events become its assistant message: the server
 * stores what it folds, a restarted server rebuilds an interrupted turn's reply with it,
 * and the web UI shows a turn as it folds, live or replayed.
 */
import type { AgentEvent } from './events.js';
import type { MessagePart, StoredPart, StoredPermission, StoredToolCall } from './parts.js';
import { withoutUndefined } from './without-undefined.js';

export interface FoldItem {
  readonly part: StoredPart;
  /** For text and thinking built from deltas: the message they belong to, until that message arrives whole. */
  readonly streaming?: { messageId: string | null };
  /** For a tool call whose input is still being written: the JSON text so far. */
  readonly partialInput?: string;
}

/** A turn's reply so far. Never changed in place: each event gives a new fold. */
export interface TurnFold {
  readonly items: readonly FoldItem[];
}

export const emptyFold: TurnFold = { items: [] };

/** The events that change a turn's reply; the fold leaves it as it is for every other kind. */
export const REPLY_EVENT_KINDS = [
  'text_delta',
  'thinking_delta',
  'message',
  'tool_call_delta',
  'tool_call',
  'tool_update',
  'tool_result',
  'plan',
  'permission_request',
  'permission_resolved',
  'error',
] as const satisfies readonly AgentEvent['kind'][];

/**
 * The fold after one more event. Text and thinking grow from deltas; a whole message then
 * takes the place of its deltas (they may have been cut short), so nothing shows twice;
 * deltas no message covers stay, so a turn that breaks off keeps what it showed. A tool
 * call is one part however many times it is reported; its result follows it.
 */
export function foldEvent(fold: TurnFold, event: AgentEvent): TurnFold {
  switch (event.kind) {
    case 'text_delta':
    case 'thinking_delta': {
      const type = event.kind === 'text_delta' ? 'text' : 'thinking';
      const last = fold.items.at(-1);
      if (last?.streaming && last.part.type === type && last.streaming.messageId === event.messageId) {
        return replaceAt(fold, fold.items.length - 1, { part: { type, text: last.part.text + event.text }, streaming: last.streaming });
      }
      return append(fold, { part: { type, text: event.text }, streaming: { messageId: event.messageId } });
    }
    case 'message':
      return settleMessage(fold, event.messageId, event.parts);
    case 'tool_call_delta': {
      const at = toolAt(fold, event.id);
      if (at < 0) {
        return append(fold, { part: { type: 'tool_call', id: event.id, name: event.name, input: undefined, status: 'pending' }, partialInput: event.partialJson });
      }
      const item = fold.items[at]!;
      return replaceAt(fold, at, { part: item.part, partialInput: (item.partialInput ?? '') + event.partialJson });
    }
    case 'tool_call': {
      const { kind: _, ...call } = withoutUndefined(event);
      // A call reported again after its result keeps the status the result gave it.
      const status = (found: StoredToolCall | undefined) => (found && ended(found.status) ? found.status : call.status);
      return upsertTool(fold, event.id, (found) => ({ ...found, ...call, type: 'tool_call', status: status(found) }), true);
    }
    case 'tool_update': {
      const { kind: _, ...update } = withoutUndefined(event);
      return upsertTool(
        fold,
        event.id,
        (found) => withoutUndefined({ ...found, ...update, type: 'tool_call', name: found?.name ?? '', input: update.input ?? found?.input }),
        update.input !== undefined,
      );
    }
    case 'tool_result': {
      const at = toolAt(fold, event.id);
      const result: FoldItem = { part: { type: 'tool_result', id: event.id, output: event.output, isError: event.isError } };
      if (at < 0) return append(fold, result);
      const call: FoldItem = { part: { ...(fold.items[at]!.part as StoredToolCall), status: event.isError ? 'failed' : 'completed' } };
      // Right under its call and what was asked about it, so parallel calls each read with their own result.
      const items = fold.items.slice();
      items[at] = call;
      items.splice(afterAsks(fold, at), 0, result);
      return { items };
    }
    case 'plan': {
      const at = fold.items.findIndex((x) => x.part.type === 'plan');
      const before = at >= 0 ? (fold.items[at]!.part as Extract<StoredPart, { type: 'plan' }>) : null;
      const text = event.text ?? before?.text;
      const part: StoredPart = { type: 'plan', entries: event.entries, ...(text === undefined ? {} : { text }) };
      return at >= 0 ? replaceAt(fold, at, { part }) : append(fold, { part });
    }
    case 'permission_request': {
      if (permissionAt(fold, event.request.requestId) >= 0) return fold;
      const item: FoldItem = { part: withoutUndefined({ type: 'permission', ...event.request }) };
      const call = event.request.toolCallId === null ? -1 : toolAt(fold, event.request.toolCallId);
      if (call < 0) return append(fold, item);
      // Under the call it asks about (and its earlier requests), so it reads where it arose.
      const items = fold.items.slice();
      items.splice(afterAsks(fold, call), 0, item);
      return { items };
    }
    case 'permission_resolved': {
      const at = permissionAt(fold, event.requestId);
      if (at < 0) return fold;
      const { kind: _, requestId: __, ...resolved } = withoutUndefined(event);
      return replaceAt(fold, at, { part: { ...(fold.items[at]!.part as StoredPermission), ...resolved } });
    }
    case 'error':
      return append(fold, { part: { type: 'error', message: event.message } });
    default:
      // Usage, status notices and mode changes are not part of the reply.
      return fold;
  }
}

export function foldEvents(events: Iterable<AgentEvent>, fold: TurnFold = emptyFold): TurnFold {
  for (const event of events) fold = foldEvent(fold, event);
  return fold;
}

/** The parts to store for the fold. */
export function foldedParts(fold: TurnFold): StoredPart[] {
  return fold.items.map((x) => x.part);
}

/**
 * A whole message in place of the deltas that streamed it, where its first delta was (at
 * the end when none did), with tool calls already reported kept as reported and given
 * the message's input.
 */
function settleMessage(fold: TurnFold, messageId: string | null, parts: readonly MessagePart[]): TurnFold {
  const calls = new Set(parts.flatMap((p) => (p.type === 'tool_call' ? [p.id] : [])));
  const covered = (x: FoldItem) =>
    (x.streaming !== undefined && x.streaming.messageId === messageId) || (x.part.type === 'tool_call' && calls.has(x.part.id));
  const first = fold.items.findIndex(covered);
  const reported = new Map(fold.items.flatMap((x) => (x.part.type === 'tool_call' ? [[x.part.id, x.part] as const] : [])));
  const settled: FoldItem[] = parts.map((p) =>
    p.type === 'tool_call' ? { part: withoutUndefined({ ...reported.get(p.id), ...p }) } : { part: { type: p.type, text: p.text } },
  );
  const kept = fold.items.filter((x) => !covered(x));
  const at = first >= 0 ? fold.items.slice(0, first).filter((x) => !covered(x)).length : kept.length;
  return { items: [...kept.slice(0, at), ...settled, ...kept.slice(at)] };
}

function ended(status: StoredToolCall['status']): boolean {
  return status === 'completed' || status === 'failed';
}

function toolAt(fold: TurnFold, id: string): number {
  return fold.items.findIndex((x) => x.part.type === 'tool_call' && x.part.id === id);
}

/** The place after the tool call at `at` and the requests that ask about it. */
function afterAsks(fold: TurnFold, at: number): number {
  const id = (fold.items[at]!.part as StoredToolCall).id;
  let next = at + 1;
  while (next < fold.items.length) {
    const part = fold.items[next]!.part;
    if (part.type !== 'permission' || part.toolCallId !== id) break;
    next++;
  }
  return next;
}

function permissionAt(fold: TurnFold, requestId: string): number {
  return fold.items.findIndex((x) => x.part.type === 'permission' && x.part.requestId === requestId);
}

function upsertTool(fold: TurnFold, id: string, make: (found: StoredToolCall | undefined) => StoredToolCall, inputKnown: boolean): TurnFold {
  const at = toolAt(fold, id);
  if (at < 0) return append(fold, { part: make(undefined) });
  const item = fold.items[at]!;
  const part = make(item.part as StoredToolCall);
  return replaceAt(fold, at, inputKnown || item.partialInput === undefined ? { part } : { part, partialInput: item.partialInput });
}

function append(fold: TurnFold, item: FoldItem): TurnFold {
  return { items: [...fold.items, item] };
}

function replaceAt(fold: TurnFold, at: number, item: FoldItem): TurnFold {
  const items = fold.items.slice();
  items[at] = item;
  return { items };
}
