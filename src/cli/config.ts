import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import path from 'node:path';
import { defaultDataDir } from '../db/database.js';
import { writeAtomically } from '../util/write-atomically.js';

/** Everything `hearth serve` reads from its environment, checked before anything starts. */
export interface ServeConfig {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  /** Schema holding Hearth's tables, so several installations can share one database. */
  schema: string;
  repoRoots: string[];
  worktreesDir: string;
  maxWarm: number;
  /** Resident bytes the warm sessions may hold together; null: only their count is capped. */
  maxWarmMemory: number | null;
  /** Resident bytes past which OpenCode's server is restarted between turns; null: no ceiling. */
  maxOpencodeMemory: number | null;
  idleMs: number;
  maxQueued: number;
  /** Open a chat's warm session before its first message. */
  prewarm: boolean;
  /** How long a permission request waits for a person before it is denied; null: as long as its turn lives. */
  permissionTimeoutMs: number | null;
  /** Agent sessions being started at once at most. */
  maxStarts: number;
  maxPromptBytes: number;
  claudeSdk: boolean;
  logLevel: string;
  /** Host names besides loopback and IP literals that clients may use (a proxy's, a LAN name). */
  publicHosts: string[];
  /** How a server bound beyond loopback keeps the token off the wire in clear. */
  remote: RemoteAccess;
  /** Certificate and key files (PEM) to serve HTTPS with. */
  tls: { certFile: string; keyFile: string } | null;
  requestTimeoutMs: number;
  /** The user agents run as instead of the server's own (the server must be root). */
  agentUser: string | null;
  /** Log lines for a person or for a machine; null chooses by whether stdout is a terminal. */
  logFormat: 'pretty' | 'json' | null;
}

/** `off`: loopback only; `tls`: Hearth serves HTTPS itself; `proxy`: a reverse proxy in front terminates TLS. */
export type RemoteAccess = 'off' | 'tls' | 'proxy';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A size in bytes: a whole number of bytes, or a number with K, M, G or T (powers of 1024), as in `512M` or `1.5G`. */
export function parseSize(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(raw);
  if (!m) return null;
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

function size(env: NodeJS.ProcessEnv, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  const bytes = parseSize(raw);
  if (bytes === null || bytes < 1) {
    throw new ConfigError(`${name} must be a size such as 4G, 512M or a number of bytes, got ${JSON.stringify(raw)}`);
  }
  return bytes;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(env[name])}`);
}

function choice<T extends string>(env: NodeJS.ProcessEnv, name: string, options: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if ((options as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name} must be one of ${options.join(', ')}, got ${JSON.stringify(raw)}`);
}

/** Whether an address to bind reaches only this machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/**
 * Binding beyond loopback sends the token over the network, so it needs a stated way of
 * keeping it off the wire in clear: Hearth's own TLS, or a reverse proxy that terminates it.
 */
function remoteAccess(env: NodeJS.ProcessEnv, host: string): Pick<ServeConfig, 'remote' | 'tls'> {
  const remote = choice(env, 'HEARTH_REMOTE', ['off', 'tls', 'proxy'] as const, 'off');
  const certFile = env.HEARTH_TLS_CERT || undefined;
  const keyFile = env.HEARTH_TLS_KEY || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError('HEARTH_TLS_CERT and HEARTH_TLS_KEY go together: give both files, or neither');
  }
  const tls = certFile && keyFile ? { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile) } : null;
  if (remote === 'tls' && !tls) {
    throw new ConfigError('HEARTH_REMOTE=tls needs HEARTH_TLS_CERT and HEARTH_TLS_KEY (PEM files)');
  }
  if (!isLoopback(host) && remote === 'off') {
    throw new ConfigError(
      `HEARTH_HOST=${host} is not a loopback address: the API token would cross the network. ` +
        'Set HEARTH_REMOTE=tls with HEARTH_TLS_CERT and HEARTH_TLS_KEY to serve HTTPS, or HEARTH_REMOTE=proxy ' +
        'when a reverse proxy in front of Hearth terminates TLS; or bind 127.0.0.1.',
    );
  }
  return { remote, tls };
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const dataDir = defaultDataDir(env);
  const host = env.HEARTH_HOST || '127.0.0.1';
  return {
    host,
    ...remoteAccess(env, host),
    publicHosts: (env.HEARTH_PUBLIC_HOSTS ?? '').split(/[\s,]+/).filter(Boolean),
    requestTimeoutMs: int(env, 'HEARTH_REQUEST_TIMEOUT_SECONDS', 30, 1, 3600) * 1000,
    agentUser: env.HEARTH_AGENT_USER || null,
    logFormat: env.HEARTH_LOG_FORMAT ? choice(env, 'HEARTH_LOG_FORMAT', ['pretty', 'json'] as const, 'json') : null,
    port: int(env, 'HEARTH_PORT', 8420, 0, 65535),
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    schema: env.HEARTH_DATABASE_SCHEMA || 'public',
    repoRoots: (env.HEARTH_REPO_ROOTS || homedir()).split(path.delimiter).filter(Boolean).map((p) => path.resolve(p)),
    worktreesDir: path.resolve(env.HEARTH_WORKTREES_DIR || path.join(dataDir, 'worktrees')),
    maxWarm: int(env, 'HEARTH_POOL_MAX', 8, 1, 1000),
    maxWarmMemory: size(env, 'HEARTH_POOL_MAX_MEMORY'),
    maxOpencodeMemory: size(env, 'HEARTH_OPENCODE_MAX_MEMORY'),
    idleMs: int(env, 'HEARTH_POOL_IDLE_SECONDS', 900, 1, 7 * 24 * 3600) * 1000,
    maxQueued: int(env, 'HEARTH_QUEUE_MAX', 5, 0, 1000),
    prewarm: flag(env, 'HEARTH_PREWARM', true),
    permissionTimeoutMs: env.HEARTH_PERMISSION_TIMEOUT_SECONDS ? int(env, 'HEARTH_PERMISSION_TIMEOUT_SECONDS', 0, 1, 7 * 24 * 3600) * 1000 : null,
    maxStarts: int(env, 'HEARTH_MAX_STARTS', availableParallelism(), 1, 1000),
    maxPromptBytes: int(env, 'HEARTH_MAX_PROMPT_BYTES', 256 * 1024, 1, 16 * 1024 * 1024),
    claudeSdk: flag(env, 'CLAUDE_SDK_BACKEND', true),
    logLevel: env.HEARTH_LOG_LEVEL || 'info',
  };
}

/**
 * A value kept in the data directory: read it, or make it once and keep it. The file is
 * written whole through a new file, so it ends up 0600 whatever stood there before (an
 * empty file of another mode, say); a secret found readable by others is made private.
 */
async function kept(dataDir: string, name: string, make: () => string, secret = false): Promise<{ value: string; created: boolean }> {
  const file = path.join(dataDir, name);
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing) {
    if (secret && ((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
    return { value: existing, created: false };
  }
  const value = make();
  await writeAtomically(file, value + '\n');
  return { value, created: true };
}

/** This node's id: kept in the data directory so a restarted node knows its own turns and processes. */
export async function nodeId(env: NodeJS.ProcessEnv, dataDir: string): Promise<string> {
  return env.HEARTH_NODE_ID || (await kept(dataDir, 'node-id', () => randomUUID())).value;
}

/** The API token: HEARTH_TOKEN, else one generated on first start and kept. */
export async function apiToken(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ value: string; created: boolean; file: string | null }> {
  if (env.HEARTH_TOKEN) return { value: env.HEARTH_TOKEN, created: false, file: null };
  const token = await kept(dataDir, 'token', () => randomBytes(32).toString('base64url'), true);
  return { ...token, file: path.join(dataDir, 'token') };
}
