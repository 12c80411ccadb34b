import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The version in an installed package's manifest; null when it is not installed. */
export function packageVersion(name: string): string | null {
  try {
    const manifest = fileURLToPath(import.meta.resolve(`${name}/package.json`));
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}
