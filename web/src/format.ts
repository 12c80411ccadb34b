import { BACKEND_SHORT_NAMES } from '../../src/api/views.js';

/** A cost in dollars; null is a cost the agent does not report. */
export function money(usd: number | null): string {
  if (usd === null) return 'cost unknown';
  return usd >= 0.01 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** The known costs added up; null when none is known. */
export function knownCost(sessions: readonly { cost: number | null }[]): number | null {
  const known = sessions.flatMap((s) => (s.cost === null ? [] : [s.cost]));
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

export function count(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n.toLocaleString('en-US');
}

/** A backend in a word (SDK, PTY); one this UI does not know by its own name. */
export function shortName(backend: string): string {
  return (BACKEND_SHORT_NAMES as Record<string, string>)[backend] ?? backend;
}
