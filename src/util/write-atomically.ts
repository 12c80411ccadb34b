import { randomBytes } from 'node:crypto';
import { access, chown, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makePrivateDir } from './private-dir.js';

/** Who a written file (and a directory made for it) should belong to, when not the server's own user. */
export interface FileOwner {
  uid: number;
  gid: number;
}

/**
 * Writes a private file (0600, in a 0700 directory if it has to make one) through a
 * temporary file and a rename, so a reader never sees half of it. With an owner, the
 * file and the directory made for it are the owner's before the file appears.
 */
export async function writeAtomically(file: string, content: string | Uint8Array, options: { owner?: FileOwner | null } = {}): Promise<void> {
  const dir = path.dirname(file);
  const madeDir = await access(dir).then(
    () => false,
    () => true,
  );
  await makePrivateDir(dir);
  // Always a new file, so the mode is this one, never that of a file found in its place.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
    const { owner } = options;
    if (owner) {
      if (madeDir) await chown(dir, owner.uid, owner.gid);
      await chown(temp, owner.uid, owner.gid);
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
