// The start gate's rules on plain promises: the bound, arrival order, urgent starts first,
// a cancelled start leaving the queue, and a failed start giving its place back.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StartCancelled, StartGate } from '../../src/runtime/sessions/start-gate.js';

/** A start the test finishes when it says, noting when it began. */
function held(log: string[], name: string) {
  let finish: (ok: boolean) => void = () => {};
  const done = new Promise<boolean>((resolve) => (finish = resolve));
  return {
    start: async () => {
      log.push(`start ${name}`);
      if (!(await done)) throw new Error(`${name} failed`);
      return name;
    },
    finish,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the start gate', () => {
  it('runs at most its limit at once and the rest in arrival order', async () => {
    const gate = new StartGate(2);
    const log: string[] = [];
    const starts = ['a', 'b', 'c', 'd', 'e'].map((n) => held(log, n));
    const results = starts.map((s) => gate.run(s.start));
    await tick();
    assert.deepEqual(log, ['start a', 'start b']);
    assert.deepEqual(gate.counts, { running: 2, waiting: 3 });
    starts[1]!.finish(true);
    await tick();
    assert.deepEqual(log, ['start a', 'start b', 'start c']);
    starts[0]!.finish(true);
    starts[2]!.finish(true);
    await tick();
    assert.deepEqual(log, ['start a', 'start b', 'start c', 'start d', 'start e']);
    starts[3]!.finish(true);
    starts[4]!.finish(true);
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(gate.counts, { running: 0, waiting: 0 });
  });

  it('lets an urgent start pass those that are not, asking again at each free place', async () => {
    const gate = new StartGate(1);
    const log: string[] = [];
    const first = held(log, 'first');
    const lazy = held(log, 'lazy');
    const turn = held(log, 'turn');
    let lazyUrgent = false;
    const later = held(log, 'later');
    const running = [
      gate.run(first.start),
      gate.run(lazy.start, { urgent: () => lazyUrgent }),
      gate.run(later.start, { urgent: () => false }),
      gate.run(turn.start),
    ];
    await tick();
    first.finish(true);
    await tick();
    assert.deepEqual(log, ['start first', 'start turn'], 'the urgent start goes before the two that came first');
    // Someone comes to wait for the lazy one: it is urgent now, and goes before the later one.
    lazyUrgent = true;
    turn.finish(true);
    await tick();
    assert.deepEqual(log, ['start first', 'start turn', 'start lazy']);
    lazy.finish(true);
    await tick();
    later.finish(true);
    assert.deepEqual(await Promise.all(running), ['first', 'lazy', 'later', 'turn']);
  });

  it('takes a cancelled start out of the queue without running it, and one cancelled before it came never queues', async () => {
    const gate = new StartGate(1);
    const log: string[] = [];
    const first = held(log, 'first');
    const dropped = held(log, 'dropped');
    const next = held(log, 'next');
    const controller = new AbortController();
    const running = gate.run(first.start);
    const cancelled = gate.run(dropped.start, { signal: controller.signal });
    const after = gate.run(next.start);
    await tick();
    assert.equal(gate.counts.waiting, 2);
    controller.abort();
    await assert.rejects(cancelled, StartCancelled);
    assert.equal(gate.counts.waiting, 1, 'the cancelled start left the queue');
    await assert.rejects(gate.run(dropped.start, { signal: controller.signal }), StartCancelled);
    first.finish(true);
    await tick();
    next.finish(true);
    assert.deepEqual([await running, await after], ['first', 'next']);
    assert.deepEqual(log, ['start first', 'start next'], 'the cancelled start never ran');
  });

  it('gives the place of a start that fails to the next', async () => {
    const gate = new StartGate(1);
    const log: string[] = [];
    const failing = held(log, 'failing');
    const next = held(log, 'next');
    const failed = gate.run(failing.start);
    const after = gate.run(next.start);
    await tick();
    failing.finish(false);
    await assert.rejects(failed, /failing failed/);
    await tick();
    assert.deepEqual(log, ['start failing', 'start next']);
    next.finish(true);
    assert.equal(await after, 'next');
    assert.deepEqual(gate.counts, { running: 0, waiting: 0 });
  });

  it('refuses a limit below one', () => {
    assert.throws(() => new StartGate(0), RangeError);
  });
});
