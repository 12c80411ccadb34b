import type { Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import type { BackendKind } from '../backends/agent-backend.js';
import { ClaudeSdkBackend } from '../backends/claude-sdk/claude-sdk-backend.js';
import type { EnvSource } from '../backends/agent-env.js';
import { PostgresSessionStore } from '../store/postgres-session-store.js';
import { AgentRegistry, type InstalledAgent } from './agent-registry.js';
import { BackendPool } from './backend-pool.js';
import { Chats } from './chats.js';
import { Dispatcher } from './dispatcher.js';
import { EventLog } from './event-log.js';
import type { WorktreeConfig } from './worktrees.js';

export interface RuntimeConfig {
  nodeId: string;
  worktrees: WorktreeConfig;
  maxWarm: number;
  idleMs: number;
  maxQueued: number;
  /** Route `claude` to the SDK backend. */
  claudeSdk: boolean;
  /** The environment agents draw from (through their allowlist). */
  agentEnv: EnvSource;
  /** Executables to use instead of what is found, by agent. */
  agentPaths?: Record<string, string>;
}

/** Everything behind the HTTP API, built and torn down in one place. */
export interface Runtime {
  config: RuntimeConfig;
  events: EventLog;
  pool: BackendPool;
  registry: AgentRegistry;
  dispatcher: Dispatcher;
  chats: Chats;
  /** Health of each backend kind. */
  backendHealth(): Record<BackendKind, 'up' | 'down'>;
  close(): Promise<void>;
}

export async function createRuntime(sql: Sql, log: Logger, config: RuntimeConfig): Promise<Runtime> {
  const events = new EventLog(sql, log);
  const pool = new BackendPool({ maxWarm: config.maxWarm, idleMs: config.idleMs, log });
  const registry = new AgentRegistry(sql, config.nodeId, config.agentPaths);
  await registry.refresh();
  const store = new PostgresSessionStore(sql);
  const makeBackend = (kind: BackendKind, chatId: string, agent: InstalledAgent) => {
    if (kind !== 'claude_sdk') throw new Error(`backend ${kind} is not available`);
    return new ClaudeSdkBackend({
      sql,
      log,
      chatId,
      agent: agent.agent,
      installPath: agent.installPath,
      env: config.agentEnv,
      sessionStore: store,
      processTagPrefix: `${config.nodeId}:`,
    });
  };
  const dispatcher = new Dispatcher({
    sql,
    log,
    events,
    pool,
    registry,
    nodeId: config.nodeId,
    makeBackend,
    claudeSdk: config.claudeSdk,
    maxQueued: config.maxQueued,
  });
  const chats = new Chats({ sql, registry, pool, dispatcher, worktrees: config.worktrees });
  const recovered = await dispatcher.recover();
  if (recovered.interrupted || recovered.orphans) log.warn(recovered, 'recovered from an unclean stop');
  pool.start();
  return {
    config,
    events,
    pool,
    registry,
    dispatcher,
    chats,
    backendHealth() {
      const claudeInstalled = registry.list().some((a) => a.agent === 'claude');
      const sdkDown = pool.backends().some((b) => b.backend === 'claude_sdk' && b.health() === 'down');
      return {
        claude_sdk: config.claudeSdk && claudeInstalled && !sdkDown ? 'up' : 'down',
        claude_pty: 'down',
        warm_acp: 'down',
        opencode_server: 'down',
      };
    },
    async close() {
      await pool.close();
    },
  };
}
