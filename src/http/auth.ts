import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/**
 * Every /api/ route needs `Authorization: Bearer <token>`; /health and the UI do not.
 * An event stream may pass the token as `?token=` instead, since a browser's EventSource
 * cannot set headers.
 */
export function requireToken(app: FastifyInstance, token: string): void {
  const expected = Buffer.from(token);
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/')) return;
    const header = req.headers.authorization ?? '';
    const query = req.method === 'GET' && req.url.includes('/events') ? (req.query as { token?: string }).token : undefined;
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : (query ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
    }
  });
}

/** A URL as it may be logged: an event stream's `?token=` is replaced, never written to a log. */
export function withoutToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, '$1[redacted]');
}
