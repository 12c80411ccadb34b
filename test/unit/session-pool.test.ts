// The pool's own rules, on scripted sessions: one per (chat, agent), which one goes when,
// never one that is held or still opening, and nothing left open once the pool closes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { AgentStartError } from '../../src/agents/contract/errors.js';
import type { BackendKind } from '../../src/api/views.js';
import { SessionPool, type SessionPoolOptions } from '../../src/runtime/sessions/session-pool.js';
import { gate, ScriptedDriver, type ScriptedSession } from '../fixtures/scripted-driver.js';

const log = pino({ level: 'silent' });

function setup(options: Partial<SessionPoolOptions> = {}) {
  const closed: string[] = [];
  const pool = new SessionPool({ maxWarm: 4, idleMs: 60_000, log, onClosed: (chatId, agent) => void closed.push(`${chatId}/${agent}`), ...options });
  const drivers = { claude_sdk: new ScriptedDriver({ backend: 'claude_sdk' }), claude_pty: new ScriptedDriver({ backend: 'claude_pty' }), warm_acp: new ScriptedDriver({ backend: 'warm_acp' }), opencode_server: new ScriptedDriver({ backend: 'opencode_server' }) };
  const open = (chatId: string, agent = 'claude', backend: BackendKind = 'claude_sdk') => () =>
    drivers[backend].open(
      { chatId, agent, installPath: '/bin/true', worktreePath: '/tmp', model: null, permissionMode: null, resume: null },
      { resumeToken: () => {} },
    );
  const lease = (chatId: string, agent = 'claude', backend: BackendKind = 'claude_sdk') =>
    pool.lease(chatId, agent, backend, open(chatId, agent, backend));
  const all = () => [...drivers.claude_sdk.sessions, ...drivers.claude_pty.sessions];
  /** Every session ever opened has been closed, each exactly once. */
  const allClosedOnce = () =>
    assert.deepEqual(
      all().map((s) => [s.name, s.closeCalls]),
      all().map((s) => [s.name, 1]),
    );
  return { pool, drivers, lease, closed, all, allClosedOnce };
}

const sessionOf = (lease: { session: unknown }) => lease.session as ScriptedSession;

describe('SessionPool', () => {
  it('keeps one session per (chat, agent) and hands the same one out again', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup();
    const a = await lease('c1');
    a.release();
    const again = await lease('c1');
    assert.equal(again.session, a.session);
    const other = await lease('c1', 'codex');
    assert.notEqual(other.session, a.session);
    assert.equal(pool.size, 2);
    assert.equal(drivers.claude_sdk.opens.length, 2);
    await pool.close();
    allClosedOnce();
  });

  it('gives two leases of one (chat, agent) taken at once one session, opened once', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup();
    const [first, second] = await Promise.all([lease('c1'), lease('c1')]);
    assert.equal(first.session, second.session);
    assert.equal(drivers.claude_sdk.opens.length, 1);
    await pool.close();
    allClosedOnce();
  });

  it('evicts the least recently used session nobody holds when full', async () => {
    const { pool, lease, closed } = setup({ maxWarm: 2 });
    const a = await lease('a');
    a.release();
    const b = await lease('b');
    b.release();
    (await lease('a')).release(); // a is now the most recent
    const c = await lease('c');
    assert.equal(sessionOf(b).closeCalls, 1, 'b was least recently used');
    assert.equal(sessionOf(a).closeCalls, 0);
    assert.equal(pool.evictions, 1);
    assert.deepEqual(closed, ['b/claude']);
    c.release();
    await pool.close();
  });

  it('never evicts a leased session: the pool grows past maxWarm while all are held', async () => {
    const { pool, lease, allClosedOnce } = setup({ maxWarm: 1 });
    const a = await lease('a');
    const b = await lease('b');
    assert.equal(sessionOf(a).closeCalls, 0);
    assert.equal(pool.size, 2);
    a.release();
    b.release();
    await pool.close();
    allClosedOnce();
  });

  it('never evicts a session still opening: with maxWarm 1, a lease meanwhile loses nothing, and close() closes every session ever opened once', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup({ maxWarm: 1 });
    const slow = gate();
    drivers.claude_sdk.nextOpen({ until: slow.promise });
    const a = lease('A');
    await drivers.claude_sdk.until(() => drivers.claude_sdk.opens.length === 1);
    const b = await lease('B');
    assert.equal(pool.size, 2, 'A is opening, so B cannot make room by evicting it');
    slow.open();
    const aLease = await a;
    assert.equal(sessionOf(aLease).closeCalls, 0, 'A came up and is still pooled');
    assert.deepEqual(pool.sessions().map((s) => s.chatId).sort(), ['A', 'B']);
    // Once both are given back, the next lease makes room as usual.
    aLease.release();
    b.release();
    const c = await lease('C');
    assert.equal(sessionOf(aLease).closeCalls, 1, 'A, least recently used, made room');
    c.release();
    await pool.close();
    assert.equal(drivers.claude_sdk.sessions.length, 3);
    allClosedOnce();
    assert.deepEqual(drivers.claude_sdk.openSessions(), []);
  });

  it('closes a session that is still opening when the pool closes, once it has opened', async () => {
    const { pool, drivers, lease, allClosedOnce, closed } = setup();
    const slow = gate();
    drivers.claude_sdk.nextOpen({ until: slow.promise });
    const leasing = lease('A');
    await drivers.claude_sdk.until(() => drivers.claude_sdk.opens.length === 1);
    const closing = pool.close();
    slow.open();
    const held = await leasing;
    await closing;
    assert.equal(held.session.state(), 'closed', 'its holder finds it closed');
    allClosedOnce();
    assert.deepEqual(closed, ['A/claude']);
    assert.equal(pool.size, 0);
  });

  it('opens nothing for a lease that was making room when the pool closed', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup({ maxWarm: 1 });
    (await lease('old')).release();
    const leasing = lease('new'); // evicts `old` first: the pool closes meanwhile
    const closing = pool.close();
    await assert.rejects(leasing, { code: 'shutting_down' });
    await closing;
    assert.equal(drivers.claude_sdk.opens.length, 1, 'the lease after close opened nothing');
    allClosedOnce();
  });

  it('pools nothing when an open fails, and the next lease opens again', async () => {
    const { pool, drivers, lease, closed } = setup();
    drivers.claude_sdk.nextOpen({ fails: 'node', message: 'no such executable' });
    await assert.rejects(lease('A'), (err: unknown) => err instanceof AgentStartError && /no such executable/.test(err.message));
    assert.equal(pool.size, 0);
    assert.equal(pool.backendOf('A', 'claude'), null);
    const next = await lease('A');
    assert.equal(drivers.claude_sdk.opens.length, 2);
    assert.equal(next.session.state(), 'idle');
    next.release();
    await pool.close();
    assert.deepEqual(closed, ['A/claude'], 'the failed open had nothing to close');
  });

  it('closes only sessions nobody holds that have been idle past the timeout', async () => {
    const { pool, lease } = setup({ maxWarm: 10, idleMs: 1_000 });
    const old = await lease('old');
    old.release();
    const working = await lease('working');
    const fresh = await lease('fresh');
    fresh.release();
    await pool.sweepIdle(Date.now() + 500);
    assert.deepEqual([old, working, fresh].map((l) => sessionOf(l).closeCalls), [0, 0, 0], 'nothing idle long enough yet');
    await pool.sweepIdle(Date.now() + 1_500);
    assert.deepEqual([old, working, fresh].map((l) => sessionOf(l).closeCalls), [1, 0, 1], 'the idle ones go, the held one stays');
    assert.equal(pool.size, 1);
    working.release();
    await pool.close();
    assert.equal(sessionOf(working).closeCalls, 1, 'close closes everything');
  });

  it('replaces a session that has closed on the next lease', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup();
    drivers.claude_sdk.onPrompt('die', { ends: true, result: { ok: false, code: 'crashed', error: 'gone', usage: null } });
    const first = await lease('A');
    await first.session.prompt('die', { signal: new AbortController().signal, emit: () => {}, requestPermission: async () => ({ outcome: 'cancelled', message: '' }) });
    first.release();
    assert.equal(first.session.state(), 'closed');
    const second = await lease('A');
    assert.notEqual(second.session, first.session);
    assert.equal(sessionOf(first).closeCalls, 1, 'the dead one was closed all the same');
    second.release();
    await pool.close();
    allClosedOnce();
  });

  it('replaces the pooled session when a lease asks for another backend', async () => {
    const { pool, drivers, lease, allClosedOnce } = setup();
    const sdk = await lease('A', 'claude', 'claude_sdk');
    sdk.release();
    const pty = await lease('A', 'claude', 'claude_pty');
    assert.equal(sessionOf(sdk).closeCalls, 1);
    assert.equal(pty.session.backend, 'claude_pty');
    assert.equal(pool.backendOf('A', 'claude'), 'claude_pty');
    assert.equal(pool.size, 1);
    pty.release();
    await pool.close();
    assert.equal(drivers.claude_pty.sessions.length, 1);
    allClosedOnce();
  });

  it('counts a lease given back twice once', async () => {
    const { pool, lease } = setup({ maxWarm: 1 });
    const one = await lease('A');
    const two = await lease('A');
    one.release();
    one.release();
    const b = await lease('B');
    assert.equal(sessionOf(one).closeCalls, 0, 'A is still held by the second lease, so it is not evicted');
    two.release();
    two.release();
    b.release();
    const c = await lease('C');
    assert.equal(sessionOf(one).closeCalls, 1, 'given back by both, A can make room');
    c.release();
    await pool.close();
  });

  it('tells onClosed of every session it closes, after it has closed', async () => {
    const seen: Array<[string, string, number]> = [];
    let sessions: ScriptedSession[] = [];
    const { pool, drivers, lease } = setup({
      onClosed: (chatId, agent) => void seen.push([chatId, agent, sessions.find((s) => s.spec.chatId === chatId && s.spec.agent === agent)!.closeCalls]),
    });
    sessions = drivers.claude_sdk.sessions;
    (await lease('A')).release();
    (await lease('B', 'codex')).release();
    await pool.remove('A', 'claude');
    await pool.close();
    assert.deepEqual(seen, [
      ['A', 'claude', 1],
      ['B', 'codex', 1],
    ]);
  });
});

describe('SessionPool under a memory cap', () => {
  const MB = 1024 * 1024;
  /** A pool whose sessions weigh what `sizes` says, by chat; a chat not in it cannot be measured. */
  function capped(maxMemory: number, options: Partial<SessionPoolOptions> = {}) {
    const sizes = new Map<string, number>();
    let measures = 0;
    const memoryOf = (sessions: readonly unknown[]) => {
      measures++;
      return sessions.map((s) => sizes.get((s as ScriptedSession).spec.chatId) ?? null);
    };
    return { ...setup({ maxWarm: 10, maxMemory, memoryOf, ...options }), sizes, measures: () => measures };
  }
  /** Lets a fit started by a release run to its end (scripted sessions close without I/O). */
  const settled = () => new Promise((r) => setImmediate(r));

  it('closes the least recently used sessions nobody holds until the rest fit, when a session is to open', async () => {
    const { pool, lease, sizes, closed } = capped(250 * MB);
    for (const chat of ['a', 'b', 'c']) sizes.set(chat, 100 * MB);
    (await lease('a')).release();
    (await lease('b')).release();
    (await lease('a')).release(); // a is now the most recent
    await settled();
    assert.deepEqual(closed, [], 'two sessions fit');
    const c = await lease('c');
    assert.deepEqual(closed, [], 'opening c: a and b (200 MB) still fit, and c is not measured before it opens');
    c.release();
    await settled();
    assert.deepEqual(closed, ['b/claude'], 'with c, 300 MB: b, least recently used, goes');
    assert.deepEqual(pool.sessions().map((s) => s.chatId).sort(), ['a', 'c']);
    assert.equal(pool.evictions, 1);
    await pool.close();
  });

  it('makes room after a turn that grew a session, keeping the session used last even when it alone is over', async () => {
    const { pool, lease, sizes, closed } = capped(250 * MB);
    sizes.set('a', 100 * MB).set('b', 100 * MB).set('c', 100 * MB);
    (await lease('a')).release();
    (await lease('b')).release();
    const c = await lease('c');
    sizes.set('c', 400 * MB); // its turn started tools that are still running
    c.release();
    await settled();
    assert.deepEqual(closed, ['a/claude', 'b/claude'], 'least recently used first, until only c is left');
    assert.deepEqual(pool.sessions().map((s) => s.chatId), ['c']);
    await pool.sweepIdle();
    assert.equal(pool.size, 1, 'the sweep keeps the session used last too');
    await pool.close();
  });

  it('never closes a leased session, or one still opening, whatever it weighs', async () => {
    const { pool, drivers, lease, sizes, closed } = capped(50 * MB);
    sizes.set('held', 500 * MB).set('opening', 500 * MB).set('idle', 100 * MB).set('new', 10 * MB);
    const held = await lease('held');
    const slow = gate();
    drivers.claude_sdk.nextOpen({ until: slow.promise });
    const opening = lease('opening');
    await drivers.claude_sdk.until(() => drivers.claude_sdk.opens.length === 2);
    (await lease('idle')).release();
    await settled();
    assert.deepEqual(closed, [], 'idle is the only session nobody holds, and it was used last');
    const fresh = await lease('new');
    assert.deepEqual(closed, ['idle/claude'], 'opening another: only the idle one can go');
    assert.equal(sessionOf(held).closeCalls, 0);
    slow.open();
    const opened = await opening;
    assert.equal(sessionOf(opened).closeCalls, 0, 'the one that was opening came up pooled');
    held.release();
    await settled();
    assert.deepEqual(closed, ['idle/claude'], 'held, just given back, is the session used last');
    opened.release();
    await settled();
    assert.deepEqual(closed, ['idle/claude', 'held/claude'], 'given back after it, opening takes its place as the one kept');
    fresh.release();
    await settled();
    assert.deepEqual(closed, ['idle/claude', 'held/claude', 'opening/claude']);
    assert.deepEqual(pool.sessions().map((s) => s.chatId), ['new']);
    await pool.close();
  });

  it('still caps the count: a small pool evicts by count with memory to spare', async () => {
    const { pool, lease, sizes, closed } = capped(1024 * MB, { maxWarm: 2 });
    for (const chat of ['a', 'b', 'c']) sizes.set(chat, 10 * MB);
    (await lease('a')).release();
    (await lease('b')).release();
    (await lease('c')).release();
    await settled();
    assert.deepEqual(closed, ['a/claude']);
    assert.equal(pool.size, 2);
    await pool.close();
  });

  it('reports each session it can measure, and measures only when a session could be closed', async () => {
    const { pool, lease, sizes, measures } = capped(1024 * MB);
    sizes.set('a', 30 * MB);
    const a = await lease('a');
    a.release();
    await settled();
    assert.equal(measures(), 0, 'one session, the one used last: nothing to measure for');
    (await lease('gone')).release(); // its process ended: it cannot be measured
    await settled();
    assert.equal(measures(), 2, 'opening gone and giving it back, with a idle beside it');
    assert.deepEqual(pool.memory(), [{ chatId: 'a', agent: 'claude', backend: 'claude_sdk', bytes: 30 * MB }]);
    await pool.close();
    assert.deepEqual(pool.memory(), []);
  });

  it('takes a measure that throws for none: leases go on and the report is empty', async () => {
    const { pool, lease } = setup({
      maxWarm: 10,
      maxMemory: 1,
      memoryOf: () => {
        throw new Error('no /proc here');
      },
    });
    (await lease('a')).release();
    const b = await lease('b');
    b.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(pool.size, 2);
    assert.deepEqual(pool.memory(), []);
    await pool.close();
  });

  it('measures the process tree of each session by default', async () => {
    const { pool, lease } = setup({ maxWarm: 10 });
    const a = await lease('a');
    (sessionOf(a) as unknown as { pid(): number }).pid = () => process.pid;
    (await lease('b')).release(); // a scripted session has no process: left out
    const [own] = pool.memory();
    assert.equal(own?.chatId, 'a');
    assert.ok(own!.bytes > 10 * MB, `${own!.bytes} bytes for this test's own process tree`);
    a.release();
    await pool.close();
  });
});
