import { useId, useState } from 'react';
import type { PermissionOutcome, PermissionQuestion } from '../../src/api/permissions.js';
import type { StoredPermission } from '../../src/api/parts.js';
import { withoutUndefined } from '../../src/api/without-undefined.js';
import type { AnswerResult, PermissionAnswer } from './api';
import { DiffView } from './DiffView';
import { Markdown } from './Markdown';

export type Answer = (requestId: string, answer: PermissionAnswer) => Promise<AnswerResult>;

/** How a request ended, as the card shows it. */
interface Ending {
  outcome: PermissionOutcome;
  optionId?: string;
  message?: string;
  answers?: Record<string, string>;
  answeredAt?: string;
}

/**
 * Where an answer from this page stands: not given, on its way, settled (taken, or lost
 * to an end that came first: answered elsewhere, stopped, timed out), or refused.
 */
type Sending =
  | { state: 'idle' }
  | { state: 'sending' }
  | { state: 'settled'; lost: boolean; ending: Ending }
  | { state: 'failed'; message: string };

/**
 * A request the agent put to a person, in the transcript where it arose: what it asks
 * and the answers on offer while it waits, how it ended once it has. Its outcome comes
 * from the chat's events, so an answer given on another page shows here at once. All
 * the agent's text is shown as text (a plan as Markdown, which renders no HTML).
 */
export function PermissionCard({ part, answer }: { part: StoredPermission; answer: Answer }) {
  const [sending, setSending] = useState<Sending>({ state: 'idle' });
  const ending = endingOf(part, sending);

  const send = async (body: PermissionAnswer) => {
    setSending({ state: 'sending' });
    try {
      const result = await answer(part.requestId, body);
      const { status, optionId, message, answers, answeredAt } = result.request;
      if (status === 'pending') setSending({ state: 'idle' });
      else setSending({ state: 'settled', lost: result.state === 'lost', ending: withoutUndefined({ outcome: status, optionId, message, answers, answeredAt }) });
    } catch (err) {
      setSending({ state: 'failed', message: (err as Error).message });
    }
  };

  return (
    <section
      className={`permission-card ${part.kind} ${ending ? `resolved ${ending.outcome}` : 'pending'}`}
      data-testid="permission-card"
      data-kind={part.kind}
      data-outcome={ending?.outcome ?? 'pending'}
      aria-label={part.kind === 'permission' ? `${HEADINGS.permission} ${part.tool}` : HEADINGS[part.kind]}
    >
      <header className="permission-head">
        <strong>{HEADINGS[part.kind]}</strong>
        {part.kind === 'permission' && (
          <>
            {' '}
            <span className="tool-name" data-testid="permission-tool">
              {part.tool}
            </span>
            {/* A command is shown whole below. */}
            {part.details?.title && part.details.title !== part.details.command && <span className="tool-brief"> {part.details.title}</span>}
          </>
        )}
      </header>
      <Subject part={part} />
      {ending ? (
        <Outcome part={part} ending={ending} lost={sending.state === 'settled' && sending.lost} />
      ) : part.kind === 'question' ? (
        <QuestionForm questions={part.questions ?? []} busy={sending.state === 'sending'} onSend={send} />
      ) : (
        <Decide part={part} busy={sending.state === 'sending'} onSend={send} />
      )}
      {sending.state === 'failed' && !ending && (
        <p className="form-error" role="alert" data-testid="permission-error">
          {sending.message}
        </p>
      )}
    </section>
  );
}

const HEADINGS: Record<StoredPermission['kind'], string> = {
  permission: 'Permission to use',
  question: 'The agent asks',
  plan: 'Approve the plan?',
};

/** The chat's word on how the request ended; until its event arrives, what this page's answer learned. */
function endingOf(part: StoredPermission, sending: Sending): Ending | null {
  if (part.outcome) return withoutUndefined({ outcome: part.outcome, optionId: part.optionId, message: part.message, answers: part.answers, answeredAt: part.answeredAt });
  return sending.state === 'settled' ? sending.ending : null;
}

/** What the request is about: the plan, the edit's diff, the command and where it runs, or the tool's input. */
function Subject({ part }: { part: StoredPermission }) {
  if (part.kind === 'question') return null;
  if (part.kind === 'plan') {
    return part.plan !== undefined ? (
      <div className="plan-text markdown" data-testid="permission-plan">
        <Markdown>{part.plan}</Markdown>
      </div>
    ) : (
      <Input input={part.input} />
    );
  }
  const details = part.details;
  if (details?.diffs?.length) return <>{details.diffs.map((d, i) => <DiffView key={i} diff={d} />)}</>;
  if (details?.command !== undefined) {
    return (
      <div className="permission-command">
        <pre data-testid="permission-command">{details.command}</pre>
        {details.cwd && (
          <div className="hint" data-testid="permission-cwd">
            in <code>{details.cwd}</code>
          </div>
        )}
      </div>
    );
  }
  return <Input input={part.input} />;
}

function Input({ input }: { input: unknown }) {
  return (
    <pre className="permission-input" data-testid="permission-input">
      {JSON.stringify(input, null, 2)}
    </pre>
  );
}

/** The answers to a tool's use or a plan: yes (once, or always where offered) or no, with a note for the agent. */
function Decide({ part, busy, onSend }: { part: StoredPermission; busy: boolean; onSend: (answer: PermissionAnswer) => void }) {
  const [note, setNote] = useState('');
  const always = part.kind === 'permission' && part.options.some((o) => o.kind === 'allow_always');
  const plan = part.kind === 'plan';
  const message = note.trim() ? { message: note.trim() } : {};
  return (
    <div className="permission-actions">
      <button type="button" className="primary" disabled={busy} onClick={() => onSend({ decision: 'allow', scope: 'once' })}>
        {plan ? 'Approve' : 'Allow once'}
      </button>
      {always && (
        <button type="button" disabled={busy} onClick={() => onSend({ decision: 'allow', scope: 'always' })} title="Allow this now and from now on in this chat">
          Always allow
        </button>
      )}
      <input
        className="permission-note"
        aria-label={plan ? 'Note for the agent' : 'Reason for the agent'}
        placeholder={plan ? 'What to change (optional)' : 'Why not (optional)'}
        value={note}
        maxLength={10_000}
        onChange={(e) => setNote(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.nativeEvent.isComposing && !busy) {
            e.preventDefault();
            onSend({ decision: 'deny', ...message });
          }
        }}
      />
      <button type="button" className="deny" disabled={busy} onClick={() => onSend({ decision: 'deny', ...message })}>
        {plan ? 'Reject' : 'Deny'}
      </button>
    </div>
  );
}

/** A question's answer being written: the choices picked and words of the person's own. */
interface Draft {
  picked: string[];
  own: string;
}

/** The answer a draft gives: the choice or the person's own words (one question), or all of them joined. */
function answerOf(q: PermissionQuestion, d: Draft): string {
  const own = q.freeText ? d.own.trim() : '';
  if (!q.multiSelect) return own || (d.picked[0] ?? '');
  return [...q.choices.map((c) => c.label).filter((l) => d.picked.includes(l)), ...(own ? [own] : [])].join(', ');
}

function QuestionForm({ questions, busy, onSend }: { questions: PermissionQuestion[]; busy: boolean; onSend: (answer: PermissionAnswer) => void }) {
  const [drafts, setDrafts] = useState<Draft[]>(() => questions.map(() => ({ picked: [], own: '' })));
  const [note, setNote] = useState('');
  const formId = useId();
  const answers = Object.fromEntries(questions.map((q, i) => [q.question, answerOf(q, drafts[i]!)]));
  const complete = questions.every((q) => answers[q.question] !== '');
  const change = (i: number, fn: (d: Draft) => Draft) => setDrafts((all) => all.map((d, j) => (j === i ? fn(d) : d)));

  return (
    <form
      className="permission-questions"
      onSubmit={(e) => {
        e.preventDefault();
        if (complete && !busy) onSend({ decision: 'allow', answers });
      }}
    >
      {questions.map((q, i) => {
        const d = drafts[i]!;
        const name = `${formId}-q${i}`;
        return (
          <fieldset key={i} className="permission-question" data-testid="permission-question">
            <legend>
              {q.header && <span className="question-header">{q.header}</span>} {q.question}
            </legend>
            {q.choices.map((c) => (
              <label key={c.label} className="question-choice">
                <input
                  type={q.multiSelect ? 'checkbox' : 'radio'}
                  name={name}
                  checked={d.picked.includes(c.label)}
                  onChange={(e) => {
                    const on = e.target.checked;
                    change(i, (old) =>
                      q.multiSelect
                        ? { ...old, picked: on ? [...old.picked, c.label] : old.picked.filter((l) => l !== c.label) }
                        : // One choice: picking it sets aside words of one's own.
                          { picked: [c.label], own: '' },
                    );
                  }}
                />
                <span className="choice-label">{c.label}</span>
                {c.description && <span className="choice-description"> {c.description}</span>}
              </label>
            ))}
            {q.freeText && (
              <input
                className="question-own"
                aria-label={`Your own answer: ${q.question}`}
                placeholder={q.choices.length > 0 ? (q.multiSelect ? 'Something else too (optional)' : 'Or in your own words') : 'Your answer'}
                value={d.own}
                maxLength={10_000}
                onChange={(e) => {
                  const own = e.target.value;
                  // For one choice, words of one's own take its place.
                  change(i, (old) => ({ picked: q.multiSelect || own === '' ? old.picked : [], own }));
                }}
              />
            )}
          </fieldset>
        );
      })}
      <div className="permission-actions">
        <button type="submit" className="primary" disabled={busy || !complete}>
          Answer
        </button>
        <input
          className="permission-note"
          aria-label="Reason for the agent"
          placeholder="Why not (optional)"
          value={note}
          maxLength={10_000}
          onChange={(e) => setNote(e.target.value)}
        />
        <button type="button" className="deny" disabled={busy} onClick={() => onSend({ decision: 'deny', ...(note.trim() ? { message: note.trim() } : {}) })}>
          Decline
        </button>
      </div>
    </form>
  );
}

/** How the request ended, and what the person said or answered. */
function Outcome({ part, ending, lost }: { part: StoredPermission; ending: Ending; lost: boolean }) {
  const option = part.options.find((o) => o.id === ending.optionId);
  const answers = Object.entries(ending.answers ?? {});
  const when = ending.answeredAt ? new Date(ending.answeredAt) : null;
  return (
    <div className="permission-outcome" data-testid="permission-outcome" role="status">
      <strong className="outcome-label">{outcomeLabel(part.kind, ending.outcome, option?.kind === 'allow_always')}</strong>
      {when && !Number.isNaN(when.getTime()) && (
        <time className="hint" dateTime={ending.answeredAt} title={when.toLocaleString()}>
          {' '}
          {when.toLocaleTimeString()}
        </time>
      )}
      {lost && (
        <span className="hint" data-testid="permission-lost">
          {' '}
          — it had already ended when your answer arrived
        </span>
      )}
      {ending.message && (
        // A person's note is quoted; why it ended by itself is said plainly.
        <p className={ending.outcome === 'denied' || ending.outcome === 'allowed' || ending.outcome === 'answered' ? 'outcome-message said' : 'outcome-message'} data-testid="permission-message">
          {ending.message}
        </p>
      )}
      {answers.length > 0 && (
        <dl className="outcome-answers" data-testid="permission-answers">
          {answers.map(([question, a]) => (
            <div key={question}>
              <dt>{question}</dt>
              <dd>{a}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}

function outcomeLabel(kind: StoredPermission['kind'], outcome: PermissionOutcome, always: boolean): string {
  switch (outcome) {
    case 'allowed':
      return kind === 'plan' ? 'Approved' : always ? 'Always allowed in this chat' : 'Allowed once';
    case 'denied':
      return kind === 'plan' ? 'Rejected' : kind === 'question' ? 'Declined' : 'Denied';
    case 'answered':
      return 'Answered';
    case 'cancelled':
      return 'Cancelled';
    case 'expired':
      return 'Expired';
    case 'timed_out':
      return 'Timed out';
  }
}
