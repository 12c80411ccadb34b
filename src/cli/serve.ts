import { chmod, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import { closeDatabase, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { buildApp } from '../http/app.js';
import { createRuntime } from '../runtime/hearth-runtime.js';
import { findAgentUser, giveTreeTo, type AgentUser } from '../agents/process/agent-user.js';
import { startDemo, type Demo } from '../demo/demo-mode.js';
import { apiToken, ConfigError, nodeId, type ServeConfig } from './config.js';
import { removeServerFile, writeServerFile } from './server-file.js';
import { serverLogger } from './logger.js';
import { within } from '../util/within.js';

export interface ServeOptions {
  /** Point the agents at a scripted model on loopback instead of a real one. */
  demo?: boolean;
  /** How long shutting down may take before the rest is left behind. Default: ten seconds. */
  shutdownMs?: number;
}

/**
 * Runs the server until SIGINT or SIGTERM, then closes HTTP first (ending the event
 * streams), agents next, the database last, all within `shutdownMs`.
 */
export async function serve(config: ServeConfig, env: NodeJS.ProcessEnv = process.env, options: ServeOptions = {}): Promise<void> {
  const log = serverLogger(config.logLevel, config.logFormat);
  const agentUser = config.agentUser ? agentUserFor(config.agentUser) : null;
  // A busy port is said before the database is prepared, not after.
  await checkPortFree(config.host, config.port);
  const sql = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, schema: config.schema, notice: (m) => log.info(m) });
  let runtime: Awaited<ReturnType<typeof createRuntime>> | null = null;
  let demo: Demo | null = null;
  let app: FastifyInstance | null = null;
  try {
    if (options.demo) demo = await startDemo(config.dataDir, env);
    if (agentUser) await openPathsTo(agentUser, config.dataDir, demo);
    await migrate(sql, { schema: config.schema });
    const node = await nodeId(env, config.dataDir);
    runtime = await createRuntime(sql, log, {
      nodeId: node,
      worktrees: { repoRoots: config.repoRoots, worktreesDir: config.worktreesDir },
      maxWarm: config.maxWarm,
      maxWarmMemory: config.maxWarmMemory,
      maxOpencodeMemory: config.maxOpencodeMemory,
      idleMs: config.idleMs,
      maxQueued: config.maxQueued,
      prewarm: config.prewarm,
      permissionTimeoutMs: config.permissionTimeoutMs,
      maxStarts: config.maxStarts,
      claudeSdk: config.claudeSdk,
      agentEnv: demo ? demo.agentEnv : env,
      agentHomes: path.join(config.dataDir, 'agents'),
      agentUser,
    });
    const token = await apiToken(env, config.dataDir);
    const tls = config.tls ? await readTls(config.tls) : undefined;
    app = await buildApp({
      sql,
      databaseKind: config.databaseUrl ? 'external' : 'embedded',
      logger: log,
      runtime,
      token: token.value,
      maxPromptBytes: config.maxPromptBytes,
      demo: demo !== null,
      publicHosts: config.publicHosts,
      requestTimeoutMs: config.requestTimeoutMs,
      tls,
    });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = address && typeof address === 'object' ? address.port : config.port;
    const url = `${tls ? 'https' : 'http'}://${connectHost(config.host)}:${port}`;
    await writeServerFile(config.dataDir, url, env);
    if (token.created) process.stdout.write(`Hearth API token (kept in ${token.file}): ${token.value}\n`);
    else process.stdout.write(`Hearth API token: ${token.file ? `kept in ${token.file}` : 'from HEARTH_TOKEN'}\n`);
    if (demo) {
      process.stdout.write(
        `DEMO MODE: the agents talk to a scripted model at ${demo.url}, not to Claude; no API key is used.\n` +
          `Open ${url} in a browser, start a chat on any git repository and send a message.\n`,
      );
    }
    if (config.remote === 'proxy') {
      log.warn(
        { host: config.host },
        'serving plain HTTP beyond loopback (HEARTH_REMOTE=proxy): only a TLS-terminating reverse proxy may reach this port',
      );
    }
    log.info(
      { url, node, database: config.databaseUrl ? 'external' : config.dataDir, demo: demo !== null },
      `Hearth listening on ${url}${demo ? ' (demo mode: a scripted model, not Claude)' : ''}`,
    );

    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        log.info({ signal }, 'shutting down');
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  } finally {
    const http = app;
    await closeInOrder(
      [
        // Streams end in the server's preClose; a connection still open when time runs out is cut.
        { what: 'the HTTP server', close: async () => http?.close(), abandon: () => http?.server.closeAllConnections() },
        { what: 'server.json', close: () => removeServerFile(config.dataDir, env) },
        { what: 'the agents', close: async () => runtime?.close() },
        { what: 'the demo model', close: async () => demo?.close() },
        { what: 'the database', close: () => closeDatabase(sql) },
      ],
      options.shutdownMs ?? 10_000,
      log,
    );
  }
}

/** Refuses a port something else listens on, naming the setting that chooses it. */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`port ${port} on ${host} is already in use; stop what listens there or choose another with HEARTH_PORT`)
          : new ConfigError(`cannot listen on ${host}:${port} (HEARTH_HOST, HEARTH_PORT): ${err.message}`),
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** HEARTH_AGENT_USER, checked before anything starts: only a server running as root can hand its agents to another user. */
function agentUserFor(name: string): AgentUser {
  if (process.getuid?.() !== 0) {
    throw new ConfigError(`HEARTH_AGENT_USER=${name}: only a server running as root can run its agents as another user`);
  }
  try {
    return findAgentUser(name);
  } catch (err) {
    throw new ConfigError(`HEARTH_AGENT_USER=${name}: ${(err as Error).message}`);
  }
}

/**
 * What agents running as another user must reach: the data directory is passed through
 * (not listed) on the way to the worktrees, and the demo's Claude configuration is theirs.
 */
async function openPathsTo(user: AgentUser, dataDir: string, demo: Demo | null): Promise<void> {
  const mode = (await stat(dataDir)).mode & 0o7777;
  if ((mode & 0o001) === 0) await chmod(dataDir, mode | 0o001);
  const demoConfig = demo?.agentEnv.CLAUDE_CONFIG_DIR;
  if (demoConfig) await giveTreeTo(user, demoConfig);
}

/** The certificate and key, checked here so a bad file is named rather than failing inside the TLS layer. */
async function readTls(files: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (name: string, file: string) =>
    readFile(file).catch((err: Error) => {
      throw new ConfigError(`${name}: cannot read ${file}: ${err.message}`);
    });
  const tls = { cert: await read('HEARTH_TLS_CERT', files.certFile), key: await read('HEARTH_TLS_KEY', files.keyFile) };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new ConfigError(`HEARTH_TLS_CERT and HEARTH_TLS_KEY are not a usable certificate and key: ${(err as Error).message}`);
  }
  return tls;
}

export interface ClosingStep {
  what: string;
  close: () => Promise<unknown>;
  /** Runs when `close` has not finished in its time. */
  abandon?: () => void;
}

/**
 * Runs the steps one after another within about `ms` in all. A step that fails or runs
 * out of time is logged and left behind, and the next one still runs with at least a
 * second of its own, so the database is stopped and the data directory released
 * whatever hangs before it.
 */
export async function closeInOrder(steps: ClosingStep[], ms: number, log: Logger): Promise<void> {
  const deadline = Date.now() + ms;
  let late = false;
  for (const step of steps) {
    const left = Math.max(deadline - Date.now(), 1_000);
    try {
      await within(step.close(), left, `${step.what} did not close within ${left} ms`);
    } catch (err) {
      late = true;
      log.error({ err }, `shutting down: ${step.what} did not close; going on without it`);
      step.abandon?.();
    }
  }
  if (late) log.warn({ ms }, 'shut down leaving some things unfinished');
}

/** The address a client on this machine reaches a server bound to `host` at. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
