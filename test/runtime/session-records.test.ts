// The agent_sessions row's running totals for an agent that reports no cost beside one
// that does: unknown stays unknown, and a reported cost is added from zero.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SessionRecords } from '../../src/runtime/sessions/session-records.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
let records: SessionRecords;
before(async () => {
  db = await testSchema('session_records');
  records = new SessionRecords({ sql: db.sql, log: pino({ level: 'silent' }) });
});
after(async () => {
  await db.drop();
});

const usage = (costUsd: number | null) => ({ inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd });

async function costOf(chatId: string, agent: string): Promise<string | null> {
  const [row] = await db.sql<{ cost: string | null }[]>`SELECT cost::text AS cost FROM agent_sessions WHERE chat_id = ${chatId} AND agent = ${agent}`;
  return row!.cost;
}

describe('session records', () => {
  it('keep the cost unknown for an agent that reports none, and add up one that does from zero', async () => {
    const [chat] = await db.sql<{ id: string }[]>`INSERT INTO chats (repo_path) VALUES ('/nowhere') RETURNING id`;
    const chatId = chat!.id;
    await records.opened({ chatId, agent: 'codex', backend: 'warm_acp', worktreeId: null, token: 's1' });
    await records.opened({ chatId, agent: 'claude', backend: 'claude_sdk', worktreeId: null, token: 's2' });
    assert.equal(await costOf(chatId, 'codex'), null, 'no turn yet: unknown');

    await records.endTurn(chatId, 'codex', usage(null), 'idle');
    await records.endTurn(chatId, 'codex', null, 'idle');
    assert.equal(await costOf(chatId, 'codex'), null, 'an agent that reports no cost is not free');

    await records.endTurn(chatId, 'claude', usage(0.25), 'idle');
    await records.endTurn(chatId, 'claude', usage(null), 'idle');
    await records.endTurn(chatId, 'claude', usage(0.5), 'idle');
    assert.equal(Number(await costOf(chatId, 'claude')), 0.75);
    const [tokens] = await db.sql<{ input_tokens: string }[]>`SELECT input_tokens FROM agent_sessions WHERE chat_id = ${chatId} AND agent = 'codex'`;
    assert.equal(Number(tokens!.input_tokens), 10, 'tokens count whether or not the cost is known');
  });
});
