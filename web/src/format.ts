import { BACKEND_SHORT_NAMES } from '../../src/api/views.js';

export function money(usd: number): string {
  return usd >= 0.01 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

export function count(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n.toLocaleString('en-US');
}

/** A backend in a word (SDK, PTY); one this UI does not know by its own name. */
export function shortName(backend: string): string {
  return (BACKEND_SHORT_NAMES as Record<string, string>)[backend] ?? backend;
}
