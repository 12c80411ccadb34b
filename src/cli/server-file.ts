import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from '../util/write-atomically.js';

/** What `hearth serve` leaves in the data directory so the CLI finds it: `server.json`. */
export interface ServerFile {
  url: string;
  pid: number;
}

const NAME = 'server.json';

export async function writeServerFile(dataDir: string, url: string): Promise<void> {
  await writeAtomically(path.join(dataDir, NAME), JSON.stringify({ url, pid: process.pid } satisfies ServerFile) + '\n');
}

/** Removes the file only when this process wrote it: another server may have taken over. */
export async function removeServerFile(dataDir: string): Promise<void> {
  const current = await readServerFile(dataDir);
  if (current?.pid === process.pid) await rm(path.join(dataDir, NAME), { force: true });
}

export async function readServerFile(dataDir: string): Promise<ServerFile | null> {
  try {
    const parsed = JSON.parse(await readFile(path.join(dataDir, NAME), 'utf8')) as Partial<ServerFile>;
    return typeof parsed.url === 'string' ? { url: parsed.url, pid: Number(parsed.pid) } : null;
  } catch {
    return null;
  }
}
