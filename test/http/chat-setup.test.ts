// Starting a chat as a newcomer does, over the real API: the installed agents and recent
// repositories to choose from, `~` for the home directory, refusals that name the
// setting to change, titles from the first message (and edited), short branch names.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HearthClient, untilTurnEnd } from '../fixtures/hearth-client.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { makeRepo } from '../fixtures/git-repo.js';
import type { TestServer } from '../fixtures/test-server.js';
import { createWorktree, removeWorktree } from '../../src/runtime/worktrees.js';

const TOKEN = 'setup-token-0123456789';
const LIMIT = { timeout: 90_000 };
const suite = apiSuite('chat_setup', TOKEN);
let server: TestServer;
let client: HearthClient;
/** Beside the roots, never inside them. */
let outside: string;

/** The file's one server, started once the suite's world is made. */
async function ready(): Promise<void> {
  server ??= await suite.serve();
  client = server.client;
}
before(async () => {
  outside = await mkdtemp(path.join(tmpdir(), 'hearth-setup-outside-'));
});
after(async () => {
  await rm(outside, { recursive: true, force: true });
});

async function newChat(body: Record<string, unknown>): Promise<any> {
  await ready();
  const res = await client.request('POST', '/api/chats', { repoPath: suite.repo, ...body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Sends a message and waits for its turn to end. */
async function say(chatId: string, text: string): Promise<void> {
  suite.fake.enqueue({ kind: 'text', chunks: ['ok'] });
  const sent = await client.request('POST', `/api/chats/${chatId}/messages`, { text });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  await client.follow(chatId, untilTurnEnd(sent.body.turnId));
}

/** Runs `fn` with the server's home directory at `home`. */
async function withHome<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    return await fn();
  } finally {
    process.env.HOME = saved;
  }
}

const gitOut = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();

describe('what a new chat can choose from', () => {
  it('lists the installed agents with their versions and the backends that run them, behind the token', LIMIT, async () => {
    const fakeAgent = path.join(suite.root, 'other-agent');
    await writeFile(fakeAgent, '#!/bin/sh\necho "1.2.3 (other)"\n');
    await chmod(fakeAgent, 0o755);
    await ready();
    const two = await suite.serve({ runtime: { agentPaths: { other: fakeAgent } } });
    const res = await two.client.request('GET', '/api/agents');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const claude = res.body.agents.find((a: any) => a.name === 'claude');
    assert.equal(claude.version, server.runtime.registry.get('claude').version);
    assert.match(claude.version, /\d+\.\d+/);
    assert.deepEqual(claude.backends, [
      { kind: 'claude_sdk', status: 'up' },
      { kind: 'claude_pty', status: 'up' },
    ]);
    assert.deepEqual(
      res.body.agents.find((a: any) => a.name === 'other'),
      { name: 'other', version: '1.2.3 (other)', backends: [] },
      'an agent no backend runs yet is listed with none',
    );
    assert.equal(Object.keys(claude).includes('installPath'), false, 'where it is installed stays on the server');

    const sdkOff = await suite.serve({ runtime: { claudeSdk: false } });
    const off = (await sdkOff.client.request('GET', '/api/agents')).body.agents.find((a: any) => a.name === 'claude');
    assert.deepEqual(off.backends, [
      { kind: 'claude_sdk', status: 'down' },
      { kind: 'claude_pty', status: 'up' },
    ]);
    assert.equal((await new HearthClient(client.baseUrl, '').request('GET', '/api/agents')).status, 401);
  });

  it('lists recent repositories, most recently active first, kept after their chats go, only those still usable', LIMIT, async () => {
    const one = makeRepo(path.join(suite.root, 'recent', 'one'));
    const two = makeRepo(path.join(suite.root, 'recent', 'two'));
    const recent = async (c = client) => {
      const res = await c.request('GET', '/api/repos/recent');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return (res.body.repos as string[]).filter((r) => r.startsWith(path.join(suite.root, 'recent')));
    };
    const onOne = await newChat({ repoPath: one });
    await newChat({ repoPath: two });
    assert.deepEqual(await recent(), [two, one]);
    await say(onOne.id, 'make one the latest');
    assert.deepEqual(await recent(), [one, two], 'a message makes its repository the most recent');
    assert.equal((await client.request('DELETE', `/api/chats/${onOne.id}`)).status, 204);
    assert.ok((await recent()).includes(one), 'a repository stays listed after its chat is deleted');
    const all = (await client.request('GET', '/api/repos/recent')).body.repos as string[];
    assert.equal(new Set(all).size, all.length, 'each repository once');

    // A server whose roots no longer hold a repository does not offer it.
    const narrow = await suite.serve({
      runtime: { worktrees: { repoRoots: [path.join(suite.root, 'recent', 'two')], worktreesDir: path.join(suite.root, 'worktrees') } },
    });
    assert.deepEqual(await recent(narrow.client), [two]);
    await rm(two, { recursive: true, force: true });
    assert.deepEqual(await recent(), [one], 'a repository gone from the disk is not offered');
    assert.equal((await new HearthClient(client.baseUrl, '').request('GET', '/api/repos/recent')).status, 401);
  });
});

describe('repository paths with ~', () => {
  it('lead to the server user home', LIMIT, async () => {
    const home = path.join(suite.root, 'home');
    const project = makeRepo(path.join(home, 'project'));
    await withHome(home, async () => {
      const chat = await newChat({ repoPath: '~/project' });
      assert.equal(chat.repoPath, project);
      const top = await client.request('POST', '/api/chats', { repoPath: '~' });
      assert.equal(top.status, 400);
      assert.equal(top.body.error.message, `repoPath ${home} is not a git repository`);
      const other = await client.request('POST', '/api/chats', { repoPath: '~someone/project' });
      assert.equal(other.status, 400);
      assert.equal(other.body.error.code, 'invalid_repo_path');
      assert.match(other.body.error.message, /must be an absolute path or start with ~\//);
    });
  });

  it('outside the roots get the one answer whatever is there, naming HEARTH_REPO_ROOTS', LIMIT, async () => {
    await writeFile(path.join(outside, 'file'), 'x');
    await mkdir(path.join(outside, 'dir'));
    makeRepo(path.join(outside, 'repo'));
    const answers = new Set<string>();
    await ready();
    await withHome(outside, async () => {
      for (const [sent, expanded] of [
        ['~', outside],
        ['~/missing', path.join(outside, 'missing')],
        ['~/file', path.join(outside, 'file')],
        ['~/file/below', path.join(outside, 'file', 'below')],
        ['~/dir', path.join(outside, 'dir')],
        ['~/repo', path.join(outside, 'repo')],
        [`~/../${path.basename(outside)}/repo`, path.join(outside, 'repo')],
      ] as const) {
        const res = await client.request('POST', '/api/chats', { repoPath: sent });
        answers.add(JSON.stringify([res.status, res.body.error?.code, res.body.error?.message.replace(expanded, '<path>')]));
      }
    });
    assert.deepEqual(
      [...answers],
      [JSON.stringify([400, 'repo_outside_roots', `repoPath <path> is outside the allowed roots (${suite.root}); the server's HEARTH_REPO_ROOTS (':'-separated) sets them`])],
    );
  });
});

describe('chat titles', () => {
  it('come from the first message when none was given, and stay through later ones', LIMIT, async () => {
    const chat = await newChat({});
    assert.equal(chat.title, null);
    await say(chat.id, '\n   Fix the flaky   login test on CI\nIt fails one run in ten.');
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.title, 'Fix the flaky login test on CI');
    await say(chat.id, 'And something else entirely');
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.title, 'Fix the flaky login test on CI');

    const long = await newChat({ title: '   ' });
    assert.equal(long.title, null, 'a blank title is no title');
    await say(long.id, `Please ${'refactor '.repeat(20)}`);
    const title = (await client.request('GET', `/api/chats/${long.id}`)).body.title as string;
    assert.ok(title.endsWith('…') && [...title].length <= 61, title);

    const named = await newChat({ title: 'Named at the start' });
    await say(named.id, 'this is not the title');
    assert.equal((await client.request('GET', `/api/chats/${named.id}`)).body.title, 'Named at the start');
  });

  it('are edited with PATCH, and bad edits are refused with nothing changed', LIMIT, async () => {
    const chat = await newChat({ title: 'before' });
    const res = await client.request('PATCH', `/api/chats/${chat.id}`, { title: '  after  ' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.title, 'after');
    assert.equal(res.body.updatedAt, chat.updatedAt, 'a new title is not activity');
    const listed = (await client.request('GET', '/api/chats')).body.chats.find((c: any) => c.id === chat.id);
    assert.equal(listed.title, 'after');
    await say(chat.id, 'a message after the edit');
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.title, 'after');

    const refusals: Array<[string, unknown, number, string]> = [
      [chat.id, { title: '' }, 400, 'empty_title'],
      [chat.id, { title: ' \n ' }, 400, 'empty_title'],
      [chat.id, { title: 'x'.repeat(501) }, 400, 'invalid_request'],
      [chat.id, { title: 42 }, 400, 'invalid_request'],
      [chat.id, { title: null }, 400, 'invalid_request'],
      [chat.id, {}, 400, 'invalid_request'],
      [chat.id, { title: 'ok', repoPath: '/' }, 400, 'invalid_request'],
      [chat.id, { title: 'nul\u0000here' }, 400, 'invalid_text'],
      ['00000000-0000-0000-0000-000000000000', { title: 'x' }, 404, 'chat_not_found'],
      ['not-a-uuid', { title: 'x' }, 404, 'chat_not_found'],
    ];
    for (const [id, body, status, code] of refusals) {
      const bad = await client.request('PATCH', `/api/chats/${id}`, body);
      assert.equal(bad.status, status, JSON.stringify([body, bad.body]));
      assert.equal(bad.body.error.code, code, JSON.stringify(bad.body));
    }
    assert.equal((await client.request('GET', `/api/chats/${chat.id}`)).body.title, 'after', 'nothing changed');
    assert.equal((await client.request('PATCH', `/api/chats/${chat.id}`, { title: 'x'.repeat(500) })).status, 200);
    assert.equal((await new HearthClient(client.baseUrl, '').request('PATCH', `/api/chats/${chat.id}`, { title: 'x' })).status, 401);
  });
});

describe('branch names', () => {
  it('are short and readable, from the title or the repository, and git takes every one', LIMIT, async () => {
    const cases: Array<[string | undefined, string]> = [
      ['Fix login', 'fix-login'],
      [undefined, 'repo'],
      ['Ünïcödé café', 'unicode-cafe'],
      ['../../etc/passwd', 'etc-passwd'],
      ['--force', 'force'],
      ['a/b.c..d.lock', 'a-b-c-d-lock'],
      ['日本語', 'repo'],
      ['@{u}', 'u'],
      ['A very long title that goes on well past thirty characters', 'a-very-long-title-that-goes-on'],
    ];
    for (const [title, slug] of cases) {
      const chat = await newChat(title === undefined ? {} : { title });
      assert.equal(chat.branch, `hearth/${slug}-${chat.id.slice(0, 8)}`, JSON.stringify(title));
      assert.equal(gitOut(chat.worktreePath, 'branch', '--show-current'), chat.branch);
      assert.equal(gitOut(suite.repo, 'rev-parse', '--verify', `refs/heads/${chat.branch}`), gitOut(suite.repo, 'rev-parse', 'HEAD'));
    }
  });

  it('take the whole chat id where the short name is already a branch', LIMIT, async () => {
    const repo = makeRepo(path.join(suite.root, 'taken'));
    const id = 'abcdef12-0000-4000-8000-000000000000';
    gitOut(repo, 'branch', 'hearth/taken-abcdef12');
    const config = { repoRoots: [suite.root], worktreesDir: path.join(suite.root, 'taken-worktrees') };
    const made = await createWorktree(config, repo, id);
    assert.equal(made.branch, `hearth/${id}`);
    assert.equal(gitOut(made.path, 'branch', '--show-current'), `hearth/${id}`);
  });

  it('makes and removes twenty worktrees of one repository at once, every one of them, round after round', LIMIT, async () => {
    const repo = path.join(suite.root, 'crowded');
    makeRepo(repo);
    const config = { repoRoots: [suite.root], worktreesDir: path.join(suite.root, 'crowded-worktrees') };
    const worktrees = () => gitOut(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length;
    // Concurrent `git worktree add` in one repository fails now and then on its own: a few rounds make it show.
    for (let round = 0; round < 5; round++) {
      const ids = Array.from({ length: 20 }, () => randomUUID());
      const made = await Promise.allSettled(ids.map((id) => createWorktree(config, repo, id)));
      assert.deepEqual(made.map((m) => (m.status === 'fulfilled' ? 'made' : String(m.reason))), ids.map(() => 'made'), `round ${round}`);
      assert.equal(worktrees(), 21, 'the repository itself and its twenty worktrees');
      const removed = await Promise.allSettled(made.map((m) => removeWorktree(repo, (m as PromiseFulfilledResult<{ path: string }>).value.path)));
      assert.ok(removed.every((r) => r.status === 'fulfilled'), JSON.stringify(removed));
      assert.equal(worktrees(), 1);
    }
  });
});
