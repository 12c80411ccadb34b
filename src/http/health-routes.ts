import type { FastifyInstance } from 'fastify';
import type { Sql } from '../db/sql.js';
import type { Runtime } from '../runtime/hearth-runtime.js';
import { within } from '../util/within.js';

export interface HealthDeps {
  sql: Sql;
  /** Where the database runs, for people reading the health report. */
  databaseKind: 'embedded' | 'external';
  runtime?: Runtime;
  /** The agents talk to the scripted demo model, not to a real one. */
  demo?: boolean;
}

const up = { type: 'string', enum: ['up', 'down'] } as const;
const healthSchema = {
  type: 'object',
  required: ['status', 'database'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    demo: { type: 'boolean' },
    database: {
      type: 'object',
      required: ['up', 'kind'],
      properties: {
        up: { type: 'boolean' },
        kind: { type: 'string', enum: ['embedded', 'external'] },
        latencyMs: { type: 'number' },
        error: { type: 'string' },
      },
    },
    pool: {
      type: 'object',
      properties: { warm: { type: 'integer' }, max: { type: 'integer' }, evictions: { type: 'integer' } },
    },
    backends: {
      type: 'object',
      properties: { claude_sdk: up, claude_pty: up, warm_acp: up, opencode_server: up },
    },
    /** Why a backend is down, where that is known. */
    backendErrors: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

/** `GET /health`: no auth, 200 while the database answers, 503 with the reason when it does not. */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get('/health', { schema: { response: { 200: healthSchema, 503: healthSchema } } }, async (_req, reply) => {
    const runtime = deps.runtime
      ? {
          ...(deps.demo ? { demo: true } : {}),
          pool: { warm: deps.runtime.pool.size, max: deps.runtime.config.maxWarm, evictions: deps.runtime.pool.evictions },
          backends: deps.runtime.backendHealth(),
          ...backendErrors(deps.runtime),
        }
      : {};
    const started = performance.now();
    try {
      // Promptly, even when the database hangs instead of refusing.
      await within(deps.sql`SELECT 1`, 2_000, 'no answer within 2000 ms');
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      return { status: 'ok', database: { up: true, kind: deps.databaseKind, latencyMs }, ...runtime };
    } catch (err) {
      return reply.code(503).send({
        status: 'degraded',
        database: { up: false, kind: deps.databaseKind, error: (err as Error).message },
        ...runtime,
      });
    }
  });
}


function backendErrors(runtime: Runtime): { backendErrors?: Record<string, string> } {
  const sdk = runtime.sdkError();
  return sdk ? { backendErrors: { claude_sdk: sdk } } : {};
}
