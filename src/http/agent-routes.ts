import type { FastifyInstance } from 'fastify';
import type { BackendKind } from '../agents/contract/agent-backend.js';
import type { Runtime } from '../runtime/hearth-runtime.js';

/** The backends that can run each agent, in the order the dispatcher tries them. */
const BACKENDS: Record<string, BackendKind[]> = { claude: ['claude_sdk', 'claude_pty'] };

/** `GET /api/agents`: the agents installed on this node, what a new chat can choose from. */
export async function agentRoutes(app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.get('/api/agents', async () => {
    const health = runtime.backendHealth();
    return {
      agents: runtime.registry.list().map((a) => ({
        name: a.agent,
        version: a.version,
        backends: (BACKENDS[a.agent] ?? []).map((kind) => ({ kind, status: health[kind] ?? 'down' })),
      })),
    };
  });
}
