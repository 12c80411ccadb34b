/**
 * Runs the benchmarks: `npm run bench` for all, or name some (`npm run bench -- store`).
 * Each prints its own tables and cleans up after itself.
 */
import { benchAcpAgents } from './acp-agents.js';
import { benchClaudePaths } from './claude-paths.js';
import { benchClaudeSdkDriver } from './claude-sdk-driver.js';
import { benchEventLog } from './event-log.js';
import { benchHttpApi } from './http-api.js';
import { benchFirstMessage } from './first-message.js';
import { benchOpencode } from './opencode.js';
import { benchPermissions } from './permissions.js';
import { sessionStoreBench } from './session-store.js';

const benches: Record<string, () => Promise<void>> = {
  store: sessionStoreBench,
  claude: benchClaudeSdkDriver,
  paths: benchClaudePaths,
  http: benchHttpApi,
  first: benchFirstMessage,
  events: benchEventLog,
  permissions: benchPermissions,
  acp: benchAcpAgents,
  opencode: benchOpencode,
};
const chosen = process.argv.slice(2);
for (const name of chosen.length ? chosen : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) throw new Error(`unknown benchmark "${name}"; choose from: ${Object.keys(benches).join(', ')}`);
  await bench();
}
