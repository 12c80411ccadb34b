import pRetry from 'p-retry';
import type { Logger } from 'pino';

/** SQLSTATEs that say the server went away or is not taking connections, not that the statement was wrong. */
const GONE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket errors, and postgres.js's own codes for a connection lost or never made. */
const GONE_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Whether an error means the database could not be reached, so the same statement may
 * well succeed later. A pool this process ended itself (CONNECTION_ENDED) is not one.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return GONE_CODES.has(code) || GONE_STATES.has(code) || code.startsWith('08');
}

export interface WhileUnreachableOptions {
  log: Logger;
  /** What is being written, for the log. */
  what: string;
  /** How long to keep trying; after that the last error is thrown. */
  giveUpAfterMs: number;
  /**
   * Ends the waiting early (the server is shutting down): the write is still tried once,
   * and after that the next failure is thrown.
   */
  signal?: AbortSignal;
  /** Logged with every warning. */
  context?: Record<string, unknown>;
}

/**
 * Runs `write` until it succeeds, trying again while the database is unreachable, with
 * backoff from 100 ms to 2 s: a database restart or failover delays durable writes
 * instead of losing them. Any other error is thrown at once.
 */
export async function whileUnreachable<T>(write: () => Promise<T>, options: WhileUnreachableOptions): Promise<T> {
  const { log, what, context } = options;
  let warned = false;
  const result = await pRetry(write, {
    retries: Number.POSITIVE_INFINITY,
    minTimeout: 100,
    maxTimeout: 2_000,
    factor: 2,
    maxRetryTime: options.giveUpAfterMs,
    shouldRetry: ({ error }) => isDatabaseUnreachable(error) && !options.signal?.aborted,
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (!isDatabaseUnreachable(error) || warned) return;
      warned = true;
      log.warn({ ...context, err: error, attemptNumber }, `database unreachable; ${what} waits for it`);
    },
  });
  if (warned) log.info({ ...context }, `database back; ${what} written`);
  return result;
}
