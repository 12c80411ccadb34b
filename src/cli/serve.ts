import { pino } from 'pino';
import { closeDatabase, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { buildApp } from '../http/app.js';
import { createRuntime } from '../runtime/hearth-runtime.js';
import { apiToken, nodeId, type ServeConfig } from './config.js';
import { removeServerFile, writeServerFile } from './server-file.js';

/** Runs the server until SIGINT or SIGTERM, then closes HTTP first, agents next, the database last. */
export async function serve(config: ServeConfig, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = pino({ level: config.logLevel });
  const sql = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, schema: config.schema });
  let runtime: Awaited<ReturnType<typeof createRuntime>> | null = null;
  try {
    await migrate(sql, { schema: config.schema });
    const node = await nodeId(env, config.dataDir);
    runtime = await createRuntime(sql, log, {
      nodeId: node,
      worktrees: { repoRoots: config.repoRoots, worktreesDir: config.worktreesDir },
      maxWarm: config.maxWarm,
      idleMs: config.idleMs,
      maxQueued: config.maxQueued,
      claudeSdk: config.claudeSdk,
      agentEnv: env,
    });
    const token = await apiToken(env, config.dataDir);
    const app = await buildApp({
      sql,
      databaseKind: config.databaseUrl ? 'external' : 'embedded',
      logger: log,
      runtime,
      token: token.value,
      maxPromptBytes: config.maxPromptBytes,
    });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = address && typeof address === 'object' ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    await writeServerFile(config.dataDir, url);
    if (token.created) process.stdout.write(`Hearth API token (kept in ${config.dataDir}/token): ${token.value}\n`);
    log.info({ url, node, database: config.databaseUrl ? 'external' : config.dataDir }, `Hearth listening on ${url}`);

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
    await closeDatabase(sql);
  }
}
