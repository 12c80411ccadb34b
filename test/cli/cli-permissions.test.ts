// The agent's permission requests as a CLI user meets them: asked on a terminal by
// `hearth send`, or answered from another process with `hearth allow` and `hearth deny`.
// A real server, the real Claude Code binary asking through the SDK, the fake model.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PermissionRequestView, PermissionRuleView } from '../../src/api/permissions.js';
import type { ChatView } from '../../src/api/views.js';
import { apiSuite } from '../fixtures/api-suite.js';
import type { RecordedRequest } from '../fixtures/fake-anthropic.js';
import type { TestServer } from '../fixtures/test-server.js';
import { shown, spawnCli, spawnOnTerminal, until, type CliOptions, type OnTerminal } from './cli-harness.js';
import { proposePlan } from '../fixtures/plan-replies.js';

const TOKEN = 'cli-permissions-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('cli_permissions', TOKEN);
let server: TestServer;

const env = () => ({
  HEARTH_URL: server.url,
  HEARTH_TOKEN: TOKEN,
  HEARTH_DATA_DIR: path.join(suite.root, 'cli-data'),
  XDG_STATE_HOME: path.join(suite.root, 'no-state'),
});
const start = (args: string[], options: CliOptions = {}) => spawnCli(args, { ...options, env: { ...env(), ...options.env } });
const hearth = (args: string[], options?: CliOptions) => start(args, options).done;
const terminal = (args: string[]) => spawnOnTerminal(args, env(), 50_000);

/** A chat in the agent's own permission mode (Claude Code's default: it asks before an edit), and its worktree. */
async function newChat(...flags: string[]): Promise<{ id: string; worktree: string }> {
  const r = await hearth(['new', suite.repo, '--json', ...flags]);
  assert.equal(r.code, 0, shown(r));
  const chat = JSON.parse(r.stdout) as ChatView;
  assert.equal(chat.permissionMode, null);
  return { id: chat.id, worktree: chat.worktreePath! };
}

/** The model asks to write `file`, then says `after`. */
function scriptWrite(file: string, content: string, after: string): void {
  suite.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content } }, { kind: 'text', chunks: [after] });
}

async function waitFor(t: OnTerminal, text: string): Promise<void> {
  await until(() => t.output().includes(text), `the terminal to show ${JSON.stringify(text)}`, 40_000).catch((err: Error) => {
    throw new Error(`${err.message}; it shows:\n${t.output()}`);
  });
}

/** What the model was sent back as the result of its last tool call, as text. */
function lastToolResult(): string {
  const req: RecordedRequest | undefined = suite.fake.mainRequests().at(-1);
  const messages = (req?.body?.messages ?? []) as Array<{ content: unknown }>;
  const results = messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Array<{ type?: string; content?: unknown }>) : []));
  const last = results.filter((b) => b.type === 'tool_result').at(-1);
  assert.ok(last, 'a tool result was sent');
  return typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
}

const pending = async (): Promise<PermissionRequestView[]> => JSON.parse((await hearth(['pending', '--json'])).stdout).permissions;

describe('hearth CLI: permission requests', () => {
  before(async () => {
    server = await suite.serve({ runtime: { maxWarm: 2 } });
  });

  it('send on a terminal asks before a Write, shows its change, and writes the file once allowed', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'allowed.txt');
    scriptWrite(file, 'yes, written\n', 'wrote it');
    const t = await terminal(['send', chat.id, 'write it']);
    await waitFor(t, '[y] allow once, [a] always allow, [n] deny: ');
    assert.match(t.output(), /^\? Allow Write\(allowed\.txt\)\?\r?$/m);
    assert.match(t.output(), /^ {2}\+ yes, written\r?$/m);
    assert.equal(existsSync(file), false, 'nothing is written before the answer');
    t.write('y\r');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✓ allowed once\r?$/m);
    assert.match(r.output, /^wrote it\r?$/m);
    assert.equal(await readFile(file, 'utf8'), 'yes, written\n');
    assert.deepEqual(await pending(), []);

    const log = await hearth(['log', chat.id]);
    assert.match(log.stdout, /^\? Allow Write\(allowed\.txt\)\?\n {2}✓ allowed once$/m, shown(log));
  });

  it('send on a terminal denies with a message: nothing is written and the agent hears the words', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'denied.txt');
    scriptWrite(file, 'no\n', 'as you wish');
    const t = await terminal(['send', chat.id, 'write it']);
    await waitFor(t, '[n] deny: ');
    t.write('maybe\r');
    await waitFor(t, 'type y, a or n');
    t.write('n\r');
    await waitFor(t, 'Why, or what to do instead (optional): ');
    t.write('put it in NOTES-ELSEWHERE.md\r');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✗ denied: put it in NOTES-ELSEWHERE\.md\r?$/m);
    assert.match(r.output, /^as you wish\r?$/m);
    assert.equal(existsSync(file), false);
    assert.match(lastToolResult(), /put it in NOTES-ELSEWHERE\.md/);
    const log = await hearth(['log', chat.id]);
    assert.match(log.stdout, /^\? Allow Write\(denied\.txt\)\?\n {2}✗ denied: put it in NOTES-ELSEWHERE\.md$/m, shown(log));
  });

  it('send without a terminal shows the request on stderr with the commands; hearth pending lists it and hearth allow answers it', LIMIT, async () => {
    const chat = await newChat('--title', 'asks from afar');
    const file = path.join(chat.worktree, 'afar.txt');
    scriptWrite(file, 'from afar\n', 'done from afar');
    const sending = start(['send', chat.id, 'write it']);
    const request = await waiting(chat.id);
    assert.deepEqual((await pending()).filter((p) => p.chatId === chat.id), [request], 'hearth pending --json lists it');
    assert.equal(request.kind, 'permission');
    assert.equal(request.tool, 'Write');

    const list = await hearth(['pending']);
    assert.equal(list.code, 0, shown(list));
    const row = list.stdout.split('\n').find((l) => l.startsWith(chat.id.slice(0, 8)));
    assert.match(row ?? '', new RegExp(`^${chat.id.slice(0, 8)} +${request.requestId.slice(0, 8)} +asks from afar +\\d+s +Allow Write\\(afar\\.txt\\)\\?$`), list.stdout);
    assert.match(list.stdout, /answer with: hearth allow <chat> \[request\]/);
    const chats = await hearth(['chats']);
    assert.match(chats.stdout, new RegExp(`^${chat.id.slice(0, 8)} +asks from afar +claude +asks \\(1\\)`, 'm'), chats.stdout);

    const allowed = await hearth(['allow', chat.id.slice(0, 6)]);
    assert.equal(allowed.code, 0, shown(allowed));
    assert.equal(allowed.stdout, '? Allow Write(afar.txt)?\n✓ allowed once\n');
    const r = await sending.done;
    const { stderr } = r;
    assert.equal(r.code, 0, shown(r));
    assert.match(stderr, /^\? Allow Write\(afar\.txt\)\?$/m);
    assert.match(stderr, /^ {2}\+ from afar$/m);
    assert.match(stderr, new RegExp(`^ {2}waiting for an answer from any client \\(chat ${chat.id}, request ${request.requestId}\\):$`, 'm'));
    assert.match(stderr, new RegExp(`^ {4}hearth allow ${chat.id} ${request.requestId} \\[--always\\]$`, 'm'));
    assert.match(stderr, new RegExp(`^ {4}hearth deny ${chat.id} ${request.requestId} \\[--message "why, or what to do instead"\\]$`, 'm'));
    assert.match(stderr, /^✓ allowed once$/m, 'the outcome is shown on the stream');
    assert.equal(r.stdout.trim().split('\n').at(-1), 'done from afar');
    assert.equal(await readFile(file, 'utf8'), 'from afar\n');

    // Answered already: a second answer says what it lost to.
    const late = await hearth(['deny', chat.id, request.requestId.slice(0, 8), '--message', 'too late']);
    assert.equal(late.code, 1, shown(late));
    assert.equal(late.stderr, 'hearth: the request was answered elsewhere first: ✓ allowed once\n');
    const none = await hearth(['allow', chat.id]);
    assert.equal(none.code, 1, shown(none));
    assert.equal(none.stderr, `hearth: nothing waits for an answer in chat ${chat.id}\n`);
  });

  it('takes one of two answers given at once; the other is told the outcome it lost to', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'raced.txt');
    scriptWrite(file, 'raced\n', 'after the race');
    const sending = start(['send', chat.id, 'write it']);
    const { requestId } = await waiting(chat.id);
    const [yes, no] = await Promise.all([
      hearth(['allow', chat.id, requestId, '--json']),
      hearth(['deny', chat.id, requestId, '--json', '--message', 'no']),
    ]);
    const won = [yes, no].filter((r) => r.code === 0);
    const lost = [yes, no].filter((r) => r.code === 1);
    assert.equal(won.length, 1, `${shown(yes)}\n${shown(no)}`);
    assert.equal(lost.length, 1, `${shown(yes)}\n${shown(no)}`);
    const winner = JSON.parse(won[0]!.stdout) as PermissionRequestView;
    const loser = JSON.parse(lost[0]!.stdout) as PermissionRequestView;
    assert.equal(loser.status, winner.status, 'the loser is shown the outcome that won');
    assert.equal(loser.requestId, winner.requestId);
    const r = await sending.done;
    assert.equal(r.code, 0, shown(r));
    assert.equal(r.stderr.match(/^[✓✗] /gm)?.length, 1, `one outcome is shown: ${r.stderr}`);
    assert.equal(existsSync(file), winner.status === 'allowed');
  });

  it('a request answered elsewhere ends the question on the terminal and shows the outcome', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'elsewhere.txt');
    scriptWrite(file, 'x\n', 'not written then');
    const t = await terminal(['send', chat.id, 'write it']);
    await waitFor(t, '[n] deny: ');
    const denied = await hearth(['deny', chat.id, '--message', 'said no from the other window']);
    assert.equal(denied.code, 0, shown(denied));
    assert.equal(denied.stdout, '? Allow Write(elsewhere.txt)?\n✗ denied: said no from the other window\n');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✗ denied: said no from the other window \(answered elsewhere\)\r?$/m);
    assert.equal(existsSync(file), false);
  });

  it('Ctrl-C while asked stops the turn: the request is cancelled and send exits 130', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'interrupted.txt');
    suite.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'x\n' } });
    const t = await terminal(['send', chat.id, 'write it']);
    await waitFor(t, '[n] deny: ');
    t.write('\x03');
    const r = await t.done;
    assert.equal(r.code, 130, r.output);
    assert.match(r.output, /stopping the turn/);
    assert.match(r.output, /^· cancelled: the turn was stopped before anyone answered\r?$/m);
    assert.equal(existsSync(file), false);
    assert.deepEqual(await pending(), []);
  });

  it('Ctrl-D leaves the question to other clients: the commands are shown and the turn waits for them', LIMIT, async () => {
    const chat = await newChat();
    const file = path.join(chat.worktree, 'left.txt');
    scriptWrite(file, 'left\n', 'answered from afar');
    const t = await terminal(['send', chat.id, 'write it']);
    await waitFor(t, '[n] deny: ');
    t.write('\x04');
    await waitFor(t, 'waiting for an answer from any client');
    const { requestId } = await waiting(chat.id);
    assert.match(t.output(), new RegExp(`^ {4}hearth allow ${chat.id} ${requestId} \\[--always\\]\r?$`, 'm'));
    const allowed = await hearth(['allow', chat.id, requestId]);
    assert.equal(allowed.code, 0, shown(allowed));
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✓ allowed once\r?$/m);
    assert.equal(await readFile(file, 'utf8'), 'left\n');
  });

  it('"always" on a terminal keeps a rule that answers the next such request; hearth rules lists it and rules rm removes it', LIMIT, async () => {
    const chat = await newChat();
    scriptWrite(path.join(chat.worktree, 'first.txt'), '1\n', 'first written');
    const t = await terminal(['send', chat.id, 'write the first']);
    await waitFor(t, '[a] always allow');
    t.write('a\r');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✓ always allowed, a rule of this chat now\r?$/m);

    const listed = await hearth(['rules', chat.id]);
    assert.equal(listed.code, 0, shown(listed));
    assert.match(listed.stdout, /^RULE +AGENT +TOOL +ALLOWS +SINCE$/m);
    const { rules } = JSON.parse((await hearth(['rules', chat.id, '--json'])).stdout) as { rules: PermissionRuleView[] };
    assert.equal(rules.length, 1);
    assert.match(listed.stdout, new RegExp(`^${rules[0]!.ruleId.slice(0, 8)} +claude +Write +every use +\\d{4}-`, 'm'));

    // The rule answers: no question, the file is written.
    const second = path.join(chat.worktree, 'second.txt');
    scriptWrite(second, '2\n', 'second written');
    const ruled = await hearth(['send', chat.id, 'write the second']);
    assert.equal(ruled.code, 0, shown(ruled));
    assert.doesNotMatch(ruled.stderr, /waiting for an answer/);
    assert.match(ruled.stderr, /Write allowed by a rule of this chat/);
    assert.equal(await readFile(second, 'utf8'), '2\n');

    const removed = await hearth(['rules', 'rm', chat.id, rules[0]!.ruleId.slice(0, 6)]);
    assert.equal(removed.code, 0, shown(removed));
    assert.equal(removed.stdout, `removed rule ${rules[0]!.ruleId}: Write every use is asked about again\n`);
    const empty = await hearth(['rules', chat.id]);
    assert.match(empty.stdout, /^no rules/);
  });

  it("answers the agent's question on a terminal by a choice's number", LIMIT, async () => {
    const chat = await newChat();
    const questions = [
      { question: 'Which colour?', header: 'Colour', options: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }], multiSelect: false },
    ];
    suite.fake.enqueue({ kind: 'tool_use', name: 'AskUserQuestion', input: { questions } }, { kind: 'text', chunks: ['teal it is'] });
    const t = await terminal(['send', chat.id, 'ask me']);
    await waitFor(t, 'answer: ');
    assert.match(t.output(), /^\? The agent asks: Which colour\?\r?$/m);
    assert.match(t.output(), /^ {2}1\) red — warm\r?$/m);
    assert.match(t.output(), /^ {2}2\) teal — cool\r?$/m);
    t.write('2\r');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✓ answered: Which colour\? → teal\r?$/m);
    assert.match(lastToolResult(), /teal/);
  });

  it('hearth allow --answer answers a question from another process; a wrong count lists the questions', LIMIT, async () => {
    const chat = await newChat();
    const questions = [
      { question: 'Which colour?', header: 'Colour', options: [{ label: 'red', description: 'warm' }, { label: 'teal', description: 'cool' }], multiSelect: false },
      { question: 'Which shape?', header: 'Shape', options: [{ label: 'square', description: 'edges' }, { label: 'round', description: 'none' }], multiSelect: false },
    ];
    suite.fake.enqueue({ kind: 'tool_use', name: 'AskUserQuestion', input: { questions } }, { kind: 'text', chunks: ['noted'] });
    const sending = start(['send', chat.id, 'ask me twice']);
    await waiting(chat.id);
    const short = await hearth(['allow', chat.id, '--answer', '1']);
    assert.equal(short.code, 2, shown(short));
    assert.match(short.stderr, /the agent asks 2 questions: give an --answer to each, in order \(1 given\)/);
    assert.match(short.stderr, /^ {2}2\. Shape: Which shape\?$/m);
    const answered = await hearth(['allow', chat.id, '--answer', '2', '--answer', 'a hexagon']);
    assert.equal(answered.code, 0, shown(answered));
    assert.match(answered.stdout, /✓ answered: Which colour\? → teal; Which shape\? → a hexagon/);
    const r = await sending.done;
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stderr, /^ {4}hearth allow \S+ \S+ --answer "…" --answer "…"$/m);
    assert.match(lastToolResult(), /a hexagon/);
  });

  it('shows a plan on a terminal and sends it back with a note; the agent keeps planning', LIMIT, async () => {
    const r0 = await hearth(['new', suite.repo, '--json', '--permission-mode', 'plan']);
    const chat = JSON.parse(r0.stdout) as ChatView;
    const plan = '# Plan\n1. write everything at once\n';
    suite.fake.enqueue(
      ...proposePlan(plan),
      { kind: 'text', chunks: ['replanning'] },
    );
    const t = await terminal(['send', chat.id, 'plan it']);
    await waitFor(t, '[y] approve, [n] keep planning: ');
    assert.match(t.output(), /^\? Approve the plan and start\?\r?\n {2}Plan:\r?\n {4}# Plan\r?\n {4}1\. write everything at once\r?$/m);
    t.write('n\r');
    await waitFor(t, 'What should change (optional): ');
    t.write('split it into TWO-STEPS\r');
    const r = await t.done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^✗ plan not approved, the agent keeps planning: split it into TWO-STEPS\r?$/m);
    assert.match(lastToolResult(), /split it into TWO-STEPS/);
  });

  it('hearth mode shows and sets the permission mode: in acceptEdits a Write asks nobody', LIMIT, async () => {
    const chat = await newChat();
    const shownMode = await hearth(['mode', chat.id]);
    assert.equal(shownMode.stdout, "agent (the agent's own default)\n", shown(shownMode));
    const set = await hearth(['mode', chat.id, 'acceptEdits']);
    assert.equal(set.code, 0, shown(set));
    assert.equal(set.stdout, 'acceptEdits\n');
    const file = path.join(chat.worktree, 'accepted.txt');
    scriptWrite(file, 'accepted\n', 'written unasked');
    const r = await hearth(['send', chat.id, 'write it']);
    assert.equal(r.code, 0, shown(r));
    assert.doesNotMatch(r.stderr, /waiting for an answer/);
    assert.equal(await readFile(file, 'utf8'), 'accepted\n');
    const back = await hearth(['mode', chat.id, 'agent', '--json']);
    assert.deepEqual(JSON.parse(back.stdout), { id: chat.id, permissionMode: null });
  });
});

/** The chat's one pending request, once it waits: read from the API, not through the CLI under test. */
async function waiting(chatId: string): Promise<PermissionRequestView> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const { status, body } = await server.client.request('GET', `/api/chats/${chatId}/permissions?status=pending`);
    assert.equal(status, 200);
    const [first] = body.permissions as PermissionRequestView[];
    if (first) return first;
    assert.ok(Date.now() < deadline, `no request waits in chat ${chatId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
