import type { HearthApi } from '../api-client.js';
import { table } from '../render.js';
import { BACKEND_SHORT_NAMES } from '../../api/views.js';

/** Lists the agents the server can run: what `new --agent` and `send --agent` take, each with its backends and whether they are up. */
export async function listAgents(api: HearthApi, options: { json: boolean }): Promise<number> {
  const agents = await api.agents();
  if (options.json) {
    process.stdout.write(JSON.stringify({ agents }) + '\n');
    return 0;
  }
  if (agents.length === 0) {
    process.stdout.write('no agent is installed on the server (GET /health says why one found does not start)\n');
    return 0;
  }
  const rows = agents.map((a) => [
    a.name,
    a.version,
    a.backends.map((b) => `${BACKEND_SHORT_NAMES[b.kind] ?? b.kind} ${b.status}`).join(', ') || '-',
    a.capabilities ? (a.capabilities.resumes ? 'yes' : 'no') : '?',
  ]);
  process.stdout.write(table([['AGENT', 'VERSION', 'BACKENDS', 'RESUMES'], ...rows]) + '\n');
  return 0;
}
