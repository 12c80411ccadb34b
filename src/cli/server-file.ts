import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { writeAtomically } from '../util/write-atomically.js';

/** What `hearth serve` leaves in the data directory so the CLI finds it: `server.json`. */
export interface ServerFile {
  url: string;
  pid: number;
}

/**
 * The same, kept per user, so the CLI finds the server from any directory: where the
 * server's data directory is and which file holds its token (null when the token came
 * from HEARTH_TOKEN, which the CLI then needs as well).
 */
export interface UserServerFile extends ServerFile {
  dataDir: string;
  tokenFile: string | null;
}

const NAME = 'server.json';

/** `$XDG_STATE_HOME/hearth/server.json`, by default `~/.local/state/hearth/server.json`. */
export function userServerFilePath(env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec has a relative XDG_STATE_HOME ignored.
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(homedir(), '.local', 'state');
  return path.join(state, 'hearth', NAME);
}

/**
 * Records the running server in the data directory and for the user. The user's record
 * is a convenience: when it cannot be written the server runs on, and says so on stderr.
 */
export async function writeServerFile(dataDir: string, url: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await writeAtomically(path.join(dataDir, NAME), JSON.stringify({ url, pid: process.pid } satisfies ServerFile) + '\n');
  const userFile = userServerFilePath(env);
  const record: UserServerFile = {
    url,
    pid: process.pid,
    dataDir: path.resolve(dataDir),
    tokenFile: env.HEARTH_TOKEN ? null : path.resolve(dataDir, 'token'),
  };
  try {
    await writeAtomically(userFile, JSON.stringify(record) + '\n');
  } catch (err) {
    process.stderr.write(
      `hearth: could not record the server in ${userFile} (${(err as Error).message}); ` +
        'the CLI finds it from other directories only with HEARTH_URL and HEARTH_TOKEN\n',
    );
  }
}

/** Removes the records only where they are still this process's: another server may have taken over. */
export async function removeServerFile(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const current = await readServerFile(dataDir);
  if (current?.pid === process.pid) await rm(path.join(dataDir, NAME), { force: true });
  const user = await readUserServerFile(env);
  if (user?.pid === process.pid && user.dataDir === path.resolve(dataDir)) await rm(userServerFilePath(env), { force: true });
}

export async function readServerFile(dataDir: string): Promise<ServerFile | null> {
  const parsed = await readJson(path.join(dataDir, NAME));
  return typeof parsed?.url === 'string' ? { url: parsed.url, pid: Number(parsed.pid) } : null;
}

export async function readUserServerFile(env: NodeJS.ProcessEnv = process.env): Promise<UserServerFile | null> {
  const parsed = await readJson(userServerFilePath(env));
  if (typeof parsed?.url !== 'string' || typeof parsed.dataDir !== 'string') return null;
  return {
    url: parsed.url,
    pid: Number(parsed.pid),
    dataDir: parsed.dataDir,
    tokenFile: typeof parsed.tokenFile === 'string' ? parsed.tokenFile : null,
  };
}

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
