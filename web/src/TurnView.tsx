import { useState } from 'react';
import { count, money, shortName } from './format';
import { DiffView } from './DiffView';
import { Markdown } from './Markdown';
import { PermissionCard, type Answer } from './PermissionCard';
import type { PlanEntry, ToolStatus } from '../../src/api/events.js';
import type { FoldItem } from '../../src/api/fold.js';
import type { StoredPart, StoredToolCall } from '../../src/api/parts.js';
import type { Notice, Turn } from './transcript';

const STATUS_LABEL: Record<Turn['status'], string> = {
  starting: 'starting',
  queued: 'queued',
  running: 'working',
  done: 'done',
  failed: 'failed',
  aborted: 'stopped',
  interrupted: 'interrupted',
};

/**
 * A user message and everything the agent did in reply, the turn's outcome and cost at its
 * end; in a chat that talks to several agents, which agent replied.
 */
export function TurnView({ turn, answer, showAgent = false }: { turn: Turn; answer: Answer; showAgent?: boolean }) {
  return (
    <article className={`turn ${turn.status}`} data-testid="turn" data-status={turn.status}>
      <div className="user-message" data-testid="user-message">
        <div className="bubble">{turn.userText}</div>
      </div>
      <div className="assistant" data-testid="assistant">
        <Reply turn={turn} answer={answer} />
        {turn.status === 'running' && turn.reply.items.length === 0 && <div className="thinking-dots">…</div>}
        <TurnEnd turn={turn} />
        <div className="turn-status" data-testid="turn-status">
          {STATUS_LABEL[turn.status]}
          {showAgent && turn.agent && (
            <>
              {' · '}
              <span className="turn-agent" data-testid="turn-agent">
                {turn.agent}
              </span>
            </>
          )}
          {turn.backend && ` · ${shortName(turn.backend)}`}
          {turn.tokens > 0 && ` · ${count(turn.tokens)} tokens · ${money(turn.costUsd)}`}
          {turn.context && turn.context.size > 0 && ` · context ${count(turn.context.used)} of ${count(turn.context.size)}`}
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
    if (!turn.error || turn.reply.items.some((x) => x.part.type === 'error')) return null;
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
  const kept = turn.reply.items.length > 0 || turn.notices.length > 0 ? 'what it did until then is above' : 'it had shown nothing yet';
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

type ToolResult = Extract<StoredPart, { type: 'tool_result' }>;

/** The reply's parts in order, each tool result inside its call, the notices where they arrived. */
function Reply({ turn, answer }: { turn: Turn; answer: Answer }) {
  const items = turn.reply.items;
  const calls = new Set(items.flatMap((x) => (x.part.type === 'tool_call' ? [x.part.id] : [])));
  const results = new Map(items.flatMap((x) => (x.part.type === 'tool_result' ? [[x.part.id, x.part] as const] : [])));
  const live = turn.status === 'running' || turn.status === 'starting' || turn.status === 'queued';
  const noticesAt = (at: number) => turn.notices.filter((n) => Math.min(n.at, items.length) === at).map((n, i) => <NoticeView key={`n${at}-${i}`} notice={n} />);
  return (
    <>
      {/* One flat list, so a part keeps its element when parts before it change (a result put under its call). */}
      {items.flatMap((item, i) => [
        ...noticesAt(i),
        // A request keeps its card, and what is being written in it, wherever the reply puts it.
        <PartView
          key={item.part.type === 'permission' ? `permission-${item.part.requestId}` : `part-${i}`}
          item={item}
          result={item.part.type === 'tool_call' ? results.get(item.part.id) : undefined}
          shownInCall={item.part.type === 'tool_result' && calls.has(item.part.id)}
          live={live}
          answer={answer}
        />,
      ])}
      {noticesAt(items.length)}
    </>
  );
}

function PartView({
  item,
  result,
  shownInCall,
  live,
  answer,
}: {
  item: FoldItem;
  result: ToolResult | undefined;
  shownInCall: boolean;
  live: boolean;
  answer: Answer;
}) {
  const part = item.part;
  switch (part.type) {
    case 'text':
      return (
        <div className="text markdown" data-testid="assistant-text">
          <Markdown>{part.text}</Markdown>
        </div>
      );
    case 'thinking':
      return (
        <details className="thinking" data-testid="thinking">
          <summary>Thinking</summary>
          <div className="thinking-text">{part.text}</div>
        </details>
      );
    case 'tool_call':
      return <ToolView call={part} result={result} partialInput={item.partialInput} live={live} />;
    case 'tool_result':
      // A result whose call the reply does not hold stands alone.
      return shownInCall ? null : <ToolOutput result={part} />;
    case 'plan':
      return <PlanView entries={part.entries} text={part.text} />;
    case 'permission':
      return <PermissionCard part={part} answer={answer} />;
    case 'error':
      return (
        <div className="error" role="alert" data-testid="error">
          {part.message}
        </div>
      );
  }
}

const MODE_LABEL: Record<string, string> = {
  default: 'default (asks before acting)',
  acceptEdits: 'accept edits',
  bypassPermissions: 'bypass permissions',
  plan: 'plan (no changes until the plan is accepted)',
  dontAsk: "don't ask",
  auto: 'auto',
};

function NoticeView({ notice }: { notice: Notice }) {
  if (notice.kind === 'mode') {
    return (
      <div className="notice mode" data-testid="mode-change">
        Mode: {MODE_LABEL[notice.mode] ?? notice.mode}
      </div>
    );
  }
  return <div className="notice">{notice.message}</div>;
}

/** Where a call stands: as the agent said, else as its result says; a call the turn left unfinished shows so. */
function toolStatus(call: StoredToolCall, result: ToolResult | undefined, live: boolean): ToolStatus | 'unfinished' {
  const status = call.status ?? (result ? (result.isError ? 'failed' : 'completed') : 'running');
  return !live && (status === 'pending' || status === 'running') ? 'unfinished' : status;
}

const TOOL_STATE: Record<ToolStatus | 'unfinished', string> = {
  pending: 'waiting…',
  running: 'running…',
  completed: '✓',
  failed: '✗ failed',
  unfinished: 'no result',
};

function ToolView({ call, result, partialInput, live }: { call: StoredToolCall; result: ToolResult | undefined; partialInput: string | undefined; live: boolean }) {
  const status = toolStatus(call, result, live);
  const input = call.input === undefined ? (partialInput ?? '') : JSON.stringify(call.input, null, 2);
  return (
    <div className={`tool ${status}`} data-testid="tool-call" data-status={status}>
      <details open={status === 'pending' || status === 'running'}>
        <summary>
          <span className="tool-name">{call.name}</span> <span className="tool-brief">{oneLine(call.title ?? brief(call.input))}</span>{' '}
          <span className="tool-state" data-testid="tool-state">
            {TOOL_STATE[status]}
          </span>
        </summary>
        <pre className="tool-input" data-testid="tool-input">
          {input}
        </pre>
        {result && <ToolOutput result={result} />}
      </details>
      {call.diffs?.map((d, i) => <DiffView key={i} diff={d} />)}
    </div>
  );
}

const FOLD_LINES = 20;

function ToolOutput({ result }: { result: ToolResult }) {
  const [all, setAll] = useState(false);
  const lines = result.output.split('\n');
  const folded = !all && lines.length > FOLD_LINES;
  const shown = folded ? lines.slice(0, FOLD_LINES).join('\n') : result.output;
  return (
    <div className={result.isError ? 'tool-output failed' : 'tool-output'} data-testid="tool-output">
      <pre>{shown}</pre>
      {folded && (
        <button className="link" onClick={() => setAll(true)}>
          Show all {lines.length} lines
        </button>
      )}
    </div>
  );
}

const PLAN_MARK: Record<PlanEntry['status'], string> = { pending: '☐', in_progress: '◐', completed: '☑' };
const PLAN_STATE: Record<PlanEntry['status'], string> = { pending: 'to do', in_progress: 'in progress', completed: 'done' };

/** The agent's plan: its tasks as a checklist, a written plan as Markdown. */
function PlanView({ entries, text }: { entries: PlanEntry[]; text: string | undefined }) {
  return (
    <section className="plan" data-testid="plan" aria-label="Plan">
      {text !== undefined && (
        <div className="plan-text markdown" data-testid="plan-text">
          <Markdown>{text}</Markdown>
        </div>
      )}
      {entries.length > 0 && (
        <ul className="plan-entries">
          {entries.map((e, i) => (
            <li key={i} className={`plan-entry ${e.status}`} data-testid="plan-entry" data-status={e.status}>
              <span className="plan-mark" role="img" aria-label={PLAN_STATE[e.status]}>
                {PLAN_MARK[e.status]}
              </span>{' '}
              {e.content}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function oneLine(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, ' ⏎ ');
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

/** The input's most telling field in one line, for a call the agent gave no title. */
function brief(input: unknown): string {
  if (!input || typeof input !== 'object') return '';
  const o = input as Record<string, unknown>;
  const v = o.command ?? o.file_path ?? o.path ?? o.pattern ?? o.url ?? o.description ?? Object.values(o)[0];
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
}
