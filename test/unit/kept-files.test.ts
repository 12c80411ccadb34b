// What `hearth serve` keeps in its data directory: private, whatever stood there before.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiToken, nodeId } from '../../src/cli/config.js';

const dirs: string[] = [];
async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hearth-kept-'));
  dirs.push(dir);
  return dir;
}
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

describe('files kept in the data directory', () => {
  it('writes the token 0600 into an empty token file that was 0644', async () => {
    const dir = await scratch();
    const file = path.join(dir, 'token');
    await writeFile(file, '');
    await chmod(file, 0o644);
    const token = await apiToken({}, dir);
    assert.equal(token.created, true);
    assert.equal((await readFile(file, 'utf8')).trim(), token.value);
    assert.equal(await modeOf(file), 0o600);
    assert.deepEqual(await readdir(dir), ['token'], 'no temporary file is left');
  });

  it('keeps a token it finds, made private when others could read it', async () => {
    const dir = await scratch();
    const file = path.join(dir, 'token');
    await writeFile(file, 'a-token-someone-wrote\n');
    await chmod(file, 0o644);
    assert.deepEqual(await apiToken({}, dir), { value: 'a-token-someone-wrote', created: false, file });
    assert.equal(await modeOf(file), 0o600);
  });

  it('makes a missing data directory 0700, its parents as usual', async () => {
    const dir = path.join(await scratch(), 'parent', 'data');
    await nodeId({}, dir);
    await apiToken({}, dir);
    assert.equal(await modeOf(dir), 0o700);
    assert.equal(await modeOf(path.dirname(dir)), 0o777 & ~process.umask() & 0o777);
    assert.equal(await modeOf(path.join(dir, 'token')), 0o600);
    assert.equal(await modeOf(path.join(dir, 'node-id')), 0o600);
  });
});
