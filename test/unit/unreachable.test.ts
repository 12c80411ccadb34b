// Which database errors are worth waiting out, and how a write waits for them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { isDatabaseUnreachable, whileUnreachable } from '../../src/db/unreachable.js';

const log = pino({ level: 'silent' });
const gone = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('isDatabaseUnreachable', () => {
  it('knows a refused or lost connection and a server shutting down, and nothing else', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', '57P01', '57P03', '08006']) {
      assert.equal(isDatabaseUnreachable({ code }), true, code);
    }
    for (const code of ['23505', '42P01', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', undefined]) {
      assert.equal(isDatabaseUnreachable({ code }), false, String(code));
    }
    assert.equal(isDatabaseUnreachable(null), false);
  });
});

describe('whileUnreachable', () => {
  it('tries again until the database answers', async () => {
    let calls = 0;
    const result = await whileUnreachable(
      async () => {
        if (++calls < 3) throw gone();
        return 'written';
      },
      { log, what: 'a test write', giveUpAfterMs: 10_000 },
    );
    assert.equal(result, 'written');
    assert.equal(calls, 3);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    const refused = Object.assign(new Error('duplicate key'), { code: '23505' });
    await assert.rejects(
      whileUnreachable(async () => {
        calls++;
        throw refused;
      }, { log, what: 'a test write', giveUpAfterMs: 10_000 }),
      (err) => err === refused,
    );
    assert.equal(calls, 1);
  });

  it('gives up with the database’s error after its time', async () => {
    const started = Date.now();
    await assert.rejects(
      whileUnreachable(async () => {
        throw gone();
      }, { log, what: 'a test write', giveUpAfterMs: 300 }),
      /ECONNREFUSED/,
    );
    assert.ok(Date.now() - started < 5_000);
  });

  it('still tries once after a shutdown began, and does not wait after that', async () => {
    const closing = new AbortController();
    closing.abort();
    let calls = 0;
    assert.equal(await whileUnreachable(async () => ++calls, { log, what: 'a test write', giveUpAfterMs: 10_000, signal: closing.signal }), 1);
    await assert.rejects(
      whileUnreachable(async () => {
        calls++;
        throw gone();
      }, { log, what: 'a test write', giveUpAfterMs: 10_000, signal: closing.signal }),
      /ECONNREFUSED/,
    );
    assert.equal(calls, 2);
  });
});
