import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * What git needs from the server's environment, and nothing else: an allowlist, so
 * Hearth's token, the database URL and any `GIT_*` variable that would redirect git
 * (GIT_DIR, GIT_CONFIG_*, GIT_SSH_COMMAND...) never reach git or what it starts.
 */
const PASSED = new Set(['PATH', 'HOME', 'XDG_CONFIG_HOME', 'TMPDIR', 'TZ', 'LANG', 'LANGUAGE']);

export function gitEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && (PASSED.has(name) || name.startsWith('LC_'))) env[name] = value;
  }
  // Never wait for a password on a terminal nobody watches.
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}

/** Every transport git knows by name; Hearth never talks to a remote. */
const PROTOCOLS = ['file', 'git', 'ssh', 'http', 'https', 'ftp', 'ftps', 'ext'];

/**
 * Settings given on the command line, which outrank the repository's own config (and
 * pass to the git processes git itself starts), switching off every program a
 * repository's config can make these commands run:
 * - hooks (post-checkout at `worktree add`, reference-transaction at branch creation...):
 *   a hooks directory that cannot exist;
 * - the fsmonitor hook, run whenever git refreshes the index (`worktree add`, `remove`);
 * - every transport: a partial clone fetches missing blobs during checkout, which would
 *   run the repository's `core.sshCommand` or `remote.*.uploadpack`.
 * The system and user config still apply (they are the machine's own, not the
 * repository's), and so does git's `safe.directory` check, which refuses a repository
 * another user owns.
 */
const LOCKED = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'protocol.allow=never',
  ...PROTOCOLS.map((p) => `protocol.${p}.allow=never`),
];

/** A git failure with git's own message. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    /** git's exit status, or null when it could not run or was killed. */
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`git ${args.join(' ')} failed: ${stderr.trim() || (options?.cause as Error | undefined)?.message}`, options);
  }
}

/**
 * Runs git in `cwd` directly with an argument list (no shell ever sees a path or a branch
 * name), in the scrubbed environment, with repository-controlled programs off. `extra`
 * adds more `-c` settings.
 */
export async function git(cwd: string, args: string[], extra: readonly string[] = []): Promise<string> {
  const argv = [...[...LOCKED, ...extra].flatMap((c) => ['-c', c]), '-C', cwd, ...args];
  try {
    const { stdout } = await run('git', argv, { encoding: 'utf8', timeout: 60_000, env: gitEnv() });
    return stdout.trim();
  } catch (err) {
    const { code, stderr } = err as { code?: unknown; stderr?: unknown };
    throw new GitError(args, typeof code === 'number' ? code : null, String(stderr ?? ''), { cause: err });
  }
}

/**
 * `-c` settings that neutralize the filter drivers a repository's own config defines
 * (`filter.<name>.smudge` runs at checkout for files `.gitattributes` marks). Drivers
 * from the system or user config, such as git-lfs, keep working.
 */
export async function repoFilterOverrides(repo: string): Promise<string[]> {
  let listed: string;
  try {
    listed = await git(repo, ['config', '--show-scope', '--name-only', '-z', '--get-regexp', '^filter\\.']);
  } catch (err) {
    // Exit status 1: no filter settings at all.
    if (err instanceof GitError && err.exitCode === 1) return [];
    throw err;
  }
  const fields = listed.split('\0');
  const drivers = new Set<string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [scope, key] = [fields[i]!.trim(), fields[i + 1]!];
    const driver = /^filter\.(.+)\.[^.]+$/s.exec(key)?.[1];
    if (driver !== undefined && (scope === 'local' || scope === 'worktree')) drivers.add(driver);
  }
  return [...drivers].flatMap((d) => [`filter.${d}.smudge=`, `filter.${d}.clean=`, `filter.${d}.process=`, `filter.${d}.required=false`]);
}
