import { inTurnOrder } from '../../api/turn-order.js';
import type { StoredPart } from '../../api/parts.js';
import type { StoredMessage } from '../../api/views.js';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { outcomeLine, requestHeadline } from '../permission-lines.js';
import { diffBlock, errorLine, planLines, printable, styleFor, toolCallLine, toolResultLine, type Style } from '../render.js';

/** Prints a chat's history: each turn's message and reply, and how the turn ended when it did not succeed. */
export async function showLog(api: HearthApi, ref: string, options: { json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, ref);
  const history = await api.history(chatId);
  if (options.json) {
    process.stdout.write(JSON.stringify(history) + '\n');
    return 0;
  }
  process.stdout.write(history.messages.length === 0 ? 'no messages yet\n' : renderHistory(history.messages, styleFor(process.stdout)));
  return 0;
}

/**
 * Each turn's message, its reply and how it ended, turns in the order their messages
 * were sent. A reply is stored when its turn ends, after messages that queued behind it,
 * so messages are gathered by turn rather than taken in stored order.
 */
export function renderHistory(messages: StoredMessage[], style: Style): string {
  const turns = inTurnOrder(messages);
  // In a chat that has talked to more than one agent, each reply says whose it is.
  const several = new Set(messages.map((m) => m.agent)).size > 1;
  return turns.length === 0 ? '' : turns.map((turn) => renderTurn(turn, style, several)).join('\n\n') + '\n';
}

function renderTurn(messages: StoredMessage[], style: Style, nameAgents: boolean): string {
  const lines: string[] = [];
  const shown = new Set<string>();
  for (const message of messages) {
    if (nameAgents && message.role === 'assistant' && message.agent) lines.push(style.dim(`· ${printable(message.agent)}`));
    for (const part of message.parts) {
      if (part.type === 'error') shown.add(part.message);
      lines.push(renderPart(part, message.role, style));
    }
  }
  const { turnStatus: status, turnError: error } = messages[0]!;
  if (status && status !== 'succeeded') lines.push(style.dim(turnEnd(status, error ?? null, shown)));
  return lines.join('\n');
}

/**
 * `· turn failed`, with why unless an error line of the turn already said it. A turn the
 * agent ended on being stopped carries the bare word `aborted`; it is said in full.
 */
function turnEnd(status: string, error: string | null, shown: Set<string>): string {
  if (!error || shown.has(error)) return `· turn ${status}`;
  if (status === 'aborted' && error === 'aborted') return '· turn aborted: stopped on request before it finished';
  if (error.startsWith(`${status} `)) return indent('· turn ', printable(error));
  return indent(`· turn ${status}: `, printable(error));
}

function renderPart(part: StoredPart, role: StoredMessage['role'], style: Style): string {
  switch (part.type) {
    case 'text':
      return role === 'user' ? style.bold(indent('❯ ', printable(part.text))) : printable(part.text).replace(/\n+$/, '');
    case 'thinking':
      return style.dim(indent('✻ ', printable(part.text)));
    case 'tool_call':
      return [toolCallLine(part.name, part.input, part.title), ...(part.diffs ?? []).flatMap((d) => diffBlock(d, style))].join('\n');
    case 'plan':
      return planLines(part.entries, part.text, style).join('\n');
    case 'tool_result':
      return toolResultLine(part.output, part.isError, style);
    case 'permission':
      return [
        style.bold(requestHeadline(part)),
        `  ${part.outcome ? outcomeLine(part, { ...part, outcome: part.outcome }, style) : style.dim('· waiting for an answer')}`,
      ].join('\n');
    case 'error':
      return errorLine(part.message, style);
  }
}

/** The first line after `lead`, the rest under it. */
function indent(lead: string, text: string): string {
  return lead + text.replace(/\n+$/, '').split('\n').join('\n' + ' '.repeat(lead.length));
}
