import { inTurnOrder } from '../../api/turn-order.js';
import type { StoredPart } from '../../api/parts.js';
import type { StoredMessage } from '../../api/views.js';

/** A stored message of the chat, as the hand-over reads it; its agent is the user's addressee, or the reply's author. */
export type HistoryMessage = Pick<StoredMessage, 'turnId' | 'role' | 'agent' | 'parts' | 'turnStatus' | 'turnError'>;

/**
 * What the agent's own conversation lacks: `joining`, it starts a new one in a chat that
 * already has a history; `meanwhile`, it goes on with its own, and others spoke since its
 * last turn.
 */
export type HandoverKind = 'joining' | 'meanwhile';

export interface HandoverLimits {
  /** The most characters the told history takes; the oldest messages go first. */
  maxChars: number;
  /** The most characters of one message's text. */
  maxMessageChars: number;
  /** The most characters of one turn as told: the user's message and its reply. */
  maxTurnChars: number;
  /** The most characters of a tool call's summary. */
  maxToolChars: number;
  /** The most tool calls of one reply told in a line each; the rest are counted. */
  maxToolCalls: number;
}

export const HANDOVER_LIMITS: HandoverLimits = { maxChars: 24_000, maxMessageChars: 4_000, maxTurnChars: 8_000, maxToolChars: 160, maxToolCalls: 20 };

export interface HandoverInput {
  kind: HandoverKind;
  /** The agent the prompt is for. */
  agent: string;
  /** What the user says now, as they wrote it. */
  text: string;
  /** The messages the agent has not seen, oldest first. */
  history: readonly HistoryMessage[];
  /** Whether older messages than these were left unread. */
  older?: boolean;
}

/**
 * The prompt for an agent whose own conversation lacks part of the chat: what was said
 * and done that it has not seen, then the user's message. The history is plain text an
 * agent can read (who said what, tool calls in a line each), bounded: when too long, its
 * most recent part is kept and the prompt says that earlier parts are left out. With no
 * history, the prompt is the user's text unchanged.
 */
export function handoverPrompt(input: HandoverInput, limits: HandoverLimits = HANDOVER_LIMITS): string {
  return handover(input, limits).prompt;
}

/** The hand-over prompt, with how many exchanges it tells and whether it left earlier ones out. */
export function handover(input: HandoverInput, limits: HandoverLimits = HANDOVER_LIMITS): { prompt: string; told: number; leftOut: boolean } {
  const entries = inTurnOrder(input.history)
    .map((turn) => turnEntry(turn, limits))
    .filter((e) => e !== '');
  if (entries.length === 0) return { prompt: input.text, told: 0, leftOut: false };
  const kept: string[] = [];
  let size = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (kept.length > 0 && size + entry.length + 2 > limits.maxChars) break;
    kept.unshift(entry);
    size += entry.length + 2;
  }
  const dropped = entries.length - kept.length;
  const note = input.older
    ? ['[Earlier parts of the conversation are left out for length.]']
    : dropped > 0
      ? [`[${dropped} earlier ${dropped === 1 ? 'exchange is' : 'exchanges are'} left out for length.]`]
      : [];
  const body = [...note, ...kept].join('\n\n');
  const intro =
    input.kind === 'joining'
      ? `[Hearth] You (${input.agent}) are joining a conversation in progress. This chat's working directory is shared: other agents, or an earlier session of yours that is no longer available, worked in it, and the files reflect what they did. Here is what was said so far, oldest first:`
      : `[Hearth] Meanwhile, in this chat, since your last turn, the user talked to other agents in the same working directory. Here is what was said and done, oldest first:`;
  const prompt = `${intro}\n\n<conversation>\n${body}\n</conversation>\n\nNow the user says to you:\n\n${input.text}`;
  return { prompt, told: kept.length, leftOut: dropped > 0 || Boolean(input.older) };
}

/** One turn as told: the user's words to an agent, what the agent did and said, and how the turn ended when it did not succeed. */
function turnEntry(messages: HistoryMessage[], limits: HandoverLimits): string {
  const lines: string[] = [];
  const user = messages.find((m) => m.role === 'user');
  const replies = messages.filter((m) => m.role === 'assistant');
  const agent = messages[0]!.agent ?? 'the agent';
  if (user) lines.push(`User (to ${agent}): ${clip(textOf(user.parts), limits.maxMessageChars)}`);
  for (const reply of replies) {
    const said = replyLines(reply.parts, limits);
    if (said.length === 0) continue;
    lines.push(`${reply.agent ?? agent}${user ? '' : ' (replying to an earlier message)'}: ${said.join('\n')}`);
  }
  const { turnStatus: status, turnError: error } = messages[0]!;
  if (status === 'queued' || status === 'running') lines.push(`(${agent} has not finished this turn yet)`);
  else if (status && status !== 'succeeded') lines.push(`(this turn ${status}${error ? `: ${oneLine(error, 200)}` : ''})`);
  return clip(lines.join('\n'), limits.maxTurnChars);
}

/** A reply's text whole (within bounds), each tool call in a line; thinking and permission cards are left out. */
function replyLines(parts: StoredPart[], limits: HandoverLimits): string[] {
  const results = new Map(parts.flatMap((p) => (p.type === 'tool_result' ? [[p.id, p] as const] : [])));
  const lines: string[] = [];
  let budget = limits.maxMessageChars;
  let calls = 0;
  let moreAt = -1;
  for (const part of parts) {
    switch (part.type) {
      case 'text': {
        const text = clip(part.text.trim(), Math.max(budget, 200));
        if (text === '') break;
        budget -= text.length;
        lines.push(text);
        break;
      }
      case 'tool_call': {
        // The calls past the bound are counted where the first of them came.
        if (++calls === limits.maxToolCalls + 1) moreAt = lines.push('') - 1;
        if (calls > limits.maxToolCalls) break;
        const result = results.get(part.id);
        const outcome = result ? (result.isError ? ` → error: ${oneLine(result.output, 80)}` : ' → done') : '';
        lines.push(`  [used ${oneLine(part.title ?? toolSummary(part.name, part.input), limits.maxToolChars)}${outcome}]`);
        break;
      }
      case 'plan':
        lines.push(`  [plan: ${oneLine(part.text ?? part.entries.map((e) => `${e.content} (${e.status})`).join('; '), limits.maxToolChars)}]`);
        break;
      case 'error':
        lines.push(`  [error: ${oneLine(part.message, 200)}]`);
        break;
      default:
        break;
    }
  }
  if (moreAt >= 0) lines[moreAt] = `  [and ${calls - limits.maxToolCalls} more tool calls]`;
  return lines;
}

/** A tool call in words: its name and its most telling input field. */
function toolSummary(name: string, input: unknown): string {
  if (input && typeof input === 'object') {
    const fields = input as Record<string, unknown>;
    for (const key of ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description']) {
      const value = fields[key];
      if (typeof value === 'string' && value !== '') return `${name}: ${value}`;
    }
    const json = JSON.stringify(input);
    return json === '{}' ? name : `${name} ${json}`;
  }
  return name;
}

function textOf(parts: StoredPart[]): string {
  return parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
}

/** The text cut to `max` characters, saying how much was cut. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)} […${text.length - max} more characters left out]`;
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
