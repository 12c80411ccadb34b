import { readdirSync, readFileSync } from 'node:fs';

/**
 * One file of each running process under /proc (`status`, `environ`, ...), with its pid.
 * A process that ends while the directory is read, or whose file is not ours to read, is
 * left out; where there is no /proc there is nothing.
 */
export function* procFiles(name: string, procDir = '/proc'): Generator<[pid: number, text: string]> {
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`${procDir}/${entry}/${name}`, 'latin1');
    } catch {
      continue;
    }
    yield [Number(entry), text];
  }
}
