import { isUuid } from '../api/ids.js';
import type { HearthApi } from './api-client.js';
import { UsageError } from './errors.js';

export const MIN_PREFIX = 4;

/** A chat's full id from the id itself or a unique prefix of at least four characters. */
export async function resolveChatId(api: HearthApi, ref: string): Promise<string> {
  const wanted = ref.trim().toLowerCase();
  if (isUuid(wanted)) return wanted;
  if (wanted.length < MIN_PREFIX) {
    throw new UsageError(`"${ref}" is too short to name a chat: give its id or at least ${MIN_PREFIX} characters of it`);
  }
  const { chats } = await api.listChats();
  const matches = chats.filter((c) => c.id.startsWith(wanted));
  if (matches.length === 0) throw new UsageError(`no chat id starts with "${ref}" (hearth chats lists them)`);
  if (matches.length > 1) {
    const ids = matches.map((c) => c.id).join(', ');
    throw new UsageError(`"${ref}" is ambiguous: ${matches.length} chats start with it (${ids}); give more characters`);
  }
  return matches[0]!.id;
}
