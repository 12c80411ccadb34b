import type { SDKResultMessage, SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import { failedTurn, type TurnErrorCode, type TurnResult } from '../agent-backend.js';
import type { AgentEvent } from '../agent-event.js';
import type { AgentSessionRow, TurnUsage } from '../agent-session-row.js';

/**
 * A turn's usage from its `result` message. Results carry the process's running cost
 * total, not the turn's, so `costSeen` is the total already accounted for.
 */
export function turnUsage(result: SDKResultMessage, costSeen: number): { usage: TurnUsage; total: number } {
  const u = result.usage;
  const total = amount(result.total_cost_usd);
  return {
    usage: {
      inputTokens: count(u?.input_tokens),
      outputTokens: count(u?.output_tokens),
      cacheReadTokens: count(u?.cache_read_input_tokens),
      cacheWriteTokens: count(u?.cache_creation_input_tokens),
      // Rounded so that float noise in the running total does not land in the numeric column.
      costUsd: Math.round(Math.max(0, total - costSeen) * 1e10) / 1e10,
    },
    total: Math.max(costSeen, total),
  };
}

/**
 * A turn's event sink that lets each error message through once: Claude Code reports an
 * API failure both as a synthetic assistant message and in the turn's result.
 */
export function onceEachError(emit: (event: AgentEvent) => void): (event: AgentEvent) => void {
  const shown = new Set<string>();
  return (event) => {
    if (event.kind === 'error') {
      if (shown.has(event.message)) return;
      shown.add(event.message);
    }
    emit(event);
  };
}

/**
 * Ends a turn on its `result` message, the same on every road: the usage goes out and
 * onto the row, the row goes idle (an abort is the user's choice, not a crash) or
 * crashed, and a failure is reported. Returns the outcome and the running cost total.
 */
export async function finishTurn(
  result: SDKResultMessage,
  opts: { costSeen: number; aborted: boolean; row: AgentSessionRow; emit: (event: AgentEvent) => void },
): Promise<{ outcome: TurnResult; total: number }> {
  const { usage, total } = turnUsage(result, opts.costSeen);
  opts.emit({ kind: 'usage', ...usage });
  const failure = opts.aborted ? null : resultFailure(result);
  await opts.row.endTurn(usage, failure ? 'crashed' : 'idle');
  if (opts.aborted) return { outcome: failedTurn('aborted', 'aborted'), total };
  if (!failure) return { outcome: { ok: true }, total };
  opts.emit({ kind: 'error', message: failure.message });
  return { outcome: failedTurn(failure.code, failure.message), total };
}

/**
 * The running cost total a resumed Claude Code process starts from: the one in the last
 * `cost-state` record of its transcript. Its results report totals that include it.
 */
export function restoredCost(entries: readonly SessionStoreEntry[]): number {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.type === 'cost-state') return amount((e as { totalCostUSD?: unknown }).totalCostUSD);
  }
  return 0;
}

/** Whether a result ends the turn in failure, and how to name it; null for success. */
export function resultFailure(result: SDKResultMessage): { code: TurnErrorCode; message: string } | null {
  if (!result.is_error && result.subtype === 'success') return null;
  // An API error arrives as a "success" that is an error.
  return { code: result.subtype === 'success' ? 'api_error' : 'agent_error', message: resultErrorMessage(result) };
}

/** What went wrong in a failed result, in words a person can act on. */
export function resultErrorMessage(result: SDKResultMessage): string {
  if (result.subtype === 'success') return result.result || 'the model API returned an error';
  const errors = result.errors ?? [];
  return errors.length > 0 ? `${result.subtype}: ${errors.join('; ')}` : result.subtype;
}

/** Tokens: a non-negative integer whatever arrives. */
function count(v: unknown): number {
  const x = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(x) && x > 0 ? Math.round(x) : 0;
}

/** USD: a non-negative finite number whatever arrives. */
function amount(v: unknown): number {
  const x = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(x) && x > 0 ? x : 0;
}
