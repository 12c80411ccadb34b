// A server whose agents have no Claude credentials: said at start, in /health and in the
// turn's error, in words that name what works from Hearth. The real Claude Code binary
// decides what "no credentials" means: it is given none, or a key the fake model refuses.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { createRuntime } from '../../src/runtime/hearth-runtime.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { untilTurnEnd, type HearthClient, type SseEvent } from '../fixtures/hearth-client.js';
import { apiSuite } from '../fixtures/api-suite.js';

const TOKEN = 'credentials-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('credentials', TOKEN);
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Claude Code's environment for the fake model without the API key: no credential at all. */
async function keylessEnv(): Promise<{ env: Record<string, string>; configDir: string }> {
  const configDir = await makeConfigDir();
  dirs.push(configDir);
  const { ANTHROPIC_API_KEY: _, ...env } = claudeEnv(suite.fake, configDir);
  return { env, configDir };
}

async function turn(client: HearthClient, text: string, backend: string): Promise<SseEvent[]> {
  const chat = await client.request('POST', '/api/chats', { repoPath: suite.repo });
  assert.equal(chat.status, 201, JSON.stringify(chat.body));
  const sent = await client.request('POST', `/api/chats/${chat.body.id}/messages`, { text, backend });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const events = await client.follow(chat.body.id, untilTurnEnd(sent.body.turnId), { after: 0 });
  return events.filter((e) => e.data.turnId === sent.body.turnId);
}

/** What every credentials message says: the three ways that work from Hearth. */
function assertHelpful(message: unknown): void {
  assert.equal(typeof message, 'string');
  assert.match(String(message), /ANTHROPIC_API_KEY in the server's environment/);
  assert.match(String(message), /`claude setup-token` in CLAUDE_CODE_OAUTH_TOKEN/);
  assert.match(String(message), /`claude` logged in on this machine as \S+, the user the agents run as/);
}

describe('agents without credentials', () => {
  it('are warned about in /health, with the token only', LIMIT, async () => {
    const { env, configDir } = await keylessEnv();
    const server = await suite.serve({ runtime: { agentEnv: env } });
    const health = (await server.client.request('GET', '/health')).body;
    assert.equal(health.warnings.length, 1, JSON.stringify(health.warnings));
    assert.equal(health.warnings[0].code, 'no_credentials');
    assertHelpful(health.warnings[0].message);
    assert.ok(health.warnings[0].message.includes(path.join(configDir, '.credentials.json')), health.warnings[0].message);
    assert.equal(health.backends.claude_sdk, 'up', 'the backends themselves can start');
    const anonymous = await fetch(`${server.url}/health`, { headers: { host: '127.0.0.1' } });
    assert.deepEqual(await anonymous.json(), { status: 'ok', database: { up: true } });
  });

  it('are warned about once in the log, at start', LIMIT, async () => {
    const { env } = await keylessEnv();
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const runtime = await createRuntime(suite.db.sql, log, {
      nodeId: `credentials-${process.pid}`,
      worktrees: { repoRoots: [suite.root], worktreesDir: path.join(suite.root, 'worktrees') },
      maxWarm: 1,
      idleMs: 600_000,
      maxQueued: 1,
      claudeSdk: true,
      agentEnv: env,
      agentHomes: path.join(suite.root, 'agent-homes'),
    });
    try {
      await runtime.warnings();
      await runtime.warnings();
      const warned = lines.map((l) => JSON.parse(l)).filter((l) => /no Claude credentials/.test(l.msg));
      assert.equal(warned.length, 1, lines.join(''));
      assert.equal(warned[0].level, 40, 'a warning');
      assertHelpful(warned[0].msg);
    } finally {
      await runtime.close();
    }
  });

  for (const backend of ['claude_sdk', 'claude_pty']) {
    it(`fail their turn with the same help instead of Claude Code's /login advice (${backend})`, LIMIT, async () => {
      const { env } = await keylessEnv();
      const server = await suite.serve({ runtime: { agentEnv: env } });
      const asked = suite.fake.mainRequests().length;
      const events = await turn(server.client, 'hello', backend);
      const end = events.at(-1)!;
      assert.equal(end.data.ok, false);
      assertHelpful(end.data.error);
      assert.match(String(end.data.error), /Not logged in/, 'what Claude Code said is kept');
      const errors = events.filter((e) => e.event === 'error');
      assert.ok(errors.length >= 1);
      for (const e of errors) assertHelpful(e.data.message);
      assert.equal(suite.fake.mainRequests().length, asked, 'Claude Code never asked the model');
    });
  }

  it('fail a turn whose key the API refuses with the same help', LIMIT, async () => {
    const server = await suite.serve();
    suite.fake.enqueue({ kind: 'error', status: 401, message: 'invalid x-api-key' });
    const events = await turn(server.client, 'hello', 'claude_sdk');
    const end = events.at(-1)!;
    assert.equal(end.data.ok, false);
    assertHelpful(end.data.error);
    assert.match(String(end.data.error), /Invalid API key/);
  });
});

describe('agents with credentials', () => {
  it('raise no warning with an API key', LIMIT, async () => {
    const server = await suite.serve();
    assert.deepEqual((await server.client.request('GET', '/health')).body.warnings, []);
  });

  it('raise no warning with a claude login in their configuration directory', LIMIT, async () => {
    const { env, configDir } = await keylessEnv();
    await mkdir(configDir, { recursive: true });
    await writeFile(path.join(configDir, '.credentials.json'), '{}\n', { mode: 0o600 });
    const server = await suite.serve({ runtime: { agentEnv: env } });
    assert.deepEqual((await server.client.request('GET', '/health')).body.warnings, []);
  });
});
