import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultDataDir } from '../db/database.js';
import { UsageError } from './errors.js';
import { readServerFile, readUserServerFile, userServerFilePath, type ServerFile } from './server-file.js';
import { isAlive } from '../util/processes.js';

export const DEFAULT_PORT = 8420;

export interface Connection {
  url: string;
  token: string | undefined;
  /**
   * Where the address came from. `none` when nothing gave or recorded one and the default
   * is tried: its text says where the CLI looked, for when no server answers there.
   */
  origin: { kind: 'given' } | { kind: 'recorded'; file: string } | { kind: 'none'; looked: string };
}

/**
 * Where the server is and the token it wants: the flags, else HEARTH_URL and HEARTH_TOKEN,
 * else what `hearth serve` records in the data directory, else what it records for the
 * user (XDG state directory), else the default address (HEARTH_PORT, else 8420, on
 * loopback). The token goes with the address: a recorded server's own token file.
 * A record whose process is gone (a server that crashed) is passed over.
 */
export async function resolveConnection(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const dataDir = defaultDataDir(env);
  const localFile = path.join(dataDir, 'server.json');
  const userFile = userServerFilePath(env);
  const stale: string[] = [];
  const live = <T extends ServerFile>(record: T | null, file: string): T | null => {
    if (record && !running(record.pid)) {
      stale.push(`the server recorded in ${file} (pid ${record.pid}) is no longer running`);
      return null;
    }
    return record;
  };
  const local = live(await readServerFile(dataDir), localFile);
  const user = live(await readUserServerFile(env), userFile);

  const given = flags.url || env.HEARTH_URL;
  const url = given || local?.url || user?.url || defaultUrl(env);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`the server address must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`the server address must be an http(s) URL, got ${JSON.stringify(url)}`);
  }

  const tokenFile = local?.url === url ? path.join(dataDir, 'token') : user?.url === url ? user.tokenFile : path.join(dataDir, 'token');
  const token =
    flags.token ||
    env.HEARTH_TOKEN ||
    (tokenFile ? await readFile(tokenFile, 'utf8').then((t) => t.trim(), () => '') : '') ||
    undefined;

  const origin: Connection['origin'] = given
    ? { kind: 'given' }
    : local?.url === url
      ? { kind: 'recorded', file: localFile }
      : user?.url === url
        ? { kind: 'recorded', file: userFile }
        : { kind: 'none', looked: stale.length > 0 ? stale.join('; ') : `none is recorded in ${userFile} or ${localFile}` };
  return { url: url.replace(/\/+$/, ''), token, origin };
}

function defaultUrl(env: NodeJS.ProcessEnv): string {
  const port = Number(env.HEARTH_PORT);
  return `http://127.0.0.1:${Number.isInteger(port) && port > 0 && port <= 65535 ? port : DEFAULT_PORT}`;
}

/** Whether the recorded process still runs; a record without a usable pid is taken as live. */
function running(pid: number): boolean {
  return !Number.isInteger(pid) || pid <= 0 || isAlive(pid);
}
