// A turn's usage from Claude Code's running totals, on results shaped as the binary
// writes them (the e2e tests hold the same against the real binary).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import { NO_TOTALS, turnUsage, type RunningTotals } from '../../src/agents/claude/claude-result.js';

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
