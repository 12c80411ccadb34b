// The real OpenCode (`opencode run`) against the scripted model speaking chat
// completions, configured as an `@ai-sdk/openai-compatible` provider: a text reply with
// its reasoning, a tool call that runs in the repository and whose output reaches the
// model, the usage and cost OpenCode makes of the scripted figures, an error, and the
// demo's conversation.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { demoReply } from '../../src/demo/demo-script.js';
import { lastToolResult, lastUserText, startScriptedModel, type ScriptedModelOptions, type ScriptedModelServer } from '../../src/demo/scripted-model.js';
import { installedFile } from '../../src/agents/installed-package.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { seedConfigDir } from '../../src/agents/opencode/opencode-config.js';
import { OPENCODE_MODEL, opencodeCost, opencodeEnv, opencodeTokens, type OpencodeTokens } from '../fixtures/opencode-env.js';

const OPENCODE = installedFile('opencode-ai', 'bin', 'opencode.exe');
const LIMIT = { timeout: 90_000 };

const dirs: string[] = [];
const models: ScriptedModelServer[] = [];
after(async () => {
  for (const m of models) await m.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(opts: ScriptedModelOptions = {}): Promise<{ model: ScriptedModelServer; repo: string; home: string }> {
  const model = await startScriptedModel(opts);
  models.push(model);
  const root = await mkdtemp(path.join(tmpdir(), 'hearth-opencode-run-'));
  dirs.push(root);
  const home = path.join(root, 'home');
  // As Hearth does, so that OpenCode fetches nothing from the npm registry.
  await seedConfigDir(home);
  return { model, repo: makeRepo(path.join(root, 'repo')), home };
}

interface RunEvent {
  type: string;
  part?: any;
  error?: any;
}

/** `opencode run --format json` in the repository: its exit code and the events it printed, one JSON object a line. */
async function run(model: ScriptedModelServer, repo: string, home: string, words: string[]): Promise<{ code: number | null; events: RunEvent[]; stderr: string }> {
  // One word an argument: `run` quotes an argument that holds a space before it joins them.
  const child = spawn(OPENCODE!, ['run', '--format', 'json', '--thinking', ...words], { cwd: repo, env: opencodeEnv(model, home), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  // A run that hangs is ended with its process group, so the test fails rather than waits.
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  const events = stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as RunEvent);
  return { code, events, stderr };
}

describe('the real OpenCode against the scripted chat-completions model', { skip: OPENCODE ? false : 'opencode-ai is not installed' }, () => {
  it('runs a tool call in the repository, gives its output to the model, shows the reasoning and the reply, and prices each step', LIMIT, async () => {
    const { model, repo, home } = await setup();
    const callUsage = { input_tokens: 900, output_tokens: 40, cache_read_input_tokens: 0 };
    const replyUsage = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50, reasoning_tokens: 7 };
    model.enqueue(
      { kind: 'tool_use', name: 'bash', input: { command: 'echo made > made.txt && cat made.txt', description: 'Make a file' }, usage: callUsage },
      { kind: 'thinking', thinking: ['weigh', 'ing'], text: ['made ', 'it'], usage: replyUsage },
    );
    const { code, events, stderr } = await run(model, repo, home, ['make', 'a', 'file']);
    assert.equal(code, 0, stderr);

    assert.equal((await readFile(path.join(repo, 'made.txt'), 'utf8')).trim(), 'made');
    const tool = events.find((e) => e.type === 'tool_use')!.part;
    assert.equal(tool.tool, 'bash');
    assert.equal(tool.state.status, 'completed');
    assert.deepEqual(tool.state.input, { command: 'echo made > made.txt && cat made.txt', description: 'Make a file' });
    assert.equal(tool.state.output, 'made\n');

    const mains = model.mainRequests();
    assert.equal(mains.length, 2);
    assert.deepEqual(mains.map(lastUserText), ['make a file', 'make a file']);
    assert.equal(lastToolResult(mains[0]!), null);
    assert.equal(lastToolResult(mains[1]!), 'made\n', 'the output went back to the model');
    assert.equal(mains[1]!.body.messages.at(-1).tool_call_id, tool.callID);
    // The tools OpenCode offers its model, by the names the demo and the tests use.
    const offered = mains[0]!.body.tools.map((t: any) => t.function.name);
    for (const name of ['bash', 'read', 'write', 'edit']) assert.ok(offered.includes(name), offered.join(', '));
    assert.equal(mains[0]!.body.model, OPENCODE_MODEL);
    assert.deepEqual(mains[0]!.body.stream_options, { include_usage: true });

    // The title call offers no tools: it is answered apart and left the script whole.
    const aux = model.requests.filter((r) => !r.main);
    assert.equal(aux.length, 1);
    assert.equal(aux[0]!.dialect, 'openai-chat');
    assert.equal(aux[0]!.body.tools, undefined);
    assert.equal(model.pending(), 0);

    assert.deepEqual(events.filter((e) => e.type === 'reasoning').map((e) => e.part.text), ['weighing']);
    assert.deepEqual(events.filter((e) => e.type === 'text').map((e) => e.part.text), ['made it']);

    const steps = events.filter((e) => e.type === 'step_finish').map((e) => e.part);
    assert.deepEqual(steps.map((s) => s.reason), ['tool-calls', 'stop']);
    const expected = [opencodeTokens(callUsage), opencodeTokens(replyUsage)];
    assert.deepEqual(expected[1], { input: 150, output: 13, reasoning: 7, cache: { read: 1000, write: 0 } });
    steps.forEach((step, i) => {
      const { total, ...tokens } = step.tokens as OpencodeTokens & { total: number };
      assert.deepEqual(tokens, expected[i]);
      assert.equal(total, tokens.input + tokens.output + tokens.reasoning + tokens.cache.read + tokens.cache.write);
      assert.ok(Math.abs(step.cost - opencodeCost(expected[i]!)) < 1e-12, `step ${i}: ${step.cost} vs ${opencodeCost(expected[i]!)}`);
    });
    assert.ok(Math.abs(steps[1].cost - 0.00105) < 1e-12, 'by hand: 150 × $3 + (13 + 7) × $15 + 1000 × $0.30 per million');
  });

  it("fails the run with the model's error, which it does not retry when it is a 400", LIMIT, async () => {
    const { model, repo, home } = await setup();
    model.enqueue({ kind: 'error', status: 400, message: 'the scripted request was refused' });
    const { code, events } = await run(model, repo, home, ['fail']);
    assert.notEqual(code, 0);
    const error = events.find((e) => e.type === 'error')!.error;
    assert.equal(error.data.statusCode, 400);
    assert.equal(error.data.message, 'the scripted request was refused');
    assert.equal(model.mainRequests().length, 1);
  });

  it("holds the demo's conversation: it lists the repository with bash, and answers from what it found", LIMIT, async () => {
    const { model, repo, home } = await setup({ reply: demoReply });
    const { code, events, stderr } = await run(model, repo, home, ['hello']);
    assert.equal(code, 0, stderr);
    const tool = events.find((e) => e.type === 'tool_use')!.part;
    assert.deepEqual([tool.tool, tool.state.input.command], ['bash', 'ls -A']);
    const text = events.filter((e) => e.type === 'text').map((e) => e.part.text).join('\n');
    assert.match(text, /You asked: "hello"/);
    assert.match(text, /stands in for OpenCode's model/);
    assert.match(text, /`README\.md`/);
  });
});
