import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { confinedPath, OutsideDirectoryError } from '../../util/confined-path.js';

/** A path an agent asked for that lies outside its worktree, or is not absolute. */
export class OutsideWorktreeError extends Error {
  override readonly name = 'OutsideWorktreeError';
}

/** The real path of a file the agent names, inside its worktree; `OutsideWorktreeError` otherwise. */
export async function worktreePath(worktree: string, requested: string): Promise<string> {
  try {
    return await confinedPath(worktree, requested);
  } catch (err) {
    if (err instanceof OutsideDirectoryError) throw new OutsideWorktreeError(err.reason === 'relative' ? err.message : `${requested} is outside the worktree`);
    throw err;
  }
}

/** The agent's `fs/read_text_file`: the file's text, from 1-based `line` for `limit` lines where given. */
export async function readWorktreeFile(worktree: string, file: string, line?: number | null, limit?: number | null): Promise<string> {
  const text = await readFile(await worktreePath(worktree, file), 'utf8');
  if (!line && !limit) return text;
  const lines = text.split('\n');
  const from = Math.max(0, (line ?? 1) - 1);
  return lines.slice(from, limit ? from + limit : undefined).join('\n');
}

/** The agent's `fs/write_text_file`: the whole file's new text, its directories made as needed. */
export async function writeWorktreeFile(worktree: string, file: string, content: string): Promise<void> {
  const target = await worktreePath(worktree, file);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, content, 'utf8');
}
