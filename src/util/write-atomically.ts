import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makePrivateDir } from './private-dir.js';

/**
 * Writes a private file (0600, in a 0700 directory if it has to make one) through a
 * temporary file and a rename, so a reader never sees half of it.
 */
export async function writeAtomically(file: string, text: string): Promise<void> {
  await makePrivateDir(path.dirname(file));
  // Always a new file, so the mode is this one, never that of a file found in its place.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
