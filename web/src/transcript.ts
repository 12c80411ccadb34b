/**
 * A chat's transcript built from its event stream, the same events live and replayed:
 * one turn per user message. A turn's reply is the wire module's fold of its agent events,
 * so the page shows what the server stores; the turn's lifecycle, cost and notices are
 * the transcript's own.
 */
import { agentEventOf, type AgentEvent, type AgentEventKind, type ChatEvent } from '../../src/api/events.js';
import { emptyFold, foldEvent, type TurnFold } from '../../src/api/fold.js';

/** A line beside the reply: a status notice, or the session's new mode; `at` is how many reply items came before it. */
export type Notice = { kind: 'status'; at: number; message: string } | { kind: 'mode'; at: number; mode: string };

export type TurnStatus = 'starting' | 'queued' | 'running' | 'done' | 'failed' | 'aborted' | 'interrupted';

export interface Turn {
  id: string;
  /** The agent the message was for, which writes the reply. */
  agent: string | null;
  userText: string;
  status: TurnStatus;
  backend: string | null;
  reply: TurnFold;
  notices: Notice[];
  error: string | null;
  /** Null while no usage with a cost has come: the agent may report none. */
  costUsd: number | null;
  tokens: number;
  /** How full the agent's context window was when it last said, in tokens. */
  context: { used: number; size: number } | null;
}

export interface Transcript {
  turns: Turn[];
  lastEventId: number;
}

export const emptyTranscript: Transcript = { turns: [], lastEventId: 0 };

/** The transcript after one more event; the input is not changed. */
export function applyEvent(t: Transcript, e: ChatEvent): Transcript {
  if (e.id <= t.lastEventId) return t;
  const turns = t.turns.slice();
  const at = turns.findIndex((x) => x.id === e.data.turnId);
  const update = (fn: (turn: Turn) => Turn) => {
    if (at >= 0) turns[at] = fn(turns[at]!);
  };
  const notice = (turn: Turn, n: { kind: 'status'; message: string } | { kind: 'mode'; mode: string }): Turn => ({
    ...turn,
    notices: [...turn.notices, { ...n, at: turn.reply.items.length }],
  });

  switch (e.event) {
    case 'message':
      if (e.data.role === 'user') {
        if (at < 0) {
          const text = e.data.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
          turns.push({ id: e.data.turnId, agent: e.data.agent ?? null, userText: text, status: 'starting', backend: null, reply: emptyFold, notices: [], error: null, costUsd: null, tokens: 0, context: null });
        }
        break;
      }
      update((turn) => ({ ...turn, reply: foldEvent(turn.reply, agentEvent(e)) }));
      break;
    case 'turn_start':
      update((turn) => ({ ...turn, status: 'running', backend: e.data.backend ?? null, agent: e.data.agent ?? turn.agent }));
      break;
    case 'text_delta':
    case 'thinking_delta':
    case 'tool_call_delta':
    case 'tool_call':
    case 'tool_update':
    case 'tool_result':
    case 'plan':
    case 'permission_request':
    case 'permission_resolved':
    case 'error':
      update((turn) => ({ ...turn, reply: foldEvent(turn.reply, agentEvent(e)) }));
      break;
    case 'mode':
      update((turn) => notice(turn, { kind: 'mode', mode: e.data.mode }));
      break;
    case 'context':
      update((turn) => ({ ...turn, context: { used: Number(e.data.used) || 0, size: Number(e.data.size) || 0 } }));
      break;
    case 'usage':
      update((turn) => ({
        ...turn,
        costUsd: e.data.costUsd === null ? turn.costUsd : (turn.costUsd ?? 0) + (Number(e.data.costUsd) || 0),
        tokens: turn.tokens + (Number(e.data.inputTokens) || 0) + (Number(e.data.outputTokens) || 0),
      }));
      break;
    case 'status':
      if (e.data.message === 'queued') update((turn) => ({ ...turn, status: turn.status === 'starting' ? 'queued' : turn.status }));
      else update((turn) => notice(turn, { kind: 'status', message: e.data.message }));
      break;
    case 'turn_end': {
      const end = e.data;
      update((turn) => ({
        ...turn,
        status: end.ok ? 'done' : end.code === 'aborted' ? 'aborted' : end.code === 'interrupted' ? 'interrupted' : 'failed',
        error: end.ok ? null : (end.error ?? null),
      }));
      break;
    }
  }
  return { turns, lastEventId: e.id };
}

/** The transcript after a run of events, as one step: a replay of thousands renders once, not once an event. */
export function applyEvents(t: Transcript, events: readonly ChatEvent[]): Transcript {
  return events.reduce(applyEvent, t);
}

/** An event of the reply as the fold takes it: its name is its kind, and the turn is the transcript's business. */
function agentEvent(e: ChatEvent): AgentEvent {
  return agentEventOf(e.event as AgentEventKind, e.data);
}

/** The agents the transcript's turns were for, in the order they first spoke. */
export function agentsOf(t: Transcript): string[] {
  return [...new Set(t.turns.flatMap((x) => (x.agent ? [x.agent] : [])))];
}

/** Whether any turn is still going or waiting. */
export function busy(t: Transcript): boolean {
  return t.turns.some((x) => x.status === 'starting' || x.status === 'queued' || x.status === 'running');
}
