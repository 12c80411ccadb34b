import { realpath } from 'node:fs/promises';
import path from 'node:path';

/** A path that lies outside the directory it must stay in, or is not absolute. */
export class OutsideDirectoryError extends Error {
  override readonly name = 'OutsideDirectoryError';
  constructor(
    readonly requested: string,
    readonly reason: 'relative' | 'outside',
  ) {
    super(reason === 'relative' ? `not an absolute path: ${requested}` : `${requested} is outside its directory`);
  }
}

/**
 * The real path `requested` names, once symlinks are resolved, if it lies inside `dir`;
 * throws otherwise. A path that does not exist yet is judged by the real path of its
 * nearest existing ancestor, so a link to elsewhere cannot be written through.
 */
export async function confinedPath(dir: string, requested: string): Promise<string> {
  if (!path.isAbsolute(requested)) throw new OutsideDirectoryError(requested, 'relative');
  const root = await realpath(dir);
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
    throw new OutsideDirectoryError(requested, 'outside');
  }
  return real;
}
