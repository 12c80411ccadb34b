// Resident memory of a process tree from /proc: against this process and a tree of children
// it starts, and against a scripted /proc whose processes end while it is read.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseStatus, processTreeRss, ProcessTable } from '../../src/agents/process/process-memory.js';

function ownRss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ProcessTable', () => {
  it('measures this process, whose tree holds at least its own resident memory', () => {
    const table = ProcessTable.scan();
    assert.equal(table.tree(process.pid)[0], process.pid);
    const rss = table.treeRss(process.pid)!;
    assert.ok(rss >= ownRss(process.pid) * 0.9, `${rss} for the tree, ${ownRss(process.pid)} for the process alone`);
    assert.ok(rss > 10 * 1024 * 1024, 'a Node process holds more than 10 MB');
  });

  it("counts the children's and grandchildren's memory in the tree, and nothing once they have ended", async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      await until(() => ProcessTable.scan().tree(pid).length === 3);
      const table = ProcessTable.scan();
      const pids = table.tree(pid);
      assert.equal(pids[0], pid);
      const each = pids.map(ownRss);
      assert.ok(each.every((b) => b > 0));
      const tree = table.treeRss(pid)!;
      // Measured a moment apart, so near rather than equal.
      const sum = each.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(tree - sum) < 256 * 1024, `tree ${tree}, processes ${sum}`);
      assert.ok(tree > Math.max(...each), 'more than any one of them');
      assert.ok(table.tree(process.pid).includes(pids[2]!), 'a grandchild is in this process tree too');
      assert.ok(table.treeRss(process.pid)! >= table.treeRss(pid)! + ownRss(process.pid) * 0.9);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    assert.equal(processTreeRss(child.pid!), null, 'an ended process has no tree');
  });

  it('skips processes that end while /proc is read, and a kernel thread counts nothing', async () => {
    const proc = await mkdtemp(path.join(tmpdir(), 'hearth-proc-'));
    try {
      const status = (ppid: number, kb: number | null) => `Name:\tx\nState:\tS (sleeping)\nPPid:\t${ppid}\n${kb === null ? '' : `VmRSS:\t    ${kb} kB\n`}`;
      const addProcess = async (pid: number, text: string | null) => {
        await mkdir(path.join(proc, String(pid)));
        if (text !== null) await writeFile(path.join(proc, String(pid), 'status'), text);
      };
      await addProcess(10, status(1, 1000));
      await addProcess(11, status(10, 200));
      await addProcess(12, status(11, 30));
      await addProcess(13, null); // listed, then gone before its status was read
      await addProcess(14, status(13, 5)); // its parent vanished: it belongs to no tree of 10
      await addProcess(2, status(0, null)); // a kernel thread
      await writeFile(path.join(proc, 'meminfo'), 'not a process');
      const table = ProcessTable.scan(proc);
      assert.deepEqual(table.tree(10), [10, 11, 12]);
      assert.equal(table.treeRss(10), 1230 * 1024);
      assert.equal(table.treeRss(11), 230 * 1024);
      assert.equal(table.treeRss(13), null);
      assert.equal(table.treeRss(2), 0);
      assert.equal(table.treeRss(99), null);
    } finally {
      await rm(proc, { recursive: true, force: true });
    }
    assert.equal(ProcessTable.scan(path.join(tmpdir(), 'no-such-proc-dir')).treeRss(1), null, 'no /proc: an empty table');
  });

  it('reads the parent and resident memory of a status text', () => {
    assert.deepEqual(parseStatus('Name:\tnode\nPPid:\t42\nVmRSS:\t  2048 kB\n'), { ppid: 42, rss: 2048 * 1024 });
    assert.deepEqual(parseStatus('Name:\tkthreadd\nPPid:\t0\n'), { ppid: 0, rss: 0 });
    assert.equal(parseStatus(''), null);
  });
});
