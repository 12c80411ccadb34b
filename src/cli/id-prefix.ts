import { MIN_PREFIX } from './chat-ref.js';
import { UsageError } from './errors.js';

/**
 * The one item whose id is `ref` or starts with it (at least four characters), as a
 * person names a request or a rule after `hearth pending` or `hearth rules` showed its
 * short id. `what` names the kind of item and where it was looked for, for the error.
 */
export function findByPrefix<T>(items: T[], idOf: (item: T) => string, ref: string, what: string): T {
  const wanted = ref.trim().toLowerCase();
  const exact = items.find((i) => idOf(i) === wanted);
  if (exact) return exact;
  if (wanted.length < MIN_PREFIX) throw new UsageError(`"${ref}" is too short to name a ${what}: give its id or at least ${MIN_PREFIX} characters of it`);
  const matches = items.filter((i) => idOf(i).startsWith(wanted));
  if (matches.length === 0) throw new UsageError(`no ${what} has an id starting with "${ref}"`);
  if (matches.length > 1) throw new UsageError(`"${ref}" is ambiguous: ${matches.length} ids start with it (${matches.map(idOf).join(', ')}); give more characters`);
  return matches[0]!;
}
