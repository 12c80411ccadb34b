import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * What the browser may load for a page from this server: its own files and nothing else.
 * The built UI has no inline script or style (React sets styles through the DOM, which the
 * policy allows), so nothing here needs 'unsafe-inline'. `img-src 'self'` keeps text the
 * model writes from making the browser fetch a URL of its choosing.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // frame-ancestors for browsers that predate it.
  'x-frame-options': 'DENY',
};

function setSecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
}

/**
 * The security headers on every response: API answers, the UI's static files, errors, 404s
 * and the event stream. They are set on the raw response as the request arrives, before
 * Fastify routes it, so the answers Fastify writes by itself (a malformed URL) and hijacked
 * streams carry them too; Node merges them into whatever a handler writes later.
 */
export async function securityHeaders(app: FastifyInstance): Promise<void> {
  app.server.prependListener('request', (_req, res: ServerResponse) => setSecurityHeaders(res));
  // Requests injected without a socket (app.inject) never pass the server's listener.
  app.addHook('onRequest', async (_req, reply) => setSecurityHeaders(reply.raw));
}
// Not encapsulated (as fastify-plugin would mark it): the headers hold for the whole application.
Object.defineProperty(securityHeaders, Symbol.for('skip-override'), { value: true });
