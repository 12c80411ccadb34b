const UNITS: Array<[number, string]> = [
  [60, 'min'],
  [24, 'h'],
  [7, 'd'],
];

/** How long ago an instant was, in the fewest words: "just now", "5 min ago", "3 d ago", else the date. */
export function ago(iso: string, now = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '';
  let n = Math.floor((now - then) / 60_000);
  if (n < 1) return 'just now';
  for (const [size, unit] of UNITS) {
    if (n < size) return `${n} ${unit} ago`;
    n = Math.floor(n / size);
  }
  return new Date(then).toLocaleDateString();
}
