import { closeDatabase, defaultDataDir, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { buildApp } from '../http/app.js';

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  /** Schema holding Hearth's tables, so several installations can share one database. */
  schema: string;
}

export function serveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const port = env.HEARTH_PORT === undefined || env.HEARTH_PORT === '' ? 8420 : Number(env.HEARTH_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`HEARTH_PORT must be a port number (0-65535), got ${JSON.stringify(env.HEARTH_PORT)}`);
  }
  return {
    host: env.HEARTH_HOST || '127.0.0.1',
    port,
    dataDir: defaultDataDir(env),
    databaseUrl: env.DATABASE_URL || undefined,
    schema: env.HEARTH_DATABASE_SCHEMA || 'public',
  };
}

/** Runs the server until SIGINT or SIGTERM, then closes HTTP first and the database last. */
export async function serve(options: ServeOptions): Promise<void> {
  const sql = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, schema: options.schema });
  try {
    await migrate(sql, { schema: options.schema });
  } catch (err) {
    await closeDatabase(sql);
    throw err;
  }
  const app = await buildApp({
    sql,
    databaseKind: options.databaseUrl ? 'external' : 'embedded',
    logger: { level: process.env.HEARTH_LOG_LEVEL || 'info' },
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : options.port;
  app.log.info(
    { url: `http://${options.host}:${port}`, database: options.databaseUrl ? 'external' : options.dataDir },
    `Hearth listening on http://${options.host}:${port}`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      app.log.info({ signal }, 'shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await app.close();
  await closeDatabase(sql);
}
