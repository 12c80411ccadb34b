import { createInterface } from 'node:readline/promises';
import type { PermissionAnswer } from '../api/permissions.js';
import type { RequestShown } from './permission-lines.js';
import { answerFor, answerHint } from './question-answers.js';
import type { Style } from './render.js';

/** Where a person is asked: a terminal's input, and the output the questions go to. */
export interface Terminal {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

/**
 * How asking ended: with an answer; left unanswered by the person (Ctrl-D); interrupted
 * by Ctrl-C, which stops the turn; or stopped because the request no longer waits
 * (resolved elsewhere, the turn over).
 */
export type PromptResult = { state: 'answered'; answer: PermissionAnswer } | { state: 'left' } | { state: 'interrupted' } | { state: 'stopped' };

/**
 * Asks on the terminal for an answer to a request already shown: leave once or always,
 * or a denial with a message; each question's answer; the plan's approval or a note.
 * `signal` stops asking; Ctrl-C stops asking and calls `onInterrupt` (the terminal's
 * keys are the prompt's while it asks, so the process sees no SIGINT of its own). The
 * question's line is ended however asking ends.
 */
export async function promptAnswer(
  request: RequestShown,
  terminal: Terminal,
  style: Style,
  signal: AbortSignal,
  onInterrupt: () => void,
): Promise<PromptResult> {
  if (signal.aborted) return { state: 'stopped' };
  const rl = createInterface({ input: terminal.input, output: terminal.output, terminal: true });
  const closed = new Promise<null>((resolve) => rl.once('close', () => resolve(null)));
  // A question that is cancelled ends its line itself; one closed by Ctrl-D does not.
  const asking = new AbortController();
  const stop = () => asking.abort();
  signal.addEventListener('abort', stop, { once: true });
  let interrupted = false;
  rl.on('SIGINT', () => {
    interrupted = true;
    asking.abort();
    onInterrupt();
  });
  const say = (line: string) => terminal.output.write(line + '\n');
  /** The line typed, or null once asking has ended either way. */
  const ask = async (question: string): Promise<string | null> => {
    try {
      return await Promise.race([rl.question(question, { signal: asking.signal }), closed]);
    } catch {
      return null;
    }
  };
  const ended = (): PromptResult => {
    if (interrupted) return { state: 'interrupted' };
    if (signal.aborted) return { state: 'stopped' };
    terminal.output.write('\n');
    return { state: 'left' };
  };
  try {
    switch (request.kind) {
      case 'permission': {
        const always = request.options.some((o) => o.kind === 'allow_always');
        for (;;) {
          const typed = await ask(`  [y] allow once${always ? ', [a] always allow' : ''}, [n] deny: `);
          if (typed === null) return ended();
          const key = typed.trim().toLowerCase();
          if (key === 'y' || key === 'yes') return answered({ decision: 'allow', scope: 'once' });
          if (always && (key === 'a' || key === 'always')) return answered({ decision: 'allow', scope: 'always' });
          if (key === 'n' || key === 'no') {
            const why = await ask('  Why, or what to do instead (optional): ');
            if (why === null) return ended();
            return answered(deny(why));
          }
          say(style.dim(`  type y${always ? ', a' : ''} or n`));
        }
      }
      case 'plan': {
        for (;;) {
          const typed = await ask('  [y] approve, [n] keep planning: ');
          if (typed === null) return ended();
          const key = typed.trim().toLowerCase();
          if (key === 'y' || key === 'yes') return answered({ decision: 'allow' });
          if (key === 'n' || key === 'no') {
            const note = await ask('  What should change (optional): ');
            if (note === null) return ended();
            return answered(deny(note));
          }
          say(style.dim('  type y or n'));
        }
      }
      case 'question': {
        const questions = request.questions ?? [];
        const answers: Record<string, string> = {};
        say(style.dim('  (an empty answer declines the questions)'));
        for (const [i, q] of questions.entries()) {
          for (;;) {
            const typed = await ask(`  answer${questions.length > 1 ? ` ${i + 1}` : ''}: `);
            if (typed === null) return ended();
            if (typed.trim() === '') return answered({ decision: 'deny' });
            const answer = answerFor(q, typed);
            if (answer !== null) {
              answers[q.question] = answer;
              break;
            }
            say(style.dim(`  ${answerHint(q)}`));
          }
        }
        return answered({ decision: 'allow', answers });
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
    rl.close();
  }
}

function answered(answer: PermissionAnswer): PromptResult {
  return { state: 'answered', answer };
}

function deny(message: string): PermissionAnswer {
  return message.trim() ? { decision: 'deny', message: message.trim() } : { decision: 'deny' };
}
