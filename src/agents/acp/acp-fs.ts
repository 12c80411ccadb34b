import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A path an agent asked for that lies outside its worktree, or is not absolute. */
export class OutsideWorktreeError extends Error {
  override readonly name = 'OutsideWorktreeError';
}

/**
 * The real path `requested` names, once symlinks are resolved, if it lies inside the
 * worktree; throws otherwise. A path that does not exist yet is judged by the real path
 * of its nearest existing ancestor, so a link to elsewhere cannot be written through.
 */
export async function confinedPath(worktree: string, requested: string): Promise<string> {
  if (!path.isAbsolute(requested)) throw new OutsideWorktreeError(`not an absolute path: ${requested}`);
  const root = await realpath(worktree);
  let existing = path.resolve(requested);
  const rest: string[] = [];
  for (;;) {
    try {
      existing = await realpath(existing);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const parent = path.dirname(existing);
      if (parent === existing) throw err;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
  const real = path.join(existing, ...rest);
  const rel = path.relative(root, real);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new OutsideWorktreeError(`${requested} is outside the worktree`);
  }
  return real;
}

/** The agent's `fs/read_text_file`: the file's text, from 1-based `line` for `limit` lines where given. */
export async function readWorktreeFile(worktree: string, file: string, line?: number | null, limit?: number | null): Promise<string> {
  const text = await readFile(await confinedPath(worktree, file), 'utf8');
  if (!line && !limit) return text;
  const lines = text.split('\n');
  const from = Math.max(0, (line ?? 1) - 1);
  return lines.slice(from, limit ? from + limit : undefined).join('\n');
}

/** The agent's `fs/write_text_file`: the whole file's new text, its directories made as needed. */
export async function writeWorktreeFile(worktree: string, file: string, content: string): Promise<void> {
  const target = await confinedPath(worktree, file);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, content, 'utf8');
}
