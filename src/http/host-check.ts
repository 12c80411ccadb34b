import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface HostCheckOptions {
  /** Names besides loopback that clients may use to reach the server (a reverse proxy's, a LAN name). */
  publicHosts?: readonly string[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses requests addressed to a name the server does not answer to, and state-changing
 * requests sent from another site's page. A page on any site can point its own name at
 * 127.0.0.1 (DNS rebinding) and so become same-origin with Hearth; its requests then carry
 * that name in `Host`. An IP literal cannot be rebound, so IP literals, `localhost` and the
 * configured names are accepted, and nothing else.
 */
export function checkHost(app: FastifyInstance, options: HostCheckOptions = {}): void {
  const names = new Set((options.publicHosts ?? []).map((h) => h.toLowerCase()));
  const allowed = (hostname: string) =>
    isIP(hostname) !== 0 || hostname === 'localhost' || hostname.endsWith('.localhost') || names.has(hostname);

  app.addHook('onRequest', async (req, reply) => {
    const host = req.headers.host;
    const hostname = host === undefined ? null : hostnameOf(host);
    if (hostname === null || !allowed(hostname)) {
      return refuse(reply, 421, 'unknown_host', `this server does not answer to the host name ${JSON.stringify(host ?? '')}`);
    }
    if (SAFE_METHODS.has(req.method)) return;
    const origin = req.headers.origin;
    if (origin === undefined) return; // not a browser, or a same-origin request of an old one
    const from = originHost(origin);
    if (from === null || (from.host !== host!.toLowerCase() && !names.has(from.hostname))) {
      return refuse(reply, 403, 'cross_origin', `requests from ${JSON.stringify(origin)} are not accepted`);
    }
  });
}

function refuse(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

/** The name in a Host header, lower-cased, without its port; null when it is not a valid authority. */
export function hostnameOf(host: string): string | null {
  try {
    const url = new URL(`http://${host}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    const name = url.hostname.toLowerCase();
    // A trailing dot names the same host and must not slip past the comparison.
    const bare = name.startsWith('[') ? name.slice(1, -1) : name.replace(/\.$/, '');
    return bare === '' ? null : bare;
  } catch {
    return null;
  }
}

function originHost(origin: string): { host: string; hostname: string } | null {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    const hostname = hostnameOf(url.host);
    return hostname === null ? null : { host: url.host.toLowerCase(), hostname };
  } catch {
    return null;
  }
}
