// A real Claude Code conversation mirrored into PostgreSQL, then resumed by a second
// query() that has only the database: an empty CLAUDE_CONFIG_DIR, as another node sees it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { query, type Options, type Query, type SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { startFakeModel, type FakeModelServer, type RecordedRequest } from '../fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { waitFor } from '../fixtures/backend-chats.js';

let fake: FakeModelServer;
let db: TestSchema;
let repo: string;
const cleanup: string[] = [];

before(async () => {
  fake = await startFakeModel();
  db = await testSchema('roundtrip');
  repo = await mkdtemp(path.join(tmpdir(), 'hearth-roundtrip-repo-'));
  execFileSync('git', ['init', '-q', repo]);
  cleanup.push(repo);
});
after(async () => {
  await fake.close();
  await db.drop();
  await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
});

async function options(store: PostgresSessionStore, extra: Partial<Options> = {}): Promise<Options> {
  const configDir = await makeConfigDir();
  cleanup.push(configDir);
  return { cwd: repo, env: claudeEnv(fake, configDir), sessionStore: store, ...extra };
}

/** Reads to the turn's result with next(): a for-await loop would end the query early. */
async function result(q: Query): Promise<SDKResultMessage> {
  for (;;) {
    const step = await q.next();
    if (step.done) throw new Error('query ended without a result');
    if (step.value.type === 'result') return step.value;
  }
}

function texts(req: RecordedRequest): string {
  return JSON.stringify(req.body.messages);
}

test('a conversation lands in PostgreSQL and resumes from it on a machine with no local transcript', async () => {
  const store = new PostgresSessionStore(db.sql);
  fake.enqueue({ kind: 'text', chunks: ['I will remember ', 'PELICAN-42.'] });
  const first = query({ prompt: 'Remember the code word PELICAN-42.', options: await options(store) });
  let sessionId: string;
  try {
    const r = await result(first);
    assert.equal(r.is_error, false);
    sessionId = r.session_id;
  } finally {
    first.close();
  }

  // The mirror flushes at the end of the turn; wait until the reply is in the store.
  const { project_key: projectKey } = await waitFor('the transcript row', async () => {
    const rows = await db.sql<{ project_key: string }[]>`
      SELECT project_key FROM claude_transcripts WHERE session_id = ${sessionId} AND subpath = ''`;
    return rows[0];
  });
  const stored = await waitFor('the assistant reply in the store', async () => {
    const entries = await store.load({ projectKey, sessionId });
    return entries && JSON.stringify(entries).includes('PELICAN-42.') && entries.some((e) => e.type === 'assistant')
      ? entries
      : undefined;
  });
  assert.ok(stored.some((e) => e.type === 'user' && JSON.stringify(e).includes('Remember the code word')));
  assert.ok((await store.listSessions(projectKey)).some((s) => s.sessionId === sessionId));
  const [summary] = (await store.listSessionSummaries(projectKey)).filter((s) => s.sessionId === sessionId);
  assert.equal((summary!.data as { firstPrompt?: string }).firstPrompt, 'Remember the code word PELICAN-42.');

  // Another node: a fresh store on its own pool and an empty config directory.
  const elsewhere = new PostgresSessionStore(db.connect(2));
  const resumedOptions = await options(elsewhere, { resume: sessionId });
  const emptyConfig = (resumedOptions.env as Record<string, string>).CLAUDE_CONFIG_DIR!;
  assert.deepEqual(await readdir(emptyConfig), []);
  const before = fake.mainRequests().length;
  fake.enqueue({ kind: 'text', chunks: ['The code word was PELICAN-42.'] });
  const second = query({ prompt: 'What was the code word?', options: resumedOptions });
  try {
    const r = await result(second);
    assert.equal(r.is_error, false);
    assert.equal(r.session_id, sessionId);
  } finally {
    second.close();
  }

  const resumedRequest = fake.mainRequests()[before];
  assert.ok(resumedRequest, 'the resumed query called the model');
  const sent = texts(resumedRequest);
  assert.match(sent, /Remember the code word PELICAN-42\./, 'the first prompt is in the resumed request');
  assert.match(sent, /I will remember PELICAN-42\./, 'the first reply is in the resumed request');
  assert.match(sent, /What was the code word\?/);
  assert.ok(
    sent.indexOf('Remember the code word') < sent.indexOf('What was the code word'),
    'history comes before the new prompt',
  );

  // The second turn is mirrored onto the same session.
  await waitFor('the second turn in the store', async () => {
    const entries = await store.load({ projectKey, sessionId });
    return entries && JSON.stringify(entries).includes('The code word was PELICAN-42.') ? true : undefined;
  });
  const all = (await store.load({ projectKey, sessionId }))!;
  const uuids = all.map((e) => e.uuid).filter((u): u is string => typeof u === 'string');
  assert.equal(new Set(uuids).size, uuids.length, 'no entry is stored twice');
});
