// hearth delete as a user runs it: from a script with no terminal, and on a terminal of its own.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { apiSuite } from '../fixtures/api-suite.js';
import type { TestServer } from '../fixtures/test-server.js';
import { chatIdOf, onTerminal, shown, spawnCli, type CliOptions } from './cli-harness.js';

const TOKEN = 'cli-delete-token-0123456789';
const LIMIT = { timeout: 90_000 };
const suite = apiSuite('cli_delete', TOKEN);
let server: TestServer;

/** The CLI pointed at the test server; no record of a server the user may have running is read. */
const env = () => ({ HEARTH_URL: server.url, HEARTH_TOKEN: TOKEN, HEARTH_DATA_DIR: path.join(suite.root, 'cli-data'), XDG_STATE_HOME: path.join(suite.root, 'no-state') });
const start = (args: string[], options: CliOptions = {}) => spawnCli(args, { ...options, env: { ...env(), ...options.env } });
const hearth = (args: string[], options?: CliOptions) => start(args, options).done;
const newChat = async (...flags: string[]) => chatIdOf(await hearth(['new', suite.repo, ...flags]));

describe('hearth delete', () => {
  before(async () => {
    server = await suite.serve();
  });

  const listed = async (id: string) => (JSON.parse((await hearth(['chats', '--json'])).stdout).chats as { id: string }[]).some((c) => c.id === id);

  it('without a terminal it deletes only with --yes, and never waits for an answer', LIMIT, async () => {
    const made = await hearth(['new', suite.repo, '--title', 'to delete']);
    assert.equal(made.code, 0, shown(made));
    const id = made.stdout.split('\n')[0]!;
    const worktree = made.stdout.match(/^worktree +(.+)$/m)![1]!;
    assert.ok(existsSync(worktree));

    // stdin is a pipe left open: a question would hang until the run's own time limit.
    const asking = start(['delete', id.slice(0, 8)]);
    const unasked = await asking.done;
    assert.equal(unasked.code, 2, shown(unasked));
    assert.equal(unasked.stderr, `hearth: not deleting chat ${id} unasked: confirm with --yes (there is no terminal to ask on)\n`);
    assert.ok(await listed(id), 'the chat is still there');

    const r = await hearth(['delete', id.slice(0, 8), '--yes']);
    assert.equal(r.code, 0, shown(r));
    assert.equal(r.stdout, `deleted chat ${id}\n`);
    assert.ok(!(await listed(id)), 'the chat is gone');
    assert.ok(!existsSync(worktree), 'its worktree is removed');

    const again = await hearth(['delete', id, '-y']);
    assert.equal(again.code, 1, shown(again));
    assert.match(again.stderr, new RegExp(`^hearth: no chat ${id} \\(chat_not_found, HTTP 404\\)$`, 'm'));
    const byPrefix = await hearth(['delete', id.slice(0, 8), '-y']);
    assert.equal(byPrefix.code, 2, shown(byPrefix));
  });

  it('--json prints what was deleted', LIMIT, async () => {
    const id = await newChat();
    const r = await hearth(['delete', id, '--yes', '--json']);
    assert.equal(r.code, 0, shown(r));
    assert.deepEqual(JSON.parse(r.stdout), { id, deleted: true });
    assert.ok(!(await listed(id)));
  });

  it('on a terminal it asks, saying what goes and what stays, and deletes only on yes', LIMIT, async () => {
    const id = await newChat('--title', 'asked first');
    const declined = await onTerminal(['delete', id], env(), 'n\r');
    assert.equal(declined.code, 1, declined.output);
    assert.match(declined.output, new RegExp(`Delete chat ${id.slice(0, 8)} "asked first"\\? Its history and its worktree .+ are removed, uncommitted changes included; the branch hearth/asked-first-${id.slice(0, 8)} stays\\. \\[y/N\\]`));
    assert.match(declined.output, /hearth: not deleted/);
    assert.ok(await listed(id), 'no deletes nothing');

    const closed = await onTerminal(['delete', id], env(), '\x04');
    assert.equal(closed.code, 1, closed.output);
    assert.ok(await listed(id), 'Ctrl-D deletes nothing');

    const yes = await onTerminal(['delete', id], env(), 'y\r');
    assert.equal(yes.code, 0, yes.output);
    assert.match(yes.output, new RegExp(`deleted chat ${id}`));
    assert.ok(!(await listed(id)));
  });
});
