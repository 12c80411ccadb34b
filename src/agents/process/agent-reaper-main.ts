// The reaper's own process: it waits for the server that started it to go, however it
// goes, and then ends every agent process that server left. Its IPC channel to the
// server is its lifeline: the channel closes when the server exits or is killed.

import { AgentCgroups } from './agent-cgroups.js';
import { killTagged } from './agent-process.js';
import type { ReaperOrders } from './agent-reaper.js';

const orders = JSON.parse(process.argv[2] ?? '{}') as ReaperOrders;

// Its life is the server's: signals meant for a terminal or a process group are not for it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(signal, () => {});

if (!process.send) {
  process.stderr.write('hearth reaper: started without a channel to the server\n');
  process.exit(1);
}

let state: 'watching' | 'sweeping' = 'watching';
const serverGone = () => {
  if (state === 'sweeping') return;
  state = 'sweeping';
  sweep().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`hearth reaper: ${err.message}\n`);
      process.exit(1);
    },
  );
};
process.once('disconnect', serverGone);
// A server that died while this process was loading has already closed the channel.
if (process.connected) process.send('ready', () => {});
else serverGone();

async function sweep(): Promise<void> {
  const cgroups = orders.cgroup ? AgentCgroups.at(orders.cgroup) : null;
  await cgroups?.close();
  // Where there are no cgroups, the tag is what finds the agents' processes.
  for (let i = 0; i < 3 && killTagged(orders.tagPrefix) > 0; i++) await new Promise((r) => setTimeout(r, 50));
}
