import type { AgentDriver } from '../../agents/contract/driver.js';
import type { AgentStartError } from '../../agents/contract/errors.js';
import { BACKEND_LABELS, type BackendKind } from '../../api/views.js';
import { HearthError } from '../errors.js';
import type { InstalledAgent } from './agent-registry.js';
import { StandDown } from './stand-down.js';

/**
 * Which driver runs a turn: the agent's backends in its catalog order, leaving out those
 * this node cannot use and, while others remain, those standing down after failed starts.
 * A message that names a backend gets that one or a clear refusal.
 */
export class Router {
  private readonly standDowns = new Map<BackendKind, StandDown>();

  constructor(
    private readonly drivers: ReadonlyMap<BackendKind, AgentDriver>,
    /** How long a backend stands down after a failed start. */
    retryMs: number,
    private readonly agents: () => readonly InstalledAgent[],
  ) {
    for (const kind of drivers.keys()) this.standDowns.set(kind, new StandDown(retryMs));
  }

  driver(kind: BackendKind): AgentDriver | undefined {
    return this.drivers.get(kind);
  }

  allDrivers(): AgentDriver[] {
    return [...this.drivers.values()];
  }

  /** The drivers to try for a turn of `agent` in this chat, in order. */
  candidates(agent: InstalledAgent, chatId: string, asked?: BackendKind): AgentDriver[] {
    if (asked) {
      if (!agent.backends.includes(asked)) {
        throw new HearthError(400, 'backend_mismatch', `backend ${asked} does not run the ${agent.agent} agent`);
      }
      const driver = this.drivers.get(asked);
      const why = driver ? driver.unavailable() : 'it is not part of this server';
      if (!driver || why) throw new HearthError(400, 'backend_unavailable', `backend ${asked} cannot be used on this server: ${why}`);
      return [driver];
    }
    const usable = agent.backends.flatMap((kind) => {
      const driver = this.drivers.get(kind);
      return driver && !driver.unavailable() ? [driver] : [];
    });
    if (usable.length === 0) {
      const why = agent.backends.map((kind) => `${kind}: ${this.drivers.get(kind)?.unavailable() ?? 'not part of this server'}`);
      throw new HearthError(400, 'no_backend', `no backend can run the ${agent.agent} agent on this server${why.length ? ` (${why.join('; ')})` : ''}`);
    }
    const up = usable.filter((d) => !this.standDowns.get(d.backend)!.down(chatId));
    // When every backend stands down, the last of them is tried anyway rather than none.
    return up.length > 0 ? up : usable.slice(-1);
  }

  failed(kind: BackendKind, err: AgentStartError, chatId: string): void {
    this.standDowns.get(kind)?.failed(err, chatId, err.scope);
  }

  started(kind: BackendKind, chatId: string): void {
    this.standDowns.get(kind)?.started(chatId);
  }

  /** Each backend's state on this node: up when some installed agent can use it and it is not standing down. */
  health(): Partial<Record<BackendKind, 'up' | 'down'>> {
    const used = new Set(this.agents().flatMap((a) => a.backends));
    const health: Partial<Record<BackendKind, 'up' | 'down'>> = {};
    for (const [kind, driver] of this.drivers) {
      health[kind] = used.has(kind) && !driver.unavailable() && !this.standDowns.get(kind)!.down() ? 'up' : 'down';
    }
    return health;
  }

  /** Why a backend stands down on this node, for those that do. */
  errors(): Partial<Record<BackendKind, string>> {
    const errors: Partial<Record<BackendKind, string>> = {};
    for (const [kind, standDown] of this.standDowns) {
      const error = standDown.error();
      if (error) errors[kind] = error;
    }
    return errors;
  }

  label(kind: BackendKind): string {
    return BACKEND_LABELS[kind];
  }
}
