import type { FastifyInstance } from 'fastify';
import type { Sql } from '../db/sql.js';
import type { Runtime } from '../runtime/hearth-runtime.js';
import { within } from '../util/within.js';
import { BACKEND_KINDS, type HealthReport } from '../api/views.js';

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
      required: ['up'],
      properties: {
        up: { type: 'boolean' },
        kind: { type: 'string', enum: ['embedded', 'external'] },
        latencyMs: { type: 'number' },
        error: { type: 'string' },
      },
    },
    pool: {
      type: 'object',
      properties: {
        warm: { type: 'integer' },
        max: { type: 'integer' },
        evictions: { type: 'integer' },
        memoryBytes: { type: 'integer' },
        maxMemoryBytes: { type: ['integer', 'null'] },
      },
    },
    backends: {
      type: 'object',
      properties: Object.fromEntries(BACKEND_KINDS.map((kind) => [kind, up])),
    },
    /** Why a backend is down, where that is known. */
    backendErrors: { type: 'object', additionalProperties: { type: 'string' } },
    agents: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['status'],
        properties: { status: up, version: { type: 'string' }, error: { type: 'string' } },
      },
    },
    /** What a person should fix for turns to work (no credentials for the agents, ...). */
    warnings: {
      type: 'array',
      items: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

/**
 * `GET /health`: 200 while the database answers, 503 when it does not. Anyone may ask
 * whether the server is alive; what it runs and why a part is down (paths, error texts)
 * is shown only to a request that carries the token.
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get(
    '/health',
    { config: { access: 'public' }, schema: { response: { 200: healthSchema, 503: healthSchema } } },
    async (req, reply) => {
      // A server without a token (no runtime) has nothing to hide.
      const detailed = req.authenticated || !app.hasRequestDecorator('authenticated');
      const runtime =
        deps.runtime && detailed
          ? {
              ...(deps.demo ? { demo: true } : {}),
              pool: poolReport(deps.runtime),
              backends: deps.runtime.router.health(),
              ...backendErrors(deps.runtime),
              agents: agentReport(deps.runtime),
              warnings: await deps.runtime.warnings(),
            }
          : {};
      const started = performance.now();
      try {
        // Promptly, even when the database hangs instead of refusing.
        await within(deps.sql`SELECT 1`, 2_000, 'no answer within 2000 ms');
        const latencyMs = Math.round((performance.now() - started) * 10) / 10;
        const database = detailed ? { up: true, kind: deps.databaseKind, latencyMs } : { up: true };
        return { status: 'ok', database, ...runtime };
      } catch (err) {
        const database = detailed ? { up: false, kind: deps.databaseKind, error: (err as Error).message } : { up: false };
        return reply.code(503).send({ status: 'degraded', database, ...runtime });
      }
    },
  );
}

function poolReport(runtime: Runtime): NonNullable<HealthReport['pool']> {
  const { pool, config } = runtime;
  const memoryBytes = pool.memory().reduce((sum, m) => sum + m.bytes, 0);
  return { warm: pool.size, max: config.maxWarm, evictions: pool.evictions, memoryBytes, maxMemoryBytes: config.maxWarmMemory ?? null };
}

function backendErrors(runtime: Runtime): { backendErrors?: Record<string, string> } {
  const errors = runtime.router.errors();
  return Object.keys(errors).length > 0 ? { backendErrors: errors } : {};
}

function agentReport(runtime: Runtime): NonNullable<HealthReport['agents']> {
  const { registry } = runtime;
  return Object.fromEntries([
    ...registry.list().map((a) => [a.agent, { status: 'up' as const, version: a.version }] as const),
    ...registry.brokenAgents().map((a) => [a.agent, { status: 'down' as const, error: a.error }] as const),
  ]);
}
