/**
 * A permission request and its outcome as the CLI shows them: on a turn's stream, in
 * `hearth pending`, `hearth allow`/`deny` and the history. Everything the agent or the
 * server wrote goes through `printable`.
 */
import type { PermissionRequestData, PermissionResolvedData } from '../api/events.js';
import type { PermissionQuestion } from '../api/permissions.js';
import { diffBlock, oneLine, planLines, printable, toolCallText, type Style } from './render.js';

/** What the lines of a request are made from: the stream's request, the API's view and the stored part all have it. */
export type RequestShown = Pick<PermissionRequestData, 'kind' | 'tool' | 'input' | 'options' | 'details' | 'questions' | 'plan'>;

/** How a request ended: the stream's outcome, or the API's view of an answered request. */
export type OutcomeShown = Pick<PermissionResolvedData, 'outcome' | 'optionId' | 'message' | 'answers'>;

/** Lines of a proposed change shown to the person asked; the rest is counted. */
const REQUEST_DIFF_LINES = 20;

/** `? Allow Write(notes.md)?`, `? The agent asks: Which colour?`, `? Approve the plan?` */
export function requestHeadline(request: RequestShown): string {
  switch (request.kind) {
    case 'permission':
      return `? Allow ${toolCallText(request.tool, request.input, request.details?.title)}?`;
    case 'question': {
      const questions = request.questions ?? [];
      if (questions.length === 1) return `? The agent asks: ${oneLine(questions[0]!.question)}`;
      return `? The agent asks ${questions.length} questions`;
    }
    case 'plan':
      return '? Approve the plan and start?';
  }
}

/**
 * The request in full, for a person to judge: the change or command, each question with
 * its choices, the plan. `changesShown`: the change is on the screen already, just above.
 */
export function requestLines(request: RequestShown, style: Style, changesShown = false): string[] {
  const lines = [style.bold(requestHeadline(request))];
  switch (request.kind) {
    case 'permission': {
      const details = request.details ?? {};
      if (!changesShown) for (const diff of details.diffs ?? []) lines.push(...diffBlock(diff, style, REQUEST_DIFF_LINES));
      if (details.cwd) lines.push(style.dim(`  in ${oneLine(details.cwd)}`));
      break;
    }
    case 'question': {
      const questions = request.questions ?? [];
      questions.forEach((q, i) => {
        if (questions.length > 1) lines.push(`  ${i + 1}. ${questionText(q)}`);
        lines.push(...choiceLines(q, questions.length > 1 ? '     ' : '  '));
      });
      break;
    }
    case 'plan':
      if (request.plan !== undefined) lines.push(...planLines([], request.plan, style).map((l) => `  ${l}`));
      break;
  }
  return lines;
}

/** `Colour: Which colour?`: the question under its short label where it has one. */
export function questionText(q: PermissionQuestion): string {
  return q.header ? `${oneLine(q.header, 30)}: ${oneLine(q.question)}` : oneLine(q.question);
}

/** The numbered choices of a question, and what else it takes. */
export function choiceLines(q: PermissionQuestion, lead: string): string[] {
  const lines = q.choices.map((c, i) => `${lead}${i + 1}) ${oneLine(c.label, 60)}${c.description ? ` — ${oneLine(c.description, 80)}` : ''}`);
  if (q.multiSelect && q.choices.length > 1) lines.push(`${lead}(several may be picked)`);
  if (q.freeText && q.choices.length > 0) lines.push(`${lead}(or an answer in your own words)`);
  return lines;
}

/** `✓ allowed once`, `✗ denied: not that file`, `· timed out: nobody answered within 300 s` */
export function outcomeLine(request: Pick<RequestShown, 'kind' | 'options'>, resolved: OutcomeShown, style: Style): string {
  const said = resolved.message ? `: ${oneLine(resolved.message, 200)}` : '';
  const option = request.options.find((o) => o.id === resolved.optionId);
  switch (resolved.outcome) {
    case 'allowed':
      if (request.kind === 'plan') return style.green(`✓ plan approved${said}`);
      return style.green(option?.kind === 'allow_always' ? `✓ always allowed, a rule of this chat now${said}` : `✓ allowed once${said}`);
    case 'answered': {
      const answers = Object.entries(resolved.answers ?? {}).map(([q, a]) => `${oneLine(q, 60)} → ${oneLine(a, 60)}`);
      return style.green(`✓ answered${answers.length ? `: ${answers.join('; ')}` : ''}${said}`);
    }
    case 'denied':
      if (request.kind === 'plan') return style.red(`✗ plan not approved, the agent keeps planning${said}`);
      if (request.kind === 'question') return style.red(`✗ declined to answer${said}`);
      return style.red(`✗ denied${said}`);
    case 'cancelled':
      return style.dim(`· cancelled${said}`);
    case 'expired':
      return style.dim(`· expired${said}`);
    case 'timed_out':
      return style.dim(`· timed out${said}`);
  }
}

/** The commands that answer a request from anywhere, for a turn that cannot ask on a terminal. */
export function answerCommands(chatId: string, requestId: string, request: RequestShown): string[] {
  const ids = `${printable(chatId)} ${printable(requestId)}`;
  switch (request.kind) {
    case 'permission': {
      const always = request.options.some((o) => o.kind === 'allow_always') ? ' [--always]' : '';
      return [`hearth allow ${ids}${always}`, `hearth deny ${ids} [--message "why, or what to do instead"]`];
    }
    case 'question': {
      const each = (request.questions ?? []).map(() => '--answer "…"').join(' ');
      return [`hearth allow ${ids} ${each}`.trimEnd(), `hearth deny ${ids}`];
    }
    case 'plan':
      return [`hearth allow ${ids}`, `hearth deny ${ids} [--message "what to change"]`];
  }
}
