/** A file change as lines kept, removed and added, the way a unified diff shows it. */
import type { FileDiff } from './events.js';

export interface DiffLine {
  op: 'kept' | 'removed' | 'added';
  text: string;
}

/** Above this many line pairs to compare, the changed middle shows as all removed, then all added. */
const MAX_COMPARED = 250_000;

/** The lines of `diff`: a new file's all added, an edit's by a longest common subsequence of its lines. */
export function diffLines(diff: Pick<FileDiff, 'oldText' | 'newText'>): DiffLine[] {
  const after = lines(diff.newText);
  if (diff.oldText === null) return after.map((text) => ({ op: 'added', text }));
  const before = lines(diff.oldText);
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head++;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
  const kept = (xs: string[]) => xs.map((text): DiffLine => ({ op: 'kept', text }));
  const a = before.slice(head, before.length - tail);
  const b = after.slice(head, after.length - tail);
  return [...kept(before.slice(0, head)), ...changed(a, b), ...kept(before.slice(before.length - tail))];
}

/** How many lines a diff removes and adds. */
export function diffStat(diff: Pick<FileDiff, 'oldText' | 'newText'>): { removed: number; added: number } {
  const all = diffLines(diff);
  return { removed: all.filter((l) => l.op === 'removed').length, added: all.filter((l) => l.op === 'added').length };
}

function changed(a: string[], b: string[]): DiffLine[] {
  if (a.length * b.length > MAX_COMPARED) {
    return [...a.map((text): DiffLine => ({ op: 'removed', text })), ...b.map((text): DiffLine => ({ op: 'added', text }))];
  }
  // common[i][j]: the longest common subsequence of a[i..] and b[j..].
  const common = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i]![j] = a[i] === b[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: 'kept', text: a[i]! });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || common[i]![j + 1]! >= common[i + 1]![j]!)) {
      // Removals before additions within a change, as unified diffs show them.
      if (i < a.length && common[i + 1]![j]! === common[i]![j + 1]!) out.push({ op: 'removed', text: a[i++]! });
      else out.push({ op: 'added', text: b[j++]! });
    } else {
      out.push({ op: 'removed', text: a[i++]! });
    }
  }
  return out;
}

/** The text's lines; a final newline ends the last line rather than starting an empty one. */
function lines(text: string): string[] {
  if (text === '') return [];
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}
