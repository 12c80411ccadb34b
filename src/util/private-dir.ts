import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes a directory only its owner may enter (0700), if it does not exist yet. Missing
 * parents are made the usual way: they may lie on a path another user (the embedded
 * server's "postgres") must walk down. An existing directory keeps its mode.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
