import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where the build puts the web UI: dist/web, beside the compiled server (or above src/ when run from source). */
export const WEB_UI_DIR = fileURLToPath(new URL('../../dist/web', import.meta.url));

/**
 * The web UI at `/`: the built files, no token needed (the page asks for it). Without a
 * build the page says how to make one instead of answering 404.
 */
export async function webUiRoutes(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? WEB_UI_DIR;
  // The page and its files are public: the page itself asks for the token.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, access: 'public' };
  });
  if (!existsSync(`${dir}/index.html`)) {
    app.get('/', async (_req, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(`The web UI is not built here (no ${dir}/index.html). Run "npm run build"; the HTTP API works without it.`),
    );
    return;
  }
  // The files do not change while the server runs: each gets a route of its own, nothing else is looked up.
  await app.register(fastifyStatic, { root: dir, wildcard: false, index: 'index.html' });
}
