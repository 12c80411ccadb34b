import { chmod, readFile, readlink, realpath, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { giveTreeTo, type AgentUser } from '../agents/process/agent-user.js';
import { makePrivateDir } from '../util/private-dir.js';
import { branchName } from './chat-names.js';
import { HearthError } from './errors.js';
import { git, GitError, repoFilterOverrides } from './git.js';
import { OneAtATime } from '../util/one-at-a-time.js';

/** Changes to a repository's list of worktrees, one at a time per repository. */
const worktreeChanges = new OneAtATime();

export interface WorktreeConfig {
  /** Repositories must lie under one of these (after resolving links). */
  repoRoots: string[];
  /** Where chat worktrees are made. */
  worktreesDir: string;
  /** The user agents run as, when not the server's own: each worktree becomes that user's. */
  owner?: AgentUser | null;
}

export interface Worktree {
  repoPath: string;
  path: string;
  branch: string;
  baseRef: string;
}

function inside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Where a path leads once every link in it is followed, also when its end does not exist:
 * the real path of the part that does, with the rest appended, following a dangling link
 * to where it points. So a link inside the roots to a missing place outside them counts
 * as outside, like a link to a place that exists.
 */
async function whereItLeads(target: string, hops = 0): Promise<string> {
  try {
    return await realpath(target);
  } catch {
    // Some part is missing, a dangling or looping link, or unreadable.
  }
  const parent = path.dirname(target);
  if (parent === target) return target;
  const here = path.join(await whereItLeads(parent, hops), path.basename(target));
  const link = await readlink(here).catch(() => null);
  // 40 hops, as the kernel allows, ends a loop of links.
  return link !== null && hops < 40 ? whereItLeads(path.resolve(path.dirname(here), link), hops + 1) : here;
}

/** `~` and `~/…` lead to the server user's home; every other path is taken as written. */
export function expandHome(repoPath: string): string {
  return repoPath === '~' || repoPath.startsWith('~/') ? path.join(homedir(), repoPath.slice(1)) : repoPath;
}

/**
 * Resolves a repository path a client sent, refusing anything outside the configured roots.
 * A path outside the roots gets one answer whatever is there, so the API tells nothing
 * about the rest of the disk; only inside the roots does it say what is wrong.
 */
export async function resolveRepo(config: WorktreeConfig, sent: unknown): Promise<string> {
  const repoPath = typeof sent === 'string' ? expandHome(sent) : sent;
  if (typeof repoPath !== 'string' || repoPath.trim() === '' || !path.isAbsolute(repoPath)) {
    throw new HearthError(400, 'invalid_repo_path', 'repoPath must be an absolute path or start with ~/');
  }
  const roots = await realRoots(config);
  const withinRoots = (p: string) => roots.some((root) => inside(root, p));
  const real = await whereItLeads(path.resolve(repoPath));
  if (!withinRoots(real)) {
    throw new HearthError(400, 'repo_outside_roots', `repoPath ${repoPath} is outside the allowed roots ${rootsNamed(config)}`);
  }
  if (!(await stat(real).then(() => true, () => false))) {
    throw new HearthError(400, 'invalid_repo_path', `repoPath ${repoPath} does not exist`);
  }
  let found: string[];
  try {
    found = (await git(real, ['rev-parse', '--show-toplevel', '--git-dir', '--git-common-dir'])).split('\n');
  } catch (err) {
    if (err instanceof GitError && /dubious ownership/.test(err.stderr)) {
      throw new HearthError(400, 'not_a_git_repo', `repoPath ${repoPath} belongs to another user, so git refuses it (see git's safe.directory)`);
    }
    throw new HearthError(400, 'not_a_git_repo', `repoPath ${repoPath} is not a git repository`);
  }
  // The git directories may come relative to where git ran, the top level being checked.
  const [top, gitDir, commonDir] = await Promise.all(found.map((p) => realpath(path.resolve(real, p)).catch(() => null)));
  if (top !== real) {
    throw new HearthError(400, 'not_repo_root', `repoPath ${repoPath} is inside a repository; give its top level, ${found[0]}`);
  }
  // A `.git` file (or a worktree's commondir) can point anywhere: the repository Hearth
  // would branch and check out is the one the git directories belong to.
  if (!gitDir || !commonDir || !withinRoots(gitDir) || !withinRoots(commonDir)) {
    throw new HearthError(400, 'repo_outside_roots', `repoPath ${repoPath} keeps its git directory outside the allowed roots ${rootsNamed(config)}`);
  }
  return real;
}

/** The roots as a refusal names them, with the setting that changes them. */
function rootsNamed(config: WorktreeConfig): string {
  return `(${config.repoRoots.join(', ')}); the server's HEARTH_REPO_ROOTS ('${path.delimiter}'-separated) sets them`;
}

function realRoots(config: WorktreeConfig): Promise<string[]> {
  return Promise.all(config.repoRoots.map((r) => realpath(r).catch(() => path.resolve(r))));
}

/** Whether a path (already real) lies under the configured roots. */
export async function withinRepoRoots(config: WorktreeConfig, real: string): Promise<boolean> {
  return (await realRoots(config)).some((root) => inside(root, real));
}

/**
 * Makes the chat's worktree on a new branch from the repository's HEAD: a short branch
 * named from the chat's title or repository, or one with the whole chat id where the
 * short one is taken.
 */
export async function createWorktree(config: WorktreeConfig, repo: string, chatId: string, title?: string | null): Promise<Worktree> {
  let baseRef: string;
  try {
    baseRef = await git(repo, ['rev-parse', '--verify', 'HEAD']);
  } catch {
    throw new HearthError(400, 'empty_repo', `the repository ${repo} has no commits yet; commit something first`);
  }
  // Private: the worktrees hold the repositories' files.
  await makePrivateDir(config.worktreesDir);
  const dir = path.join(config.worktreesDir, chatId);
  const short = branchName(chatId, title, path.basename(repo));
  const locked = await repoFilterOverrides(repo);
  let branch = short;
  try {
    // Two `git worktree add` at once in one repository can read each other's half-made
    // administrative files and fail: a repository's worktrees are made one at a time.
    await worktreeChanges.run(repo, async () => {
      const taken = await git(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${short}`], locked).then(() => true, () => false);
      if (taken) branch = `hearth/${chatId}`;
      await git(repo, ['worktree', 'add', '-b', branch, dir, baseRef], locked);
    });
  } catch (err) {
    const why = err instanceof GitError ? err.stderr.trim() || err.message : (err as Error).message;
    throw new HearthError(400, 'worktree_failed', `git could not make a worktree: ${why}`, {
      cause: err,
    });
  }
  if (config.owner) {
    await handOver(config.worktreesDir, dir, config.owner).catch(async (err: unknown) => {
      await removeWorktree(repo, dir).catch(() => {});
      throw err;
    });
  }
  return { repoPath: repo, path: dir, branch, baseRef };
}

/**
 * Makes a new worktree its agent user's own: its files, and the git directory that git
 * keeps for it in the repository (index, HEAD), so the agent can edit and stage there.
 * The worktrees directory lets the user pass through to it without listing the others.
 */
async function handOver(worktreesDir: string, dir: string, owner: AgentUser): Promise<void> {
  await chmod(worktreesDir, 0o711);
  await giveTreeTo(owner, dir);
  const gitFile = await readFile(path.join(dir, '.git'), 'utf8');
  const gitDir = /^gitdir: (.+)$/m.exec(gitFile)?.[1];
  if (gitDir) await giveTreeTo(owner, path.resolve(dir, gitDir.trim()));
}

/** Removes the worktree; the branch and its commits stay in the repository. */
export async function removeWorktree(repo: string, dir: string): Promise<void> {
  await worktreeChanges.run(repo, async () => {
    try {
      await git(repo, ['worktree', 'remove', '--force', dir]);
    } catch {
      // A repository that moved or a worktree already gone: remove what is left by hand.
      await rm(dir, { recursive: true, force: true });
      await git(repo, ['worktree', 'prune']).catch(() => {});
    }
  });
  await stat(dir).then(
    () => rm(dir, { recursive: true, force: true }),
    () => {},
  );
}
