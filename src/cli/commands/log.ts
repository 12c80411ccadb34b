import type { StoredMessage } from '../../runtime/chats.js';
import type { StoredPart } from '../../runtime/dispatcher.js';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { errorLine, printable, styleFor, toolCallLine, toolResultLine, type Style } from '../render.js';

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

export function renderHistory(messages: StoredMessage[], style: Style): string {
  const turns: string[] = [];
  let current: { turnId: string | null; status: string | null; lines: string[] } | null = null;
  const close = () => {
    if (!current) return;
    if (current.status && current.status !== 'succeeded') current.lines.push(style.dim(`· turn ${current.status}`));
    turns.push(current.lines.join('\n'));
    current = null;
  };
  for (const message of messages) {
    if (!current || message.turnId === null || message.turnId !== current.turnId) {
      close();
      current = { turnId: message.turnId, status: message.turnStatus, lines: [] };
    }
    for (const part of message.parts) current.lines.push(renderPart(part, message.role, style));
  }
  close();
  return turns.length === 0 ? '' : turns.join('\n\n') + '\n';
}

function renderPart(part: StoredPart, role: StoredMessage['role'], style: Style): string {
  switch (part.type) {
    case 'text':
      return role === 'user' ? style.bold(indent('❯ ', printable(part.text))) : printable(part.text).replace(/\n+$/, '');
    case 'thinking':
      return style.dim(indent('✻ ', printable(part.text)));
    case 'tool_call':
      return toolCallLine(part.name, part.input);
    case 'tool_result':
      return toolResultLine(part.output, part.isError, style);
    case 'error':
      return errorLine(part.message, style);
  }
}

/** The first line after `lead`, the rest under it. */
function indent(lead: string, text: string): string {
  return lead + text.replace(/\n+$/, '').split('\n').join('\n' + ' '.repeat(lead.length));
}
