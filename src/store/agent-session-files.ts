import { createHash } from 'node:crypto';
import { chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from '../db/sql.js';
import { confinedPath } from '../util/confined-path.js';
import type { FileOwner } from '../util/write-atomically.js';


/**
 * The files an agent keeps on its own disk to continue a session, kept in PostgreSQL.
 * Files grow by appending (JSONL transcripts and rollouts), so a mirror stores only what
 * was added since the last one; a file rewritten in place is stored whole again.
 */
export class AgentSessionFiles {
  constructor(private readonly sql: Sql) {}

  /** Stores the session's files under `root` as they are now. Files that are gone stay stored. */
  async mirror(agent: string, sessionId: string, root: string, files: readonly string[]): Promise<void> {
    if (files.length === 0) return;
    for (const rel of files) {
      const file = await confinedPath(root, path.resolve(root, rel));
      let local: Buffer;
      try {
        local = await readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const sha = sha256(local);
      await this.sql.begin(async (tx) => {
        const [row] = await tx<{ size: string; sha256: Buffer }[]>`
          SELECT size, sha256 FROM agent_session_files
          WHERE agent = ${agent} AND session_id = ${sessionId} AND path = ${rel}
          FOR UPDATE`;
        const stored = row ? Number(row.size) : 0;
        if (row && stored === local.length && row.sha256.equals(sha)) return;
        const grown = row && stored < local.length && sha256(local.subarray(0, stored)).equals(row.sha256);
        if (row && !grown) await tx`DELETE FROM agent_session_file_chunks WHERE agent = ${agent} AND session_id = ${sessionId} AND path = ${rel}`;
        await tx`
          INSERT INTO agent_session_files (agent, session_id, path, size, sha256)
          VALUES (${agent}, ${sessionId}, ${rel}, ${local.length}, ${sha})
          ON CONFLICT (agent, session_id, path) DO UPDATE SET size = EXCLUDED.size, sha256 = EXCLUDED.sha256, updated_at = now()`;
        const from = grown ? stored : 0;
        await tx`
          INSERT INTO agent_session_file_chunks (agent, session_id, path, "offset", bytes)
          VALUES (${agent}, ${sessionId}, ${rel}, ${from}, ${local.subarray(from)})`;
      });
    }
  }

  /**
   * Writes the stored files of the session under `root` where this machine lacks them or
   * holds less than the store: a file that already begins with everything stored is
   * newer than the store, and is kept. Returns how many files were written.
   */
  async restore(agent: string, sessionId: string, root: string, owner: FileOwner | null = null): Promise<number> {
    const rows = await this.sql<{ path: string; size: string; sha256: Buffer }[]>`
      SELECT path, size, sha256 FROM agent_session_files WHERE agent = ${agent} AND session_id = ${sessionId} ORDER BY path`;
    let written = 0;
    if (rows.length) await mkdir(root, { recursive: true, mode: 0o700 });
    for (const row of rows) {
      const file = await confinedPath(root, path.resolve(root, row.path));
      const size = Number(row.size);
      const local = await readFile(file).catch(() => null);
      if (local && local.length >= size && sha256(local.subarray(0, size)).equals(row.sha256)) continue;
      const chunks = await this.sql<{ bytes: Buffer }[]>`
        SELECT bytes FROM agent_session_file_chunks
        WHERE agent = ${agent} AND session_id = ${sessionId} AND path = ${row.path}
        ORDER BY "offset"`;
      const content = Buffer.concat(chunks.map((c) => c.bytes));
      if (content.length !== size || !sha256(content).equals(row.sha256)) {
        throw new Error(`the stored ${row.path} of ${agent} session ${sessionId} is not whole`);
      }
      await writeOwned(root, file, content, owner);
      written++;
    }
    return written;
  }
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Writes through a temporary file and a rename, making the directories on the way, all the owner's. */
async function writeOwned(root: string, file: string, content: Buffer, owner: FileOwner | null): Promise<void> {
  const firstMade = await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.restore.tmp`;
  try {
    await writeFile(temp, content, { mode: 0o600 });
    if (owner) {
      await chown(temp, owner.uid, owner.gid);
      // The directories just made, from the file's up to the first of them.
      if (firstMade) for (let dir = path.dirname(file); dir.startsWith(firstMade); dir = path.dirname(dir)) await chown(dir, owner.uid, owner.gid);
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
