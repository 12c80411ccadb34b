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

/** An agent found on this node whose executable does not answer `--version`: it cannot be used, and why. */
export interface BrokenAgent {
  agent: string;
  installPath: string;
  error: string;
}

const VERSION_TIMEOUT_MS = 15_000;

/** The agent's version, asked with no more of the server's environment than a turn would give it; or why it gave none. */
async function versionOf(executable: string): Promise<{ version: string } | { error: string }> {
  try {
    await access(executable, constants.X_OK);
  } catch (err) {
    return { error: `${executable} cannot be run: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  try {
    const env = agentEnv(process.env, { secrets: configuredSecrets() });
    const { stdout } = await run(executable, ['--version'], { timeout: VERSION_TIMEOUT_MS, encoding: 'utf8', env });
    return { version: stdout.trim().split('\n')[0] ?? '' };
  } catch (err) {
    return { error: `\`${executable} --version\` failed: ${versionFailure(err as VersionError)}` };
  }
}

type VersionError = Error & { code?: string | number; signal?: string | null; killed?: boolean; stderr?: string };

/** Why `--version` failed, in a line: how it ended and the first thing it said on stderr. */
function versionFailure(err: VersionError): string {
  const said = err.stderr?.trim().split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300);
  const how =
    err.killed && err.signal ? `no answer within ${VERSION_TIMEOUT_MS / 1000} s`
    : typeof err.code === 'number' ? `exit code ${err.code}`
    : err.signal ? `ended by ${err.signal}`
    : (err.code ?? err.message.split('\n')[0] ?? 'unknown error');
  return said ? `${how}: ${said}` : how;
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
  private broken = new Map<string, BrokenAgent>();

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
      Object.entries(candidates).map(async ([agent, executable]) => {
        if (!executable) return null;
        const entry = this.catalog.find((a) => a.name === agent);
        const known = agent in this.overrides ? null : (entry?.version?.() ?? null);
        const answer =
          known === null ? await versionOf(executable)
          : (await readable(executable)) ? { version: known }
          : { error: `${executable} cannot be read` };
        return { agent, executable, backends: entry?.backends ?? [], answer };
      }),
    );
    const found: InstalledAgent[] = [];
    const broken: BrokenAgent[] = [];
    for (const c of checked) {
      if (!c) continue;
      if ('version' in c.answer) found.push({ agent: c.agent, installPath: c.executable, version: c.answer.version, backends: c.backends });
      else broken.push({ agent: c.agent, installPath: c.executable, error: c.answer.error });
    }
    this.agents = new Map(found.map((a) => [a.agent, a]));
    this.broken = new Map(broken.map((a) => [a.agent, a]));
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

  /** The agents found whose executables do not start, with why. */
  brokenAgents(): BrokenAgent[] {
    return [...this.broken.values()];
  }

  /** What the catalog says of the agent, where it knows it. */
  catalogEntry(agent: string): CatalogAgent | undefined {
    return this.catalog.find((a) => a.name === agent);
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
    const installed = `installed: ${names.length ? names.join(', ') : 'none'}`;
    const broken = this.broken.get(agent);
    throw new HearthError(
      400,
      'agent_not_installed',
      broken
        ? `agent "${agent}" is on this node but does not start (${broken.error}) (${installed})`
        : `agent "${agent}" is not installed on this node (${installed})`,
    );
  }
}
