/**
 * Claude Code's permission requests as Hearth asks them, and Hearth's answers as Claude
 * Code takes them: one mapping for both Claude roads (the SDK's `canUseTool` callback and
 * the CLI's `can_use_tool` control request carry the same tool name, input and suggestions).
 * Input comes from the model, so every field is checked before it is used.
 */
import type { PermissionOption, PermissionOptionKind } from '../../api/events.js';
import type { PermissionDetails, PermissionKind, PermissionQuestion } from '../../api/permissions.js';
import type { PermissionAsk, PermissionDecision } from '../contract/driver.js';
import { claudeToolDetails, claudeToolPlan } from './claude-tools.js';

type Input = Record<string, unknown>;

/** What Claude Code says about a request besides its tool and input. */
export interface ClaudeAskContext {
  /** The tool call the request is about. */
  toolUseId: string | null;
  /** Claude Code's suggested permission updates: for a command, the rule it would add. */
  suggestions?: readonly unknown[];
  /** The session's working directory. */
  cwd?: string;
  /** Claude Code says a standing answer would let through more than this request. */
  suppressAlwaysAllowRule?: boolean;
}

/** Claude Code's answer to a permission request, as `canUseTool` returns it and the control response carries it. */
export type ClaudePermissionResult =
  | { behavior: 'allow'; updatedInput: Input }
  | { behavior: 'deny'; message: string; interrupt?: boolean };

const QUESTION_TOOL = 'AskUserQuestion';
const PLAN_TOOL = 'ExitPlanMode';
const COMMAND_TOOL = 'Bash';

/** The ask for Claude Code's request to call `toolName` with `input`. */
export function claudeAsk(toolName: string, input: unknown, context: ClaudeAskContext): PermissionAsk {
  const i = isRecord(input) ? input : {};
  const base = { toolCallId: context.toolUseId, tool: toolName, input };
  if (toolName === QUESTION_TOOL) {
    return { ...base, kind: 'question', options: optionsFor('question', false), questions: questionsOf(i) };
  }
  if (toolName === PLAN_TOOL) {
    const plan = claudeToolPlan(toolName, i)?.text;
    return { ...base, kind: 'plan', options: optionsFor('plan', false), details: detailsOf(toolName, i, context.cwd), ...(plan !== undefined ? { plan } : {}) };
  }
  const command = toolName === COMMAND_TOOL ? str(i.command) : undefined;
  const rule = context.suppressAlwaysAllowRule ? undefined : ruleFor(toolName, command, context.suggestions);
  return {
    ...base,
    kind: 'permission',
    options: optionsFor('permission', rule !== undefined),
    details: detailsOf(toolName, i, context.cwd),
    ...(rule ? { rule } : {}),
    ...(command !== undefined ? { subject: command } : {}),
  };
}

/** Claude Code's answer for `decision` on `ask`, whose call had `input`. */
export function claudeResult(ask: PermissionAsk, input: Input, decision: PermissionDecision): ClaudePermissionResult {
  // The turn is stopping: Claude Code is told to stop too, not to try another way.
  if (decision.outcome === 'cancelled') return { behavior: 'deny', message: decision.message, interrupt: true };
  if (decision.kind === 'allow_once' || decision.kind === 'allow_always') {
    // Claude Code reads a question's answers from the input it is given back, keyed by question text.
    if (ask.kind === 'question') return { behavior: 'allow', updatedInput: { ...input, answers: answersFor(ask, decision.answers) } };
    return { behavior: 'allow', updatedInput: input };
  }
  return { behavior: 'deny', message: denial(ask.kind, decision.message?.trim() || undefined) };
}

/** The options on offer, with Hearth's ids (each its ACP kind). */
function optionsFor(kind: PermissionKind, always: boolean): PermissionOption[] {
  const option = (k: PermissionOptionKind, label: string): PermissionOption => ({ id: k, kind: k, label });
  switch (kind) {
    case 'question':
      return [option('allow_once', 'Answer'), option('reject_once', 'Decline')];
    case 'plan':
      return [option('allow_once', 'Approve'), option('reject_once', 'Keep planning')];
    case 'permission':
      return [option('allow_once', 'Allow once'), ...(always ? [option('allow_always', 'Always allow')] : []), option('reject_once', 'Deny')];
  }
}

/**
 * What an "always" answer lets through. For a command, the prefix Claude Code suggests
 * as its rule; without one, only this exact command, since a command's first words say
 * nothing of what the rest does (`git push --force`, `npm exec`).
 */
function ruleFor(tool: string, command: string | undefined, suggestions: readonly unknown[] | undefined): PermissionAsk['rule'] {
  if (tool !== COMMAND_TOOL) return { tool, prefix: null };
  if (command === undefined || command.trim() === '') return undefined;
  const suggested = suggestedPrefixes(tool, suggestions);
  // One suggested prefix of this very command; several (a chain of commands) do not fit one rule.
  const one = suggested.length === 1 ? suggested[0]! : undefined;
  const prefix = one !== undefined && startsWithWords(command, one) ? one : command;
  return { tool, prefix };
}

/** The command prefixes of Claude Code's suggested `addRules` for `tool`: `npm test:*` and `npm test *` both give `npm test`. */
function suggestedPrefixes(tool: string, suggestions: readonly unknown[] | undefined): string[] {
  const prefixes: string[] = [];
  for (const s of suggestions ?? []) {
    if (!isRecord(s) || s.type !== 'addRules' || s.behavior !== 'allow' || !Array.isArray(s.rules)) continue;
    for (const r of s.rules) {
      if (!isRecord(r) || r.toolName !== tool) continue;
      const content = str(r.ruleContent);
      const prefix = content === undefined ? undefined : /^(.*?)(?::\*| \*)$/.exec(content)?.[1]?.trim();
      // A rule with a wildcard anywhere else is no prefix; a rule for the exact command adds nothing.
      if (prefix && !prefix.includes('*')) prefixes.push(prefix);
    }
  }
  return prefixes;
}

/** Whether `command` is `prefix` or starts with it and then a space: `npm test` starts `npm test -- a`, not `npm testing`. */
function startsWithWords(command: string, prefix: string): boolean {
  return command === prefix || (command.startsWith(prefix) && /\s/.test(command.charAt(prefix.length)));
}

function detailsOf(tool: string, input: Input, cwd: string | undefined): PermissionDetails {
  const { title, toolKind, diffs } = claudeToolDetails(tool, input, cwd);
  const command = tool === COMMAND_TOOL ? str(input.command) : undefined;
  return {
    ...(title ? { title } : {}),
    ...(toolKind ? { toolKind } : {}),
    ...(diffs?.length ? { diffs } : {}),
    ...(command !== undefined ? { command, ...(cwd ? { cwd } : {}) } : {}),
  };
}

function questionsOf(input: Input): PermissionQuestion[] {
  const questions = Array.isArray(input.questions) ? input.questions.filter(isRecord) : [];
  return questions.flatMap((q) => {
    const question = str(q.question);
    if (question === undefined) return [];
    const header = str(q.header);
    const choices = (Array.isArray(q.options) ? q.options.filter(isRecord) : []).flatMap((o) => {
      const label = str(o.label);
      const description = str(o.description);
      return label === undefined ? [] : [{ label, ...(description ? { description } : {}) }];
    });
    // Claude Code always offers an answer in the person's own words besides the choices.
    return [{ question, ...(header ? { header } : {}), choices, multiSelect: q.multiSelect === true, freeText: true }];
  });
}

/** The answers to pass on: only to questions that were asked, only text. */
function answersFor(ask: PermissionAsk, answers: Record<string, string> | undefined): Record<string, string> {
  const asked = new Set((ask.questions ?? []).map((q) => q.question));
  const kept: Record<string, string> = {};
  for (const [question, answer] of Object.entries(answers ?? {})) {
    if (asked.has(question) && typeof answer === 'string') kept[question] = answer;
  }
  return kept;
}

function denial(kind: PermissionKind, message: string | undefined): string {
  switch (kind) {
    case 'plan':
      return message
        ? `The user did not approve the plan and wants you to keep planning. Their note: ${message}`
        : 'The user did not approve the plan. Keep planning: do not start the work; revise the plan and present it again.';
    case 'question':
      return message
        ? `The user declined to answer the questions and said: ${message}`
        : 'The user declined to answer the questions. Go on without the answers, or ask in a message.';
    case 'permission':
      return message
        ? `The user denied this tool use and said: ${message}`
        : 'The user denied this tool use. Do not try it another way; ask the user how to go on.';
  }
}

function isRecord(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
