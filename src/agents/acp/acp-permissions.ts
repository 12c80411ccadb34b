import type { PermissionOption as AcpOption, RequestPermissionOutcome, RequestPermissionRequest } from '@agentclientprotocol/sdk';
import type { FileDiff, PermissionOption, PermissionOptionKind } from '../../api/events.js';
import type { PermissionAsk, PermissionDecision } from '../contract/driver.js';
import { diffsOf } from './acp-mapper.js';

const KINDS: readonly PermissionOptionKind[] = ['allow_once', 'allow_always', 'reject_once', 'reject_always'];
const PLAN_KINDS: readonly PermissionOptionKind[] = ['allow_once', 'reject_once'];

/**
 * An agent's `session/request_permission` as a request to a person. Hearth's option ids
 * are the ACP kinds, one option per kind: agents name their options differently (and
 * rename them between versions), so the answer goes back by kind.
 */
export function acpAsk(
  req: RequestPermissionRequest,
  cwd: string,
  shown: readonly FileDiff[] = [],
  nameOf: (call: { toolCallId: string }) => string | null = () => null,
): PermissionAsk {
  const call = req.toolCall;
  const claude = (call._meta?.claudeCode ?? {}) as { toolName?: unknown };
  const tool = call.name ?? (typeof claude.toolName === 'string' ? claude.toolName : null) ?? nameOf(call) ?? call.title ?? 'tool';
  const input = call.rawInput ?? {};
  const plan = planOf(tool, input);
  // A plan is approved or not, for this once.
  const kinds = plan !== null ? PLAN_KINDS : KINDS;
  const seen = new Set<PermissionOptionKind>();
  const options: PermissionOption[] = [];
  for (const o of req.options) {
    if (!kinds.includes(o.kind) || seen.has(o.kind)) continue;
    seen.add(o.kind);
    options.push({ id: o.kind, kind: o.kind, label: o.name });
  }
  const command = commandOf(input);
  // codex-acp shows a file change's diff in its tool_call, and asks about the change without it.
  const given = diffsOf(call.content);
  const diffs = given.length ? given : [...shown];
  if (plan !== null) return { kind: 'plan', toolCallId: call.toolCallId, tool, input, options, plan };
  return {
    kind: 'permission',
    toolCallId: call.toolCallId,
    tool,
    input,
    options,
    details: {
      ...(call.title ? { title: call.title } : {}),
      ...(call.kind ? { toolKind: call.kind } : {}),
      ...(diffs.length ? { diffs } : {}),
      ...(command ? { command, cwd } : {}),
    },
    ...(command ? { subject: command, rule: { tool, prefix: command } } : {}),
  };
}

/** The agent's option for the person's decision, chosen by kind; `cancelled` when none fits. */
export function acpOutcome(options: readonly AcpOption[], decision: PermissionDecision): RequestPermissionOutcome {
  if (decision.outcome === 'cancelled') return { outcome: 'cancelled' };
  // A standing refusal where only a single one is offered is still a refusal.
  const chosen = options.find((o) => o.kind === decision.kind) ?? (decision.kind === 'reject_always' ? options.find((o) => o.kind === 'reject_once') : undefined);
  return chosen ? { outcome: 'selected', optionId: chosen.optionId } : { outcome: 'cancelled' };
}

/** The plan a request to leave plan mode proposes (Claude's ExitPlanMode), or null for any other request. */
function planOf(tool: string, input: unknown): string | null {
  if (tool !== 'ExitPlanMode' || !input || typeof input !== 'object') return null;
  const plan = (input as { plan?: unknown }).plan;
  return typeof plan === 'string' ? plan : null;
}

function commandOf(input: unknown): string | null {
  if (!input || typeof input !== 'object') return null;
  const c = (input as { command?: unknown }).command;
  return typeof c === 'string' ? c : null;
}
