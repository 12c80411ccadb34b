// The pool's own rules, on stand-in backends: which one goes when, never a busy one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BackendPool } from '../../src/runtime/sessions/session-pool.js';
import type { AgentBackend } from '../../src/agents/contract/agent-backend.js';

class StandIn implements AgentBackend {
  readonly backend = 'claude_sdk' as const;
  busy = false;
  disposed = false;
  constructor(readonly name: string) {}
  health() {
    return 'up' as const;
  }
  isBusy() {
    return this.busy;
  }
  async ensureSession(): Promise<never> {
    throw new Error('not used');
  }
  async prompt(): Promise<never> {
    throw new Error('not used');
  }
  async closeSession() {}
  async dispose() {
    this.disposed = true;
  }
}

const log = pino({ level: 'silent' });

describe('BackendPool', () => {
  it('keeps one backend per (chat, agent)', async () => {
    const pool = new BackendPool({ maxWarm: 4, idleMs: 60_000, log });
    const a = await pool.acquire('c1', 'claude', () => new StandIn('a'));
    const again = await pool.acquire('c1', 'claude', () => new StandIn('other'));
    assert.equal(again, a);
    const b = await pool.acquire('c1', 'codex', () => new StandIn('b'));
    assert.notEqual(b, a);
    assert.equal(pool.size, 2);
  });

  it('evicts the least recently used idle backend when full, never a busy one', async () => {
    const pool = new BackendPool({ maxWarm: 2, idleMs: 60_000, log });
    const a = (await pool.acquire('a', 'claude', () => new StandIn('a'))) as StandIn;
    const b = (await pool.acquire('b', 'claude', () => new StandIn('b'))) as StandIn;
    await pool.acquire('a', 'claude', () => new StandIn('x')); // a is now the most recent
    await pool.acquire('c', 'claude', () => new StandIn('c'));
    assert.equal(b.disposed, true, 'b was least recently used');
    assert.equal(a.disposed, false);
    assert.equal(pool.evictions, 1);

    a.busy = true;
    const c = pool.backends().find((x) => (x as StandIn).name === 'c') as StandIn;
    c.busy = true;
    await pool.acquire('d', 'claude', () => new StandIn('d'));
    assert.equal(a.disposed, false, 'busy backends stay');
    assert.equal(c.disposed, false);
    assert.equal(pool.size, 3, 'over the cap while everything else is busy');
  });

  it('disposes backends idle past the timeout, never a busy one', async () => {
    const pool = new BackendPool({ maxWarm: 10, idleMs: 1_000, log });
    const old = (await pool.acquire('old', 'claude', () => new StandIn('old'))) as StandIn;
    const working = (await pool.acquire('working', 'claude', () => new StandIn('working'))) as StandIn;
    working.busy = true;
    const fresh = (await pool.acquire('fresh', 'claude', () => new StandIn('fresh'))) as StandIn;
    await pool.sweepIdle(Date.now() + 500);
    assert.deepEqual([old.disposed, working.disposed, fresh.disposed], [false, false, false], 'nothing idle long enough yet');
    await pool.sweepIdle(Date.now() + 1_500);
    assert.deepEqual([old.disposed, working.disposed, fresh.disposed], [true, false, true], 'idle ones go, the busy one stays');
    assert.equal(pool.size, 1);
    await pool.close();
    assert.equal(working.disposed, true, 'close disposes everything');
  });
});
