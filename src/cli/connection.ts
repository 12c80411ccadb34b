import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultDataDir } from '../db/database.js';
import { UsageError } from './errors.js';
import { readServerFile } from './server-file.js';

export const DEFAULT_URL = 'http://127.0.0.1:8420';

export interface Connection {
  url: string;
  token: string | undefined;
}

/**
 * Where the server is and the token it wants: the flags, else HEARTH_URL and
 * HEARTH_TOKEN, else what `hearth serve` keeps in the data directory, else the default address.
 */
export async function resolveConnection(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const dataDir = defaultDataDir(env);
  const url = flags.url || env.HEARTH_URL || (await readServerFile(dataDir))?.url || DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`the server address must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`the server address must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  const token =
    flags.token ||
    env.HEARTH_TOKEN ||
    (await readFile(path.join(dataDir, 'token'), 'utf8').then((t) => t.trim(), () => '')) ||
    undefined;
  return { url: url.replace(/\/+$/, ''), token };
}
