import type { PermissionRequestView } from '../../api/permissions.js';
import type { ChatView } from '../../api/views.js';
import type { HearthApi } from '../api-client.js';
import { requestHeadline } from '../permission-lines.js';
import { oneLine, shortPath, table } from '../render.js';

/** Lists what waits for a person in every chat, oldest first, and how to answer it. */
export async function listPending(api: HearthApi, options: { json: boolean }): Promise<number> {
  const list = await api.pendingPermissions();
  if (options.json) {
    process.stdout.write(JSON.stringify(list) + '\n');
    return 0;
  }
  if (list.permissions.length === 0) {
    process.stdout.write('nothing waits for an answer\n');
    return 0;
  }
  const { chats } = await api.listChats();
  process.stdout.write(pendingTable(list.permissions, chats, new Date()) + '\n');
  process.stdout.write('answer with: hearth allow <chat> [request] [--always], hearth deny <chat> [request] [--message <text>]\n');
  return 0;
}

/** Requests as rows: chat and request by their short ids, the chat's title, how long each has waited, what it asks. */
export function pendingTable(requests: PermissionRequestView[], chats: ChatView[], now: Date): string {
  const byId = new Map(chats.map((c) => [c.id, c]));
  const rows = requests.map((r) => {
    const chat = byId.get(r.chatId);
    return [
      r.chatId.slice(0, 8),
      r.requestId.slice(0, 8),
      chat ? oneLine(chat.title || shortPath(chat.repoPath), 30) : '-',
      waited(new Date(r.createdAt), now),
      oneLine(requestHeadline(r).replace(/^\? /, ''), 80),
    ];
  });
  return table([['CHAT', 'REQUEST', 'TITLE', 'WAITING', 'ASKS'], ...rows]);
}

/** `42s`, `5m`, `3h`, `2d` */
function waited(since: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
