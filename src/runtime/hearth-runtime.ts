import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import type { AgentDriver } from '../agents/contract/driver.js';
import { ClaudeSdkDriver } from '../agents/claude/sdk/claude-sdk-driver.js';
import { ClaudePtyDriver } from '../agents/claude/pty/claude-pty-driver.js';
import { AcpDriver } from '../agents/acp/acp-driver.js';
import { OpencodeDriver } from '../agents/opencode/opencode-driver.js';
import { claudeAgentEnv, type EnvSource } from '../agents/process/agent-env.js';
import { AgentCgroups } from '../agents/process/agent-cgroups.js';
import type { AgentUser } from '../agents/process/agent-user.js';
import { AgentReaper } from '../agents/process/agent-reaper.js';
import type { BackendKind } from '../api/views.js';
import { PostgresSessionStore } from '../store/postgres-session-store.js';
import { AgentSessionFiles } from '../store/agent-session-files.js';
import { OpencodeSessions } from '../store/opencode-sessions.js';
import { claudeCredentialSource, credentialWarnings, noCredentialsMessage, type RuntimeWarning as CredentialWarning } from '../agents/claude/claude-credentials.js';
import { AgentRegistry } from './routing/agent-registry.js';
import { Router } from './routing/router.js';
import { SessionPool } from './sessions/session-pool.js';
import { SessionRecords } from './sessions/session-records.js';
import { StartGate } from './sessions/start-gate.js';
import { Chats } from './chats.js';
import { Dispatcher } from './turns/dispatcher.js';
import { EventLog } from './event-log.js';
import { PermissionRelay } from './permissions/permission-relay.js';
import type { WorktreeConfig } from './worktrees.js';

/** What a person should fix: the agents lack credentials, or an agent found on this node does not start. */
export type RuntimeWarning = CredentialWarning | { code: 'agent_down'; message: string };

export interface RuntimeConfig {
  nodeId: string;
  worktrees: WorktreeConfig;
  maxWarm: number;
  /** Resident bytes the warm sessions may hold together; null or absent: only their count is capped. */
  maxWarmMemory?: number | null;
  idleMs: number;
  maxQueued: number;
  /** Open a chat's warm session before its first message (at its creation, and when it is opened again). Default: on. */
  prewarm?: boolean;
  /** Agent sessions being started at once at most; the rest wait in order. Default: the number of cores. */
  maxStarts?: number;
  /** Route `claude` to the SDK backend. */
  claudeSdk: boolean;
  /** The environment agents draw from (through their allowlist). */
  agentEnv: EnvSource;
  /** Where agents that keep a home of their own get one, per agent, on this node (in the data directory). */
  agentHomes: string;
  /** Executables to use instead of what is found, by agent. */
  agentPaths?: Record<string, string>;
  /** The executable the SDK path runs instead of the installed `claude`. */
  sdkExecutable?: string;
  /** How long a backend stands down after its agent failed to start. Default: a minute. */
  retryMs?: number;
  /** How long the event log and a finished turn's record wait for an unreachable database. Default: ten minutes. */
  databaseWaitMs?: number;
  /** The user agents run as, when not the server's own (the server then runs as root). */
  agentUser?: AgentUser | null;
  /** Resident bytes past which OpenCode's server is restarted between turns; null or absent: no ceiling. */
  maxOpencodeMemory?: number | null;
  /** How long a permission request waits for a person before it is denied; null or absent: as long as its turn lives. */
  permissionTimeoutMs?: number | null;
}

/** Everything behind the HTTP API, built and torn down in one place. */
export interface Runtime {
  config: RuntimeConfig;
  events: EventLog;
  pool: SessionPool;
  registry: AgentRegistry;
  router: Router;
  /** Agent sessions being started, and those waiting for a place to start. */
  starts: StartGate;
  dispatcher: Dispatcher;
  chats: Chats;
  permissions: PermissionRelay;
  /** What a person should fix for turns to work, checked anew each time (a login after the start counts). */
  warnings(): Promise<RuntimeWarning[]>;
  close(): Promise<void>;
}

export async function createRuntime(sql: Sql, log: Logger, config: RuntimeConfig): Promise<Runtime> {
  const events = new EventLog(sql, log, { databaseWaitMs: config.databaseWaitMs });
  const records = new SessionRecords({ sql, log });
  const pool = new SessionPool({
    maxWarm: config.maxWarm,
    maxMemory: config.maxWarmMemory ?? null,
    idleMs: config.idleMs,
    log,
    onClosed: (chatId, agent) => records.closed(chatId, agent),
  });
  const registry = new AgentRegistry(sql, config.nodeId, config.agentPaths);
  await registry.refresh();
  for (const a of registry.brokenAgents()) log.warn({ agent: a.agent, installPath: a.installPath, error: a.error }, 'an agent found on this node does not start; it is left out');
  const store = new PostgresSessionStore(sql, { log });
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
  const common = { log, env: config.agentEnv, sessionStore: store, processTagPrefix, cgroups, user: config.agentUser ?? null };
  const drivers = new Map<BackendKind, AgentDriver>([
    ['claude_sdk', new ClaudeSdkDriver({ ...common, switchedOff: config.claudeSdk ? null : 'switched off by CLAUDE_SDK_BACKEND', executable: config.sdkExecutable })],
    ['claude_pty', new ClaudePtyDriver(common)],
    ['warm_acp', new AcpDriver({ ...common, homes: config.agentHomes, sessionFiles: new AgentSessionFiles(sql) })],
    ['opencode_server', new OpencodeDriver({ ...common, homes: config.agentHomes, sessions: new OpencodeSessions(sql), maxServerMemory: config.maxOpencodeMemory ?? null })],
  ]);
  const router = new Router(drivers, config.retryMs ?? 60_000, () => registry.list());
  const starts = new StartGate(config.maxStarts ?? availableParallelism());
  const permissions = new PermissionRelay({ sql, log, events, nodeId: config.nodeId, timeoutMs: config.permissionTimeoutMs ?? null });
  await permissions.start();
  const dispatcher = new Dispatcher({
    sql,
    log,
    events,
    pool,
    records,
    registry,
    router,
    nodeId: config.nodeId,
    maxQueued: config.maxQueued,
    databaseWaitMs: config.databaseWaitMs,
    cgroups,
    starts,
    prewarm: config.prewarm ?? true,
    permissions,
  });
  const worktrees = { ...config.worktrees, owner: config.agentUser ?? null };
  const chats = new Chats({ sql, log, registry, pool, dispatcher, worktrees });
  const stopProcesses = async () => {
    await Promise.all(router.allDrivers().map((d) => d.dispose()));
    await reaper.close();
    await cgroups?.close();
  };
  try {
    const recovered = await dispatcher.recover();
    if (recovered.interrupted || recovered.orphans || recovered.expired) log.warn(recovered, 'recovered from an unclean stop');
  } catch (err) {
    await permissions.close();
    await stopProcesses();
    throw err;
  }
  pool.start();
  return {
    config,
    events,
    pool,
    registry,
    router,
    starts,
    dispatcher,
    chats,
    permissions,
    warnings: async () => [
      ...(await credentialWarnings(claudeEnv)),
      ...registry.brokenAgents().map((a) => ({ code: 'agent_down' as const, message: `agent ${a.agent} does not start: ${a.error}` })),
    ],
    async close() {
      await dispatcher.close();
      await pool.close();
      await stopProcesses();
      await permissions.close();
      events.close();
    },
  };
}
