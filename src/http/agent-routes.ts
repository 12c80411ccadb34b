import type { FastifyInstance } from 'fastify';
import type { AgentInfo } from '../api/views.js';
import type { Runtime } from '../runtime/hearth-runtime.js';

/**
 * `GET /api/agents`: the agents installed on this node, what a chat or a message can
 * choose from, with their backends in the order they are tried and what the catalog
 * knows they can do.
 */
export async function agentRoutes(app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.get('/api/agents', async (): Promise<{ agents: AgentInfo[] }> => {
    const health = runtime.router.health();
    return {
      agents: runtime.registry.list().map((a) => {
        const capabilities = runtime.registry.catalogEntry(a.agent)?.capabilities;
        return {
          name: a.agent,
          version: a.version,
          backends: a.backends.map((kind) => ({ kind, status: health[kind] ?? 'down' })),
          ...(capabilities ? { capabilities: { resumes: capabilities.resumes, permissionModes: [...capabilities.permissionModes] } } : {}),
        };
      }),
    };
  });
}
