import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  foldSessionSummary,
  InMemorySessionStore,
  type SessionKey,
  type SessionStoreEntry,
} from '@anthropic-ai/claude-agent-sdk';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { InvalidIdentifierError } from '../../src/db/errors.js';
import { connect } from '../../src/db/sql.js';
import { TEST_DATABASE_URL, testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
let store: PostgresSessionStore;
let n = 0;
/** A key no other test touches. */
const freshKey = (projectKey = 'proj'): SessionKey => ({ projectKey, sessionId: `session-${++n}` });

/** A transcript line shaped like the ones Claude Code writes. */
function userEntry(uuid: string, text: string, extra: Record<string, unknown> = {}): SessionStoreEntry {
  return {
    type: 'user',
    uuid,
    parentUuid: null,
    sessionId: 'ignored-by-store',
    timestamp: new Date(1_700_000_000_000 + n).toISOString(),
    cwd: '/repo',
    gitBranch: 'main',
    isSidechain: false,
    message: { role: 'user', content: text },
    ...extra,
  };
}

before(async () => {
  db = await testSchema('store');
  store = new PostgresSessionStore(db.sql);
});
after(async () => {
  await db.drop();
});

describe('PostgresSessionStore: the SessionStore contract', () => {
  it('returns null for a key that was never written', async () => {
    assert.equal(await store.load(freshKey()), null);
    assert.equal(await store.load({ ...freshKey(), subpath: 'subagents/agent-x' }), null);
  });

  it('loads what was appended, in append order, across batches', async () => {
    const key = freshKey();
    const a = [userEntry('u1', 'one'), { type: 'assistant', uuid: 'u2', message: { content: [{ type: 'text', text: 'two' }] } }];
    const b = [{ type: 'custom-title', customTitle: 'A title' }, userEntry('u3', 'three')];
    await store.append(key, a);
    await store.append(key, b);
    assert.deepEqual(await store.load(key), [...a, ...b]);
  });

  it('creates the key on an empty batch, as the reference store does', async () => {
    const key = freshKey();
    await store.append(key, []);
    assert.deepEqual(await store.load(key), []);
    assert.ok((await store.listSessions(key.projectKey)).some((s) => s.sessionId === key.sessionId));
  });

  it('keeps subagent transcripts apart from the main one and lists their subpaths', async () => {
    const key = freshKey();
    await store.append(key, [userEntry('m1', 'main')]);
    await store.append({ ...key, subpath: 'subagents/agent-b' }, [userEntry('s1', 'sub b')]);
    await store.append({ ...key, subpath: 'subagents/agent-a' }, [userEntry('s2', 'sub a')]);
    assert.deepEqual(await store.load(key), [userEntry('m1', 'main')]);
    assert.deepEqual(await store.load({ ...key, subpath: 'subagents/agent-a' }), [userEntry('s2', 'sub a')]);
    assert.deepEqual(await store.listSubkeys(key), ['subagents/agent-a', 'subagents/agent-b']);
    assert.deepEqual(await store.listSubkeys(freshKey()), []);
    // Subagent transcripts are not sessions of their own.
    const listed = (await store.listSessions(key.projectKey)).filter((s) => s.sessionId === key.sessionId);
    assert.equal(listed.length, 1);
  });

  it('rejects an empty subpath, which the SDK calls invalid', async () => {
    await assert.rejects(store.append({ ...freshKey(), subpath: '' }, [userEntry('x', 'x')]), /subpath/);
  });

  it('deletes a main transcript with all its subkeys, and a subkey alone', async () => {
    const key = freshKey();
    const sub = { ...key, subpath: 'subagents/agent-1' };
    const other = { ...key, subpath: 'subagents/agent-2' };
    await store.append(key, [userEntry('d1', 'x')]);
    await store.append(sub, [userEntry('d2', 'y')]);
    await store.append(other, [userEntry('d3', 'z')]);

    await store.delete(sub);
    assert.equal(await store.load(sub), null);
    assert.deepEqual(await store.listSubkeys(key), ['subagents/agent-2']);
    assert.notEqual(await store.load(key), null);

    await store.delete(key);
    assert.equal(await store.load(key), null);
    assert.equal(await store.load(other), null);
    assert.deepEqual(await store.listSubkeys(key), []);
    assert.ok(!(await store.listSessions(key.projectKey)).some((s) => s.sessionId === key.sessionId));
    const [left] = await db.sql`
      SELECT count(*)::int AS n FROM claude_transcript_entries e
      JOIN claude_transcripts t ON t.id = e.transcript_id WHERE t.session_id = ${key.sessionId}`;
    assert.equal(left!.n, 0);
    await store.delete(freshKey()); // unknown keys are not an error
  });

  it('lists the main sessions of one project only, with integer epoch-ms mtimes from the database clock', async () => {
    const project = `listing-${n}`;
    const [{ before: t0 }] = (await db.sql`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS before`) as unknown as [
      { before: number },
    ];
    const keys = [freshKey(project), freshKey(project), freshKey(project)];
    for (const k of keys) await store.append(k, [userEntry(`${k.sessionId}-1`, 'hi')]);
    await store.append(freshKey(`${project}-other`), [userEntry('o1', 'elsewhere')]);
    const [{ after: t1 }] = (await db.sql`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS after`) as unknown as [
      { after: number },
    ];

    const listed = await store.listSessions(project);
    assert.deepEqual(listed.map((s) => s.sessionId).sort(), keys.map((k) => k.sessionId).sort());
    for (const s of listed) {
      assert.ok(Number.isInteger(s.mtime), `mtime ${s.mtime} is an integer`);
      assert.ok(s.mtime >= t0 && s.mtime <= t1, `mtime ${s.mtime} within [${t0}, ${t1}]`);
    }
  });

  it('moves mtime forward on every append, even within one millisecond', async () => {
    const key = freshKey();
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      await store.append(key, [userEntry(`m${i}`, 'x')]);
      seen.push((await store.listSessions(key.projectKey)).find((s) => s.sessionId === key.sessionId)!.mtime);
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `${seen[i]} > ${seen[i - 1]}`);
  });
});

describe('PostgresSessionStore: summaries', () => {
  it('folds summaries inside append exactly as the SDK reference store does', async () => {
    const key = freshKey(`summaries-${n}`);
    const reference = new InMemorySessionStore();
    const batches: SessionStoreEntry[][] = [
      [userEntry('f1', 'first prompt', { gitBranch: 'feature' })],
      [{ type: 'assistant', uuid: 'f2', message: { content: [{ type: 'text', text: 'ok' }] } }],
      [{ type: 'custom-title', customTitle: 'Renamed' }, { type: 'summary', summary: 'What happened', leafUuid: 'f2' }],
      [userEntry('f3', 'second prompt', { gitBranch: 'later' })],
      [{ type: 'tag', tag: 'important' }],
    ];
    for (const b of batches) {
      await store.append(key, b);
      await reference.append(key, b);
    }
    await store.append({ ...key, subpath: 'subagents/agent-z' }, [userEntry('z1', 'not the main prompt')]);

    const [mine] = await store.listSessionSummaries(key.projectKey);
    const [theirs] = await reference.listSessionSummaries(key.projectKey);
    assert.ok(mine && theirs);
    assert.equal(mine.sessionId, key.sessionId);
    assert.deepEqual(mine.data, theirs.data);
    assert.equal((mine.data as { firstPrompt?: string }).firstPrompt, 'first prompt');
    // The summary's mtime is the listing's mtime: one clock, so the SDK never sees it stale.
    const [listed] = await store.listSessions(key.projectKey);
    assert.equal(mine.mtime, listed!.mtime);
  });

  it('does not fold a replayed batch twice', async () => {
    const key = freshKey(`replay-summary-${n}`);
    await store.append(key, [userEntry('r1', 'original', { gitBranch: 'one' })]);
    await store.append(key, [userEntry('r2', 'next', { gitBranch: 'two' })]);
    // A retry of the first batch must not bring back its last-wins fields.
    await store.append(key, [userEntry('r1', 'original', { gitBranch: 'one' })]);
    const [s] = await store.listSessionSummaries(key.projectKey);
    assert.equal((s!.data as { gitBranch?: string }).gitBranch, 'two');
  });
});

describe('PostgresSessionStore: uuid is an idempotency key', () => {
  it('skips entries whose uuid is already stored under the key, in a retried or replayed batch', async () => {
    const key = freshKey();
    const batch = [userEntry('i1', 'a'), userEntry('i2', 'b')];
    await store.append(key, batch);
    await store.append(key, batch);
    await store.append(key, [userEntry('i2', 'b'), userEntry('i3', 'c')]);
    assert.deepEqual(
      (await store.load(key))!.map((e) => e.uuid),
      ['i1', 'i2', 'i3'],
    );
  });

  it('skips a uuid repeated within one batch, keeping the first', async () => {
    const key = freshKey();
    await store.append(key, [userEntry('w1', 'first'), userEntry('w1', 'second'), userEntry('w2', 'third')]);
    assert.deepEqual(await store.load(key), [userEntry('w1', 'first'), userEntry('w2', 'third')]);
    // Again on a key the store has written before, and then a plain batch after it.
    await store.append(key, [userEntry('w3', 'fourth'), userEntry('w3', 'fifth')]);
    await store.append(key, [userEntry('w4', 'sixth')]);
    assert.deepEqual(
      (await store.load(key))!.map((e) => e.uuid),
      ['w1', 'w2', 'w3', 'w4'],
    );
  });

  it('always appends entries without a uuid', async () => {
    const key = freshKey();
    const title = { type: 'custom-title', customTitle: 'same' };
    await store.append(key, [title, title]);
    await store.append(key, [title]);
    assert.deepEqual(await store.load(key), [title, title, title]);
  });

  it('scopes uuids to their key: the same uuid in another session or subpath is kept', async () => {
    const key = freshKey();
    await store.append(key, [userEntry('shared', 'main')]);
    await store.append({ ...key, subpath: 'subagents/agent-q' }, [userEntry('shared', 'sub')]);
    const other = freshKey();
    await store.append(other, [userEntry('shared', 'other')]);
    assert.equal((await store.load(key))!.length, 1);
    assert.equal((await store.load({ ...key, subpath: 'subagents/agent-q' }))!.length, 1);
    assert.equal((await store.load(other))!.length, 1);
  });
});

describe('PostgresSessionStore: entries round-trip deep-equal', () => {
  it('keeps NUL characters, astral-plane characters, lone surrogates and odd keys', async () => {
    const key = freshKey();
    const entry: SessionStoreEntry = {
      type: 'user',
      uuid: 'weird',
      nul: 'before\u0000after',
      nulKey: { 'k\u0000ey': '\u0000' },
      astral: '𝕳𝖊𝖆𝖗𝖙𝖍 🔥🐘 \u{1F9D1}\u200D\u{1F4BB}',
      lone: 'high \uD800 low \uDC00',
      escapes: 'quote " backslash \\ newline \n tab \t',
      numbers: [0, -0.5, 1e21, Number.MAX_SAFE_INTEGER],
      nested: { deep: [{ a: null, b: true, c: [] }] },
      '': 'empty key',
    };
    await store.append(key, [entry]);
    assert.deepEqual(await store.load(key), [entry]);
  });

  it('keeps an entry of several MiB whole', async () => {
    const key = freshKey();
    const big = 'x'.repeat(3 * 1024 * 1024) + '\u0000' + '🐘'.repeat(256 * 1024);
    const entry: SessionStoreEntry = { type: 'tool_result', uuid: 'big', content: big };
    await store.append(key, [userEntry('before', 'a'), entry, userEntry('after', 'b')]);
    const loaded = await store.load(key);
    assert.equal(loaded!.length, 3);
    assert.equal(String(loaded![1]!.content).length, big.length);
    assert.deepEqual(loaded![1], entry);
  });

  it('stores batches larger than one INSERT can carry', async () => {
    const key = freshKey();
    const entries = Array.from({ length: 12_345 }, (_, i) => ({ type: 'progress', uuid: `p${i}`, i }));
    await store.append(key, entries);
    const loaded = await store.load(key);
    assert.equal(loaded!.length, entries.length);
    assert.deepEqual(loaded![12_344], entries[12_344]);
    assert.deepEqual(loaded!.map((e) => e.i).slice(0, 3), [0, 1, 2]);
  });
});

describe('PostgresSessionStore: concurrency', () => {
  it('keeps call order within a key when appends are issued without waiting', async () => {
    const key = freshKey();
    const calls = Array.from({ length: 40 }, (_, i) => store.append(key, [{ type: 'progress', uuid: `c${i}`, i }]));
    await Promise.all(calls);
    assert.deepEqual(
      (await store.load(key))!.map((e) => e.i),
      Array.from({ length: 40 }, (_, i) => i),
    );
  });

  it('keeps each session in call order while many sessions append at once over several connections', async () => {
    const pool = db.connect(8);
    const busy = new PostgresSessionStore(pool);
    const keys = Array.from({ length: 16 }, () => freshKey('many'));
    await Promise.all(
      keys.map(async (k) => {
        for (let b = 0; b < 10; b++) {
          await busy.append(k, [
            { type: 'progress', uuid: `${k.sessionId}-${b}-0`, b, j: 0 },
            { type: 'progress', uuid: `${k.sessionId}-${b}-1`, b, j: 1 },
          ]);
        }
      }),
    );
    for (const k of keys) {
      const got = (await busy.load(k))!.map((e) => `${e.b}.${e.j}`);
      const want = Array.from({ length: 10 }, (_, b) => [`${b}.0`, `${b}.1`]).flat();
      assert.deepEqual(got, want, k.sessionId);
    }
  });

  it('loses nothing when two connections append to one session at the same time', async () => {
    const one = new PostgresSessionStore(db.connect(4));
    const two = new PostgresSessionStore(db.connect(4));
    const key = freshKey('shared-session');
    const writer = (s: PostgresSessionStore, who: string) =>
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          s.append(key, [userEntry(`${who}-${i}`, `${who} says ${i}`), { type: 'progress', who, i }]),
        ),
      );
    await Promise.all([writer(one, 'one'), writer(two, 'two')]);
    const loaded = (await store.load(key))!;
    assert.equal(loaded.length, 120);
    for (const who of ['one', 'two']) {
      // Each writer's own entries stay in its call order, and batches stay contiguous.
      const mine = loaded.filter((e) => e.uuid?.startsWith(`${who}-`)).map((e) => Number(e.uuid!.split('-')[1]));
      assert.deepEqual(mine, Array.from({ length: 30 }, (_, i) => i));
    }
    for (let i = 0; i < loaded.length; i += 2) {
      assert.equal(loaded[i + 1]!.type, 'progress');
      assert.equal(loaded[i + 1]!.who, loaded[i]!.uuid!.split('-')[0]);
    }
    // The summary was folded under the row lock, so it equals a fold of the stored order.
    const [summary] = await store.listSessionSummaries(key.projectKey);
    const refolded = foldSessionSummary(undefined, key, loaded, { mtime: summary!.mtime });
    assert.deepEqual(summary!.data, refolded.data);
  });
});

describe('PostgresSessionStore: several stores on one database', () => {
  it('appends after another store deleted the session, leaving no stray entries', async () => {
    const writer = new PostgresSessionStore(db.connect(2));
    const other = new PostgresSessionStore(db.connect(2));
    const key = freshKey();
    await writer.append(key, [userEntry('x1', 'before')]);
    await writer.append(key, [userEntry('x2', 'before too')]);
    await other.delete(key);
    await writer.append(key, [userEntry('x3', 'after the delete')]);
    assert.deepEqual(await store.load(key), [userEntry('x3', 'after the delete')]);
    const [{ n }] = (await db.sql`
      SELECT count(*)::int AS n FROM claude_transcript_entries e
      WHERE NOT EXISTS (SELECT 1 FROM claude_transcripts t WHERE t.id = e.transcript_id)`) as unknown as [{ n: number }];
    assert.equal(n, 0);
    const [summary] = (await store.listSessionSummaries(key.projectKey)).filter((s) => s.sessionId === key.sessionId);
    assert.equal(summary!.data.firstPrompt, 'after the delete', 'the summary starts over with the session');
  });

  it('interleaves two stores writing one session turn by turn, each seeing the other', async () => {
    const a = new PostgresSessionStore(db.connect(2));
    const b = new PostgresSessionStore(db.connect(2));
    const key = freshKey();
    for (let i = 0; i < 6; i++) await (i % 2 ? b : a).append(key, [userEntry(`t${i}`, `turn ${i}`)]);
    await a.append(key, [userEntry('t1', 'a replay of b')]);
    assert.deepEqual(
      (await store.load(key))!.map((e) => e.uuid),
      ['t0', 't1', 't2', 't3', 't4', 't5'],
    );
    const [summary] = (await store.listSessionSummaries(key.projectKey)).filter((s) => s.sessionId === key.sessionId);
    const refolded = foldSessionSummary(undefined, key, (await store.load(key))!, { mtime: 0 });
    assert.deepEqual(summary!.data, refolded.data);
  });
});

describe('PostgresSessionStore: listing at scale', () => {
  it('lists thousands of sessions without reading a single entry row', async () => {
    const project = 'thousands';
    // Bulk-load 3,000 sessions of 20 entries each straight into the tables; the store's
    // own appends are covered above.
    await db.sql`
      WITH t AS (
        INSERT INTO claude_transcripts (project_key, session_id, mtime, summary)
        SELECT ${project}, 'bulk-' || g, 1700000000000 + g, '{"firstPrompt":"p"}'
        FROM generate_series(1, 3000) g
        RETURNING id
      )
      INSERT INTO claude_transcript_entries (transcript_id, uuid, entry)
      SELECT t.id, 'e' || s, '{"type":"progress"}' FROM t, generate_series(0, 19) s`;
    await db.sql`ANALYZE claude_transcripts`;
    await db.sql`ANALYZE claude_transcript_entries`;

    const counts = await db.sql.begin(async (tx) => {
      // These counters also hold this backend's not yet flushed earlier work: compare deltas.
      const scans = async () => {
        const [row] = await tx<{ n: number }[]>`
          SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::int AS n
          FROM pg_stat_xact_user_tables
          WHERE schemaname = ${db.schema} AND relname = 'claude_transcript_entries'`;
        return row!.n;
      };
      const inTx = new PostgresSessionStore(tx as unknown as typeof db.sql);
      const start = await scans();
      const sessions = await inTx.listSessions(project);
      const summaries = await inTx.listSessionSummaries(project);
      const listing = (await scans()) - start;
      // The probe itself: a load does read entries, so the counter is live.
      await inTx.load({ projectKey: project, sessionId: 'bulk-1' });
      const loading = (await scans()) - start - listing;
      return { sessions, summaries: summaries.length, listing, loading };
    });
    assert.equal(counts.sessions.length, 3000);
    assert.equal(counts.summaries, 3000);
    assert.equal(counts.listing, 0);
    assert.ok(counts.loading > 0, 'the scan counter sees a load');
    assert.equal(counts.sessions.find((s) => s.sessionId === 'bulk-7')!.mtime, 1700000000007);
  });
});

describe('PostgresSessionStore: configuration', () => {
  it('checks the schema name before it can reach SQL', () => {
    assert.throws(() => new PostgresSessionStore(db.sql, { schema: 'x; DROP TABLE chats' }), InvalidIdentifierError);
    assert.throws(() => new PostgresSessionStore(db.sql, { schema: '' }), /plain SQL identifier/);
  });

  it('works on a schema named explicitly, whatever the search_path', async () => {
    const plain = connect(TEST_DATABASE_URL, { max: 1 });
    try {
      const explicit = new PostgresSessionStore(plain, { schema: db.schema });
      const key = freshKey();
      await explicit.append(key, [userEntry('s1', 'x')]);
      assert.deepEqual(await store.load(key), [userEntry('s1', 'x')]);
      assert.deepEqual(await explicit.load(key), [userEntry('s1', 'x')]);
    } finally {
      await plain.end();
    }
  });
});
