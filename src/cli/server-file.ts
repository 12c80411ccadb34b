import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What `hearth serve` leaves in the data directory so the CLI finds it: `server.json`. */
export interface ServerFile {
  url: string;
  pid: number;
}

const NAME = 'server.json';

/** Written whole under another name first, so a reader never sees half of it. */
export async function writeServerFile(dataDir: string, url: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, NAME);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify({ url, pid: process.pid } satisfies ServerFile) + '\n', { mode: 0o600 });
  await rename(temp, file);
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
