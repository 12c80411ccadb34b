import { homedir } from 'node:os';
import { diffLines } from '../api/diff-lines.js';
import type { FileDiff, PlanEntry } from '../api/events.js';

/** ANSI styling, on only for a terminal and never with NO_COLOR set. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
}

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR;
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39) };
}

/**
 * Escape sequences as a terminal reads them: CSI (ESC [ or its C1 form, parameters, one
 * final byte), OSC, DCS, SOS, PM and APC strings (up to BEL or ST), and the two-byte ESC
 * forms. Removed whole, so they leave no residue; whatever is left of a broken one loses
 * its control bytes below and prints as plain text.
 */
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)|\x1b[\x20-\x2f]*[\x30-\x7e]/g;
/** C0 controls but tab and newline, DEL, and C1 controls. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * Text from the server (titles, paths, the model's reply, tool output, error messages) as
 * it may reach a terminal: no escape sequence or control character, so it cannot retitle
 * the window, clear the screen or rewrite what is shown. Newlines and tabs stay.
 */
export function printable(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '');
}

/** The start of an escape sequence that reaches the end of the text unfinished. */
const UNFINISHED_ESCAPE = /(?:(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*\x1b?|\x1b[\x20-\x2f]*)$/;
/** Longer than this, an unfinished sequence is let go (printable, so as plain text). */
const MAX_HELD = 4096;

/**
 * Printable text from a stream that arrives in pieces: a sequence split between two pieces
 * is held back until the piece that completes it, and then removed whole like any other.
 */
export class PrintableStream {
  private held = '';

  push(piece: string): string {
    const text = this.held + piece;
    const start = text.search(UNFINISHED_ESCAPE);
    const cut = start === -1 || text.length - start > MAX_HELD ? text.length : start;
    this.held = text.slice(cut);
    return printable(text.slice(0, cut));
  }

  /** What is still held when the stream ends, printable. */
  end(): string {
    const rest = printable(this.held);
    this.held = '';
    return rest;
  }
}

/** One line of at most `max` printable characters: newlines folded, the rest cut with an ellipsis. */
export function oneLine(text: string, max = 100): string {
  const flat = printable(text).replace(/\s*\n\s*/g, ' ⏎ ').replace(/\s+/g, ' ').trim();
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

/** `Bash(ls -la)`: the call's title where the agent gave one, else what its input is about. */
export function toolCallText(name: string, input: unknown, title?: string): string {
  return `${printable(name)}(${title ? oneLine(title, 80) : toolInputSummary(input)})`;
}

/** `⏺ Bash(ls -la)` */
export function toolCallLine(name: string, input: unknown, title?: string): string {
  return `⏺ ${toolCallText(name, input, title)}`;
}

/** Lines of a diff shown under a tool call before the rest is counted. */
const DIFF_LINES = 4;

/**
 * A file change in a few lines under its call: removed lines red, added green, the rest
 * counted (`… +N lines`). Lines kept around the change are left out.
 */
export function diffBlock(diff: FileDiff, style: Style, max = DIFF_LINES): string[] {
  const changed = diffLines(diff).filter((l) => l.op !== 'kept');
  const shown = changed.slice(0, max).map((l) =>
    l.op === 'added' ? style.green(`  + ${oneLine(l.text, 96)}`) : style.red(`  - ${oneLine(l.text, 96)}`),
  );
  const more = changed.length - shown.length;
  if (changed.length === 0) return [style.dim('  (no change)')];
  return more > 0 ? [...shown, style.dim(`  … +${more} line${more === 1 ? '' : 's'}`)] : shown;
}

/** Whether `diffBlock` shows the whole change, nothing of it counted away. */
export function diffFits(diff: FileDiff, max = DIFF_LINES): boolean {
  return diffLines(diff).filter((l) => l.op !== 'kept').length <= max;
}

const PLAN_MARK: Record<PlanEntry['status'], string> = { pending: '☐', in_progress: '◐', completed: '☑' };

/** The plan as a checklist, a written plan's text above it. */
export function planLines(entries: PlanEntry[], text: string | undefined, style: Style): string[] {
  const written = text === undefined ? [] : [style.bold('Plan:'), ...printable(text).replace(/\n+$/, '').split('\n').map((l) => `  ${l}`)];
  const list = entries.map((e) => {
    const line = `${PLAN_MARK[e.status]} ${oneLine(e.content)}`;
    return e.status === 'completed' ? style.dim(line) : e.status === 'in_progress' ? style.bold(line) : line;
  });
  return [...written, ...list];
}

/** `· mode: plan` */
export function modeLine(mode: string, style: Style): string {
  return style.dim(`· mode: ${oneLine(mode, 40)}`);
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
  return style.red(`✗ ${printable(message)}`);
}

/** A path with the home directory shown as ~. */
export function shortPath(p: string): string {
  const home = homedir();
  return home && (p === home || p.startsWith(home + '/')) ? '~' + p.slice(home.length) : p;
}

export function formatCost(usd: number): string {
  return `$${usd.toFixed(usd >= 1 ? 2 : 4)}`;
}

/** A context window's fill: tokens used of its size, and the share. */
export function contextShare(c: { used: number; size: number }): string {
  const k = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : String(n));
  return `${k(c.used)} of ${k(c.size)} tokens (${Math.round((100 * c.used) / c.size)}%)`;
}

/** What a chat's sessions have cost: the known costs added up, `?` beside them where an agent reports none, `-` with no session. */
export function totalCost(sessions: readonly { cost: number | null }[]): string {
  if (sessions.length === 0) return '-';
  const known = sessions.flatMap((s) => (s.cost === null ? [] : [s.cost]));
  if (known.length === 0) return '?';
  const sum = formatCost(known.reduce((a, b) => a + b, 0));
  return known.length < sessions.length ? `${sum}+?` : sum;
}

/** Rows as columns padded to their widest cell; the last column is not padded. Cells are made printable. */
export function table(cells: string[][]): string {
  const rows = cells.map((row) => row.map(printable));
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join('  '))
    .join('\n');
}
