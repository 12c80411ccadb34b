import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SdkHealth } from '../../src/runtime/sdk-health.js';

describe('SdkHealth', () => {
  it('stands the SDK path down for the retry window after a failed start, then lets it be tried again', () => {
    let now = 1_000;
    const health = new SdkHealth(60_000, () => now);
    assert.equal(health.down(), false);
    assert.equal(health.error(), null);

    health.failed(new Error('cannot execute /nowhere/claude'));
    assert.equal(health.down(), true);
    assert.equal(health.error(), 'cannot execute /nowhere/claude');
    now += 59_999;
    assert.equal(health.down(), true);
    now += 1;
    assert.equal(health.down(), false, 'tried again once the window has passed');
    assert.equal(health.error(), null);

    health.failed(new Error('again'));
    health.started();
    assert.equal(health.down(), false, 'a start that works ends the stand-down at once');
  });
});
