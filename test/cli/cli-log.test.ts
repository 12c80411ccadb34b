// hearth log for turns that did not succeed: why each ended, and the partial reply it kept.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import path from 'node:path';
import { apiSuite } from '../fixtures/api-suite.js';
import type { TestServer } from '../fixtures/test-server.js';
import { chatIdOf, shown, spawnCli, until, type CliOptions } from './cli-harness.js';
import { killGone } from '../fixtures/processes.js';

const TOKEN = 'cli-log-token-0123456789';
const LIMIT = { timeout: 90_000 };
const suite = apiSuite('cli_log', TOKEN);
let server: TestServer;

/** The CLI pointed at the test server; no record of a server the user may have running is read. */
const env = () => ({ HEARTH_URL: server.url, HEARTH_TOKEN: TOKEN, HEARTH_DATA_DIR: path.join(suite.root, 'cli-data'), XDG_STATE_HOME: path.join(suite.root, 'no-state') });
const start = (args: string[], options: CliOptions = {}) => spawnCli(args, { ...options, env: { ...env(), ...options.env } });
const hearth = (args: string[], options?: CliOptions) => start(args, options).done;
const newChat = async (...flags: string[]) => chatIdOf(await hearth(['new', suite.repo, ...flags]));

describe('hearth log: turns that broke off', () => {
  before(async () => {
    server = await suite.serve();
  });

  it('shows a turn whose agent was killed mid-stream: the text it had streamed, the error, and why it ended', LIMIT, async () => {
    // Taken before the chat is made: its agent may start then, ahead of the message.
    const nodeTag = { prefix: `${server.runtime.config.nodeId}:` };
    const others = new Set(taggedProcesses(nodeTag));
    const id = await newChat();
    suite.fake.enqueue({ kind: 'stall', chunks: ['Half of ', 'an answer'] });
    const sending = start(['send', id, 'go on']);
    await until(() => sending.stdout().includes('an answer'), 'the reply to stream');
    for (const pid of taggedProcesses(nodeTag)) if (!others.has(pid)) killGone(pid);
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
    suite.fake.enqueue({ kind: 'stall', chunks: ['So far ', 'so good'] });
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
