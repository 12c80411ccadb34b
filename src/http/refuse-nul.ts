import type { FastifyInstance } from 'fastify';
import { HearthError } from '../runtime/errors.js';

/**
 * Refuses a request whose JSON body holds a NUL character in any string: PostgreSQL's text
 * cannot store one, and no title, path, model or message needs one.
 */
export function refuseNul(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    const where = nulAt(req.body, '');
    if (where !== null) throw new HearthError(400, 'invalid_text', `${where || 'the body'} contains a NUL character, which is not accepted`);
  });
}

/** The path of the first string (or key) under `value` that holds a NUL, or null. */
function nulAt(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nulAt(item, `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) return `a field name in ${path || 'the body'}`;
      const found = nulAt(item, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}
