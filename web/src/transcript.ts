/**
 * A chat's transcript built from its event stream, the same events live and replayed:
 * one turn per user message, each holding what the agent did, in order.
 */
import type { ChatEvent } from './chat-event.js';

export type Item =
  | { kind: 'text'; messageId: string | null; text: string }
  | { kind: 'thinking'; messageId: string | null; text: string }
  | { kind: 'tool'; id: string; name: string; input: unknown; partialInput: string; output: string | null; isError: boolean }
  | { kind: 'error'; message: string }
  | { kind: 'notice'; message: string };

export type TurnStatus = 'starting' | 'queued' | 'running' | 'done' | 'failed' | 'aborted' | 'interrupted';

export interface Turn {
  id: string;
  userText: string;
  status: TurnStatus;
  backend: string | null;
  items: Item[];
  error: string | null;
  costUsd: number;
  tokens: number;
}

export interface Transcript {
  turns: Turn[];
  lastEventId: number;
}

export const emptyTranscript: Transcript = { turns: [], lastEventId: 0 };

type Part = { type: 'text'; text: string } | { type: 'thinking'; text: string } | { type: 'tool_call'; id: string; name: string; input: unknown };

/** The transcript after one more event; the input is not changed. */
export function applyEvent(t: Transcript, e: ChatEvent): Transcript {
  if (e.id <= t.lastEventId) return t;
  const d = e.data as Record<string, any>;
  const turnId = typeof d.turnId === 'string' ? d.turnId : null;
  const turns = t.turns.slice();
  const at = turnId ? turns.findIndex((x) => x.id === turnId) : -1;
  const update = (fn: (turn: Turn) => Turn) => {
    if (at >= 0) turns[at] = fn({ ...turns[at]!, items: turns[at]!.items.slice() });
  };

  switch (e.event) {
    case 'message':
      if (d.role === 'user' && turnId && at < 0) {
        const text = (d.parts as Part[]).map((p) => ('text' in p ? p.text : '')).join('');
        turns.push({ id: turnId, userText: text, status: 'starting', backend: null, items: [], error: null, costUsd: 0, tokens: 0 });
      } else if (d.role === 'assistant') {
        update((turn) => ({ ...turn, items: settleMessage(turn.items, d.messageId ?? null, d.parts as Part[]) }));
      }
      break;
    case 'turn_start':
      update((turn) => ({ ...turn, status: 'running', backend: d.backend ?? null }));
      break;
    case 'text_delta':
    case 'thinking_delta': {
      const kind = e.event === 'text_delta' ? 'text' : 'thinking';
      update((turn) => {
        const last = turn.items[turn.items.length - 1];
        if (last && last.kind === kind && last.messageId === (d.messageId ?? null)) {
          turn.items[turn.items.length - 1] = { ...last, text: last.text + d.text };
        } else {
          turn.items.push({ kind, messageId: d.messageId ?? null, text: String(d.text) });
        }
        return turn;
      });
      break;
    }
    case 'tool_call_delta':
    case 'tool_call':
      update((turn) => {
        const i = turn.items.findIndex((x) => x.kind === 'tool' && x.id === d.id);
        const found = i >= 0 ? (turn.items[i] as Extract<Item, { kind: 'tool' }>) : null;
        const tool: Extract<Item, { kind: 'tool' }> = found
          ? { ...found }
          : { kind: 'tool', id: d.id, name: d.name, input: undefined, partialInput: '', output: null, isError: false };
        if (e.event === 'tool_call') tool.input = d.input;
        else tool.partialInput += d.partialJson ?? '';
        if (i >= 0) turn.items[i] = tool;
        else turn.items.push(tool);
        return turn;
      });
      break;
    case 'tool_result':
      update((turn) => {
        const i = turn.items.findIndex((x) => x.kind === 'tool' && x.id === d.id);
        if (i >= 0) turn.items[i] = { ...(turn.items[i] as Extract<Item, { kind: 'tool' }>), output: String(d.output), isError: !!d.isError };
        return turn;
      });
      break;
    case 'usage':
      update((turn) => ({
        ...turn,
        costUsd: turn.costUsd + (Number(d.costUsd) || 0),
        tokens: turn.tokens + (Number(d.inputTokens) || 0) + (Number(d.outputTokens) || 0),
      }));
      break;
    case 'error':
      update((turn) => ({ ...turn, items: [...turn.items, { kind: 'error', message: String(d.message) }] }));
      break;
    case 'status':
      if (d.message === 'queued') update((turn) => ({ ...turn, status: turn.status === 'starting' ? 'queued' : turn.status }));
      else update((turn) => ({ ...turn, items: [...turn.items, { kind: 'notice', message: String(d.message) }] }));
      break;
    case 'turn_end':
      update((turn) => ({
        ...turn,
        status: d.ok ? 'done' : d.code === 'aborted' ? 'aborted' : d.code === 'interrupted' ? 'interrupted' : 'failed',
        error: d.ok ? null : (d.error ?? null),
      }));
      break;
  }
  return { turns, lastEventId: e.id };
}

/** The transcript after a run of events, as one step: a replay of thousands renders once, not once an event. */
export function applyEvents(t: Transcript, events: readonly ChatEvent[]): Transcript {
  return events.reduce(applyEvent, t);
}

/**
 * A complete assistant message replaces what its deltas built (they may have been cut
 * short), keeping tool calls' results.
 */
function settleMessage(items: Item[], messageId: string | null, parts: Part[]): Item[] {
  const first = items.findIndex((x) => (x.kind === 'text' || x.kind === 'thinking') && x.messageId === messageId);
  const rest = items.filter((x) => !((x.kind === 'text' || x.kind === 'thinking') && x.messageId === messageId));
  const tools = new Map(rest.flatMap((x) => (x.kind === 'tool' ? [[x.id, x] as const] : [])));
  const settled: Item[] = [];
  for (const p of parts) {
    if (p.type === 'tool_call') {
      if (!tools.has(p.id)) settled.push({ kind: 'tool', id: p.id, name: p.name, input: p.input, partialInput: '', output: null, isError: false });
    } else {
      settled.push({ kind: p.type, messageId, text: p.text });
    }
  }
  const removed = (x: Item) => (x.kind === 'text' || x.kind === 'thinking') && x.messageId === messageId;
  const at = first >= 0 ? items.slice(0, first).filter((x) => !removed(x)).length : rest.length;
  return [...rest.slice(0, at), ...settled, ...rest.slice(at)];
}

/** Whether any turn is still going or waiting. */
export function busy(t: Transcript): boolean {
  return t.turns.some((x) => x.status === 'starting' || x.status === 'queued' || x.status === 'running');
}
