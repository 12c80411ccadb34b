import { PERMISSION_MODES, type PermissionMode } from '../../api/views.js';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { UsageError } from '../errors.js';
import { printable } from '../render.js';

/** Shows a chat's permission mode, or sets it; `agent` goes back to the agent's own default. */
export async function chatMode(api: HearthApi, chatRef: string, wanted: string | undefined, options: { json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, chatRef);
  const chat = wanted === undefined ? await api.getChat(chatId) : await api.updateChat(chatId, { permissionMode: modeOf(wanted) });
  if (options.json) process.stdout.write(JSON.stringify({ id: chat.id, permissionMode: chat.permissionMode }) + '\n');
  else process.stdout.write(`${chat.permissionMode === null ? "agent (the agent's own default)" : printable(chat.permissionMode)}\n`);
  return 0;
}

function modeOf(wanted: string): PermissionMode | null {
  if (wanted === 'agent') return null;
  const known = PERMISSION_MODES.find((m) => m === wanted);
  if (!known) throw new UsageError(`no permission mode "${wanted}": give one of ${PERMISSION_MODES.join(', ')}, or agent`);
  return known;
}
