import type { ChatView } from '../../runtime/chats.js';
import type { HearthApi } from '../api-client.js';
import { formatCost, oneLine, shortPath, table } from '../render.js';

/** Chat detail requests in flight at once: the list has no costs, each chat's own view does. */
const PARALLEL = 8;

/** Lists chats, most recently active first, with what each has cost so far. */
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
  const costs = await costsOf(api, list.chats);
  const rows = list.chats.map((c, i) => [
    c.id.slice(0, 8),
    oneLine(c.title || shortPath(c.repoPath), 40),
    c.agent,
    c.busy ? 'busy' : 'idle',
    c.branch ?? '-',
    costs[i] === undefined ? '-' : formatCost(costs[i]),
  ]);
  process.stdout.write(table([['ID', 'CHAT', 'AGENT', 'STATE', 'BRANCH', 'COST'], ...rows]) + '\n');
  return 0;
}

/** Each chat's cost over its agent sessions; undefined when it has none yet or the chat went away. */
async function costsOf(api: HearthApi, chats: ChatView[]): Promise<Array<number | undefined>> {
  const costs: Array<number | undefined> = new Array(chats.length);
  let next = 0;
  const worker = async () => {
    while (next < chats.length) {
      const i = next++;
      const chat = await api.getChat(chats[i]!.id).catch(() => null);
      const sessions = chat?.sessions ?? [];
      if (sessions.length > 0) costs[i] = sessions.reduce((sum, s) => sum + s.cost, 0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, chats.length) }, worker));
  return costs;
}
