import { useState } from 'react';
import type { FileDiff } from '../../src/api/events.js';
import { diffLines, diffStat } from '../../src/api/diff-lines.js';

/** Lines of a diff shown before the rest is folded away. */
const DIFF_LINES = 12;

/** A change to a file as a compact unified diff: removed lines red, added green. */
export function DiffView({ diff }: { diff: FileDiff }) {
  const [all, setAll] = useState(false);
  const lines = diffLines(diff);
  const stat = diffStat(diff);
  const folded = !all && lines.length > DIFF_LINES + 2;
  const shown = folded ? lines.slice(0, DIFF_LINES) : lines;
  return (
    <figure className="diff" data-testid="diff">
      <figcaption>
        <span className="diff-path">{diff.path}</span>
        {diff.oldText === null && <span className="diff-new"> new file</span>}{' '}
        <span className="diff-stat">
          <span className="diff-added">+{stat.added}</span> <span className="diff-removed">−{stat.removed}</span>
        </span>
      </figcaption>
      <pre className="diff-lines">
        {shown.map((l, i) => (
          <span key={i} className={`diff-line ${l.op}`} data-op={l.op}>
            <span className="diff-sign" aria-hidden="true">
              {l.op === 'added' ? '+' : l.op === 'removed' ? '−' : ' '}
            </span>
            {l.text || '\u00a0'}
          </span>
        ))}
      </pre>
      {folded && (
        <button className="link" onClick={() => setAll(true)}>
          Show all {lines.length} lines
        </button>
      )}
    </figure>
  );
}
