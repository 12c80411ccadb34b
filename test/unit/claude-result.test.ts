// A turn's usage from Claude Code's running totals, on results shaped as the binary
// writes them (the e2e tests hold the same against the real binary).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import { finishTurn, NO_TOTALS, stopReasonOf, turnUsage, type RunningTotals } from '../../src/agents/claude/claude-result.js';

function result(fields: { cost: number; usage?: Record<string, number>; modelUsage?: Record<string, Record<string, number>> }): SDKResultMessage {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    result: '',
    total_cost_usd: fields.cost,
    usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, ...fields.usage },
    ...(fields.modelUsage ? { modelUsage: fields.modelUsage } : {}),
  } as unknown as SDKResultMessage;
}

const model = (inputTokens: number, outputTokens: number, cacheReadInputTokens = 0, cacheCreationInputTokens = 0) => ({
  inputTokens,
  outputTokens,
  cacheReadInputTokens,
  cacheCreationInputTokens,
});

describe('turnUsage', () => {
  it('takes the turn from the change in every model’s totals, not from the main loop’s usage', () => {
    const seen: RunningTotals = { costUsd: 0.001, inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0 };
    // A stopped turn: the main loop's usage is zero, the totals count the stopped call and a helper's.
    const r = result({ cost: 0.0015, modelUsage: { main: model(130, 20, 50), helper: model(5, 1, 0, 7) } });
    const { usage, total } = turnUsage(r, seen);
    assert.deepEqual(usage, { inputTokens: 35, outputTokens: 11, cacheReadTokens: 50, cacheWriteTokens: 7, costUsd: 0.0005 });
    assert.deepEqual(total, { costUsd: 0.0015, inputTokens: 135, outputTokens: 21, cacheReadTokens: 50, cacheWriteTokens: 7 });
  });

  it('counts nothing for a result with zeroed totals and keeps the totals where they were', () => {
    const seen: RunningTotals = { costUsd: 0.002, inputTokens: 40, outputTokens: 20, cacheReadTokens: 3, cacheWriteTokens: 1 };
    const { usage, total } = turnUsage(result({ cost: 0, modelUsage: {} }), seen);
    assert.deepEqual(usage, { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 });
    assert.deepEqual(total, seen);
  });

  it('falls back to the main loop’s usage from a Claude Code that reports no per-model figures', () => {
    const r = result({ cost: 0.00028, usage: { input_tokens: 20, output_tokens: 10 } });
    const { usage, total } = turnUsage(r, NO_TOTALS);
    assert.deepEqual(usage, { inputTokens: 20, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.00028 });
    assert.deepEqual(total, { ...NO_TOTALS, costUsd: 0.00028 });
  });
});

describe('finishTurn', () => {
  const usage = { input_tokens: 20, output_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  const ended = (fields: Record<string, unknown>) =>
    ({ type: 'result', subtype: 'success', is_error: false, result: '', total_cost_usd: 0.00028, usage, stop_reason: 'end_turn', ...fields }) as unknown as SDKResultMessage;
  const turn = { inputTokens: 20, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.00028 };

  it('returns a success with its usage and the stop reason Claude gave', () => {
    assert.deepEqual(finishTurn(ended({}), { seen: NO_TOTALS, aborted: false }).outcome, { ok: true, stopReason: 'end_turn', usage: turn });
    assert.equal(stopReasonOf(ended({ stop_reason: 'max_tokens' })), 'max_tokens');
    assert.equal(stopReasonOf(ended({ stop_reason: 'refusal' })), 'refusal');
    assert.equal(stopReasonOf(ended({ stop_reason: 'tool_use' })), 'end_turn');
    assert.equal(stopReasonOf(ended({ stop_reason: null })), 'end_turn');
  });

  it('returns an API error and an agent error with their usage, in the words explain gives', () => {
    const api = finishTurn(ended({ is_error: true, result: 'API Error: 529 overloaded' }), { seen: NO_TOTALS, aborted: false, explain: (m) => `explained: ${m}` });
    assert.deepEqual(api.outcome, { ok: false, code: 'api_error', error: 'explained: API Error: 529 overloaded', usage: turn });
    const max = finishTurn(ended({ subtype: 'error_max_turns', is_error: true, errors: ['too many'] }), { seen: NO_TOTALS, aborted: false });
    assert.deepEqual(max.outcome, { ok: false, code: 'agent_error', error: 'error_max_turns: too many', usage: turn });
  });

  it('returns a stopped turn as aborted, its usage counted', () => {
    const { outcome } = finishTurn(ended({ subtype: 'error_during_execution', is_error: true }), { seen: NO_TOTALS, aborted: true });
    assert.deepEqual(outcome, { ok: false, code: 'aborted', error: 'aborted', usage: turn });
  });
});
