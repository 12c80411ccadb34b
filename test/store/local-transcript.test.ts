// The local Claude Code transcript kept level with PostgreSQL, subagent transcripts and
// their metadata included, on real files and a real database.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import { LocalTranscript } from '../../src/agents/claude/pty/local-transcript.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
let store: PostgresSessionStore;
const dirs: string[] = [];
const PROJECT = '-work-repo';

before(async () => {
  db = await testSchema('local_transcript');
  store = new PostgresSessionStore(db.sql);
});
after(async () => {
  await db.drop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function configDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'hearth-local-transcript-'));
  dirs.push(d);
  return d;
}

const jsonl = (entries: SessionStoreEntry[]) => entries.map((e) => JSON.stringify(e) + '\n').join('');
const message = (text: string): SessionStoreEntry => ({ type: 'user', uuid: randomUUID(), message: { content: text } });
/** A cost record as Claude Code writes it: the running cost, and tokens per model. */
const marker = (n: number): SessionStoreEntry => ({
  type: 'cost-state',
  totalCostUSD: n,
  modelUsage: {
    'claude-opus-5-5': { inputTokens: n * 1000, outputTokens: n * 100, cacheReadInputTokens: n * 10, cacheCreationInputTokens: 0 },
    'claude-haiku-5': { inputTokens: 1, outputTokens: 1, cacheReadInputTokens: 0, cacheCreationInputTokens: 2 },
  },
});

/** A session as the CLI leaves it: a main transcript, two subagents (one nested) and a metadata file. */
async function writeSession(config: string, sessionId: string) {
  const dir = path.join(config, 'projects', PROJECT);
  const main = [message('hello \u0000 🦄'), marker(0.25), message('again')];
  const a1 = [message('sub a1'), message('sub a1 reply')];
  const b2 = [message('nested b2')];
  await mkdir(path.join(dir, sessionId, 'subagents', 'workflows', 'run1'), { recursive: true });
  await writeFile(path.join(dir, `${sessionId}.jsonl`), jsonl(main));
  await writeFile(path.join(dir, sessionId, 'subagents', 'agent-a1.jsonl'), jsonl(a1));
  await writeFile(path.join(dir, sessionId, 'subagents', 'agent-a1.meta.json'), JSON.stringify({ agentType: 'explore', note: 'x' }));
  await writeFile(path.join(dir, sessionId, 'subagents', 'workflows', 'run1', 'agent-b2.jsonl'), jsonl(b2));
  return { dir, main, a1, b2 };
}

describe('LocalTranscript', () => {
  it('mirrors a session the store has never seen, subagents and metadata included', async () => {
    const config = await configDir();
    const sessionId = randomUUID();
    const { main, a1, b2 } = await writeSession(config, sessionId);
    const local = new LocalTranscript(store, config);

    const prepared = await local.prepare(sessionId);
    assert.equal(prepared.source, 'local');
    assert.equal(prepared.projectKey, null);
    assert.equal(prepared.totalsSoFar.costUsd, 0.25);
    assert.equal(await local.mirror(prepared), main.length + a1.length + 1 + b2.length);

    const key = { projectKey: PROJECT, sessionId };
    assert.deepEqual(await store.load(key), main);
    assert.deepEqual(await store.listSubkeys(key), ['subagents/agent-a1', 'subagents/workflows/run1/agent-b2']);
    assert.deepEqual(await store.load({ ...key, subpath: 'subagents/agent-a1' }), [
      ...a1,
      { agentType: 'explore', note: 'x', type: 'agent_metadata' },
    ]);
    assert.deepEqual(await store.load({ ...key, subpath: 'subagents/workflows/run1/agent-b2' }), b2);
  });

  it('mirrors only what a turn added: entries without a uuid are not stored twice', async () => {
    const config = await configDir();
    const sessionId = randomUUID();
    const { dir, main, a1 } = await writeSession(config, sessionId);
    const local = new LocalTranscript(store, config);
    await local.mirror(await local.prepare(sessionId));

    const prepared = await local.prepare(sessionId);
    assert.equal(prepared.source, 'local');
    assert.equal(prepared.projectKey, PROJECT);
    const added = [message('third'), marker(0.5)];
    await appendFile(path.join(dir, `${sessionId}.jsonl`), jsonl(added));
    const subAdded = [message('sub a1 more')];
    await appendFile(path.join(dir, sessionId, 'subagents', 'agent-a1.jsonl'), jsonl(subAdded));
    assert.equal(await local.mirror(prepared), added.length + subAdded.length, 'the unchanged metadata is not appended again');

    const key = { projectKey: PROJECT, sessionId };
    assert.deepEqual(await store.load(key), [...main, ...added]);
    const sub = (await store.load({ ...key, subpath: 'subagents/agent-a1' }))!;
    assert.deepEqual(sub.filter((e) => e.type !== 'agent_metadata'), [...a1, ...subAdded]);
    assert.deepEqual((await local.prepare(sessionId)).totalsSoFar, {
      costUsd: 0.5,
      inputTokens: 501,
      outputTokens: 51,
      cacheReadTokens: 5,
      cacheWriteTokens: 2,
    });
  });

  it('materializes the whole session where the CLI looks for it on a machine that lacks it', async () => {
    const source = await configDir();
    const sessionId = randomUUID();
    const written = await writeSession(source, sessionId);
    const here = new LocalTranscript(store, source);
    await here.mirror(await here.prepare(sessionId));

    const empty = await configDir();
    const there = new LocalTranscript(store, empty);
    const prepared = await there.prepare(sessionId);
    assert.equal(prepared.source, 'materialized');
    assert.equal(prepared.totalsSoFar.costUsd, 0.25);
    const dir = path.join(empty, 'projects', PROJECT);
    const read = async (...p: string[]) => readFile(path.join(dir, ...p), 'utf8');
    const parse = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(parse(await read(`${sessionId}.jsonl`)), written.main);
    assert.deepEqual(parse(await read(sessionId, 'subagents', 'agent-a1.jsonl')), written.a1);
    assert.deepEqual(JSON.parse(await read(sessionId, 'subagents', 'agent-a1.meta.json')), { agentType: 'explore', note: 'x' });
    assert.deepEqual(parse(await read(sessionId, 'subagents', 'workflows', 'run1', 'agent-b2.jsonl')), written.b2);
    // Nothing new happened there, so nothing is mirrored back.
    assert.equal(await there.mirror(prepared), 0);
  });

  it('replaces a stale local transcript with the store’s, then mirrors what the turn adds', async () => {
    const config = await configDir();
    const sessionId = randomUUID();
    const { dir, main } = await writeSession(config, sessionId);
    const local = new LocalTranscript(store, config);
    await local.mirror(await local.prepare(sessionId));

    // Another node moved the conversation on.
    const key = { projectKey: PROJECT, sessionId };
    const elsewhere = [message('said elsewhere'), marker(0.75)];
    await store.append(key, elsewhere);

    const prepared = await local.prepare(sessionId);
    assert.equal(prepared.source, 'materialized');
    assert.equal(prepared.totalsSoFar.costUsd, 0.75);
    const file = path.join(dir, `${sessionId}.jsonl`);
    const afterTurn = [message('said here')];
    await appendFile(file, jsonl(afterTurn));
    assert.equal(await local.mirror(prepared), 1);
    assert.deepEqual(await store.load(key), [...main, ...elsewhere, ...afterTurn]);
  });

  it('does not write outside the session directory for a subpath that leads out of it', async () => {
    const sessionId = randomUUID();
    const key = { projectKey: PROJECT, sessionId };
    await store.append(key, [message('main')]);
    await store.append({ ...key, subpath: '../../escaped' }, [message('should not land')]);
    const config = await configDir();
    const prepared = await new LocalTranscript(store, config).prepare(sessionId);
    assert.equal(prepared.source, 'materialized');
    await assert.rejects(readFile(path.join(config, 'projects', 'escaped.jsonl'), 'utf8'), { code: 'ENOENT' });
  });

  it('reports a session that is neither stored nor local as absent', async () => {
    const prepared = await new LocalTranscript(store, await configDir()).prepare(randomUUID());
    assert.equal(prepared.source, 'absent');
    assert.equal(prepared.totalsSoFar.costUsd, 0);
  });
});
