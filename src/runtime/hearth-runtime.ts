import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import type { BackendKind } from '../agents/contract/agent-backend.js';
import { ClaudeSdkBackend } from '../agents/claude/sdk/claude-sdk-backend.js';
import { ClaudePtyBackend } from '../agents/claude/pty/claude-pty-backend.js';
import { ptyAvailable } from '../agents/claude/pty/pty.js';
import { claudeAgentEnv, type EnvSource } from '../agents/process/agent-env.js';
import { AgentCgroups } from '../agents/process/agent-cgroups.js';
import type { AgentUser } from '../agents/process/agent-user.js';
import { AgentReaper } from '../agents/process/agent-reaper.js';
import { PostgresSessionStore } from '../store/postgres-session-store.js';
import { claudeCredentialSource, credentialWarnings, noCredentialsMessage, type RuntimeWarning } from '../agents/claude/claude-credentials.js';
import { AgentRegistry, type InstalledAgent } from './routing/agent-registry.js';
import { BackendPool } from './sessions/session-pool.js';
import { Chats } from './chats.js';
import { Dispatcher } from './turns/dispatcher.js';
import { EventLog } from './event-log.js';
import { SdkHealth } from './routing/stand-downs.js';
import type { WorktreeConfig } from './worktrees.js';

export type { RuntimeWarning } from '../agents/claude/claude-credentials.js';

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
  /** The executable the SDK path runs instead of the installed `claude`. */
  sdkExecutable?: string;
  /** How long the SDK path stands down after its agent failed to start. Default: a minute. */
  sdkRetryMs?: number;
  /** How long the event log and a finished turn's record wait for an unreachable database. Default: ten minutes. */
  databaseWaitMs?: number;
  /** The user agents run as, when not the server's own (the server then runs as root). */
  agentUser?: AgentUser | null;
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
  /** Why the SDK path is down, while it is. */
  sdkError(): string | null;
  /** What a person should fix for turns to work, checked anew each time (a login after the start counts). */
  warnings(): Promise<RuntimeWarning[]>;
  close(): Promise<void>;
}

export async function createRuntime(sql: Sql, log: Logger, config: RuntimeConfig): Promise<Runtime> {
  const events = new EventLog(sql, log, { databaseWaitMs: config.databaseWaitMs });
  const pool = new BackendPool({ maxWarm: config.maxWarm, idleMs: config.idleMs, log });
  const registry = new AgentRegistry(sql, config.nodeId, config.agentPaths);
  await registry.refresh();
  const store = new PostgresSessionStore(sql, { log });
  const sdkHealth = new SdkHealth(config.sdkRetryMs ?? 60_000);
  const pty = await ptyAvailable();
  // This instance's agents are told apart from those an earlier run of the node left.
  const instance = randomUUID();
  const processTagPrefix = `${config.nodeId}:${instance}:`;
  const cgroups = AgentCgroups.open(config.nodeId, instance);
  if (config.agentUser) log.info({ user: config.agentUser.name, uid: config.agentUser.uid }, 'agents run as another user');
  if (cgroups) log.info({ cgroup: cgroups.dir }, 'agent processes are tracked by cgroup');
  else log.info('agent processes are tracked by process group and environment tag: no cgroup v2 can be made here');
  const claudeEnv = claudeAgentEnv(config.agentEnv, { user: config.agentUser });
  const credentials = await claudeCredentialSource(claudeEnv);
  if (credentials) log.info({ credentials }, `agents authenticate to Claude with ${credentials}`);
  else log.warn(noCredentialsMessage(claudeEnv));
  const reaper = AgentReaper.start({ tagPrefix: processTagPrefix, cgroup: cgroups?.dir ?? null }, log);
  const makeBackend = (kind: BackendKind, chatId: string, agent: InstalledAgent) => {
    const common = {
      sql,
      log,
      chatId,
      agent: agent.agent,
      env: config.agentEnv,
      sessionStore: store,
      processTagPrefix,
      cgroups,
      user: config.agentUser ?? null,
    };
    if (kind === 'claude_sdk') return new ClaudeSdkBackend({ ...common, installPath: config.sdkExecutable ?? agent.installPath });
    return new ClaudePtyBackend({ ...common, installPath: agent.installPath });
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
    sdkHealth,
    maxQueued: config.maxQueued,
    databaseWaitMs: config.databaseWaitMs,
    cgroups,
  });
  const worktrees = { ...config.worktrees, owner: config.agentUser ?? null };
  const chats = new Chats({ sql, log, registry, pool, dispatcher, worktrees });
  const stopProcesses = async () => {
    await reaper.close();
    await cgroups?.close();
  };
  try {
    const recovered = await dispatcher.recover();
    if (recovered.interrupted || recovered.orphans) log.warn(recovered, 'recovered from an unclean stop');
  } catch (err) {
    await stopProcesses();
    throw err;
  }
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
      return {
        claude_sdk: config.claudeSdk && claudeInstalled && !sdkHealth.down() ? 'up' : 'down',
        claude_pty: pty && claudeInstalled ? 'up' : 'down',
      };
    },
    sdkError: () => sdkHealth.error(),
    warnings: () => credentialWarnings(claudeEnv),
    async close() {
      await dispatcher.close();
      await pool.close();
      await stopProcesses();
      events.close();
    },
  };
}
