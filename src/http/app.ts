import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { agentRoutes } from './agent-routes.js';
import { requireToken, withoutToken } from './auth.js';
import { chatRoutes } from './chat-routes.js';
import { permissionRoutes } from './permission-routes.js';
import { handleErrors } from './error-handler.js';
import { eventStreamRoute } from './event-stream-route.js';
import { healthRoutes, type HealthDeps } from './health-routes.js';
import { checkHost } from './host-check.js';
import { metricsRoute } from './metrics-route.js';
import { refuseNul } from './refuse-nul.js';
import { securityHeaders } from './security-headers.js';
import { webUiRoutes } from './web-ui-routes.js';

export interface AppDeps extends HealthDeps {
  /** The process's logger, shared with the runtime; none logs nothing. */
  logger?: Logger;
  /** The API's bearer token; required with a runtime. */
  token?: string;
  maxPromptBytes?: number;
  /** Unsent SSE bytes a client may fall behind by before it is cut off. */
  sseMaxBufferedBytes?: number;
  /** Host names besides loopback and IP literals that the server answers to. */
  publicHosts?: readonly string[];
  /** How long a client may take to send a whole request, headers and body. Default: 30 s. */
  requestTimeoutMs?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
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
  const requestTimeout = deps.requestTimeoutMs ?? 30_000;
  const common = {
    bodyLimit: 1024 * 1024,
    // A request's id is unique across restarts and nodes, so a log line found by it is the one.
    genReqId: () => randomUUID(),
    requestIdHeader: false as const,
    // One line a request, at debug: a browser tab polling must not fill the log at info.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown fields are refused, not silently dropped, and a value of the wrong type is not coerced.
    ajv: { customOptions: { removeAdditional: false as const, coerceTypes: false as const } },
    serverFactory: (handler: http.RequestListener) => {
      // Node checks request timeouts on this interval; its default (30 s) would stretch a short timeout.
      const options = { connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(requestTimeout / 4))) };
      const server = deps.tls ? https.createServer({ ...options, ...deps.tls }, handler) : http.createServer(options, handler);
      // A client that never finishes sending its request does not hold a connection for minutes.
      server.requestTimeout = requestTimeout;
      server.headersTimeout = Math.min(server.headersTimeout, requestTimeout);
      return server;
    },
  };
  const app = loggerInstance ? Fastify({ loggerInstance, ...common }) : Fastify({ logger: false, ...common });
  await app.register(securityHeaders);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ req, res: reply, responseTime: Math.round(reply.elapsedTime * 10) / 10 }, 'request completed');
  });
  handleErrors(app);
  checkHost(app, { publicHosts: deps.publicHosts });
  if (deps.token !== undefined) requireToken(app, deps.token);
  refuseNul(app);
  await app.register(healthRoutes, deps);
  if (deps.runtime) {
    if (!deps.token) throw new Error('buildApp: a runtime needs a token');
    await app.register(chatRoutes, { runtime: deps.runtime, maxPromptBytes: deps.maxPromptBytes ?? 256 * 1024 });
    await app.register(permissionRoutes, { runtime: deps.runtime });
    await app.register(agentRoutes, { runtime: deps.runtime });
    await app.register(eventStreamRoute, { runtime: deps.runtime, maxBufferedBytes: deps.sseMaxBufferedBytes, stallMs: deps.sseStallMs });
    await app.register(metricsRoute, { runtime: deps.runtime });
    await app.register(webUiRoutes);
  }
  return app;
}
