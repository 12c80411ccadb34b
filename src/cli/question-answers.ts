import type { PermissionQuestion } from '../api/permissions.js';

/**
 * The answer to `q` from what a person typed: a choice's number picks it (several numbers,
 * separated by commas or spaces, where the question takes several; their labels are then
 * joined with ", "); any other text is the answer itself where the question takes words
 * of the person's own. Null when what was typed fits neither, or is empty.
 */
export function answerFor(q: PermissionQuestion, typed: string): string | null {
  const text = typed.trim();
  if (text === '') return null;
  const numbers = /^\d+(?:\s*[,\s]\s*\d+)*$/.test(text) ? text.split(/[,\s]+/).map(Number) : null;
  const picked = numbers?.every((n) => n >= 1 && n <= q.choices.length) ? numbers.map((n) => q.choices[n - 1]!.label) : null;
  if (picked && (picked.length === 1 || q.multiSelect)) return [...new Set(picked)].join(', ');
  return q.freeText ? text : null;
}

/** What `answerFor` takes for `q`, for a person who typed something it does not. */
export function answerHint(q: PermissionQuestion): string {
  const n = q.choices.length;
  const pick = n === 0 ? '' : n === 1 ? '1' : q.multiSelect ? `numbers from 1 to ${n}, separated by commas` : `a number from 1 to ${n}`;
  if (!q.freeText) return `give ${pick}`;
  return pick ? `give ${pick}, or an answer in your own words` : 'give an answer';
}
