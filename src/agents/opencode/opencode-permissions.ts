import { readFileSync } from 'node:fs';
import type { PermissionRequest } from '@opencode-ai/sdk/v2';
import type { FileDiff } from '../../api/events.js';
import type { PermissionAsk, PermissionDecision } from '../contract/driver.js';

/** The answer a request gets when its turn stops first. */
export function cancelledByStop(): PermissionDecision {
  return { outcome: 'cancelled', message: 'the turn was stopped' };
}

/** A question's answer as OpenCode takes it: the choices picked (joined with ", " when several may be). */
export function splitAnswer(answer: string | undefined, multiple: boolean): string[] {
  if (answer === undefined || answer === '') return [];
  return multiple ? answer.split(', ').filter(Boolean) : [answer];
}

/**
 * OpenCode's permission request as a request to a person. Options are ACP kinds; OpenCode
 * has no standing refusal. A command's standing answer covers the prefix OpenCode itself
 * would make a rule of (its `always` pattern `npm test *` is the prefix `npm test`).
 */
export function permissionAsk(req: PermissionRequest, toolInput: unknown, cwd: string): PermissionAsk {
  const tool = req.permission;
  const meta = req.metadata ?? {};
  const input = toolInput ?? meta;
  const options: PermissionAsk['options'] = [
    { id: 'allow_once', kind: 'allow_once', label: 'Allow once' },
    { id: 'allow_always', kind: 'allow_always', label: 'Always allow' },
    { id: 'reject_once', kind: 'reject_once', label: 'Reject' },
  ];
  const command = typeof meta.command === 'string' ? meta.command : commandOf(input);
  const diffs = diffsOf(tool, input, meta);
  const toolKindOf = tool === 'bash' ? 'execute' : tool === 'edit' ? 'edit' : undefined;
  const details = {
    ...(toolKindOf ? { toolKind: toolKindOf as 'execute' | 'edit' } : {}),
    ...(diffs.length ? { diffs } : {}),
    ...(command ? { command, cwd } : {}),
  };
  const ask: PermissionAsk = { kind: 'permission', toolCallId: req.tool?.callID ?? null, tool, input, options, details };
  if (command) return { ...ask, subject: command, rule: { tool, prefix: prefixOf(req.always, command) } };
  // A standing answer for an edit covers the tool, as OpenCode's own `always` does (`*`).
  return req.always.includes('*') ? { ...ask, rule: { tool, prefix: null } } : ask;
}

/** The command prefix of OpenCode's one `always` pattern (`npm test *`), or the command whole where it suggests none or several. */
function prefixOf(always: readonly string[], command: string): string {
  if (always.length === 1 && always[0]!.endsWith(' *')) return always[0]!.slice(0, -2);
  return command;
}

function commandOf(input: unknown): string | null {
  const c = (input as { command?: unknown } | null)?.command;
  return typeof c === 'string' ? c : null;
}

/** What an edit or write would change, from the tool's input: the replaced text and its replacement, or a file's whole new text. */
function diffsOf(tool: string, input: unknown, meta: Record<string, unknown>): FileDiff[] {
  const i = (input ?? {}) as { filePath?: unknown; content?: unknown; oldString?: unknown; newString?: unknown };
  const file = typeof i.filePath === 'string' ? i.filePath : typeof meta.filepath === 'string' ? meta.filepath : null;
  if (tool !== 'edit' || !file) return [];
  if (typeof i.content === 'string') {
    let old: string | null = null;
    try {
      old = readFileSync(file, 'utf8');
    } catch {
      old = null;
    }
    return [{ path: file, oldText: old, newText: i.content }];
  }
  if (typeof i.newString === 'string') return [{ path: file, oldText: typeof i.oldString === 'string' ? i.oldString : null, newText: i.newString }];
  return [];
}

