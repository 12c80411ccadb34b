// AcpDriver driving the real OpenCode (`opencode acp`) against the scripted model
// speaking chat completions, on real git worktrees: the ACP contract, then what is
// OpenCode's own (asking by its configured permissions, a new process for a new mode,
// its models, its model errors, its own HTTP server, its database). The full driver
// contract runs against OpenCode on its server road (opencode-server-driver.test.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OPENCODE_PERMISSIONS, opencode, opencodeConfig } from '../../src/agents/acp/agents/opencode.js';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { sent } from '../fixtures/backend-chats.js';
import { ChatSession, RecordedReports, texts } from '../fixtures/driver-turns.js';
import { opencodeAcp, opencodeHome, opencodePrice as price, opencodeToolCall } from '../fixtures/opencode-acp.js';
import { OPENCODE_MODEL_REF, opencodeEnv } from '../fixtures/opencode-env.js';
import { pick, ScriptedPerson } from '../fixtures/scripted-person.js';
import { acpContract } from './acp-contract.js';

const acp = opencodeAcp('acp_opencode');
const LIMIT = acp.limit;

acpContract({
  acp,
  toolCall: (chat, intent) => opencodeToolCall(chat, intent),
  reaches: (chat) => [
    `XDG_DATA_HOME=${path.join(opencodeHome(chat), 'data')}\n`,
    `XDG_CONFIG_HOME=${path.join(opencodeHome(chat), 'config')}\n`,
    'OPENCODE_CONFIG_CONTENT=',
    'OPENCODE_DISABLE_PROJECT_CONFIG=1',
    'OPENCODE_DISABLE_MODELS_FETCH=1',
    'OPENCODE_SERVER_PASSWORD=',
  ],
  // A node's own OpenCode settings that would stand over Hearth's.
  strays: (chat) => ({ OPENCODE_PERMISSION: '{"*":"allow"}', OPENCODE_DB: path.join(chat.worktree, 'stray.db'), OPENCODE_CONFIG_DIR: path.join(chat.worktree, 'stray-config') }),
  also: {
    async warm(chat, first) {
      assert.deepEqual(first.result.ok && first.result.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 10, outputTokens: 5 }) });
      assert.ok(chat.fake.requests.every((r) => r.dialect === 'openai-chat' && r.body.model === 'scripted'), chat.fake.requests.map((r) => r.path).join(', '));
      assert.deepEqual(chat.fake.requests.filter((r) => !r.main), [], 'no title call');
      // Its sessions are in its own database, in the agent's home.
      assert.ok(existsSync(path.join(opencodeHome(chat), 'data', 'opencode', 'opencode.db')));
      // Its own HTTP API, on loopback, answers only with the launch's password.
      const ports = taggedProcesses({ prefix: chat.tagPrefix }).flatMap(listeningPorts);
      assert.ok(ports.length > 0, 'it serves its API on loopback');
      for (const port of ports) {
        const res = await fetch(`http://127.0.0.1:${port}/session`, { headers: { 'x-opencode-directory': chat.worktree } });
        assert.equal(res.status, 401, `port ${port} answers only with the password`);
      }
    },
  },
});

describe('AcpDriver with the real OpenCode', () => {
  const chats = acp.chats();
  const results = (t: { events: { kind: string }[] }) => t.events.filter((e) => e.kind === 'tool_result') as Array<{ kind: 'tool_result'; id: string; output: string; isError: boolean }>;

  it('asks before a command where the mode asks, runs it in the worktree once allowed, and the model gets its output; its reasoning counts as output', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'bash', input: { command: 'echo made > made.txt && cat made.txt', description: 'Make a file' } },
      { kind: 'thinking', thinking: ['so it ', 'is made'], text: ['made it'], usage: { input_tokens: 40, output_tokens: 12, reasoning_tokens: 4 } },
    );
    const person = new ScriptedPerson(pick('allow_once'));
    const t = await session.turn('make a file', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    const ask = person.only();
    assert.equal(ask.kind, 'permission');
    assert.equal(ask.subject, 'echo made > made.txt && cat made.txt');
    assert.equal(ask.details?.cwd, chat.worktree);
    assert.deepEqual(ask.options.map((o) => o.kind), ['allow_once', 'allow_always', 'reject_once']);
    assert.equal((await readFile(path.join(chat.worktree, 'made.txt'), 'utf8')).trim(), 'made');
    const [result] = results(t);
    assert.ok(result && !result.isError && result.output.trim() === 'made', JSON.stringify(result));
    const last = chat.fake.mainRequests().at(-1)!;
    assert.equal(last.body.messages.at(-1).role, 'tool');
    assert.equal(last.body.messages.at(-1).content.trim(), 'made');
    assert.deepEqual(texts(t.events, 'thinking_delta'), ['so it ', 'is made']);
    assert.deepEqual(texts(t.events, 'text_delta'), ['made it']);
    // The prompt answer counts the turn's last model call alone; its cost, every call of the turn.
    assert.ok(t.result.ok);
    assert.deepEqual(t.result.usage, { inputTokens: 40, outputTokens: 12, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: price({ inputTokens: 10 + 40, outputTokens: 5 + 12 }) });
    await session.close();
  });

  it('plans without editing: its plan agent refuses a write unasked, asks before a command, and a refusal runs nothing', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'plan' });
    const file = path.join(chat.worktree, 'planned.txt');
    chat.fake.enqueue(
      { kind: 'tool_use', name: 'write', input: { filePath: file, content: 'no\n' } },
      { kind: 'tool_use', name: 'bash', input: { command: 'echo ran > ran.txt', description: 'x' } },
      { kind: 'text', chunks: ['planned'] },
    );
    const person = new ScriptedPerson(pick('reject_once'));
    const t = await session.turn('plan it', { answer: person.answer });
    assert.equal(t.result.ok, true, JSON.stringify(t.result));
    assert.equal(person.only().subject, 'echo ran > ran.txt', 'only the command was asked about');
    assert.deepEqual(results(t).map((r) => r.isError), [true, true]);
    assert.equal(existsSync(file), false);
    assert.equal(existsSync(path.join(chat.worktree, 'ran.txt')), false);
    await session.close();
  });

  it('opens a new process for a new mode, which resumes the session and runs unasked; the cost of its first turn is unknown, then known again', LIMIT, async () => {
    const { chat, session } = await chats.chatSession({ permissionMode: 'default' });
    chat.fake.enqueue({ kind: 'text', chunks: ['I will keep LYNX'] });
    const first = await session.turn('keep the word LYNX');
    assert.equal(first.result.ok, true, JSON.stringify(first.result));
    const pid = session.pid();
    const token = session.reports.last;

    chat.fake.enqueue({ kind: 'tool_use', name: 'bash', input: { command: 'echo unasked > unasked.txt', description: 'x' } }, { kind: 'text', chunks: ['ran it'] });
    const person = new ScriptedPerson();
    const two = await session.turn('run it', { with: { permissionMode: 'bypassPermissions' }, answer: person.answer });
    assert.equal(two.result.ok, true, JSON.stringify(two.result));
    assert.notEqual(session.pid(), pid, 'a new process for the mode');
    assert.equal(session.reports.last, token, 'the same session goes on');
    assert.deepEqual(person.asks, [], "nobody was asked");
    assert.equal((await readFile(path.join(chat.worktree, 'unasked.txt'), 'utf8')).trim(), 'unasked');
    assert.match(sent(chat.fake.mainRequests().at(-1)), /keep the word LYNX.*I will keep LYNX/s, 'with the conversation');
    // OpenCode reports the session's running total, which its new process took over unseen.
    assert.ok(two.result.ok && two.result.usage?.costUsd === null, JSON.stringify(two.result));

    chat.fake.enqueue({ kind: 'text', chunks: ['LYNX'] });
    const three = await session.turn('which word?');
    assert.ok(three.result.ok);
    assert.equal(three.result.usage?.costUsd, price({ inputTokens: 10, outputTokens: 5 }));
    await session.close();
  });

  it('starts on the chat’s model, and takes another of its providers’ models in the warm process', LIMIT, async () => {
    const chat = await chats.create();
    const driver = chats.driver(chat, chat.configDir, { env: opencodeEnv(chat.fake, chat.configDir, { models: ['second'] }) });
    const session = new ChatSession(driver, acp.spec(chat, { model: 'hearth/second' }));
    chat.fake.enqueue({ kind: 'text', chunks: ['one'] });
    assert.equal((await session.turn('first')).result.ok, true);
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'second');
    const pid = session.pid();
    chat.fake.enqueue({ kind: 'text', chunks: ['two'] });
    const two = await session.turn('next', { with: { model: OPENCODE_MODEL_REF } });
    assert.equal(two.result.ok, true, JSON.stringify(two.result));
    assert.equal(session.pid(), pid, 'the same process');
    assert.equal(chat.fake.mainRequests().at(-1)!.body.model, 'scripted');
    assert.match(sent(chat.fake.mainRequests().at(-1)), /first.*one/s, 'with the conversation');
    await session.close();
  });

  it("fails the turn with the model's error, and the warm session goes on", LIMIT, async () => {
    const { chat, session } = await chats.chatSession();
    chat.fake.enqueue({ kind: 'text', chunks: ['warm'] });
    assert.equal((await session.turn('first')).result.ok, true);
    const pid = session.pid();
    // A 400 is not retried; OpenCode retries a 429 or 5xx itself, with no end.
    chat.fake.enqueue({ kind: 'error', status: 400, message: 'the scripted request was refused' });
    const t = await session.turn('this one fails');
    assert.ok(!t.result.ok && t.result.code === 'agent_error', JSON.stringify(t.result));
    assert.match(t.result.error, /^opencode failed the turn: .*the scripted request was refused/);
    assert.equal(session.pid(), pid, 'the same process');
    chat.fake.enqueue({ kind: 'text', chunks: ['fine again'] });
    const next = await session.turn('and now?');
    assert.equal(next.result.ok, true, JSON.stringify(next.result));
    assert.deepEqual(texts(next.events, 'text_delta'), ['fine again']);
    await session.close();
  });

  it('fails the start for the session, saying why, when it has no such session to resume', LIMIT, async () => {
    const chat = await chats.create();
    const driver = chats.driver(chat);
    await assert.rejects(driver.open(acp.spec(chat, { resume: 'ses_0000000000000000000000000' }), new RecordedReports()), (err) => {
      assert.ok(err instanceof AgentStartError, String(err));
      assert.equal(err.scope, 'session');
      assert.match(err.message, /^opencode did not start: /);
      return true;
    });
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    assert.equal(driver.unavailable(), null);
  });

  it('fails the start, naming the variable, when the node’s OpenCode configuration is no JSON object, and starts nothing', LIMIT, async () => {
    const chat = await chats.create();
    for (const [content, why] of [
      ['{"provider": ', /OPENCODE_CONFIG_CONTENT is not JSON/],
      ['[1, 2]', /OPENCODE_CONFIG_CONTENT is not a JSON object/],
    ] as const) {
      const driver = chats.driver(chat, chat.configDir, { env: { ...acp.env(chat), OPENCODE_CONFIG_CONTENT: content } });
      await assert.rejects(driver.open(acp.spec(chat), new RecordedReports()), (err) => {
        assert.ok(err instanceof AgentStartError, String(err));
        assert.match(err.message, /^opencode could not be prepared: /);
        assert.match(err.message, why);
        return true;
      });
    }
    assert.deepEqual(taggedProcesses({ prefix: chat.tagPrefix }), []);
    assert.equal(chat.fake.requests.length, 0);
  });

  it("puts Hearth's settings over the node's configuration, the permissions of the chat's mode among them", () => {
    const node = JSON.stringify({ provider: { mine: { npm: '@ai-sdk/openai-compatible' } }, model: 'mine/default', permission: { '*': 'allow' }, share: 'auto' });
    const asking = opencodeConfig(node, 'mine/big', 'default');
    assert.deepEqual(asking, {
      provider: { mine: { npm: '@ai-sdk/openai-compatible' } },
      model: 'mine/big',
      permission: OPENCODE_PERMISSIONS.default,
      agent: { title: { disable: true } },
      autoupdate: false,
      share: 'disabled',
    });
    const agents = opencodeConfig(JSON.stringify({ agent: { build: { temperature: 0.2 }, title: { model: 'mine/small' } } }), null, null).agent;
    assert.deepEqual(agents, { build: { temperature: 0.2 }, title: { model: 'mine/small', disable: true } }, "the node's agents, the title's switched off");
    assert.equal(opencodeConfig(node, null, null).model, 'mine/default', "the node's model where the chat names none");
    assert.deepEqual(opencodeConfig(undefined, null, 'plan'), { permission: OPENCODE_PERMISSIONS.plan, agent: { title: { disable: true } }, default_agent: 'plan', autoupdate: false, share: 'disabled' });
    assert.deepEqual(opencodeConfig('', OPENCODE_MODEL_REF, 'bypassPermissions').permission, { '*': 'allow' });
    assert.equal(opencodeConfig('', null, 'acceptEdits').permission && (opencodeConfig('', null, 'acceptEdits').permission as Record<string, string>).edit, 'allow');
    assert.equal(opencode.modeAtLaunch, true);
  });
});

/** The TCP ports a process listens on, from /proc: its sockets' inodes matched against the kernel's table of listening sockets. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m ? [m[1]!] : [];
      } catch {
        return [];
      }
    }),
  );
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // Column 3 is the state (0A: listening), column 9 the socket's inode.
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}
