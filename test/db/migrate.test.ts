import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { connect, type Sql } from '../../src/db/sql.js';
import { InvalidIdentifierError, MigrationError } from '../../src/db/errors.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';

const pools: Sql[] = [];
const schemas: string[] = [];
const dirs: string[] = [];
const pool = (max = 2) => {
  const p = connect(TEST_DATABASE_URL, { max });
  pools.push(p);
  return p;
};
const freshSchema = () => {
  const s = `mig_${randomBytes(5).toString('hex')}`;
  schemas.push(s);
  return s;
};

after(async () => {
  const sql = pool(1);
  for (const s of schemas) await sql`DROP SCHEMA IF EXISTS ${sql(s)} CASCADE`;
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function migrationDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hearth-migrations-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

describe('migrate', () => {
  it('applies the shipped migrations once, in order, and records them', async () => {
    const sql = pool();
    const schema = freshSchema();
    const shipped = (await readMigrations()).map((m) => m.name);
    assert.ok(shipped.length >= 2);
    assert.deepEqual(shipped, [...shipped].sort());
    assert.deepEqual(await migrate(sql, { schema }), shipped);
    assert.deepEqual(await migrate(sql, { schema }), [], 'a second run applies nothing');
    const recorded = await sql`SELECT name FROM ${sql(schema)}.hearth_migrations ORDER BY name`;
    assert.deepEqual(recorded.map((r) => r.name), shipped);
    const tables = await sql`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY 1`;
    for (const t of ['agent_sessions', 'available_agents', 'chats', 'worktrees', 'claude_transcripts', 'claude_transcript_entries']) {
      assert.ok(tables.some((r) => r.table_name === t), `${t} exists`);
    }
  });

  it('is safe when several processes start at once', async () => {
    const schema = freshSchema();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(pool(1), { schema })));
    const shipped = (await readMigrations()).map((m) => m.name);
    assert.deepEqual(results.flat().sort(), shipped, 'each migration is applied by exactly one of them');
  });

  it('creates agent_sessions as the Claude backend uses it', async () => {
    const sql = connect(TEST_DATABASE_URL, { schema: freshSchema(), max: 1 });
    pools.push(sql);
    await migrate(sql, { schema: schemas.at(-1) });
    const [chat] = await sql`INSERT INTO chats (repo_path) VALUES ('/repo') RETURNING id`;
    await sql`
      INSERT INTO agent_sessions (chat_id, session_id, agent, backend, status)
      VALUES (${chat!.id}, 's1', 'claude', 'claude_sdk', 'active')`;
    const [row] = await sql`SELECT input_tokens, output_tokens, cost, status, last_active_at FROM agent_sessions`;
    assert.equal(Number(row!.input_tokens), 0);
    assert.equal(Number(row!.output_tokens), 0);
    assert.equal(row!.cost, null, 'a cost is unknown until a turn reports one');
    assert.ok(row!.last_active_at instanceof Date);
    // One session per (chat, agent).
    await assert.rejects(
      sql`INSERT INTO agent_sessions (chat_id, session_id, agent, backend) VALUES (${chat!.id}, 's2', 'claude', 'claude_sdk')`,
      /duplicate key/,
    );
    await assert.rejects(
      sql`INSERT INTO agent_sessions (chat_id, session_id, agent, backend, status) VALUES (${chat!.id}, 's3', 'codex', 'warm_acp', 'sleeping')`,
      /check constraint/,
    );
    for (const status of ['active', 'idle', 'crashed', 'closed']) {
      await sql`UPDATE agent_sessions SET status = ${status}`;
    }
    // Costs add up exactly, whatever the number of turns.
    for (let i = 0; i < 10; i++) await sql`UPDATE agent_sessions SET cost = coalesce(cost, 0) + ${0.1}`;
    const [{ cost }] = (await sql`SELECT cost::text AS cost FROM agent_sessions`) as unknown as [{ cost: string }];
    assert.equal(cost, '1.0');
  });

  it('refuses an applied migration whose file has changed', async () => {
    const sql = pool();
    const schema = freshSchema();
    await migrate(sql, { schema, directory: await migrationDir({ '001_a.sql': 'CREATE TABLE a (x int);' }) });
    const edited = await migrationDir({ '001_a.sql': 'CREATE TABLE a (x int, y int);' });
    await assert.rejects(migrate(sql, { schema, directory: edited }), (err) => {
      assert.ok(err instanceof MigrationError);
      assert.equal(err.migration, '001_a.sql');
      assert.match(err.message, /has changed/);
      return true;
    });
  });

  it('names a failing migration and leaves nothing half-applied', async () => {
    const sql = pool();
    const schema = freshSchema();
    const dir = await migrationDir({
      '001_ok.sql': 'CREATE TABLE ok (x int);',
      '002_broken.sql': 'CREATE TABLE broken (x int); SELECT no_such_function();',
    });
    await assert.rejects(migrate(sql, { schema, directory: dir }), (err) => {
      assert.ok(err instanceof MigrationError);
      assert.equal(err.migration, '002_broken.sql');
      assert.match(err.message, /no_such_function/);
      return true;
    });
    const [{ n }] = (await sql`
      SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = ${schema}`) as unknown as [{ n: number }];
    assert.equal(n, 0, 'the whole run rolled back');
  });

  it('checks the schema name before it reaches SQL', async () => {
    await assert.rejects(migrate(pool(), { schema: 'public; DROP TABLE x' }), InvalidIdentifierError);
  });
});
