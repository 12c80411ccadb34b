import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { requireToken, withoutToken } from './auth.js';
import { chatRoutes } from './chat-routes.js';
import { handleErrors } from './error-handler.js';
import { eventStreamRoute } from './event-stream-route.js';
import { healthRoutes, type HealthDeps } from './health-routes.js';
import { metricsRoute } from './metrics-route.js';
import { webUiRoutes } from './web-ui-routes.js';

export interface AppDeps extends HealthDeps {
  /** The process's logger, shared with the runtime; none logs nothing. */
  logger?: Logger;
  /** The API's bearer token; required with a runtime. */
  token?: string;
  maxPromptBytes?: number;
  /** Unsent SSE bytes a client may fall behind by before it is cut off. */
  sseMaxBufferedBytes?: number;
  /** How long an SSE replay waits on a client that takes nothing before cutting it off. */
  sseStallMs?: number;
}

/** The HTTP application: every route plugin is registered here, so its shape reads in one place. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Requests are logged without the token an event stream may carry in its query.
  const loggerInstance: FastifyBaseLogger | undefined = deps.logger?.child(
    {},
    {
      serializers: {
        req: (req: { method: string; url: string; host?: string; ip?: string }) => ({
          method: req.method,
          url: withoutToken(req.url),
          host: req.host,
          remoteAddress: req.ip,
        }),
      },
    },
  );
  // Unknown fields are refused, not silently dropped: a typo should not go unnoticed.
  const common = { bodyLimit: 1024 * 1024, ajv: { customOptions: { removeAdditional: false as const } } };
  const app = loggerInstance ? Fastify({ loggerInstance, ...common }) : Fastify({ logger: false, ...common });
  handleErrors(app);
  await app.register(healthRoutes, deps);
  if (deps.runtime) {
    if (!deps.token) throw new Error('buildApp: a runtime needs a token');
    requireToken(app, deps.token);
    await app.register(chatRoutes, { runtime: deps.runtime, maxPromptBytes: deps.maxPromptBytes ?? 256 * 1024 });
    await app.register(eventStreamRoute, { runtime: deps.runtime, maxBufferedBytes: deps.sseMaxBufferedBytes, stallMs: deps.sseStallMs });
    await app.register(metricsRoute, { runtime: deps.runtime });
    await app.register(webUiRoutes);
  }
  return app;
}
