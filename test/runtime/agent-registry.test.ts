// Finding the installed agents runs each one (`--version`): it must see no more of the
// server's environment than a turn would give it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentRegistry } from '../../src/runtime/routing/agent-registry.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';

let db: TestSchema;
let dir: string;
before(async () => {
  db = await testSchema('registry');
  dir = await mkdtemp(path.join(tmpdir(), 'hearth-registry-'));
});
after(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('the agent registry', () => {
  it("asks an agent's version without passing it the server's secrets", async () => {
    const seen = path.join(dir, 'env.txt');
    const agent = path.join(dir, 'fake-agent');
    await writeFile(agent, `#!/bin/sh\nenv > '${seen}'\necho "9.9.9 (fake)"\n`);
    await chmod(agent, 0o755);
    const saved = { ...process.env };
    Object.assign(process.env, {
      HEARTH_TOKEN: 'registry-secret-token',
      DATABASE_URL: 'postgres://user:registry-db-password@127.0.0.1/x',
      HEARTH_SECRET_ENV: 'MY_OWN_SECRET',
      MY_OWN_SECRET: 'registry-own-secret',
    });
    try {
      const registry = new AgentRegistry(db.sql, 'registry-node', { fake: agent });
      const found = await registry.refresh();
      assert.deepEqual(found.find((a) => a.agent === 'fake')?.version, '9.9.9 (fake)');
    } finally {
      for (const name of ['HEARTH_TOKEN', 'DATABASE_URL', 'HEARTH_SECRET_ENV', 'MY_OWN_SECRET']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
    const env = await readFile(seen, 'utf8');
    assert.match(env, /^PATH=/m, 'the agent still gets what it needs');
    assert.doesNotMatch(env, /registry-secret-token|registry-db-password|registry-own-secret|HEARTH_/);
  });

  it('takes the version an agent declares without running it, and runs one that declares none', async () => {
    const ran = path.join(dir, 'ran.txt');
    const declared = path.join(dir, 'declared-agent');
    const asked = path.join(dir, 'asked-agent');
    for (const [file, name] of [[declared, 'declared'], [asked, 'asked']] as const) {
      await writeFile(file, `#!/bin/sh\necho ${name} >> '${ran}'\necho "1.0.0 (${name})"\n`);
      await chmod(file, 0o755);
    }
    const registry = new AgentRegistry(db.sql, 'registry-declared', {}, [
      { name: 'declared', backends: ['warm_acp'], locate: () => declared, version: () => '2.6.0' },
      { name: 'asked', backends: ['warm_acp'], locate: () => asked },
      { name: 'gone', backends: ['warm_acp'], locate: () => path.join(dir, 'no-such-agent'), version: () => '1.0.0' },
    ]);
    const found = await registry.refresh();
    assert.deepEqual(
      found.map((a) => [a.agent, a.version]),
      [['declared', '2.6.0'], ['asked', '1.0.0 (asked)']],
      'a declared version whose entry point is missing lists nothing',
    );
    assert.equal(await readFile(ran, 'utf8'), 'asked\n', 'only the agent that declares no version was run');
  });
});
