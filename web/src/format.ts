export function money(usd: number): string {
  return usd >= 0.01 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

export function count(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n.toLocaleString('en-US');
}
