import { useState } from 'react';
import { count, money } from './format';
import { Markdown } from './Markdown';
import type { Item, Turn } from './transcript';

const STATUS_LABEL: Record<Turn['status'], string> = {
  starting: 'starting',
  queued: 'queued',
  running: 'working',
  done: 'done',
  failed: 'failed',
  aborted: 'stopped',
  interrupted: 'interrupted',
};

/** A user message and everything the agent did in reply, the turn's outcome and cost at its end. */
export function TurnView({ turn }: { turn: Turn }) {
  return (
    <article className={`turn ${turn.status}`} data-testid="turn" data-status={turn.status}>
      <div className="user-message" data-testid="user-message">
        <div className="bubble">{turn.userText}</div>
      </div>
      <div className="assistant" data-testid="assistant">
        {turn.items.map((item, i) => (
          <ItemView key={i} item={item} />
        ))}
        {turn.status === 'running' && turn.items.length === 0 && <div className="thinking-dots">…</div>}
        <TurnEnd turn={turn} />
        <div className="turn-status" data-testid="turn-status">
          {STATUS_LABEL[turn.status]}
          {turn.backend && ` · ${turn.backend === 'claude_pty' ? 'PTY' : 'SDK'}`}
          {turn.tokens > 0 && ` · ${count(turn.tokens)} tokens · ${money(turn.costUsd)}`}
        </div>
      </div>
    </article>
  );
}

/**
 * Why a turn did not finish, under what it showed before it ended. A failure's error is
 * shown once: here, unless the reply already carries it.
 */
function TurnEnd({ turn }: { turn: Turn }) {
  if (turn.status === 'failed') {
    if (!turn.error || turn.items.some((x) => x.kind === 'error')) return null;
    return (
      <div className="error" role="alert">
        {turn.error}
      </div>
    );
  }
  if (turn.status !== 'aborted' && turn.status !== 'interrupted') return null;
  const stopped = turn.status === 'aborted';
  // The backends' own word for a stop is just "aborted"; say who stopped it instead.
  const why = stopped && (!turn.error || turn.error === 'aborted') ? 'you stopped this turn' : turn.error;
  const kept = turn.items.length > 0 ? 'what it did until then is above' : 'it had shown nothing yet';
  return (
    <div className={`turn-end ${turn.status}`} role="status" data-testid="turn-end">
      <strong>{stopped ? 'Stopped' : 'Interrupted'}</strong>
      <span className="turn-end-why">
        {why ? `${why}; ` : ''}
        {kept}.
      </span>
    </div>
  );
}

function ItemView({ item }: { item: Item }) {
  switch (item.kind) {
    case 'text':
      return (
        <div className="text markdown" data-testid="assistant-text">
          <Markdown>{item.text}</Markdown>
        </div>
      );
    case 'thinking':
      return (
        <details className="thinking" data-testid="thinking">
          <summary>Thinking</summary>
          <div className="thinking-text">{item.text}</div>
        </details>
      );
    case 'tool':
      return <ToolView tool={item} />;
    case 'error':
      return (
        <div className="error" role="alert" data-testid="error">
          {item.message}
        </div>
      );
    case 'notice':
      return <div className="notice">{item.message}</div>;
  }
}

const FOLD_LINES = 20;

function ToolView({ tool }: { tool: Extract<Item, { kind: 'tool' }> }) {
  const [all, setAll] = useState(false);
  const lines = tool.output?.split('\n') ?? [];
  const folded = !all && lines.length > FOLD_LINES;
  const shown = folded ? lines.slice(0, FOLD_LINES).join('\n') : (tool.output ?? '');
  const input = tool.input === undefined ? tool.partialInput : JSON.stringify(tool.input, null, 2);
  return (
    <details className={tool.isError ? 'tool failed' : 'tool'} data-testid="tool-call" open={tool.output === null}>
      <summary>
        <span className="tool-name">{tool.name}</span> <span className="tool-brief">{brief(tool.input)}</span>
        <span className="tool-state">{tool.output === null ? ' running…' : tool.isError ? ' failed' : ''}</span>
      </summary>
      <pre className="tool-input" data-testid="tool-input">
        {input}
      </pre>
      {tool.output !== null && (
        <div className="tool-output" data-testid="tool-output">
          <pre>{shown}</pre>
          {folded && (
            <button className="link" onClick={() => setAll(true)}>
              Show all {lines.length} lines
            </button>
          )}
        </div>
      )}
    </details>
  );
}

/** The input's most telling field in one line: a command, a path, a pattern. */
function brief(input: unknown): string {
  if (!input || typeof input !== 'object') return '';
  const o = input as Record<string, unknown>;
  const v = o.command ?? o.file_path ?? o.path ?? o.pattern ?? o.url ?? o.description ?? Object.values(o)[0];
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > 80 ? `${s.slice(0, 79)}…` : (s ?? '');
}
