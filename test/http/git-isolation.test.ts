// Repositories Hearth must not trust, over the real API: their hooks and configured
// programs do not run, git sees none of the server's secrets, a `.git` file cannot lead
// out of the roots, and nothing outside the roots can be probed.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'isolation-token-0123456789';
const LIMIT = { timeout: 90_000 };
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
/** The only repository root. */
let root: string;
/** Beside the root, never inside it. */
let outside: string;
let outsideRepo: string;
/** Where the spying programs write. */
let spies: string;

before(async () => {
  db = await testSchema('git_isolation');
  fake = await startFakeModel();
  root = await mkdtemp(path.join(tmpdir(), 'hearth-iso-root-'));
  outside = await mkdtemp(path.join(tmpdir(), 'hearth-iso-outside-'));
  spies = await mkdtemp(path.join(tmpdir(), 'hearth-iso-spies-'));
  outsideRepo = makeRepo(path.join(outside, 'repo'));
  server = await startTestServer({
    sql: db.sql,
    fake,
    root,
    token: TOKEN,
    runtime: { worktrees: { repoRoots: [root], worktreesDir: path.join(root, 'data', 'worktrees') } },
  });
});

after(async () => {
  await server.close();
  await fake.close();
  await db.drop();
  for (const dir of [root, outside, spies]) await rm(dir, { recursive: true, force: true });
});

const gitOut = (repo: string, ...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
const hearthBranches = (repo: string) => gitOut(repo, 'branch', '--list', 'hearth/*').trim();
const worktreeCount = (repo: string) => gitOut(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length;

/** A program that writes its environment to `<spies>/<name>.env`; a filter passes its input on. */
async function spy(name: string, filter = false): Promise<string> {
  const file = path.join(spies, `${name}.sh`);
  await writeFile(file, `#!/bin/sh\nenv > '${path.join(spies, name)}.env'\n${filter ? 'cat\n' : ''}`);
  await chmod(file, 0o755);
  return file;
}

/** Runs `fn` with these variables set in the server's environment, then puts it back. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const spied = async () => (await readdir(spies)).filter((f) => f.endsWith('.env')).sort();

describe('git on a repository Hearth does not trust', () => {
  it('runs none of its hooks, its fsmonitor or its filters when a chat is made and deleted', LIMIT, async () => {
    const repo = makeRepo(path.join(root, 'hooked'));
    const as = ['-c', 'user.name=Hearth Test', '-c', 'user.email=test@hearth.invalid'];
    await writeFile(path.join(repo, '.gitattributes'), '*.txt filter=spy\n');
    await writeFile(path.join(repo, 'note.txt'), 'as committed\n');
    gitOut(repo, ...as, 'add', '.');
    gitOut(repo, ...as, 'commit', '-q', '-m', 'filtered file');
    for (const hook of ['post-checkout', 'reference-transaction', 'post-index-change']) {
      await writeFile(path.join(repo, '.git', 'hooks', hook), `#!/bin/sh\nexec '${await spy(hook)}'\n`);
      await chmod(path.join(repo, '.git', 'hooks', hook), 0o755);
    }
    gitOut(repo, 'config', 'core.fsmonitor', await spy('fsmonitor'));
    gitOut(repo, 'config', 'filter.spy.smudge', await spy('smudge', true));
    gitOut(repo, 'config', 'filter.spy.clean', await spy('clean', true));
    gitOut(repo, 'config', 'filter.spy.required', 'true');

    const made = await server.client.request('POST', '/api/chats', { repoPath: repo });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(await readFile(path.join(made.body.worktreePath, 'note.txt'), 'utf8'), 'as committed\n');
    assert.equal((await stat(path.join(root, 'data', 'worktrees'))).mode & 0o777, 0o700, 'a fresh worktrees folder is private');
    assert.equal((await server.client.request('DELETE', `/api/chats/${made.body.id}`)).status, 204);
    assert.equal(existsSync(made.body.worktreePath), false);
    assert.deepEqual(await spied(), [], 'no program of the repository ran');

    // The same command run by hand, as before the fix, runs every one of them.
    gitOut(repo, 'worktree', 'add', '-q', '-b', 'by-hand', path.join(outside, 'by-hand'));
    for (const name of ['post-checkout', 'reference-transaction', 'fsmonitor', 'smudge']) {
      assert.ok((await spied()).includes(`${name}.env`), `${name} runs under plain git`);
    }
  });

  it('passes git none of the server’s environment: no token, no database URL, no GIT_* that would redirect it', LIMIT, async () => {
    const repo = makeRepo(path.join(root, 'plain'));
    // A git first on the PATH that records what it is given, then runs the real one.
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    const bin = path.join(spies, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'git'), `#!/bin/sh\nenv > '${spies}'/git-$$.env\nexec '${realGit}' "$@"\n`);
    await chmod(path.join(bin, 'git'), 0o755);
    const hooks = path.join(spies, 'hooks');
    await mkdir(hooks);
    await writeFile(path.join(hooks, 'post-checkout'), `#!/bin/sh\nexec '${await spy('env-hook')}'\n`);
    await chmod(path.join(hooks, 'post-checkout'), 0o755);

    const vars = {
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      HEARTH_TOKEN: 'token-in-the-server-env',
      DATABASE_URL: 'postgres://hearth:db-secret@127.0.0.1:1/hearth',
      GIT_DIR: path.join(outsideRepo, '.git'),
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'core.hooksPath',
      GIT_CONFIG_VALUE_0: hooks,
    };
    const made = await withEnv(vars, () => server.client.request('POST', '/api/chats', { repoPath: repo }));
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.match(hearthBranches(repo), new RegExp(made.body.branch));
    assert.equal(hearthBranches(outsideRepo), '', 'GIT_DIR did not send git elsewhere');

    const seen = (await spied()).filter((f) => f.startsWith('git-'));
    assert.ok(seen.length >= 3, `git ran through the recorder (${seen.join(', ')})`);
    for (const file of seen) {
      const text = await readFile(path.join(spies, file), 'utf8');
      assert.doesNotMatch(text, /token-in-the-server-env|db-secret|HEARTH_|DATABASE_URL/, file);
      const names = text.split('\n').filter(Boolean).map((l) => l.split('=')[0]);
      for (const name of names) {
        // PWD, SHLVL and _ are the recording shell's own.
        assert.match(name!, /^(PATH|HOME|XDG_CONFIG_HOME|TMPDIR|TZ|LANG|LANGUAGE|LC_\w+|GIT_TERMINAL_PROMPT|PWD|OLDPWD|SHLVL|_)$/, file);
      }
    }
    assert.ok(!(await spied()).includes('env-hook.env'), 'the hooks path from GIT_CONFIG_* was not used');
  });

  it('refuses a repository whose .git file or common directory lies outside the roots, and leaves that repository alone', LIMIT, async () => {
    const byFile = path.join(root, 'points-out');
    await mkdir(byFile);
    await writeFile(path.join(byFile, '.git'), `gitdir: ${path.join(outsideRepo, '.git')}\n`);
    // A linked worktree's git directory inside the roots whose common directory is not.
    const gitDir = path.join(root, 'admin');
    await mkdir(gitDir);
    await writeFile(path.join(gitDir, 'HEAD'), `${gitOut(outsideRepo, 'rev-parse', 'HEAD').trim()}\n`);
    await writeFile(path.join(gitDir, 'commondir'), `${path.join(outsideRepo, '.git')}\n`);
    const byCommon = path.join(root, 'common-out');
    await mkdir(byCommon);
    await writeFile(path.join(byCommon, '.git'), `gitdir: ${gitDir}\n`);
    await writeFile(path.join(gitDir, 'gitdir'), `${path.join(byCommon, '.git')}\n`);
    assert.equal(gitOut(byCommon, 'rev-parse', '--path-format=absolute', '--git-common-dir').trim(), path.join(outsideRepo, '.git'));

    const chatsBefore = (await server.client.request('GET', '/api/chats')).body.chats.length;
    for (const repoPath of [byFile, byCommon]) {
      const res = await server.client.request('POST', '/api/chats', { repoPath });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'repo_outside_roots');
      assert.equal(res.body.error.message, `repoPath ${repoPath} keeps its git directory outside the allowed roots (${root}); the server's HEARTH_REPO_ROOTS (':'-separated) sets them`);
    }
    assert.equal(hearthBranches(outsideRepo), '', 'no branch in the outside repository');
    assert.equal(worktreeCount(outsideRepo), 1, 'no worktree of the outside repository');
    assert.equal((await server.client.request('GET', '/api/chats')).body.chats.length, chatsBefore, 'no chat was made');
  });

  it('answers every path outside the roots the same way, whatever is there, and links from inside lead out too', LIMIT, async () => {
    await writeFile(path.join(outside, 'file'), 'x');
    await mkdir(path.join(outside, 'dir'));
    await mkdir(path.join(outside, 'locked'), { mode: 0o000 });
    await symlink(outsideRepo, path.join(root, 'link-to-repo'));
    await symlink(path.join(outside, 'missing'), path.join(root, 'link-to-missing'));
    await symlink(path.join(outside, 'dir'), path.join(root, 'link-to-dir'));
    const probes = [
      path.join(outside, 'missing'),
      path.join(outside, 'missing', 'deeper'),
      path.join(outside, 'file'),
      path.join(outside, 'file', 'below-a-file'),
      path.join(outside, 'dir'),
      path.join(outside, 'locked'),
      path.join(outside, 'locked', 'inside'),
      outsideRepo,
      `${root}/../${path.basename(outside)}/repo`,
      path.join(root, 'link-to-repo'),
      path.join(root, 'link-to-missing'),
      path.join(root, 'link-to-dir', 'missing'),
    ];
    const answers = new Set<string>();
    for (const repoPath of probes) {
      const res = await server.client.request('POST', '/api/chats', { repoPath });
      answers.add(JSON.stringify([res.status, res.body.error?.code, res.body.error?.message.replace(repoPath, '<path>')]));
    }
    await chmod(path.join(outside, 'locked'), 0o755);
    assert.deepEqual([...answers], [JSON.stringify([400, 'repo_outside_roots', `repoPath <path> is outside the allowed roots (${root}); the server's HEARTH_REPO_ROOTS (':'-separated) sets them`])]);

    // Inside the roots, the answer says what is wrong.
    const inside = async (repoPath: string) => (await server.client.request('POST', '/api/chats', { repoPath })).body.error.message;
    assert.match(await inside(path.join(root, 'missing')), /does not exist/);
    assert.match(await inside(path.join(root, 'missing', 'deeper')), /does not exist/);
    assert.match(await inside(root), /not a git repository/);
  });

  it('says so when git refuses a repository another user owns, rather than calling it no repository', { ...LIMIT, skip: process.getuid?.() !== 0 && 'needs root to give a repository away' }, async () => {
    const repo = makeRepo(path.join(root, 'theirs'));
    execFileSync('chown', ['-R', 'nobody', repo]);
    const res = await server.client.request('POST', '/api/chats', { repoPath: repo });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.message, `repoPath ${repo} belongs to another user, so git refuses it (see git's safe.directory)`);
  });
});
