// What the server writes to its log about requests.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { buildApp } from '../../src/http/app.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
before(async () => {
  db = await testSchema('reqlog');
});
after(async () => {
  await db.drop();
});

describe('request logging', () => {
  it('never writes a token passed in the query string, and still logs the request', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const app = await buildApp({ sql: db.sql, databaseKind: 'external', logger: log });
    try {
      const res = await app.inject({ method: 'GET', url: '/health?after=3&token=very-secret-token&x=1' });
      assert.equal(res.statusCode, 200);
      const escaped = await app.inject({ method: 'GET', url: '/health?%74oken=escaped-secret-token' });
      assert.equal(escaped.statusCode, 200);
    } finally {
      await app.close();
    }
    const text = lines.join('');
    assert.ok(!text.includes('very-secret-token'), 'the token is not in the log');
    assert.ok(!text.includes('escaped-secret-token'), 'nor a token whose name was escaped');
    assert.match(text, /"url":"\/health\?after=3&token=\[redacted\]&x=1"/);
  });

  it('writes request lines at debug only, so an idle browser tab does not fill the log', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const app = await buildApp({ sql: db.sql, databaseKind: 'external', logger: log });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    } finally {
      await app.close();
    }
    assert.deepEqual(lines, []);
  });
});
