import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Who may call a route, declared on the route itself (`config: { access }`):
 * - `token` (the default for every route, matched or not): `Authorization: Bearer <token>`;
 * - `token-or-query`: the same, or `?token=` in the query, for event streams, since a
 *   browser's EventSource cannot set headers;
 * - `public`: anyone; the route may still show more to a request that carries the token.
 */
export type RouteAccess = 'public' | 'token' | 'token-or-query';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Whether the request carried the right token, whatever the route's access. */
    authenticated: boolean;
  }
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Checks the token against the route that matched, never against the raw URL: the router
 * decodes the path before matching it, so any test of the URL's text can be walked around
 * (`/%61pi/chats`, an absolute-form request line). A request that matched no route needs
 * the token too, so nothing is public by accident.
 */
export function requireToken(app: FastifyInstance, token: string): void {
  if (token === '') throw new Error('requireToken: the token is empty');
  // Comparing digests keeps the comparison's time independent of the token's length.
  const expected = digest(token);
  const matches = (given: string | undefined) => given !== undefined && timingSafeEqual(digest(given), expected);
  app.decorateRequest('authenticated', false);
  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config.access ?? 'token';
    req.authenticated = matches(bearer(req)) || (access === 'token-or-query' && matches(queryToken(req)));
    if (access === 'public' || req.authenticated) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
  });
}

function bearer(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
  return match?.[1];
}

function queryToken(req: FastifyRequest): string | undefined {
  const value = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' ? value : undefined;
}

/**
 * A URL as it may be logged: every query parameter whose decoded name is `token` has its
 * value replaced, however the name was escaped (`?%74oken=`).
 */
export function withoutToken(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const [query, hash = ''] = url.slice(at + 1).split(/(?=#)/, 2);
  const redacted = query!
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return decodedName(name) === 'token' ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, at)}?${redacted}${hash}`;
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}
