import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Sql } from '../../db/sql.js';
import { agentEnv, configuredSecrets } from '../../agents/process/agent-env.js';
import { HearthError } from '../errors.js';

const run = promisify(execFile);

export interface InstalledAgent {
  agent: string;
  installPath: string;
  version: string;
}

/** Where the `claude` binary that ships inside the Agent SDK's platform package lives, if it does. */
export function bundledClaudePath(): string | null {
  try {
    const pkg = fileURLToPath(import.meta.resolve(`@anthropic-ai/claude-agent-sdk-${platform()}-${arch()}/package.json`));
    return path.join(path.dirname(pkg), platform() === 'win32' ? 'claude.exe' : 'claude');
  } catch {
    return null;
  }
}

/** The agent's version, asked with no more of the server's environment than a turn would give it. */
async function versionOf(executable: string): Promise<string | null> {
  try {
    await access(executable, constants.X_OK);
    const env = agentEnv(process.env, { secrets: configuredSecrets() });
    const { stdout } = await run(executable, ['--version'], { timeout: 15_000, encoding: 'utf8', env });
    return stdout.trim().split('\n')[0] ?? '';
  } catch {
    return null;
  }
}

/**
 * The agents this node can run, found at start and written to `available_agents` under
 * the node's id (install paths differ between nodes).
 */
export class AgentRegistry {
  private agents = new Map<string, InstalledAgent>();

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    /** Executables to use instead of what is found, by agent name. */
    private readonly overrides: Record<string, string> = {},
  ) {}

  async refresh(): Promise<InstalledAgent[]> {
    const candidates: Record<string, string | null> = { claude: bundledClaudePath(), ...this.overrides };
    const found: InstalledAgent[] = [];
    for (const [agent, executable] of Object.entries(candidates)) {
      if (!executable) continue;
      const version = await versionOf(executable);
      if (version !== null) found.push({ agent, installPath: executable, version });
    }
    this.agents = new Map(found.map((a) => [a.agent, a]));
    await this.sql.begin(async (tx) => {
      await tx`DELETE FROM available_agents WHERE node_id = ${this.nodeId}`;
      for (const a of found) {
        await tx`
          INSERT INTO available_agents (node_id, agent, install_path, version)
          VALUES (${this.nodeId}, ${a.agent}, ${a.installPath}, ${a.version})`;
      }
    });
    return found;
  }

  list(): InstalledAgent[] {
    return [...this.agents.values()];
  }

  /** The installed agent, or a clear refusal naming what is installed. */
  get(agent: string): InstalledAgent {
    const found = this.agents.get(agent);
    if (found) return found;
    const names = [...this.agents.keys()];
    throw new HearthError(
      400,
      'agent_not_installed',
      `agent "${agent}" is not installed on this node (installed: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
}
