import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPushable, PushableClosedError } from '../../src/util/pushable.js';

async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const step = await it.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

describe('createPushable', () => {
  it('keeps values pushed before anyone reads, in order', async () => {
    const p = createPushable<number>();
    for (let i = 0; i < 5; i++) p.push(i);
    assert.equal(p.pending, 5);
    assert.deepEqual(await take(p.iterable[Symbol.asyncIterator](), 5), [0, 1, 2, 3, 4]);
    assert.equal(p.pending, 0);
  });

  it('makes a read before any push wait for the push', async () => {
    const p = createPushable<string>();
    const it = p.iterable[Symbol.asyncIterator]();
    let settled = false;
    const pending = it.next().then((s) => ((settled = true), s));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false, 'still waiting');
    p.push('late');
    assert.deepEqual(await pending, { done: false, value: 'late' });
  });

  it('interleaves pushes and reads across turns without losing or reordering', async () => {
    const p = createPushable<number>();
    const it = p.iterable[Symbol.asyncIterator]();
    const got: number[] = [];
    for (let turn = 0; turn < 3; turn++) {
      const next = it.next();
      p.push(turn * 10);
      p.push(turn * 10 + 1);
      got.push((await next).value as number, (await it.next()).value as number);
    }
    assert.deepEqual(got, [0, 1, 10, 11, 20, 21]);
  });

  it('ends after close once the buffer is drained, and wakes a waiting reader', async () => {
    const p = createPushable<number>();
    p.push(1);
    p.close();
    assert.equal(p.closed, true);
    const it = p.iterable[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: 1 });
    assert.equal((await it.next()).done, true);

    const q = createPushable<number>();
    const waiting = q.iterable[Symbol.asyncIterator]().next();
    q.close();
    assert.equal((await waiting).done, true);
  });

  it('refuses a push after close', () => {
    const p = createPushable<number>();
    p.close();
    assert.throws(() => p.push(1), PushableClosedError);
  });
});
