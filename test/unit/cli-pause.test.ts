// The CLI's wait between reconnects: many waits on one signal leave no listener behind.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { pause } from '../../src/cli/api-client.js';

describe('pause', () => {
  it('removes its abort listener when it ends, and still rejects on abort', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) await pause(1, controller.signal);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    const waiting = pause(60_000, controller.signal);
    controller.abort(new Error('stopped'));
    await assert.rejects(waiting, /stopped/);
  });
});
