import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Sql } from '../../db/sql.js';
import { agentEnv, configuredSecrets } from '../../agents/process/agent-env.js';
import { HearthError } from '../errors.js';
import { AGENT_CATALOG, type CatalogAgent } from '../../agents/catalog.js';
import type { BackendKind } from '../../api/views.js';

const run = promisify(execFile);

export interface InstalledAgent {
  agent: string;
  installPath: string;
  version: string;
  /** The backends that run it, in the order they are tried. */
  backends: readonly BackendKind[];
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

async function readable(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(
    () => true,
    () => false,
  );
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
    private readonly catalog: readonly CatalogAgent[] = AGENT_CATALOG,
  ) {}

  async refresh(): Promise<InstalledAgent[]> {
    const candidates: Record<string, string | null> = {
      ...Object.fromEntries(this.catalog.map((a) => [a.name, a.locate()])),
      ...this.overrides,
    };
    // Asked side by side: an agent that answers `--version` slowly holds up no other.
    const checked = await Promise.all(
      Object.entries(candidates).map(async ([agent, executable]): Promise<InstalledAgent | null> => {
        if (!executable) return null;
        const entry = this.catalog.find((a) => a.name === agent);
        const known = agent in this.overrides ? null : (entry?.version?.() ?? null);
        const version = known !== null && (await readable(executable)) ? known : await versionOf(executable);
        return version === null ? null : { agent, installPath: executable, version, backends: entry?.backends ?? [] };
      }),
    );
    const found = checked.filter((a): a is InstalledAgent => a !== null);
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

  /** The agent a chat gets when it names none: the first of the catalog that is installed. */
  defaultAgent(): InstalledAgent {
    const first = this.catalog.find((a) => this.agents.has(a.name));
    return first ? this.agents.get(first.name)! : this.get(this.catalog[0]?.name ?? 'claude');
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
