// Where agent cgroups go, and when there are none: read from a mount table, named
// safely, refused where the directory is not a cgroup that can be entered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentCgroups, cgroup2Mount, cgroupName } from '../../src/agents/process/agent-cgroups.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'hearth-mountinfo-'));
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
let tables = 0;

function mountinfo(lines: string[]): string {
  const file = path.join(scratch, `mountinfo-${++tables}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('agent cgroups', () => {
  it('finds cgroup v2 where a unified or a hybrid system mounts it, and nothing on cgroup v1 alone', () => {
    const v1 = '35 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory';
    assert.equal(cgroup2Mount(mountinfo(['31 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate'])), '/sys/fs/cgroup');
    assert.equal(cgroup2Mount(mountinfo([v1, '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw'])), '/sys/fs/cgroup/unified');
    assert.equal(cgroup2Mount(mountinfo(['41 31 0:38 / /mnt/with\\040space rw - cgroup2 none rw'])), '/mnt/with space');
    assert.equal(cgroup2Mount(mountinfo([v1])), null);
    assert.equal(cgroup2Mount('/nonexistent/mountinfo'), null);
  });

  it('keeps a plain node id as the cgroup name and digests any other', () => {
    assert.equal(cgroupName('node-1.eu_west'), 'node-1.eu_west');
    for (const id of ['a/b', '../up', 'cgroup.procs', '.hidden', 'x'.repeat(65), 'sp ace', '']) {
      assert.match(cgroupName(id), /^n-[0-9a-f]{16}$/, id);
    }
    assert.notEqual(cgroupName('a/b'), cgroupName('a/c'));
  });

  it('has none where there is no cgroup v2, or its directory is not a cgroup', () => {
    assert.equal(AgentCgroups.open('node', 'instance', { mount: null }), null);
    const plain = mkdtempSync(path.join(tmpdir(), 'hearth-not-a-cgroup-'));
    try {
      assert.equal(AgentCgroups.open('node', 'instance', { mount: plain }), null);
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });
});
