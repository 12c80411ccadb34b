import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { healthRoutes, type HealthDeps } from './health-routes.js';

export interface AppDeps extends HealthDeps {
  logger?: FastifyServerOptions['logger'];
}

/** The HTTP application: every route plugin is registered here, so its shape reads in one place. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 1024 * 1024 });
  await app.register(healthRoutes, deps);
  return app;
}
