import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/** What the reaper ends once the server is gone. */
export interface ReaperOrders {
  /** The tag prefix of this server instance's agents. */
  tagPrefix: string;
  /** This server instance's cgroup directory, where agents have cgroups. */
  cgroup: string | null;
}

/**
 * A process of its own that outlives the server only to end the agents the server
 * started: when its channel to the server closes (the server exited, crashed or was
 * killed with SIGKILL) it ends this instance's agent cgroups and tagged processes, then
 * exits. It runs in a session of its own, so nothing that signals the server's process
 * group or an agent's reaches it.
 */
export class AgentReaper {
  private state: 'running' | 'closing' = 'running';

  private constructor(
    private readonly child: ChildProcess,
    private readonly log: Logger,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Starts the reaper; its readiness is logged, not awaited: an early server death still reaches it. */
  static start(orders: ReaperOrders, log: Logger): AgentReaper {
    const dev = import.meta.url.endsWith('.ts');
    const main = fileURLToPath(new URL(`./agent-reaper-main.${dev ? 'ts' : 'js'}`, import.meta.url));
    const child = fork(main, [JSON.stringify(orders)], {
      detached: true,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}) },
      // Under the TypeScript loader in development; compiled code needs none.
      execArgv: dev ? ['--import', import.meta.resolve('tsx')] : [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const reaper = new AgentReaper(child, log);
    child.once('message', () => log.debug({ pid: child.pid }, 'agent reaper ready'));
    child.once('error', (err) => log.error({ err }, 'the agent reaper did not start: agents outlive a server that dies uncleanly until it restarts'));
    child.once('exit', (code, signal) => {
      if (reaper.state === 'running') log.error({ code, signal }, 'the agent reaper ended: agents outlive a server that dies uncleanly until it restarts');
    });
    // The server's life is not held up by it; its channel closing is what it waits for.
    child.unref();
    child.channel?.unref();
    return reaper;
  }

  /** Lets the reaper sweep and exit, as it would on the server's death; waits at most `ms`, then kills it. */
  async close(ms = 5_000): Promise<void> {
    const { child } = this;
    this.state = 'closing';
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    if (child.connected) child.disconnect();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)))]);
    clearTimeout(timer);
    if (late) {
      this.log.warn({ pid: child.pid }, 'the agent reaper did not exit; killing it');
      child.kill('SIGKILL');
      await exited;
    }
  }
}
