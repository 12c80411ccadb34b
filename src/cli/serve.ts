import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { pino } from 'pino';
import { closeDatabase, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { buildApp } from '../http/app.js';
import { createRuntime } from '../runtime/hearth-runtime.js';
import { startDemo, type Demo } from '../demo/demo-mode.js';
import { apiToken, ConfigError, nodeId, type ServeConfig } from './config.js';
import { removeServerFile, writeServerFile } from './server-file.js';

export interface ServeOptions {
  /** Point the agents at a scripted model on loopback instead of a real one. */
  demo?: boolean;
}

/** Runs the server until SIGINT or SIGTERM, then closes HTTP first, agents next, the database last. */
export async function serve(config: ServeConfig, env: NodeJS.ProcessEnv = process.env, options: ServeOptions = {}): Promise<void> {
  const log = pino({ level: config.logLevel });
  const sql = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, schema: config.schema });
  let runtime: Awaited<ReturnType<typeof createRuntime>> | null = null;
  let demo: Demo | null = null;
  try {
    if (options.demo) demo = await startDemo(config.dataDir, env);
    await migrate(sql, { schema: config.schema });
    const node = await nodeId(env, config.dataDir);
    runtime = await createRuntime(sql, log, {
      nodeId: node,
      worktrees: { repoRoots: config.repoRoots, worktreesDir: config.worktreesDir },
      maxWarm: config.maxWarm,
      idleMs: config.idleMs,
      maxQueued: config.maxQueued,
      claudeSdk: config.claudeSdk,
      agentEnv: demo ? demo.agentEnv : env,
    });
    const token = await apiToken(env, config.dataDir);
    const tls = config.tls ? await readTls(config.tls) : undefined;
    const app = await buildApp({
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
    await writeServerFile(config.dataDir, url);
    if (token.created) process.stdout.write(`Hearth API token (kept in ${config.dataDir}/token): ${token.value}\n`);
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
    await app.close();
    await removeServerFile(config.dataDir);
  } finally {
    await runtime?.close();
    await demo?.close();
    await closeDatabase(sql);
  }
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

/** The address a client on this machine reaches a server bound to `host` at. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
