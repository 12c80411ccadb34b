import { execFile } from 'node:child_process';
import { mkdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HearthError } from './errors.js';

const run = promisify(execFile);

export interface WorktreeConfig {
  /** Repositories must lie under one of these (after resolving links). */
  repoRoots: string[];
  /** Where chat worktrees are made. */
  worktreesDir: string;
}

export interface Worktree {
  repoPath: string;
  path: string;
  branch: string;
  baseRef: string;
}

/** git, run directly with an argument list: no shell ever sees a path or a branch name. */
async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', cwd, ...args], { encoding: 'utf8', timeout: 60_000 });
  return stdout.trim();
}

function inside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Resolves a repository path a client sent, refusing anything outside the configured roots. */
export async function resolveRepo(config: WorktreeConfig, repoPath: unknown): Promise<string> {
  if (typeof repoPath !== 'string' || repoPath.trim() === '' || !path.isAbsolute(repoPath)) {
    throw new HearthError(400, 'invalid_repo_path', 'repoPath must be an absolute path');
  }
  let real: string;
  try {
    real = await realpath(repoPath);
  } catch {
    throw new HearthError(400, 'invalid_repo_path', `repoPath ${repoPath} does not exist`);
  }
  const roots = await Promise.all(config.repoRoots.map((r) => realpath(r).catch(() => path.resolve(r))));
  if (!roots.some((root) => inside(root, real))) {
    throw new HearthError(400, 'repo_outside_roots', `repoPath ${repoPath} is outside the allowed roots (${config.repoRoots.join(', ')})`);
  }
  let top: string;
  try {
    top = await git(real, ['rev-parse', '--show-toplevel']);
  } catch {
    throw new HearthError(400, 'not_a_git_repo', `repoPath ${repoPath} is not a git repository`);
  }
  if ((await realpath(top)) !== real) {
    throw new HearthError(400, 'not_repo_root', `repoPath ${repoPath} is inside a repository; give its top level, ${top}`);
  }
  return real;
}

/** Makes the chat's worktree on a new branch from the repository's HEAD. */
export async function createWorktree(config: WorktreeConfig, repo: string, chatId: string): Promise<Worktree> {
  let baseRef: string;
  try {
    baseRef = await git(repo, ['rev-parse', '--verify', 'HEAD']);
  } catch {
    throw new HearthError(400, 'empty_repo', `the repository ${repo} has no commits yet; commit something first`);
  }
  await mkdir(config.worktreesDir, { recursive: true });
  const dir = path.join(config.worktreesDir, chatId);
  const branch = `hearth/${chatId}`;
  try {
    await git(repo, ['worktree', 'add', '-b', branch, dir, baseRef]);
  } catch (err) {
    throw new HearthError(400, 'worktree_failed', `git could not make a worktree: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, {
      cause: err,
    });
  }
  return { repoPath: repo, path: dir, branch, baseRef };
}

/** Removes the worktree; the branch and its commits stay in the repository. */
export async function removeWorktree(repo: string, dir: string): Promise<void> {
  try {
    await git(repo, ['worktree', 'remove', '--force', dir]);
  } catch {
    // A repository that moved or a worktree already gone: remove what is left by hand.
    await rm(dir, { recursive: true, force: true });
    await git(repo, ['worktree', 'prune']).catch(() => {});
  }
  await stat(dir).then(
    () => rm(dir, { recursive: true, force: true }),
    () => {},
  );
}
