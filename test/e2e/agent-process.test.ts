// Agent processes as real OS processes: a tool that drops its tag and leaves its
// agent's group and session is still found through the agent's cgroup, when the agent
// is ended and when the server that started it is killed.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AgentCgroups } from '../../src/agents/process/agent-cgroups.js';
import { AGENT_TAG_VAR, AgentProcess, taggedProcesses } from '../../src/agents/process/agent-process.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { alive, ESCAPE, hasEnv, sessionOf } from '../fixtures/processes.js';

const NODE = `agent-process-${process.pid}`;
const LIMIT = { timeout: 60_000 };
const started: number[] = [];
const hosts: ChildProcess[] = [];
const cgroupsHere = AgentCgroups.open(`${NODE}-probe`, 'probe');
const noCgroups = cgroupsHere ? false : 'no cgroup v2 can be made here';

after(async () => {
  for (const h of hosts) h.kill('SIGKILL');
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await cgroupsHere?.close();
});

/** Starts an agent whose shell leaves a tool running outside its group, session and tag. */
async function escapingAgent(cgroups: AgentCgroups | null): Promise<{ agent: AgentProcess; escaped: number }> {
  const agent = new AgentProcess({ command: '/bin/sh', args: ['-c', ESCAPE], env: { PATH: process.env.PATH }, tagPrefix: `${NODE}:`, cgroups });
  started.push(agent.pid);
  agent.child.stdout.setEncoding('utf8');
  const escaped = await new Promise<number>((resolve) => {
    let out = '';
    agent.child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    });
  });
  started.push(escaped);
  await waitUntil('the tool to leave its session', () => sessionOf(escaped) === escaped);
  assert.equal(hasEnv(escaped, AGENT_TAG_VAR), false, 'the tool dropped its tag');
  return { agent, escaped };
}

describe('AgentProcess in a cgroup of its own', { skip: noCgroups }, () => {
  it('runs in a cgroup of its own, and so does all it starts', LIMIT, async () => {
    const cgroups = AgentCgroups.open(NODE, randomUUID())!;
    const { agent, escaped } = await escapingAgent(cgroups);
    const own = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!;
    assert.ok(agent.cgroup!.dir.endsWith(own(agent.pid).slice(3)), own(agent.pid));
    assert.equal(own(escaped), own(agent.pid));
    assert.deepEqual(agent.cgroup!.pids().sort(), [agent.pid, escaped].sort());
    await agent.stop(1_000);
    await cgroups.close();
  });

  for (const killFile of [true, false]) {
    it(`ends a tool that left the agent's group, session and tag when the agent ends (${killFile ? 'cgroup.kill' : 'freeze and kill each'})`, LIMIT, async () => {
      const cgroups = AgentCgroups.open(NODE, randomUUID(), { killFile })!;
      const { agent, escaped } = await escapingAgent(cgroups);
      await agent.stop(1_000);
      await waitUntil('the escaped tool to end', () => !alive(escaped));
      assert.equal(existsSync(agent.cgroup!.dir), false, 'the cgroup is removed');
      await cgroups.close();
      assert.equal(existsSync(cgroups.dir), false);
    });
  }

  it('a restart of the node ends what an earlier instance left in its cgroups', LIMIT, async () => {
    const earlier = AgentCgroups.open(NODE, randomUUID())!;
    const { agent, escaped } = await escapingAgent(earlier);
    const now = AgentCgroups.open(NODE, randomUUID())!;
    assert.equal(await now.sweepOthers(), 2);
    await waitUntil('the earlier instance to be ended', () => !alive(escaped) && !agent.running);
    assert.equal(existsSync(earlier.dir), false);
    assert.equal(existsSync(now.dir), true, 'its own cgroup stays');
    await now.close();
  });
});

/** Runs the stand-in server, returning it and what it started. */
async function host(mode: 'cgroup' | 'tag') {
  const node = `${NODE}-${mode}`;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../fixtures/agent-host.ts'), node, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  hosts.push(child);
  const info = await new Promise<{ agent: number; escaped: number; reaper: number; cgroup: string | null }>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
    });
    child.once('exit', (code) => reject(new Error(`the host exited (${code})`)));
  });
  started.push(info.agent, info.escaped, info.reaper);
  return { child, node, ...info };
}

describe('the reaper, when the server that started agents is killed with SIGKILL', () => {
  it('ends every process in their cgroups, the tool that left group, session and tag too', { ...LIMIT, skip: noCgroups }, async () => {
    const h = await host('cgroup');
    await waitUntil('the tool to leave its session', () => sessionOf(h.escaped) === h.escaped);
    assert.ok(alive(h.reaper));
    h.child.kill('SIGKILL');
    // Generous: the reaper needs no restart, only a moment.
    await waitUntil('the agents to end', () => !alive(h.agent) && !alive(h.escaped), 15_000);
    await waitUntil('the reaper to exit', () => !alive(h.reaper));
    assert.equal(existsSync(path.dirname(h.cgroup!)), false, "the instance's cgroup is removed");
  });

  it('without cgroups, ends the processes that carry the tag', LIMIT, async () => {
    const h = await host('tag');
    assert.ok(taggedProcesses({ prefix: `${h.node}:` }).includes(h.agent));
    h.child.kill('SIGKILL');
    await waitUntil('the agent to end', () => !alive(h.agent), 15_000);
    await waitUntil('the reaper to exit', () => !alive(h.reaper));
    // What a tool leaves beyond its group and its tag is out of reach without a cgroup.
    assert.ok(alive(h.escaped));
  });
});
