// The permission prompt server the PTY driver gives the claude CLI, spoken to over real
// loopback HTTP with the MCP SDK's own client, as the CLI speaks to it: calls reach the
// turn whose secret they carry, nothing else gets in, and a stopped turn's call ends.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  PermissionPromptServer,
  PROMPT_TOOL_NAME,
  type PromptAnswerer,
  type PromptServerConfig,
  type PromptToolCall,
} from '../../src/agents/claude/pty/permission-prompt-server.js';

const servers: PermissionPromptServer[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function server(): PermissionPromptServer {
  const s = new PermissionPromptServer();
  servers.push(s);
  return s;
}

/** An MCP client connected with these headers, as the CLI connects with its --mcp-config entry. */
async function connect(config: PromptServerConfig, headers = config.headers): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers } }));
  return client;
}

/** The tool's answer to a call, parsed from its text as Claude Code parses it. */
async function call(client: Client, args: Record<string, unknown>): Promise<unknown> {
  const result = await client.callTool({ name: PROMPT_TOOL_NAME, arguments: args });
  const content = result.content as Array<{ type: string; text: string }>;
  assert.equal(content.length, 1);
  assert.equal(content[0]!.type, 'text');
  return JSON.parse(content[0]!.text);
}

const writeCall = { tool_name: 'Write', input: { file_path: '/w/a.txt', content: 'x' }, tool_use_id: 'toolu_1' };

/** An answerer that records its calls and allows each with its input. */
function allowing(): { answer: PromptAnswerer; calls: PromptToolCall[] } {
  const calls: PromptToolCall[] = [];
  return {
    calls,
    answer: async (c) => {
      calls.push(c);
      return { behavior: 'allow', updatedInput: c.input };
    },
  };
}

async function post(url: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
    }),
  });
}

describe('PermissionPromptServer', () => {
  it('starts listening on loopback with its first turn, offering one tool', async () => {
    const s = server();
    assert.equal(s.url(), null, 'nothing listens before a turn needs it');
    const { answer, calls } = allowing();
    const admission = await s.admit(answer);
    assert.match(admission.config.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    assert.equal(s.url(), admission.config.url);
    assert.match(admission.config.headers.Authorization!, /^Bearer [\w-]{40,}$/);
    assert.ok(admission.config.timeout >= 60 * 60 * 1000, 'the CLI waits on a person for long');

    const client = await connect(admission.config);
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name),
      [PROMPT_TOOL_NAME],
    );
    assert.deepEqual(Object.keys(tools[0]!.inputSchema.properties ?? {}).sort(), ['input', 'tool_name', 'tool_use_id']);
    assert.deepEqual(await call(client, writeCall), { behavior: 'allow', updatedInput: writeCall.input });
    assert.deepEqual(calls, [{ toolName: 'Write', input: writeCall.input, toolUseId: 'toolu_1' }]);
  });

  it("answers each call for the turn whose secret it carries, and refuses a wrong, missing or released one", async () => {
    const s = server();
    const a = allowing();
    const b = allowing();
    const one = await s.admit(a.answer);
    const two = await s.admit(b.answer);
    assert.equal(one.config.url, two.config.url, 'one server for every turn');
    assert.notEqual(one.config.headers.Authorization, two.config.headers.Authorization, 'a secret of its own each');

    await call(await connect(two.config), writeCall);
    assert.equal(a.calls.length, 0);
    assert.equal(b.calls.length, 1);

    const { url } = one.config;
    const secret = one.config.headers.Authorization!.slice('Bearer '.length);
    const wrong: Record<string, string>[] = [{}, { Authorization: `Bearer ${secret.slice(0, -1)}x` }, { Authorization: secret }, { Authorization: `Basic ${secret}` }];
    for (const headers of wrong) {
      const res = await post(url, headers);
      assert.equal(res.status, 401, `refused with ${JSON.stringify(headers)}`);
      await res.body?.cancel();
    }
    await assert.rejects(connect(one.config, { Authorization: 'Bearer not-a-secret' }));

    const ok = await post(url, one.config.headers);
    assert.equal(ok.status, 200, 'the right secret gets in');
    await ok.body?.cancel();
    one.release();
    const after = await post(url, one.config.headers);
    assert.equal(after.status, 401, 'a released secret is refused');
    await after.body?.cancel();
    assert.equal(a.calls.length, 0, 'the refused requests never reached the turn');
  });

  it('denies a pending call and tells the CLI to stop once its turn stops', async () => {
    const s = server();
    const stop = new AbortController();
    let asked!: () => void;
    const pending = new Promise<void>((r) => (asked = r));
    let sawAbort = false;
    const admission = await s.admit(async (_c, signal) => {
      asked();
      // An answerer that never answers by itself: only the stop ends the call.
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => ((sawAbort = true), resolve())));
      return { behavior: 'allow', updatedInput: {} };
    }, stop.signal);
    const client = await connect(admission.config);
    const answer = call(client, writeCall);
    await pending;
    stop.abort();
    assert.deepEqual(await answer, { behavior: 'deny', message: 'The turn was stopped before the request was answered.', interrupt: true });
    assert.ok(sawAbort, 'the answerer heard the stop');
    // A call after the stop is denied without asking.
    assert.deepEqual(await call(client, writeCall), { behavior: 'deny', message: 'The turn was stopped before the request was answered.', interrupt: true });
  });

  it('tells the answerer when the CLI gives up on a call and drops its request', async () => {
    const s = server();
    let gaveUp!: () => void;
    const heard = new Promise<void>((r) => (gaveUp = r));
    let asked!: () => void;
    const pending = new Promise<void>((r) => (asked = r));
    const admission = await s.admit(async (_c, signal) => {
      asked();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      gaveUp();
      return { behavior: 'deny', message: 'too late' };
    });
    const client = await connect(admission.config);
    const answer = call(client, writeCall);
    await pending;
    await client.close();
    await assert.rejects(answer);
    await heard;
  });

  it('denies a call whose answerer fails, and says why', async () => {
    const s = server();
    const admission = await s.admit(async () => {
      throw new Error('the database is down');
    });
    assert.deepEqual(await call(await connect(admission.config), writeCall), {
      behavior: 'deny',
      message: 'The request could not be put to anyone: the database is down',
    });
  });

  it('ends pending calls and stops listening when closed, and admits no more turns', async () => {
    const s = new PermissionPromptServer();
    let asked!: () => void;
    const pending = new Promise<void>((r) => (asked = r));
    const admission = await s.admit(async (_c, signal) => {
      asked();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      return { behavior: 'allow', updatedInput: {} };
    });
    const client = await connect(admission.config);
    const answer = call(client, writeCall).then(
      (a) => ({ answered: a }),
      (err: Error) => ({ failed: err.message }),
    );
    await pending;
    await s.close();
    // The call ends one way or the other: denied if the answer got out, failed if the connection went first.
    const ended = await answer;
    assert.ok('failed' in ended || (ended.answered as { behavior: string }).behavior === 'deny', JSON.stringify(ended));
    assert.equal(s.url(), null);
    await assert.rejects(fetch(admission.config.url, { method: 'POST' }), 'nothing listens any more');
    await assert.rejects(s.admit(allowing().answer), /closed/);
    await s.close();
  });

  it('closes cleanly while its first start is under way', async () => {
    const s = new PermissionPromptServer();
    const admitting = s.admit(allowing().answer);
    await s.close();
    await assert.rejects(admitting, /closed/);
    assert.equal(s.url(), null);
  });
});
