// Which driver a turn goes to: the agent's backends in order, less those this node cannot
// use and those standing down, and a clear refusal for a backend asked for by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import type { AgentDriver } from '../../src/agents/contract/driver.js';
import type { BackendKind } from '../../src/api/views.js';
import type { InstalledAgent } from '../../src/runtime/routing/agent-registry.js';
import { Router } from '../../src/runtime/routing/router.js';
import { ScriptedDriver } from '../fixtures/scripted-driver.js';

const both: InstalledAgent = { agent: 'claude', installPath: '/bin/true', version: '1', backends: ['claude_sdk', 'claude_pty'] };
const ptyFirst: InstalledAgent = { ...both, agent: 'other', backends: ['claude_pty', 'claude_sdk'] };
const sdkOnly: InstalledAgent = { ...both, agent: 'solo', backends: ['claude_sdk'] };

function setup(agents: InstalledAgent[] = [both], retryMs = 60_000) {
  const sdk = new ScriptedDriver({ backend: 'claude_sdk' });
  const pty = new ScriptedDriver({ backend: 'claude_pty' });
  const router = new Router(new Map<BackendKind, AgentDriver>([['claude_sdk', sdk], ['claude_pty', pty]]), retryMs, () => agents);
  return { sdk, pty, router };
}

const kinds = (drivers: AgentDriver[]) => drivers.map((d) => d.backend);
const startError = (scope: 'node' | 'session', message = 'it cannot start') => new AgentStartError('claude', message, '', { scope });

describe('Router', () => {
  it("offers the agent's backends in its catalog order", () => {
    const { router } = setup([both, ptyFirst]);
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_sdk', 'claude_pty']);
    assert.deepEqual(kinds(router.candidates(ptyFirst, 'c1')), ['claude_pty', 'claude_sdk']);
    assert.deepEqual(kinds(router.candidates(sdkOnly, 'c1')), ['claude_sdk']);
  });

  it('leaves out a backend this node cannot use, and refuses with no_backend when none is left', () => {
    const { router, sdk } = setup();
    sdk.unavailableReason = 'switched off';
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_pty']);
    assert.throws(() => router.candidates(sdkOnly, 'c1'), (err: Error & { code?: string }) => err.code === 'no_backend' && /claude_sdk: switched off/.test(err.message));
  });

  it('skips a backend standing down after a failed start of the node while others remain, for every chat', () => {
    const { router } = setup();
    router.failed('claude_sdk', startError('node'), 'c1');
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_pty']);
    assert.deepEqual(kinds(router.candidates(both, 'c2')), ['claude_pty'], 'a failure of the node stands it down for every chat');
    router.started('claude_sdk', 'c3');
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_sdk', 'claude_pty'], 'a start that works ends it');
  });

  it("stands a backend down for one chat alone after a failure of the chat's own", () => {
    const { router } = setup();
    router.failed('claude_sdk', startError('session'), 'c1');
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_pty']);
    assert.deepEqual(kinds(router.candidates(both, 'c2')), ['claude_sdk', 'claude_pty']);
  });

  it('tries the last backend anyway when every one stands down, rather than none', () => {
    const { router } = setup([both, ptyFirst]);
    router.failed('claude_sdk', startError('node'), 'c1');
    router.failed('claude_pty', startError('node'), 'c1');
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_pty']);
    assert.deepEqual(kinds(router.candidates(ptyFirst, 'c1')), ['claude_sdk']);
    assert.deepEqual(kinds(router.candidates(sdkOnly, 'c1')), ['claude_sdk'], 'an agent with one backend gets it, down or not');
  });

  it('does not stand a backend down when the retry window is nil', () => {
    const { router } = setup([both], 0);
    router.failed('claude_sdk', startError('node'), 'c1');
    assert.deepEqual(kinds(router.candidates(both, 'c1')), ['claude_sdk', 'claude_pty']);
  });

  it('gives a backend asked for by name, standing down or not, and refuses one that cannot take the message', () => {
    const { router, sdk } = setup();
    router.failed('claude_sdk', startError('node'), 'c1');
    assert.deepEqual(kinds(router.candidates(both, 'c1', 'claude_sdk')), ['claude_sdk'], 'asked for, it is tried');
    assert.throws(() => router.candidates(sdkOnly, 'c1', 'claude_pty'), { status: 400, code: 'backend_mismatch' });
    sdk.unavailableReason = 'its library does not load';
    assert.throws(() => router.candidates(both, 'c1', 'claude_sdk'), (err: Error & { status?: number; code?: string }) =>
      err.status === 400 && err.code === 'backend_unavailable' && /its library does not load/.test(err.message));
    const lone = new Router(new Map<BackendKind, AgentDriver>([['claude_sdk', sdk]]), 60_000, () => [both]);
    sdk.unavailableReason = null;
    assert.throws(() => lone.candidates(both, 'c1', 'claude_pty'), { code: 'backend_unavailable' });
  });

  it("reports each backend's health and why one stands down on the node", () => {
    const { router } = setup([sdkOnly]);
    assert.deepEqual(router.health(), { claude_sdk: 'up', claude_pty: 'down' }, 'a backend no installed agent uses is down');
    assert.deepEqual(router.errors(), {});

    router.failed('claude_sdk', startError('session', 'no such conversation'), 'c1');
    assert.deepEqual(router.health(), { claude_sdk: 'up', claude_pty: 'down' }, "a chat's own failure leaves the node up");
    assert.deepEqual(router.errors(), {});

    router.failed('claude_sdk', startError('node', 'cannot execute /nowhere/claude'), 'c1');
    assert.deepEqual(router.health(), { claude_sdk: 'down', claude_pty: 'down' });
    assert.deepEqual(router.errors(), { claude_sdk: 'cannot execute /nowhere/claude' });

    router.started('claude_sdk', 'c2');
    assert.deepEqual(router.health(), { claude_sdk: 'up', claude_pty: 'down' });
    assert.deepEqual(router.errors(), {});

    const { router: used, pty: off } = setup([both]);
    off.unavailableReason = 'switched off';
    assert.deepEqual(used.health(), { claude_sdk: 'up', claude_pty: 'down' }, 'a backend the node cannot use is down');
  });
});
