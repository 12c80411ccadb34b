// The hearth CLI as a user runs it: a real child process against a real server (Fastify,
// PostgreSQL, the real Claude Code binary talking to the fake model) on loopback.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { TEST_DATABASE_URL, testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';
import { taggedProcesses } from '../../src/backends/agent-process.js';

const TOKEN = 'cli-test-token-0123456789';
const LIMIT = { timeout: 30_000 };
const CHUNK_DELAY_MS = 80;
const ROOT = path.resolve(import.meta.dirname, '../..');
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

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When each piece of stdout arrived, and what it was. */
  chunks: Array<{ at: number; text: string }>;
  exitedAt: number;
}

interface Running {
  stdout(): string;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Run>;
}

/** `node` running the CLI from its source, from any working directory. */
const CLI = ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'src/cli/bin.ts')];

/** Starts `hearth <args>` as a child process; HEARTH_URL and HEARTH_TOKEN point at the test server. */
function start(args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Running {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: {
      ...process.env,
      HEARTH_URL: url,
      HEARTH_TOKEN: TOKEN,
      HEARTH_DATA_DIR: cliDataDir,
      // No record of a server the user may have running on this machine is read.
      XDG_STATE_HOME: path.join(root, 'no-state'),
      NO_COLOR: '1',
      ...options.env,
    },
  });
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  const chunks: Run['chunks'] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    chunks.push({ at: Date.now(), text });
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hearth ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 25_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, chunks, exitedAt: Date.now() });
    });
  });
  return { stdout: () => stdout, kill: (signal) => child.kill(signal), done };
}

const hearth = (args: string[], options?: Parameters<typeof start>[1]) => start(args, options).done;

/** The run's output, for assertion messages. */
const shown = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newChat(...flags: string[]): Promise<string> {
  const r = await hearth(['new', repo, ...flags]);
  assert.equal(r.code, 0, shown(r));
  const id = r.stdout.split('\n')[0]!;
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return id;
}

const UUID_LINE = /^[0-9a-f-]{36}$/m;
/** A byte a terminal would act on rather than print: C0 but tab and newline, DEL, C1. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('hearth CLI', () => {
  let chat: string;

  it('new creates a chat on a worktree, and chats lists it by its short id', LIMIT, async () => {
    const r = await hearth(['new', repo, '--title', 'cli first']);
    assert.equal(r.code, 0, shown(r));
    chat = r.stdout.split('\n')[0]!;
    assert.match(chat, UUID_LINE);
    assert.match(r.stdout, new RegExp(`^branch +hearth/${chat}$`, 'm'));
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
    assert.equal(body.branch, `hearth/${body.id}`);
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

/** `hearth <args>` on a terminal of its own (a real pty), answering its question with `answer`. */
async function onTerminal(args: string[], answer: string): Promise<{ code: number; output: string }> {
  const { spawn: spawnPty } = await import('@lydell/node-pty');
  const pty = spawnPty(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, HEARTH_URL: url, HEARTH_TOKEN: TOKEN, HEARTH_DATA_DIR: cliDataDir, NO_COLOR: '1' } as Record<string, string>,
    cols: 200,
  });
  let output = '';
  let answered = false;
  const exited = new Promise<number>((r) => pty.onExit(({ exitCode }) => r(exitCode)));
  pty.onData((d) => {
    output += d;
    if (!answered && output.includes('[y/N]')) {
      answered = true;
      pty.write(answer);
    }
  });
  const timer = setTimeout(() => pty.kill('SIGKILL'), 25_000);
  try {
    return { code: await exited, output };
  } finally {
    clearTimeout(timer);
  }
}

describe('hearth delete', () => {
  const listed = async (id: string) => (JSON.parse((await hearth(['chats', '--json'])).stdout).chats as { id: string }[]).some((c) => c.id === id);

  it('without a terminal it deletes only with --yes, and never waits for an answer', LIMIT, async () => {
    const made = await hearth(['new', repo, '--title', 'to delete']);
    assert.equal(made.code, 0, shown(made));
    const id = made.stdout.split('\n')[0]!;
    const worktree = made.stdout.match(/^worktree +(.+)$/m)![1]!;
    assert.ok(existsSync(worktree));

    // stdin is a pipe left open: a question would hang until the run's own time limit.
    const sending = start(['delete', id.slice(0, 8)]);
    const unasked = await sending.done;
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
    const declined = await onTerminal(['delete', id], 'n\r');
    assert.equal(declined.code, 1, declined.output);
    assert.match(declined.output, new RegExp(`Delete chat ${id.slice(0, 8)} "asked first"\\? Its history and its worktree .+ are removed, uncommitted changes included; the branch hearth/${id} stays\\. \\[y/N\\]`));
    assert.match(declined.output, /hearth: not deleted/);
    assert.ok(await listed(id), 'no deletes nothing');

    const closed = await onTerminal(['delete', id], '\x04');
    assert.equal(closed.code, 1, closed.output);
    assert.ok(await listed(id), 'Ctrl-D deletes nothing');

    const yes = await onTerminal(['delete', id], 'y\r');
    assert.equal(yes.code, 0, yes.output);
    assert.match(yes.output, new RegExp(`deleted chat ${id}`));
    assert.ok(!(await listed(id)));
  });
});

describe('hearth log: turns that broke off', () => {
  it('shows a turn whose agent was killed mid-stream: the text it had streamed, the error, and why it ended', LIMIT, async () => {
    const id = await newChat();
    const nodeTag = { prefix: `${server.runtime.config.nodeId}:` };
    const others = new Set(taggedProcesses(nodeTag));
    fake.enqueue({ kind: 'stall', chunks: ['Half of ', 'an answer'] });
    const sending = start(['send', id, 'go on']);
    await until(() => sending.stdout().includes('an answer'), 'the reply to stream');
    for (const pid of taggedProcesses(nodeTag)) if (!others.has(pid)) process.kill(pid, 'SIGKILL');
    const sent = await sending.done;
    assert.equal(sent.code, 1, shown(sent));

    const { messages } = JSON.parse((await hearth(['log', id, '--json'])).stdout);
    const error = messages[0].turnError;
    assert.match(error, /SIGKILL/, 'the history says why the turn ended');
    assert.deepEqual(
      messages.map((m: { role: string; turnStatus: string; turnError: string }) => [m.role, m.turnStatus, m.turnError]),
      [['user', 'failed', error], ['assistant', 'failed', error]],
    );
    const log = await hearth(['log', id]);
    assert.equal(log.code, 0, shown(log));
    // The reason is the error line already shown: it is not repeated on the turn's last line.
    assert.equal(log.stdout, `❯ go on\nHalf of an answer\n✗ ${error}\n· turn failed\n`);
  });

  it('shows why a stopped turn ended, a waiting one included, with what the running one had streamed', LIMIT, async () => {
    const id = await newChat();
    fake.enqueue({ kind: 'stall', chunks: ['So far ', 'so good'] });
    const running = start(['send', id, 'the running one']);
    await until(() => running.stdout().includes('so good'), 'the reply to stream');
    const waiting = start(['send', id, 'the waiting one']);
    const waitingId = async () => {
      const { messages } = JSON.parse((await hearth(['log', id, '--json'])).stdout);
      return messages.some((m: { parts: { text?: string }[]; turnStatus: string }) => m.parts[0]?.text === 'the waiting one' && m.turnStatus === 'queued');
    };
    for (let i = 0; !(await waitingId()); i++) {
      assert.ok(i < 200, 'the second message is queued');
      await new Promise((r) => setTimeout(r, 100));
    }
    const stop = await hearth(['stop', id]);
    assert.equal(stop.stdout, 'stopped 2 turns\n', shown(stop));
    assert.equal((await running.done).code, 130);
    assert.equal((await waiting.done).code, 130);

    const log = await hearth(['log', id]);
    assert.equal(
      log.stdout,
      '❯ the running one\nSo far so good\n· turn aborted: stopped on request before it finished\n\n' +
        '❯ the waiting one\n· turn aborted before it started\n',
      shown(log),
    );
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
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
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
      send: [/<chat>/, /\[text\.\.\.\]/, /--backend <backend>/, /claude_pty/, /--json/, /130/],
      log: [/<chat>/, /--json/],
      stop: [/<chat>/, /--json/],
      delete: [/<chat>/, /--yes/, /--json/, /branch stays/],
      serve: [/HEARTH_PORT/, /DATABASE_URL/],
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

/** A port nothing listens on: one the system just handed out and took back. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return port;
}

describe('hearth CLI from another repository', () => {
  let schema: TestSchema;
  let state: string;
  let dataDir: string;
  let elsewhere: string;
  const servers: ChildProcess[] = [];

  before(async () => {
    schema = await testSchema('cli_elsewhere');
    state = await mkdtemp(path.join(tmpdir(), 'hearth-cli-state-'));
    dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-cli-serve-'));
    elsewhere = makeRepo(path.join(root, 'elsewhere'));
  });
  after(async () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    await schema.drop();
    await rm(state, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  /** `hearth serve` in the clone, its data directory elsewhere, recording itself under `state`. */
  async function serve(): Promise<{ child: ChildProcess; url: string; exit: Promise<number | null>; output: () => string }> {
    const child = spawn(process.execPath, [...CLI, 'serve'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: TEST_DATABASE_URL,
        HEARTH_DATABASE_SCHEMA: schema.schema,
        HEARTH_DATA_DIR: dataDir,
        HEARTH_PORT: '0',
        HEARTH_TOKEN: '',
        HEARTH_REPO_ROOTS: root,
        XDG_STATE_HOME: state,
        HEARTH_LOG_LEVEL: 'info',
      },
    });
    servers.push(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until(() => /Hearth listening on http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 'the server to listen', 60_000);
    const [, listening] = output.match(/Hearth listening on (http:\/\/127\.0\.0\.1:\d+)/) ?? [];
    assert.ok(listening, output);
    return { child, url: listening, exit, output: () => output };
  }

  /** The CLI as a user runs it in their own repository: no address, token or data directory given. */
  const fromElsewhere = (args: string[], env: Record<string, string> = {}) =>
    hearth(args, { cwd: elsewhere, env: { HEARTH_URL: '', HEARTH_TOKEN: '', HEARTH_DATA_DIR: '', XDG_STATE_HOME: state, ...env } });

  it('finds the running server through the user\'s state directory, and says when none is running', { timeout: 120_000 }, async () => {
    const first = await serve();
    const record = path.join(state, 'hearth', 'server.json');
    assert.deepEqual(JSON.parse(await readFile(record, 'utf8')), {
      url: first.url,
      pid: first.child.pid,
      dataDir,
      tokenFile: path.join(dataDir, 'token'),
    });
    assert.equal((await stat(record)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(record))).mode & 0o777, 0o700);

    const made = await fromElsewhere(['new', '.', '--title', 'from elsewhere']);
    assert.equal(made.code, 0, shown(made));
    const id = made.stdout.split('\n')[0]!;
    assert.match(id, UUID_LINE);
    const list = await fromElsewhere(['chats', '--json']);
    assert.equal(list.code, 0, shown(list));
    assert.deepEqual(
      JSON.parse(list.stdout).chats.map((c: { id: string; repoPath: string }) => [c.id, c.repoPath]),
      [[id, elsewhere]],
    );

    first.child.kill('SIGTERM');
    assert.equal(await first.exit, 0, first.output());
    assert.ok(!existsSync(record), 'the record is removed on shutdown');
    const port = await freePort();
    const none = await fromElsewhere(['chats'], { HEARTH_PORT: String(port) });
    assert.equal(none.code, 1, shown(none));
    assert.equal(
      none.stderr,
      `hearth: no Hearth server is running: none is recorded in ${record} or ${path.join(elsewhere, '.hearth', 'server.json')}, ` +
        `and none answers at http://127.0.0.1:${port}. Start one with "hearth serve", or give its address with --url or HEARTH_URL\n`,
    );

    // Another server recorded itself since: this one leaves that record alone when it stops.
    const second = await serve();
    const takenOver = { url: second.url, pid: process.pid, dataDir: path.join(root, 'another'), tokenFile: null };
    await writeFile(record, JSON.stringify(takenOver));
    second.child.kill('SIGTERM');
    assert.equal(await second.exit, 0, second.output());
    assert.deepEqual(JSON.parse(await readFile(record, 'utf8')), takenOver, 'the other server\'s record stays');
    const gone = await fromElsewhere(['chats']);
    assert.equal(gone.code, 1, shown(gone));
    assert.match(gone.stderr, new RegExp(`^hearth: cannot reach Hearth at ${second.url}, the server recorded in ${record}: .*ECONNREFUSED.*; is it still running\\?$`, 'm'));

    // A record left by a server that crashed names a process that is gone.
    await writeFile(record, JSON.stringify({ ...takenOver, pid: second.child.pid }));
    const crashed = await fromElsewhere(['chats'], { HEARTH_PORT: String(port) });
    assert.equal(crashed.code, 1, shown(crashed));
    assert.match(
      crashed.stderr,
      new RegExp(`^hearth: no Hearth server is running: the server recorded in ${record} \\(pid ${second.child.pid}\\) is no longer running, and none answers`),
    );
  });
});
