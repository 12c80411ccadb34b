/**
 * Requests an agent puts to a person, as the API shows them: leave to use a tool, an
 * answer to the agent's question, approval of its plan. Each is a row in PostgreSQL,
 * answered exactly once, whichever client answers and on whichever node.
 */
import type { FileDiff, PermissionOption, ToolKind } from './events.js';

/** What is asked: leave to use a tool, answers to the agent's questions, approval of a plan. */
export type PermissionKind = 'permission' | 'question' | 'plan';

export const PERMISSION_KINDS = ['permission', 'question', 'plan'] as const satisfies readonly PermissionKind[];

/**
 * How a request ended: allowed or denied by a person (or a rule), its questions answered,
 * cancelled because its turn stopped, expired because the server died under it, or
 * timed out because nobody answered in time.
 */
export type PermissionOutcome = 'allowed' | 'denied' | 'answered' | 'cancelled' | 'expired' | 'timed_out';

export type PermissionStatus = 'pending' | PermissionOutcome;

/** One question the agent asks, with the choices it offers. */
export interface PermissionQuestion {
  question: string;
  /** A short label for the question, where the agent gives one. */
  header?: string;
  choices: { label: string; description?: string }[];
  /** Whether more than one choice may be picked (they are then joined with ", "). */
  multiSelect: boolean;
  /** Whether an answer may be text of the person's own rather than one of the choices. */
  freeText: boolean;
}

/** What a person needs to judge a tool's use: for an edit its diff, for a command the command and where it runs. */
export interface PermissionDetails {
  title?: string;
  toolKind?: ToolKind;
  diffs?: FileDiff[];
  command?: string;
  cwd?: string;
}

/** A request as the API and the stream show it. */
export interface PermissionRequestView {
  requestId: string;
  chatId: string;
  turnId: string;
  agent: string;
  kind: PermissionKind;
  tool: string;
  /** The tool call the request is about, where there is one. */
  toolCallId: string | null;
  input: unknown;
  options: PermissionOption[];
  details?: PermissionDetails;
  questions?: PermissionQuestion[];
  /** The plan to approve, for a `plan` request. */
  plan?: string;
  status: PermissionStatus;
  /** The option chosen, once answered. */
  optionId?: string;
  /** The person's message to the agent, or why the request ended without one. */
  message?: string;
  /** The answers to a `question` request, by question. */
  answers?: Record<string, string>;
  createdAt: string;
  answeredAt?: string;
}

/** The body of `POST /api/chats/:id/permissions/:requestId`. */
export interface PermissionAnswer {
  decision: 'allow' | 'deny';
  /** `always` keeps the answer as a rule of the chat; `once` by default. */
  scope?: 'once' | 'always';
  /** To the agent: why it was denied, or what to change. */
  message?: string;
  /** For a `question` request: an answer to each question, by its text. */
  answers?: Record<string, string>;
}

/**
 * A chat's standing answer for one agent: uses of `tool` are allowed without asking.
 * For a tool that runs a command, only commands that start with `prefix` (and chain no
 * other command); a null prefix allows every use of the tool.
 */
export interface PermissionRuleView {
  ruleId: string;
  chatId: string;
  agent: string;
  tool: string;
  prefix: string | null;
  /** The request whose "always" answer made the rule. */
  requestId: string | null;
  createdAt: string;
}

/** The option of a request that an answer picks: by decision and scope, falling back to `once` where `always` is not offered. */
export function optionFor(options: PermissionOption[], answer: Pick<PermissionAnswer, 'decision' | 'scope'>): PermissionOption | null {
  const wanted = answer.decision === 'allow' ? ['allow_always', 'allow_once'] : ['reject_always', 'reject_once'];
  const order = answer.scope === 'always' ? wanted : wanted.slice(1);
  for (const kind of order) {
    const option = options.find((o) => o.kind === kind);
    if (option) return option;
  }
  return null;
}
