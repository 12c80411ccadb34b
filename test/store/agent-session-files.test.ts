// The mirror of agents' session files in PostgreSQL: what it stores after each turn, what
// it writes back on a machine that lacks the files, and what it refuses.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentSessionFiles } from '../../src/store/agent-session-files.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
let files: AgentSessionFiles;
before(async () => {
  db = await testSchema('session_files');
  files = new AgentSessionFiles(db.sql);
});
const made: string[] = [];
after(async () => {
  await db.drop();
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

const home = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hearth-session-files-'));
  made.push(dir);
  return dir;
};
const chunks = async (sessionId: string) =>
  (await db.sql<{ offset: string; length: number }[]>`
    SELECT "offset", length(bytes) AS length FROM agent_session_file_chunks WHERE session_id = ${sessionId} ORDER BY "offset"`).map((c) => [Number(c.offset), c.length]);

describe('agent session files in PostgreSQL', () => {
  it('stores only what a file gained since the last mirror, and a rewritten file whole', async () => {
    const root = await home();
    const rel = path.join('sessions', 'one.jsonl');
    await mkdir(path.join(root, 'sessions'));
    await writeFile(path.join(root, rel), '{"a":1}\n');
    await files.mirror('codex', 's-append', root, [rel]);
    await appendFile(path.join(root, rel), '{"b":2}\n');
    await files.mirror('codex', 's-append', root, [rel]);
    await files.mirror('codex', 's-append', root, [rel]);
    assert.deepEqual(await chunks('s-append'), [[0, 8], [8, 8]], 'the second line alone was added, and an unchanged file adds nothing');

    await writeFile(path.join(root, rel), '{"c":3}\n{"d":4}\n{"e":5}\n');
    await files.mirror('codex', 's-append', root, [rel]);
    assert.deepEqual(await chunks('s-append'), [[0, 24]], 'a file whose beginning changed is stored whole again');

    const empty = await home();
    assert.equal(await files.restore('codex', 's-append', empty), 1);
    assert.equal(await readFile(path.join(empty, rel), 'utf8'), '{"c":3}\n{"d":4}\n{"e":5}\n');
  });

  it('writes back only files this machine lacks or holds less of, and keeps one that is ahead of the store', async () => {
    const root = await home();
    await writeFile(path.join(root, 'a.jsonl'), 'line 1\n');
    await writeFile(path.join(root, 'b.jsonl'), 'line 1\n');
    await files.mirror('gemini', 's-restore', root, ['a.jsonl', 'b.jsonl', 'missing.jsonl']);

    const other = await home();
    await writeFile(path.join(other, 'a.jsonl'), 'line 1\nline 2 written here after the mirror\n');
    await writeFile(path.join(other, 'b.jsonl'), 'stale\n');
    assert.equal(await files.restore('gemini', 's-restore', other), 1, 'only b was written');
    assert.equal(await readFile(path.join(other, 'a.jsonl'), 'utf8'), 'line 1\nline 2 written here after the mirror\n');
    assert.equal(await readFile(path.join(other, 'b.jsonl'), 'utf8'), 'line 1\n');
    assert.equal(await files.restore('gemini', 'no-such-session', other), 0);
    assert.equal(await files.restore('codex', 's-restore', await home()), 0, 'another agent’s session of the same id is another session');
  });

  it('refuses a path that leaves the root, by name or through a link', async () => {
    const root = await home();
    const outside = await home();
    await writeFile(path.join(outside, 'secret.txt'), 'not the agent’s');
    await symlink(outside, path.join(root, 'link'));
    await assert.rejects(files.mirror('codex', 's-escape', root, ['../secret.txt']), /outside/);
    await assert.rejects(files.mirror('codex', 's-escape', root, [path.join('link', 'secret.txt')]), /outside/);
    await db.sql`INSERT INTO agent_session_files (agent, session_id, path, size, sha256) VALUES ('codex', 's-planted', '../planted.txt', 1, '\\x00')`;
    await assert.rejects(files.restore('codex', 's-planted', root), /outside/);
    assert.equal(await readFile(path.join(path.dirname(root), 'planted.txt'), 'utf8').catch(() => null), null);
  });
});
