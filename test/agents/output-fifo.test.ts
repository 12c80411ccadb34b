// The pipe the PTY driver has the claude CLI print its messages into, written by real
// processes: everything written is read, even what is still in the pipe when its writer
// has exited, the end comes once the last writer is gone, and a process that keeps the
// pipe open cannot hold the reader forever.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OutputFifo } from '../../src/agents/claude/pty/output-fifo.js';
import { signalIfAlive } from '../../src/util/processes.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'output-fifo-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fifo(): Promise<{ output: OutputFifo; read: () => string }> {
  const output = await OutputFifo.create(path.join(dir, `out${n++}`));
  let text = '';
  output.onData((chunk) => (text += chunk));
  return { output, read: () => text };
}

/** A shell line run with its standard output on the pipe, as the driver's wrapper runs the CLI. */
function writer(output: OutputFifo, line: string) {
  const child = spawn('/bin/sh', ['-c', `exec > "$0"; ${line}`, output.path], { stdio: 'ignore' });
  return new Promise<number | null>((resolve) => child.once('exit', resolve));
}

describe('OutputFifo', () => {
  it('is a pipe only its owner may open', async () => {
    const { output } = await fifo();
    const s = await stat(output.path);
    assert.ok(s.isFIFO());
    assert.equal(s.mode & 0o777, 0o600);
    output.close();
  });

  it('reads all a late writer prints, and ends once it has exited', async () => {
    const { output, read } = await fifo();
    // Nothing written for a while is not the end.
    assert.equal(await writer(output, `sleep 0.3; head -c 1000000 /dev/zero | tr '\\0' x; printf '\\n'`), 0);
    assert.equal(await output.drain(5_000), true);
    assert.equal(read().length, 1_000_001);
  });

  it('reads what is still in the pipe when its writer has exited and nothing was read meanwhile', async () => {
    const { output, read } = await fifo();
    // Run to its end while this process cannot read: all of it waits in the pipe.
    spawnSync('/bin/sh', ['-c', `exec > "$0"; head -c 60000 /dev/zero | tr '\\0' y; printf '\\n'`, output.path], { stdio: 'ignore' });
    assert.equal(read(), '');
    assert.equal(await output.drain(5_000), true);
    assert.equal(read().length, 60_001);
  });

  it('ends when no writer ever came', async () => {
    const { output, read } = await fifo();
    const started = performance.now();
    assert.equal(await output.drain(5_000), true);
    assert.ok(performance.now() - started < 2_000);
    assert.equal(read(), '');
  });

  it('gives up on a process that still holds the pipe, and reads no more from it', async () => {
    const { output, read } = await fifo();
    const pidFile = path.join(dir, 'holder.pid');
    // The writer leaves a process behind that holds the pipe and writes again later.
    await writer(output, `printf 'first\\n'; (sleep 1; printf 'late\\n') & echo $! > "${pidFile}"`);
    try {
      assert.equal(await output.drain(200), false);
      assert.equal(read(), 'first\n');
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(read(), 'first\n', 'nothing is read once it has given up');
    } finally {
      const holder = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      if (holder > 0) signalIfAlive(holder, 'SIGKILL');
      output.close();
    }
  });
});
