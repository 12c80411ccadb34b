import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { procFiles } from './proc-files.js';
import type { AgentCgroup, AgentCgroups } from './agent-cgroups.js';
import { runAs, type AgentUser } from './agent-user.js';
import { signalIfAlive } from '../../util/processes.js';

export interface AgentProcessOptions {
  command: string;
  args: string[];
  cwd?: string;
  env: Record<string, string | undefined>;
  /** Aborting it kills the process group. */
  signal?: AbortSignal;
  /** Starts the process's tag, so one node can find the processes it started (its node id). */
  tagPrefix?: string;
  /** Where the process gets a cgroup of its own; without one, its group and its tag are what find its processes. */
  cgroups?: AgentCgroups | null;
  /** Runs it as this user rather than the server's own (which must be root). */
  user?: AgentUser | null;
}

const STDERR_TAIL = 8 * 1024;

/** Marks every process an agent starts, whatever session or group it moves to. */
export const AGENT_TAG_VAR = 'HEARTH_AGENT_ID';

/**
 * An agent's OS process, leader of a process group of its own, and where cgroups can
 * be made, alone in a cgroup it enters before it runs. The tools it runs inherit a tag
 * in their environment; agents start some tools in sessions of their own (Claude Code's
 * Bash does), beyond the group's reach, and a tool can drop the tag too; leaving the
 * cgroup takes writing to the cgroup tree, which only its owner may. Ending an agent ends its cgroup, its group and every process
 * still carrying its tag. Its stderr is drained into a short tail for error messages.
 */
export class AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: number;
  readonly tag: string;
  readonly cgroup: AgentCgroup | null;
  /** Settles when the process has exited, with how it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';

  constructor(options: AgentProcessOptions) {
    const id = randomUUID();
    this.tag = `${options.tagPrefix ?? ''}${id}`;
    this.cgroup = options.cgroups?.create(id) ?? null;
    const { command, args } = agentCommand(options.command, options.args, { cgroup: this.cgroup, user: options.user });
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...options.env, [AGENT_TAG_VAR]: this.tag },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      // A process that never started has no exit event to give.
      this.child.once('error', () => resolve({ code: null, signal: null }));
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL);
    });
    this.pid = this.child.pid ?? -1;
    options.signal?.addEventListener('abort', () => this.killAll(), { once: true });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.pid > 0;
  }

  stderrTail(): string {
    return this.stderr.trim();
  }

  /** Signals every process in the group; a group already gone is not an error. */
  killGroup(signal: NodeJS.Signals): void {
    if (this.pid > 0) signalIfAlive(-this.pid, signal);
  }

  /** Ends the cgroup, the group and every process that still carries this agent's tag. */
  killAll(): void {
    this.cgroup?.kill();
    this.killGroup('SIGKILL');
    for (const pid of taggedProcesses({ tag: this.tag })) signalIfAlive(pid, 'SIGKILL');
  }

  /** Asks the process to end, then ends everything it started, waiting at most `graceMs` in between. */
  async stop(graceMs: number): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    this.killAll();
    await this.exited;
    await this.descendantsGone(2_000);
    await this.cgroup?.remove();
  }

  /** Waits, at most `ms`, until nothing carrying this process's tag is left: a SIGKILL lands a moment after it is sent. */
  private async descendantsGone(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (taggedProcesses({ tag: this.tag }).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * The command line that runs an agent's command in its cgroup and as its user: the
 * cgroup is entered as the server's user, and the user changed after it.
 */
export function agentCommand(
  command: string,
  args: readonly string[],
  place: { cgroup: AgentCgroup | null; user?: AgentUser | null },
): { command: string; args: string[] } {
  const asUser = place.user ? runAs(place.user, command, args) : { command, args: [...args] };
  return place.cgroup ? place.cgroup.wrap(asUser.command, asUser.args) : asUser;
}

/** Ends every process carrying a tag that starts with `prefix`; returns how many there were. */
export function killTagged(prefix: string): number {
  const pids = taggedProcesses({ prefix });
  for (const pid of pids) signalIfAlive(pid, 'SIGKILL');
  return pids.length;
}

/**
 * Pids whose environment carries an agent tag: exactly `tag`, or any tag starting with
 * `prefix`. Read from /proc; where there is none the list is empty, and the process
 * group is all that is ended.
 */
export function taggedProcesses(match: { tag: string } | { prefix: string }): number[] {
  const wanted = (v: string) =>
    'tag' in match ? v === `${AGENT_TAG_VAR}=${match.tag}` : v.startsWith(`${AGENT_TAG_VAR}=${match.prefix}`);
  const found: number[] = [];
  for (const [pid, environ] of procFiles('environ')) {
    if (pid !== process.pid && environ.split('\0').some(wanted)) found.push(pid);
  }
  return found;
}
