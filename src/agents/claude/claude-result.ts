import type { SDKResultMessage, SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import { failedTurn, succeededTurn, type TurnResult } from '../contract/driver.js';
import type { AgentEvent, AgentFailure, StopReason, TurnUsage } from '../../api/events.js';

/**
 * Claude Code's running totals for a session: the estimated cost and the tokens of every
 * model call it made, cumulative across turns and restored from the transcript on resume.
 */
export interface RunningTotals {
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export const NO_TOTALS: RunningTotals = { costUsd: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

/**
 * A turn's usage from its `result` message: the change in the running totals since
 * `seen`, the totals already accounted for.
 *
 * Cost and tokens come from the same figures, `total_cost_usd` and `modelUsage`, so a
 * turn's cost always matches its tokens at Claude Code's prices. The result's `usage`
 * would not do: it covers the main loop only, and a stopped turn reports it as zero
 * while its cost counts the stopped call (input as the API reported it, output
 * estimated from what had streamed). What is recorded is Claude Code's own estimate,
 * not a price list kept by Hearth.
 */
export function turnUsage(result: SDKResultMessage, seen: RunningTotals): { usage: TurnUsage; total: RunningTotals } {
  const now = totalsOf(result.total_cost_usd, result.modelUsage);
  if (!now.tokens) {
    // A Claude Code without per-model figures: the main loop's tokens are all there is.
    const u = result.usage;
    return {
      usage: {
        inputTokens: count(u?.input_tokens),
        outputTokens: count(u?.output_tokens),
        cacheReadTokens: count(u?.cache_read_input_tokens),
        cacheWriteTokens: count(u?.cache_creation_input_tokens),
        costUsd: costSince(seen.costUsd, now.costUsd),
      },
      total: { ...seen, costUsd: Math.max(seen.costUsd, now.costUsd) },
    };
  }
  const t = now.tokens;
  return {
    usage: {
      inputTokens: Math.max(0, t.inputTokens - seen.inputTokens),
      outputTokens: Math.max(0, t.outputTokens - seen.outputTokens),
      cacheReadTokens: Math.max(0, t.cacheReadTokens - seen.cacheReadTokens),
      cacheWriteTokens: Math.max(0, t.cacheWriteTokens - seen.cacheWriteTokens),
      costUsd: costSince(seen.costUsd, now.costUsd),
    },
    // A result with zeroed totals (a crash) leaves the totals where they were.
    total: {
      costUsd: Math.max(seen.costUsd, now.costUsd),
      inputTokens: Math.max(seen.inputTokens, t.inputTokens),
      outputTokens: Math.max(seen.outputTokens, t.outputTokens),
      cacheReadTokens: Math.max(seen.cacheReadTokens, t.cacheReadTokens),
      cacheWriteTokens: Math.max(seen.cacheWriteTokens, t.cacheWriteTokens),
    },
  };
}

/** Rounded so that float noise in the running total does not land in the numeric column. */
function costSince(seen: number, now: number): number {
  return Math.round(Math.max(0, now - seen) * 1e10) / 1e10;
}

/** A total cost and per-model figures (a result's `modelUsage`, a cost record's) as running totals; tokens null without them. */
function totalsOf(
  costUsd: unknown,
  modelUsage: unknown,
): { costUsd: number; tokens: Omit<RunningTotals, 'costUsd'> | null } {
  if (modelUsage === null || typeof modelUsage !== 'object') return { costUsd: amount(costUsd), tokens: null };
  const tokens = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  for (const m of Object.values(modelUsage as Record<string, Record<string, unknown> | null>)) {
    tokens.inputTokens += count(m?.inputTokens);
    tokens.outputTokens += count(m?.outputTokens);
    tokens.cacheReadTokens += count(m?.cacheReadInputTokens);
    tokens.cacheWriteTokens += count(m?.cacheCreationInputTokens);
  }
  return { costUsd: amount(costUsd), tokens };
}

/**
 * A turn's event sink that lets each error message through once (Claude Code reports an
 * API failure both as a synthetic assistant message and in the turn's result), put in
 * Hearth's words by `explain`.
 */
export function onceEachError(
  emit: (event: AgentEvent) => void,
  explain: (message: string) => string = (m) => m,
): (event: AgentEvent) => void {
  const shown = new Set<string>();
  return (event) => {
    if (event.kind === 'error') {
      const message = explain(event.message);
      if (shown.has(message)) return;
      shown.add(message);
      emit(message === event.message ? event : { ...event, message });
      return;
    }
    emit(event);
  };
}

/**
 * Ends a turn on its `result` message, the same on both roads: the turn's usage (a
 * stopped turn's included), and its outcome in Hearth's words. The runtime reports both;
 * the failure is not emitted here. Returns the outcome and the running totals.
 */
export function finishTurn(
  result: SDKResultMessage,
  opts: {
    seen: RunningTotals;
    aborted: boolean;
    /** Puts a failure in Hearth's words, as the turn's sink does. */
    explain?: (message: string) => string;
  },
): { outcome: TurnResult; total: RunningTotals } {
  const { usage, total } = turnUsage(result, opts.seen);
  if (opts.aborted) return { outcome: failedTurn('aborted', 'aborted', usage), total };
  const failure = resultFailure(result);
  if (!failure) return { outcome: succeededTurn(usage, stopReasonOf(result)), total };
  const message = opts.explain ? opts.explain(failure.message) : failure.message;
  return { outcome: failedTurn(failure.code, message, usage), total };
}

/** Why a successful turn ended, from Claude's `stop_reason`; anything without a word of ours ends the turn plainly. */
export function stopReasonOf(result: SDKResultMessage): StopReason {
  switch (result.stop_reason) {
    case 'max_tokens':
      return 'max_tokens';
    case 'refusal':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/**
 * The running totals a resumed Claude Code process starts from: those in the last
 * `cost-state` record of its transcript. Its results report totals that include them.
 */
export function restoredTotals(entries: readonly SessionStoreEntry[]): RunningTotals {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.type !== 'cost-state') continue;
    const record = e as { totalCostUSD?: unknown; modelUsage?: unknown };
    const { costUsd, tokens } = totalsOf(record.totalCostUSD, record.modelUsage);
    return { ...NO_TOTALS, ...tokens, costUsd };
  }
  return NO_TOTALS;
}

/** Whether a result ends the turn in failure, and how to name it; null for success. */
export function resultFailure(result: SDKResultMessage): { code: AgentFailure; message: string } | null {
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
