import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { closeInOrder } from '../../src/cli/serve.js';

describe('closeInOrder (what shutting down runs)', () => {
  it('runs every step in order, leaving one that hangs or fails behind, within about the time given', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
    const ran: string[] = [];
    let abandoned = false;
    const startedAt = performance.now();
    await closeInOrder(
      [
        { what: 'a server that never closes', close: () => (ran.push('hang'), new Promise(() => {})), abandon: () => (abandoned = true) },
        { what: 'a step that fails', close: async () => (ran.push('fail'), Promise.reject(new Error('no'))) },
        { what: 'the database', close: async () => void ran.push('database') },
      ],
      1_500,
      log,
    );
    const took = performance.now() - startedAt;
    assert.deepEqual(ran, ['hang', 'fail', 'database'], 'the database is closed whatever came before');
    assert.equal(abandoned, true);
    assert.ok(took >= 1_400 && took < 10_000, `took ${took.toFixed(0)} ms`);
    assert.ok(lines.includes('shutting down: a server that never closes did not close; going on without it'), lines.join('\n'));
    assert.ok(lines.includes('shutting down: a step that fails did not close; going on without it'));
    assert.ok(lines.includes('shut down leaving some things unfinished'));
  });

  it('gives a step after one that used up the time a second of its own', async () => {
    const log = pino({ level: 'silent' });
    let closed = false;
    await closeInOrder(
      [
        { what: 'slow', close: () => new Promise(() => {}) },
        { what: 'the database', close: () => new Promise<void>((r) => setTimeout(() => ((closed = true), r()), 300)) },
      ],
      200,
      log,
    );
    assert.equal(closed, true);
  });
});
