import { describe, expect, it } from 'vitest';
import { expectedBatchUsd } from '../../src/core/expected-cost.ts';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import { estimateCost } from '../../src/core/pricing.ts';

const head = (model: string, schema?: object) => `{"model":"${model}","max_tokens":400${schema ? `,"output_config":{"format":{"type":"json_schema","schema":${JSON.stringify(schema)}}}` : ''},"messages":`;

describe('the expected cost of a batch in the ledger (status --json)', () => {
  it('is the budget guard estimate for its requests and body, at the mode it was sent in', () => {
    const usd = expectedBatchUsd({ head: head('claude-haiku-4-5'), tail: '}' }, 1_000, 1_000 * 2_000, 'batch', DEFAULT_PRICES);
    // At least its input, counted in full; at most every answer at max_tokens.
    const range = estimateCost({ requests: 1_000, avgInputTokens: Math.ceil(2_000 / 4), avgCachedPrefixTokens: 0, maxTokens: 400, expectedOutputTokens: 0 }, 'claude-haiku-4-5', { mode: 'batch', table: DEFAULT_PRICES });
    expect(usd).toBeGreaterThan((range.lowUsd as number) * 0.7);
    expect(usd).toBeLessThanOrEqual(range.highUsd as number);
    // Real time costs twice a batch; an empty batch nothing.
    expect(expectedBatchUsd({ head: head('claude-haiku-4-5'), tail: '}' }, 1_000, 2_000_000, 'realtime', DEFAULT_PRICES)).toBeCloseTo(2 * (usd as number), 9);
    expect(expectedBatchUsd({ head: head('claude-haiku-4-5'), tail: '}' }, 0, 0, 'batch', DEFAULT_PRICES)).toBe(0);
  });

  it('a small schema expects shorter answers than free text (at most max_tokens either way)', () => {
    const schema = { type: 'object', properties: { label: { type: 'string', enum: ['a', 'b'] } }, required: ['label'] };
    const free = expectedBatchUsd({ head: head('claude-haiku-4-5'), tail: '}' }, 100, 100 * 400, 'batch', DEFAULT_PRICES) as number;
    const small = expectedBatchUsd({ head: head('claude-haiku-4-5', schema), tail: '}' }, 100, 100 * 400, 'batch', DEFAULT_PRICES) as number;
    expect(small).toBeLessThan(free);
  });

  it('is unknown for a model without a price, or a spec that cannot be read', () => {
    expect(expectedBatchUsd({ head: head('some-local-model'), tail: '}' }, 10, 10_000, 'batch', DEFAULT_PRICES)).toBeUndefined();
    expect(expectedBatchUsd({ head: '{"model":', tail: '}' }, 10, 10_000, 'batch', DEFAULT_PRICES)).toBeUndefined();
  });
});
