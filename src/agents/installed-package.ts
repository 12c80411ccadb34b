import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of one of Hearth's own installed packages; null when it is not installed. */
function packageDir(name: string): string | null {
  try {
    return path.dirname(fileURLToPath(import.meta.resolve(`${name}/package.json`)));
  } catch {
    return null;
  }
}

/** A file of an installed package, such as an agent's entry script; null when the package is not installed. */
export function installedFile(name: string, ...rel: string[]): string | null {
  const dir = packageDir(name);
  return dir && path.join(dir, ...rel);
}

/** The version in an installed package's manifest; null when it is not installed. */
export function packageVersion(name: string): string | null {
  const manifest = installedFile(name, 'package.json');
  if (!manifest) return null;
  try {
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}
