// Messages that arrive together: the queue bound holds for a burst of simultaneous
// POSTs, and a message racing its chat's DELETE is either accepted and seen to its end
// or refused with a clear error, never accepted and then lost.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeConfig } from '../../src/runtime/hearth-runtime.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { apiSuite } from '../fixtures/api-suite.js';

const TOKEN = 'races-token-0123456789';
const LIMIT = { timeout: 120_000 };
const suite = apiSuite('races', TOKEN);
const serve = (runtime: Partial<RuntimeConfig>) => suite.serve({ runtime });

describe('the queue bound', () => {
  it('admits one running and maxQueued waiting of 200 simultaneous messages, and stores only those', LIMIT, async () => {
    const { client } = await serve({ maxQueued: 5 });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    // The first turn to run holds its place until the test stops it.
    suite.fake.enqueue({ kind: 'stall', chunks: ['holding'] });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.request('POST', `/api/chats/${chat.id}/messages`, { text: `burst ${i}` })),
    );
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(byStatus), { 202: 6, 409: 194 }, JSON.stringify(answers.find((a) => a.status !== 202 && a.status !== 409)));
    assert.ok(answers.filter((a) => a.status === 409).every((a) => a.body.error.code === 'queue_full'));
    const [row] = await suite.db.sql<{ count: string }[]>`
      SELECT count(*) FROM messages WHERE chat_id = ${chat.id} AND role = 'user'`;
    assert.equal(Number(row!.count), 6, 'only the admitted messages are stored');

    assert.deepEqual((await client.request('POST', `/api/chats/${chat.id}/abort`)).body, { stopped: 6 });
  });
});

describe('a message racing its chat’s deletion', () => {
  it('is accepted and ended before the chat goes, or refused with chat_deleting or chat_not_found', LIMIT, async () => {
    const { client } = await serve({ maxQueued: 1000 });
    const chat = (await client.request('POST', '/api/chats', { repoPath: suite.repo })).body;
    // A running turn makes the delete stop something before the worktree goes.
    suite.fake.enqueue({ kind: 'stall', chunks: ['busy'] });
    const first = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'the first' });
    assert.equal(first.status, 202);
    const ended = new Set<string>();
    const following = new AbortController();
    const stream = client.follow(
      chat.id,
      (e) => {
        if (e.event === 'turn_end') ended.add(String(e.data.turnId));
        return false;
      },
      { after: 0, timeoutMs: 100_000, signal: following.signal },
    );

    const accepted: string[] = [first.body.turnId];
    const refused: string[] = [];
    let gone = false;
    const sender = async () => {
      for (let i = 0; !gone; i++) {
        const res = await client.request('POST', `/api/chats/${chat.id}/messages`, { text: `racing ${i}` });
        if (res.status === 202) accepted.push(res.body.turnId);
        else if (res.status === 409 && res.body.error.code === 'chat_deleting') refused.push('chat_deleting');
        else if (res.status === 404 && res.body.error.code === 'chat_not_found') gone = true;
        else assert.fail(`unexpected answer ${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    try {
      const senders = Array.from({ length: 4 }, sender);
      // Let the senders get a few messages in before the delete starts.
      await waitUntil('some messages accepted', () => accepted.length >= 5, 30_000);
      const deleted = await client.request('DELETE', `/api/chats/${chat.id}`);
      assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
      await Promise.all(senders);
      // Every accepted message's turn was ended, visibly, before its chat went.
      await waitUntil(
        `a turn_end for each of the ${accepted.length} accepted messages (${ended.size} seen)`,
        () => accepted.every((id) => ended.has(id)),
        20_000,
      );
    } finally {
      following.abort();
      await stream;
    }
    assert.ok(refused.length > 0, 'some messages arrived while the delete ran and were refused');
    assert.equal((await client.request('POST', `/api/chats/${chat.id}/messages`, { text: 'too late' })).status, 404);
  });
});
