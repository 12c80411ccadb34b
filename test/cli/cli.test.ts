// The hearth CLI as a user runs it: a real child process against a real server (Fastify,
// PostgreSQL, the real Claude Code binary talking to the fake model) on loopback.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';
import { chatIdOf, freePort, shown, spawnCli, until, UUID_LINE, type CliOptions, type Running } from './cli-harness.js';

const TOKEN = 'cli-test-token-0123456789';
const LIMIT = { timeout: 90_000 };
const CHUNK_DELAY_MS = 80;
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let url: string;
let root: string;
let repo: string;
let cliDataDir: string;

before(async () => {
  db = await testSchema('cli');
  fake = await startFakeModel({
    chunkDelayMs: CHUNK_DELAY_MS,
    // Claude Code sends a request that got a 400 again several times, so the refusal
    // answers every attempt rather than one queued reply. A failed turn's message stays
    // in the conversation, merged with the next one: only a request ending in it is refused.
    reply: (req) =>
      lastUserText(req).endsWith('fail: please') ? { kind: 'error', status: 400, message: 'the fake model refuses this one' } : undefined,
  });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-cli-'));
  repo = makeRepo(path.join(root, 'repo'));
  cliDataDir = path.join(root, 'cli-data');
  server = await startTestServer({
    sql: db.sql,
    fake,
    root,
    token: TOKEN,
    runtime: { maxWarm: 2, maxQueued: 1 },
    app: { maxPromptBytes: 4096 },
  });
  url = server.url;
});

after(async () => {
  await server.close();
  await fake.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

/** Starts `hearth <args>` as a child process; HEARTH_URL and HEARTH_TOKEN point at the test server. */
function start(args: string[], options: CliOptions = {}): Running {
  return spawnCli(args, {
    ...options,
    env: {
      HEARTH_URL: url,
      HEARTH_TOKEN: TOKEN,
      HEARTH_DATA_DIR: cliDataDir,
      // No record of a server the user may have running on this machine is read.
      XDG_STATE_HOME: path.join(root, 'no-state'),
      ...options.env,
    },
  });
}

const hearth = (args: string[], options?: CliOptions) => start(args, options).done;

const newChat = async (...flags: string[]) => chatIdOf(await hearth(['new', repo, ...flags]));

/** A byte a terminal would act on rather than print: C0 but tab and newline, DEL, C1. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('hearth CLI', () => {
  let chat: string;

  it('new creates a chat on a worktree, and chats lists it by its short id', LIMIT, async () => {
    const r = await hearth(['new', repo, '--title', 'cli first']);
    assert.equal(r.code, 0, shown(r));
    chat = r.stdout.split('\n')[0]!;
    assert.match(chat, UUID_LINE);
    assert.match(r.stdout, new RegExp(`^branch +hearth/cli-first-${chat.slice(0, 8)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^worktree +${path.join(root, 'worktrees')}`, 'm'));

    const list = await hearth(['chats']);
    assert.equal(list.code, 0, shown(list));
    const row = list.stdout.split('\n').find((l) => l.startsWith(chat.slice(0, 8) + ' '));
    assert.ok(row, shown(list));
    assert.match(row, /cli first +claude +idle +hearth\//);
    assert.ok(!row.startsWith(chat), 'only the short id is shown');
  });

  it('send streams the reply to stdout as it arrives, naming the chat by a prefix', LIMIT, async () => {
    const words = ['Hello ', 'from ', 'the ', 'fake ', 'model.'];
    fake.enqueue({ kind: 'text', chunks: words });
    const r = await hearth(['send', chat.slice(0, 6), 'say', 'hello']);
    assert.equal(r.code, 0, shown(r));
    assert.equal(r.stdout, 'Hello from the fake model.\n');
    assert.equal(lastUserText(fake.mainRequests().at(-1)!), 'say hello');
    const withText = r.chunks.filter((c) => /\w/.test(c.text));
    assert.ok(withText.length >= 3, `streamed in ${withText.length} pieces: ${JSON.stringify(r.chunks)}`);
    const first = withText[0]!;
    assert.ok(r.exitedAt - first.at >= 2 * CHUNK_DELAY_MS, `the first words came ${r.exitedAt - first.at} ms before the exit`);
    assert.ok(!first.text.includes('model.'), 'the first piece is not the whole reply');
  });

  it('send shows tool calls and their results compactly', LIMIT, async () => {
    const toolChat = await newChat('--permission-mode', 'bypassPermissions');
    fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'echo from-the-tool && echo second-line', description: 'two lines' } },
      { kind: 'text', chunks: ['Done.'] },
    );
    const r = await hearth(['send', toolChat, 'use a tool']);
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /^⏺ Bash\(echo from-the-tool && echo second-line\)$/m);
    assert.match(r.stdout, /^ {2}⎿ {2}from-the-tool … \+1 line$/m);
    assert.match(r.stdout, /^Done\.$/m);
  });

  it('send exits 1 and prints the error when the turn fails', LIMIT, async () => {
    const r = await hearth(['send', chat, 'fail: please']);
    assert.equal(r.code, 1, shown(r));
    assert.match(r.stderr, /^✗ API Error: 400 the fake model refuses this one$/m);
    assert.equal(r.stderr.match(/refuses/g)?.length, 1, 'the error is shown once');
  });

  it('send --json prints the turn as NDJSON ending in its turn_end', LIMIT, async () => {
    fake.enqueue({ kind: 'text', chunks: ['json ', 'reply'] });
    const r = await hearth(['send', '--json', chat, 'as json']);
    assert.equal(r.code, 0, shown(r));
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; event: string; data: Record<string, unknown> });
    assert.deepEqual(events[0]!.event, 'message');
    assert.deepEqual(events[0]!.data.parts, [{ type: 'text', text: 'as json' }]);
    assert.equal(events.at(-1)!.event, 'turn_end');
    assert.equal(events.at(-1)!.data.ok, true);
    const turnIds = new Set(events.map((e) => e.data.turnId));
    assert.equal(turnIds.size, 1, 'only this turn');
    assert.deepEqual(events.map((e) => e.id), events.map((_, i) => events[0]!.id + i), 'consecutive ids, none missed or repeated');
    const text = events.filter((e) => e.event === 'text_delta').map((e) => e.data.text).join('');
    assert.equal(text, 'json reply');
  });

  it('send reads the message from stdin for "-"', LIMIT, async () => {
    fake.enqueue({ kind: 'text', chunks: ['got it'] });
    const r = await hearth(['send', chat, '-'], { stdin: 'from stdin\nsecond line\n' });
    assert.equal(r.code, 0, shown(r));
    assert.equal(r.stdout, 'got it\n');
    assert.equal(lastUserText(fake.mainRequests().at(-1)!), 'from stdin\nsecond line');
  });

  it('stop ends a running turn, and send exits 130', LIMIT, async () => {
    fake.enqueue({ kind: 'stall', chunks: ['partial'] });
    const sending = start(['send', chat, 'take your time']);
    await until(() => sending.stdout().includes('partial'), 'the stalled reply to start');
    const stop = await hearth(['stop', chat.slice(0, 8)]);
    assert.equal(stop.code, 0, shown(stop));
    assert.equal(stop.stdout, 'stopped 1 turn\n');
    const r = await sending.done;
    assert.equal(r.code, 130, shown(r));
    assert.match(r.stderr, /stopped/);
    const again = await hearth(['stop', chat]);
    assert.equal(again.stdout, 'nothing to stop: no turn was running or waiting\n');
  });

  it('log prints the history: each message, its reply, and turns that did not succeed', LIMIT, async () => {
    const r = await hearth(['log', chat]);
    assert.equal(r.code, 0, shown(r));
    const turns = r.stdout.trimEnd().split('\n\n');
    assert.deepEqual(turns.slice(0, 2), ['❯ say hello\nHello from the fake model.', turns[1]]);
    assert.match(turns[1]!, /^❯ fail: please\n(✗ API Error: 400 the fake model refuses this one\n)+· turn failed$/);
    assert.equal(turns[2], '❯ as json\njson reply');
    assert.equal(turns[3], '❯ from stdin\n  second line\ngot it');
    assert.equal(turns[4], '❯ take your time\npartial\n· turn aborted: stopped on request before it finished');
    assert.equal(turns.length, 5, r.stdout);
  });

  it('--json prints the API JSON for chats, new, log and stop', LIMIT, async () => {
    const chats = await hearth(['chats', '--json']);
    assert.equal(chats.code, 0, shown(chats));
    const listed = JSON.parse(chats.stdout).chats.find((c: { id: string }) => c.id === chat);
    assert.equal(listed.title, 'cli first');
    assert.equal(typeof listed.lastEventId, 'number');
    const log = await hearth(['log', chat, '--json']);
    assert.equal(JSON.parse(log.stdout).messages[0].parts[0].text, 'say hello');
    const stop = await hearth(['stop', chat, '--json']);
    assert.deepEqual(JSON.parse(stop.stdout), { stopped: 0 });
    const made = await hearth(['new', repo, '--json', '--title', 'from json']);
    assert.equal(made.code, 0, shown(made));
    const body = JSON.parse(made.stdout);
    assert.equal(body.title, 'from json');
    assert.equal(body.branch, `hearth/from-json-${body.id.slice(0, 8)}`);
  });

  it('Ctrl-C during send stops the turn on the server and exits 130', LIMIT, async () => {
    fake.enqueue({ kind: 'stall', chunks: ['still going'] });
    const sending = start(['send', chat, 'interrupt me']);
    await until(() => sending.stdout().includes('still going'), 'the stalled reply to start');
    sending.kill('SIGINT');
    const r = await sending.done;
    assert.equal(r.code, 130, shown(r));
    assert.match(r.stderr, /stopping the turn/);
    const log = await hearth(['log', chat]);
    assert.match(log.stdout, /❯ interrupt me\nstill going\n· turn aborted: stopped on request before it finished\n$/, shown(log));
  });

  it('prints titles, replies, tool output and errors without their escape sequences; --json keeps them exact', LIMIT, async () => {
    const title = 'evil\u001b]0;pwned\u0007 title\u001b[2J';
    const made = await hearth(['new', repo, '--json', '--title', title, '--permission-mode', 'bypassPermissions']);
    assert.equal(made.code, 0, shown(made));
    const { id, title: stored } = JSON.parse(made.stdout);
    assert.equal(stored, title, '--json is exact');
    const list = await hearth(['chats']);
    assert.doesNotMatch(list.stdout, CONTROL, JSON.stringify(list.stdout));
    assert.match(list.stdout, new RegExp(`^${id.slice(0, 8)} +evil title +claude`, 'm'));

    const reply = 'Safe \u001b]0;pwned\u0007text\u001b[2J\u001b[1;31m here\u001b[0m\r\u0008.';
    fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: "printf '\\033]0;from-tool\\007\\033[2Jtool-out\\n'", description: 'escapes' } },
      { kind: 'text', chunks: [reply.slice(0, 12), reply.slice(12)] },
    );
    const sent = await hearth(['send', id, 'misbehave']);
    assert.equal(sent.code, 0, shown(sent));
    for (const output of [sent.stdout, sent.stderr]) assert.doesNotMatch(output, CONTROL, JSON.stringify(output));
    assert.match(sent.stdout, /^ {2}⎿ {2}tool-out$/m);
    assert.match(sent.stdout, /^Safe text here\.$/m);

    const log = await hearth(['log', id]);
    assert.doesNotMatch(log.stdout, CONTROL, JSON.stringify(log.stdout));
    assert.match(log.stdout, /^Safe text here\.$/m);
    assert.match(log.stdout, /^ {2}⎿ {2}tool-out$/m);

    // An error that repeats what it was given: the message comes back printable.
    const refused = await hearth(['new', path.join(root, 'no-such\u001b]0;pwned\u0007-repo')]);
    assert.equal(refused.code, 1, shown(refused));
    assert.doesNotMatch(refused.stderr, CONTROL, JSON.stringify(refused.stderr));
    assert.match(refused.stderr, /no-such-repo/);
  });

  it('chats shows the cost of a chat that has run a turn', LIMIT, async () => {
    const r = await hearth(['chats']);
    const row = r.stdout.split('\n').find((l) => l.startsWith(chat.slice(0, 8) + ' '));
    assert.match(row ?? '', /\$\d+\.\d{4}$/, r.stdout);
  });
});

describe('hearth CLI: errors', () => {
  it('an unknown chat id or prefix is a clear error', LIMIT, async () => {
    const prefix = await hearth(['log', 'zzzz']);
    assert.equal(prefix.code, 2, shown(prefix));
    assert.match(prefix.stderr, /^hearth: no chat id starts with "zzzz"/);
    const full = await hearth(['send', '00000000-0000-0000-0000-000000000000', 'hi']);
    assert.equal(full.code, 1, shown(full));
    assert.match(full.stderr, /^hearth: no chat 00000000-0000-0000-0000-000000000000 \(chat_not_found, HTTP 404\)$/m);
    const short = await hearth(['stop', 'ab']);
    assert.equal(short.code, 2, shown(short));
    assert.match(short.stderr, /too short/);
  });

  it('a refused token is a clear error', LIMIT, async () => {
    const r = await hearth(['chats', '--token', 'not-the-token']);
    assert.equal(r.code, 1, shown(r));
    assert.equal(r.stderr, 'hearth: the server refused the token; pass --token or set HEARTH_TOKEN\n');
  });

  it('an unreachable server is a clear error', LIMIT, async () => {
    const port = await freePort();
    const r = await hearth(['chats'], { env: { HEARTH_URL: `http://127.0.0.1:${port}` } });
    assert.equal(r.code, 1, shown(r));
    assert.match(r.stderr, new RegExp(`^hearth: cannot reach Hearth at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*; is "hearth serve" running\\?$`, 'm'));
  });

  it('usage errors exit 2', LIMIT, async () => {
    const missing = await hearth(['new']);
    assert.equal(missing.code, 2, shown(missing));
    assert.match(missing.stderr, /missing required argument 'repo'/);
    const choice = await hearth(['send', 'abcd', 'hi', '--backend', 'carrier-pigeon']);
    assert.equal(choice.code, 2, shown(choice));
    assert.match(choice.stderr, /claude_sdk/);
  });
});

describe('hearth CLI: help and configuration', () => {
  it('--help on each command exits 0 and names its options', LIMIT, async () => {
    const expected: Record<string, RegExp[]> = {
      chats: [/--json/, /--url <url>/, /--token <token>/],
      new: [/<repo>/, /--agent <name>/, /--model <model>/, /--title <title>/, /--permission-mode <mode>/, /bypassPermissions/, /--json/],
      send: [/<chat>/, /\[text\.\.\.\]/, /--backend <backend>/, /claude_pty/, /--json/, /130/, /hearth allow/],
      log: [/<chat>/, /--json/],
      stop: [/<chat>/, /--json/],
      delete: [/<chat>/, /--yes/, /--json/, /branch stays/],
      serve: [/HEARTH_PORT/, /DATABASE_URL/],
      pending: [/--json/, /every chat/],
      allow: [/<chat>/, /\[request\]/, /--always/, /--answer <text>/, /--message <text>/, /--json/],
      deny: [/<chat>/, /\[request\]/, /--message <text>/, /--json/],
      rules: [/list \[options\] <chat>/, /rm \[options\] <chat> <rule>/],
      mode: [/<chat>/, /\[mode\]/, /acceptEdits/, /agent/, /--json/],
    };
    const runs = await Promise.all(Object.keys(expected).map((command) => hearth([command, '--help'])));
    for (const [i, [command, patterns]] of Object.entries(expected).entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, `${command}: ${shown(r)}`);
      assert.match(r.stdout, new RegExp(`^Usage: hearth ${command} `, 'm'));
      for (const p of patterns) assert.match(r.stdout, p, `${command} --help names ${p}`);
    }
  });

  it('reads the address and token from the data directory, and flags win over the environment', LIMIT, async () => {
    const dataDir = await mkdtemp(path.join(root, 'data-'));
    await writeFile(path.join(dataDir, 'token'), TOKEN + '\n');
    await writeFile(path.join(dataDir, 'server.json'), JSON.stringify({ url, pid: process.pid }));
    const fromDir = await hearth(['chats', '--json'], { env: { HEARTH_URL: '', HEARTH_TOKEN: '', HEARTH_DATA_DIR: dataDir } });
    assert.equal(fromDir.code, 0, shown(fromDir));
    assert.ok(Array.isArray(JSON.parse(fromDir.stdout).chats));

    const empty = await mkdtemp(path.join(root, 'empty-'));
    const flags = await hearth(['chats', '--json', '--url', url, '--token', TOKEN], {
      env: { HEARTH_URL: 'http://127.0.0.1:9', HEARTH_TOKEN: 'wrong', HEARTH_DATA_DIR: empty },
    });
    assert.equal(flags.code, 0, shown(flags));

    const noToken = await hearth(['chats'], { env: { HEARTH_TOKEN: '', HEARTH_DATA_DIR: empty } });
    assert.equal(noToken.code, 1, shown(noToken));
    assert.match(noToken.stderr, /none was found/);
  });
});
