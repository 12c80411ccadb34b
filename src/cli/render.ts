import { homedir } from 'node:os';

/** ANSI styling, on only for a terminal and never with NO_COLOR set. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
}

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR;
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39) };
}

/** One line of at most `max` characters: newlines folded, the rest cut with an ellipsis. */
export function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s*\n\s*/g, ' ⏎ ').replace(/\s+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
}

/** Input fields that say what a tool call does, most telling first (Claude Code's tool names). */
const TELLING_FIELDS = ['command', 'file_path', 'notebook_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt', 'skill'];

/** What a tool call is about, in a few words: `ls -la` for Bash, the path for Read, and so on. */
export function toolInputSummary(input: unknown): string {
  if (input === null || input === undefined) return '';
  if (typeof input !== 'object') return oneLine(String(input), 80);
  const fields = input as Record<string, unknown>;
  for (const key of TELLING_FIELDS) {
    if (typeof fields[key] === 'string' && fields[key] !== '') return oneLine(fields[key], 80);
  }
  for (const value of Object.values(fields)) {
    if (typeof value === 'string' && value !== '') return oneLine(value, 80);
    if (Array.isArray(value)) return `${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  return oneLine(JSON.stringify(input), 80);
}

/** `⏺ Bash(ls -la)` */
export function toolCallLine(name: string, input: unknown): string {
  return `⏺ ${name}(${toolInputSummary(input)})`;
}

/** `  ⎿  first line … +N lines`, marked when the tool failed. */
export function toolResultLine(output: string, isError: boolean, style: Style): string {
  const lines = output.replace(/\s+$/, '').split('\n');
  const first = lines.find((l) => l.trim() !== '') ?? '';
  const more = lines.length > 1 ? style.dim(` … +${lines.length - 1} line${lines.length === 2 ? '' : 's'}`) : '';
  if (isError) return `  ⎿  ${style.red(`✗ ${first ? oneLine(first) : 'failed'}`)}${more}`;
  return `  ⎿  ${first ? style.dim(oneLine(first)) : style.dim('(no output)')}${more}`;
}

export function errorLine(message: string, style: Style): string {
  return style.red(`✗ ${message}`);
}

/** A path with the home directory shown as ~. */
export function shortPath(p: string): string {
  const home = homedir();
  return home && (p === home || p.startsWith(home + '/')) ? '~' + p.slice(home.length) : p;
}

export function formatCost(usd: number): string {
  return `$${usd.toFixed(usd >= 1 ? 2 : 4)}`;
}

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join('  '))
    .join('\n');
}
