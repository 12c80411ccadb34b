// `hearth send --agent` and `hearth new --agent` as a user runs them: a real child process
// against a real server, claude (SDK) and claude-acp (warm ACP) against the fake model.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BACKEND_SHORT_NAMES } from '../../src/api/views.js';
import { apiSuite } from '../fixtures/api-suite.js';
import { lastUserText } from '../fixtures/fake-anthropic.js';
import type { TestServer } from '../fixtures/test-server.js';
import { chatIdOf, shown, spawnCli, type CliOptions } from './cli-harness.js';

const TOKEN = 'cli-agents-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('cli_agents', TOKEN);
let server: TestServer;

function hearth(args: string[], options: CliOptions = {}) {
  return spawnCli(args, {
    ...options,
    env: {
      HEARTH_URL: server.url,
      HEARTH_TOKEN: TOKEN,
      HEARTH_DATA_DIR: path.join(suite.root, 'cli-data'),
      XDG_STATE_HOME: path.join(suite.root, 'no-state'),
      ...options.env,
    },
  }).done;
}

describe('hearth with several agents', () => {
  it('send --agent hands the chat to another agent, which is told the conversation; log names who replied', LIMIT, async () => {
    server ??= await suite.serve({ runtime: { prewarm: false } });
    const chat = chatIdOf(await hearth(['new', suite.repo]));

    suite.fake.enqueue({ kind: 'text', chunks: ['CLI-CLAUDE-ONE: the answer is 42.'] });
    const one = await hearth(['send', chat.slice(0, 8), 'What is the answer?']);
    assert.equal(one.code, 0, shown(one));
    assert.match(one.stdout, /CLI-CLAUDE-ONE: the answer is 42\./);

    const before = suite.fake.mainRequests().length;
    suite.fake.enqueue({ kind: 'text', chunks: ['CLI-ACP-TWO: agreed.'] });
    const two = await hearth(['send', '--agent', 'claude-acp', chat.slice(0, 8), 'Do you agree?']);
    assert.equal(two.code, 0, shown(two));
    assert.match(two.stdout, /CLI-ACP-TWO: agreed\./);
    const asked = lastUserText(suite.fake.mainRequests()[before]!);
    assert.match(asked, /You \(claude-acp\) are joining a conversation in progress/);
    assert.match(asked, /User \(to claude\): What is the answer\?\nclaude: CLI-CLAUDE-ONE: the answer is 42\./);
    assert.match(asked, /Now the user says to you:\n\nDo you agree\?$/);

    const refused = await hearth(['send', '--agent', 'nobody', chat.slice(0, 8), 'hello?']);
    assert.equal(refused.code, 1, shown(refused));
    const installed = server.runtime.registry.list().map((a) => a.agent).join(', ');
    assert.ok(refused.stderr.includes(`agent "nobody" is not installed on this node (installed: ${installed})`), refused.stderr);

    const log = await hearth(['log', chat.slice(0, 8)]);
    assert.equal(log.code, 0, shown(log));
    assert.deepEqual(log.stdout.trimEnd().split('\n\n'), [
      '❯ What is the answer?\n· claude\nCLI-CLAUDE-ONE: the answer is 42.',
      '❯ Do you agree?\n· claude-acp\nCLI-ACP-TWO: agreed.',
    ]);
  });

  it('agents lists what new --agent and send --agent take; new --agent makes a chat whose messages go to that agent', LIMIT, async () => {
    server ??= await suite.serve({ runtime: { prewarm: false } });
    const listed = await hearth(['agents']);
    assert.equal(listed.code, 0, shown(listed));
    const lines = listed.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
    const version = (agent: string) => server.runtime.registry.get(agent).version;
    // Every agent the node has installed, each with its backends in the order they are tried.
    const others = server.runtime.registry.list().filter((a) => a.agent !== 'claude');
    assert.deepEqual(lines, [
      ['AGENT', 'VERSION', 'BACKENDS', 'RESUMES'],
      ['claude', version('claude'), 'SDK up, PTY up', 'yes'],
      ...others.map((a) => [a.agent, a.version, a.backends.map((b) => `${BACKEND_SHORT_NAMES[b]} up`).join(', '), 'yes']),
    ]);
    assert.ok(others.some((a) => a.agent === 'claude-acp'), 'claude-acp is among them');

    const made = await hearth(['new', '--agent', 'claude-acp', '--json', suite.repo]);
    assert.equal(made.code, 0, shown(made));
    const chat = JSON.parse(made.stdout) as { id: string; agent: string };
    assert.equal(chat.agent, 'claude-acp');
    suite.fake.enqueue({ kind: 'text', chunks: ['CLI-ACP-OWN: hello.'] });
    const sent = await hearth(['send', chat.id, 'hi']);
    assert.equal(sent.code, 0, shown(sent));
    assert.match(sent.stdout, /CLI-ACP-OWN: hello\./);
    const [row] = await suite.db.sql<{ agent: string; backend: string }[]>`SELECT agent, backend FROM agent_sessions WHERE chat_id = ${chat.id}`;
    assert.deepEqual({ ...row }, { agent: 'claude-acp', backend: 'warm_acp' });

    const unknown = await hearth(['new', '--agent', 'codex-nope', suite.repo]);
    assert.equal(unknown.code, 1, shown(unknown));
    assert.match(unknown.stderr, /agent "codex-nope" is not installed on this node \(installed: claude, claude-acp/);
  });
});
