import type { HearthApi } from '../api-client.js';
import { oneLine, shortPath, table, totalCost } from '../render.js';

/** Lists chats, most recently active first: whether each is busy or asks a person something, and what it has cost so far. */
export async function listChats(api: HearthApi, options: { json: boolean }): Promise<number> {
  const list = await api.listChats();
  if (options.json) {
    process.stdout.write(JSON.stringify(list) + '\n');
    return 0;
  }
  if (list.chats.length === 0) {
    process.stdout.write('no chats yet; start one with: hearth new <repo>\n');
    return 0;
  }
  const rows = list.chats.map((c) => [
    c.id.slice(0, 8),
    oneLine(c.title || shortPath(c.repoPath), 40),
    c.agent,
    c.pendingPermissions > 0 ? `asks (${c.pendingPermissions})` : c.busy ? 'busy' : 'idle',
    c.branch ?? '-',
    totalCost(c.sessions ?? []),
  ]);
  process.stdout.write(table([['ID', 'CHAT', 'AGENT', 'STATE', 'BRANCH', 'COST'], ...rows]) + '\n');
  if (await api.demo()) process.stdout.write('(demo mode: the agents talk to a scripted model, not to Claude)\n');
  return 0;
}
