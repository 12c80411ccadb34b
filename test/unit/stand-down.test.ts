import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StandDown } from '../../src/runtime/routing/stand-down.js';

describe('StandDown', () => {
  it('stands the SDK path down for every chat for the retry window after a failure of the node’s, then lets it be tried again', () => {
    let now = 1_000;
    const health = new StandDown(60_000, () => now);
    assert.equal(health.down(), false);
    assert.equal(health.error(), null);

    health.failed(new Error('cannot execute /nowhere/claude'), 'chat-a', 'node');
    assert.equal(health.down(), true);
    assert.equal(health.down('chat-b'), true, 'every chat');
    assert.equal(health.error(), 'cannot execute /nowhere/claude');
    now += 59_999;
    assert.equal(health.down(), true);
    now += 1;
    assert.equal(health.down('chat-b'), false, 'tried again once the window has passed');
    assert.equal(health.error(), null);

    health.failed(new Error('again'), 'chat-a', 'node');
    health.started('chat-b');
    assert.equal(health.down('chat-a'), false, 'a start that works ends the stand-down at once');
  });

  it('stands the path down for one chat alone when its own session failed', () => {
    let now = 1_000;
    const health = new StandDown(60_000, () => now);
    health.failed(new Error('No conversation found with session ID: x'), 'chat-a', 'session');
    assert.equal(health.down('chat-a'), true);
    assert.equal(health.down('chat-b'), false);
    assert.equal(health.down(), false, 'the node is up');
    assert.equal(health.error(), null);
    health.started('chat-b');
    assert.equal(health.down('chat-a'), true, 'another chat working does not clear it');
    now += 60_000;
    assert.equal(health.down('chat-a'), false, 'tried again once the window has passed');
    health.failed(new Error('bad resume'), 'chat-a', 'session');
    health.started('chat-a');
    assert.equal(health.down('chat-a'), false);
  });

  it('takes three chats failing in a row, with no start working between, for a failure of the node’s', () => {
    let now = 1_000;
    const health = new StandDown(60_000, () => now);
    health.failed(new Error('one'), 'chat-a', 'session');
    health.failed(new Error('two'), 'chat-b', 'session');
    health.started('chat-c');
    now += 1;
    health.failed(new Error('three'), 'chat-d', 'session');
    health.failed(new Error('three again'), 'chat-d', 'session');
    assert.equal(health.down(), false, 'a start worked since the first two, and one chat counts once');
    health.failed(new Error('four'), 'chat-e', 'session');
    assert.equal(health.down(), false);
    health.failed(new Error('five'), 'chat-f', 'session');
    assert.equal(health.down(), true);
    assert.equal(health.down('chat-z'), true);
    assert.match(health.error()!, /failed to start for 3 chats in a row; the last said: five/);
  });
});
