import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { signalIfAlive } from '../../util/processes.js';

/**
 * Moves the shell into the cgroup named by $0, then runs the command: the agent is in
 * its cgroup before it can run anything, so nothing it starts is ever outside it.
 */
const ENTER_THEN_EXEC = 'echo $$ > "$0/cgroup.procs" && exec "$@"';

/** Where cgroup v2 is mounted, from /proc/self/mountinfo; null where it is not (cgroup v1 only, not Linux). */
export function cgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | null {
  let info: string;
  try {
    info = readFileSync(mountinfo, 'utf8');
  } catch {
    return null;
  }
  for (const line of info.split('\n')) {
    const [mount, fs] = line.split(' - ');
    const point = mount?.split(' ')[4];
    if (fs?.startsWith('cgroup2 ') && point) return point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return null;
}

/** A node id as a cgroup name: kept when it is a plain name, else a digest of it. */
export function cgroupName(id: string): string {
  return /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/.test(id) && !id.startsWith('cgroup')
    ? id
    : `n-${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

/**
 * The cgroups of one server instance's agents, one per agent process, in
 * `<cgroup2>/hearth/<node>/<instance>`. A cgroup holds every process its agent starts,
 * whatever session, group or environment a process moves to, so ending an agent ends
 * them all.
 */
export class AgentCgroups {
  private constructor(
    /** This node's cgroups, of every instance. */
    readonly nodeDir: string,
    /** This instance's. */
    readonly dir: string,
    private readonly killFile: boolean,
  ) {}

  /**
   * Makes this instance's cgroup; null where none can be made and entered here (no
   * cgroup v2, or not allowed to write it). `killFile: false` ends processes one by one
   * even where the kernel could end a cgroup at once.
   */
  static open(nodeId: string, instance: string, options: { mount?: string | null; killFile?: boolean } = {}): AgentCgroups | null {
    const mount = options.mount === undefined ? cgroup2Mount() : options.mount;
    if (!mount) return null;
    const nodeDir = path.join(mount, 'hearth', cgroupName(nodeId));
    const dir = path.join(nodeDir, cgroupName(instance));
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(path.join(dir, 'cgroup.procs'), constants.W_OK);
    } catch {
      return null;
    }
    return new AgentCgroups(nodeDir, dir, options.killFile ?? existsSync(path.join(dir, 'cgroup.kill')));
  }

  /** This instance's cgroups as made by `open`, in another process. */
  static at(dir: string): AgentCgroups {
    return new AgentCgroups(path.dirname(dir), dir, existsSync(path.join(dir, 'cgroup.kill')));
  }

  /** Makes the cgroup of one agent process. */
  create(name: string): AgentCgroup {
    const dir = path.join(this.dir, cgroupName(name));
    mkdirSync(dir);
    return new AgentCgroup(dir, this.killFile);
  }

  /** Ends every process of this instance's agents and removes its cgroups; returns how many processes there were. */
  async close(): Promise<number> {
    const ended = await removeCgroupTree(this.dir, this.killFile);
    // The node's own cgroup goes too once no instance is left in it.
    removeDirs(this.nodeDir, false);
    return ended;
  }

  /** Ends and removes what this node's earlier instances left behind; returns how many processes there were. */
  async sweepOthers(): Promise<number> {
    let ended = 0;
    for (const name of subgroups(this.nodeDir)) {
      const dir = path.join(this.nodeDir, name);
      if (dir !== this.dir) ended += await removeCgroupTree(dir, this.killFile);
    }
    return ended;
  }
}

/** One agent process's cgroup. */
export class AgentCgroup {
  constructor(
    readonly dir: string,
    private readonly killFile: boolean,
  ) {}

  /** The command line that runs `command` inside this cgroup. */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command: '/bin/sh', args: ['-c', ENTER_THEN_EXEC, this.dir, command, ...args] };
  }

  /** The processes in it, and in any cgroup made below it. */
  pids(): number[] {
    return tree(this.dir).flatMap(procsOf);
  }

  /**
   * Signals every process in it to die: all at once through cgroup.kill, or else frozen
   * (so none can fork meanwhile) and killed one by one. A cgroup already gone is no error.
   */
  kill(): void {
    if (this.killFile) {
      write(path.join(this.dir, 'cgroup.kill'), '1');
      return;
    }
    for (const dir of tree(this.dir)) {
      write(path.join(dir, 'cgroup.freeze'), '1');
      for (const pid of procsOf(dir)) signalIfAlive(pid, 'SIGKILL');
    }
  }

  /** Kills what is in it until it is empty, then removes it; false if it did not empty within `ms`. */
  async remove(ms = 5_000): Promise<boolean> {
    return (await removeCgroupTree(this.dir, this.killFile, ms)) >= 0;
  }
}

/**
 * Ends every process in the cgroup at `dir` and below, then removes those cgroups,
 * deepest first. Returns how many processes there were, or -1 if some did not end within `ms`.
 */
async function removeCgroupTree(dir: string, killFile: boolean, ms = 5_000): Promise<number> {
  const group = new AgentCgroup(dir, killFile);
  const found = group.pids().length;
  const deadline = Date.now() + ms;
  for (;;) {
    group.kill();
    if (removeDirs(dir)) return found;
    if (Date.now() > deadline) return -1;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Removes a cgroup, and those below it if `below`; false while any still holds a process or a cgroup. */
function removeDirs(dir: string, below = true): boolean {
  if (below) for (const name of subgroups(dir)) if (!removeDirs(path.join(dir, name))) return false;
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** A cgroup and every cgroup below it. */
function tree(dir: string): string[] {
  return [dir, ...subgroups(dir).flatMap((name) => tree(path.join(dir, name)))];
}

/** The cgroups directly below `dir`: its subdirectories (the rest are the kernel's control files). */
function subgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
