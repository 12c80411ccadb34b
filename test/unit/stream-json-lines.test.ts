import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamJsonLines } from '../../src/agents/claude/pty/stream-json-lines.js';

describe('StreamJsonLines', () => {
  it('joins messages split across chunks and drops the terminal’s carriage returns', () => {
    const lines = new StreamJsonLines();
    assert.deepEqual(lines.push('{"type":"system","sub'), []);
    assert.deepEqual(lines.push('type":"init"}\r\n{"type":"res'), [{ type: 'system', subtype: 'init' }]);
    assert.deepEqual(lines.push('ult","n":1}\r\n'), [{ type: 'result', n: 1 }]);
  });

  it('strips control sequences and echoed keys in front of a message, and keeps the rest as noise', () => {
    const lines = new StreamJsonLines();
    const out = lines.push('\x1b[?25l\x1b]0;claude\x07^C{"type":"user","text":"a \\u001b[31m literal"}\r\nError: no session found\r\n\x1b[?25h');
    assert.deepEqual(out, [{ type: 'user', text: 'a \u001b[31m literal' }]);
    assert.deepEqual(lines.end(), []);
    assert.equal(lines.noiseTail(), 'Error: no session found');
  });

  it('keeps a line that only looks like JSON as noise, and parses what is left unterminated at the end', () => {
    const lines = new StreamJsonLines();
    assert.deepEqual(lines.push('usage: {oops\n{"type":"last"}'), []);
    assert.deepEqual(lines.end(), [{ type: 'last' }]);
    assert.equal(lines.noiseTail(), 'usage: {oops');
  });

  it('holds only a bounded tail of noise', () => {
    const lines = new StreamJsonLines();
    for (let i = 0; i < 2_000; i++) lines.push(`noise line ${i}\n`);
    assert.ok(lines.noiseTail().length <= 8 * 1024);
    assert.match(lines.noiseTail(), /noise line 1999$/);
  });
});
