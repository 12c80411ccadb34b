// A file change as the lines a unified diff shows.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { diffLines, diffStat } from '../../src/api/diff-lines.js';

const show = (oldText: string | null, newText: string) => diffLines({ oldText, newText }).map((l) => ({ kept: ' ', removed: '-', added: '+' })[l.op] + l.text);

describe('diffLines', () => {
  it('shows a new file as all added, its final newline ending the last line', () => {
    assert.deepEqual(show(null, 'one\ntwo\n'), ['+one', '+two']);
    assert.deepEqual(show(null, ''), []);
  });

  it('keeps common lines and shows a change as removals, then additions', () => {
    assert.deepEqual(show('a\nb\nc\nd', 'a\nB\nc\nd\ne'), [' a', '-b', '+B', ' c', ' d', '+e']);
    assert.deepEqual(show('two', 'three'), ['-two', '+three']);
    assert.deepEqual(show('x\ny', ''), ['-x', '-y']);
  });

  it('counts what a diff removes and adds', () => {
    assert.deepEqual(diffStat({ oldText: 'a\nb\nc', newText: 'a\nc\nd\ne' }), { removed: 1, added: 2 });
  });

  it('compares a very large change wholesale rather than line by line', () => {
    const a = Array.from({ length: 1000 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 1000 }, (_, i) => `b${i}`).join('\n');
    assert.deepEqual(diffStat({ oldText: a, newText: b }), { removed: 1000, added: 1000 });
  });
});
