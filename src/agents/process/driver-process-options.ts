import type { AgentCgroups } from './agent-cgroups.js';
import type { EnvSource } from './agent-env.js';
import type { AgentUser } from './agent-user.js';

/** How this node runs agent processes, the same for every driver. */
export interface DriverProcessOptions {
  /** Where the agent's environment is drawn from, through the allowlist. Default: process.env. */
  env?: EnvSource;
  /** Variables never passed to the agent. Default: those named in HEARTH_SECRET_ENV. */
  secrets?: readonly string[];
  /** Prefix of the tag on the agent's processes: the node id, so a restarted node finds its orphans. */
  processTagPrefix?: string;
  /** Where each agent process gets a cgroup of its own; without one, its group and its tag are what find its processes. */
  cgroups?: AgentCgroups | null;
  /** The user the agents run as, when not the server's own. */
  user?: AgentUser | null;
}
