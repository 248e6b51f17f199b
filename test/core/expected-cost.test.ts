import { describe, expect, it } from 'vitest';
import { expectedBatchUsd, typicalEstimate } from '../../src/core/expected-cost.ts';
import { LINE_WRAPPER_BYTES } from '../../src/core/request.ts';
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

describe('the estimate before sending (typicalEstimate)', () => {
  const schema = { type: 'object', properties: { label: { type: 'string', enum: ['a', 'b'] } }, required: ['label'] };
  // A job's requests of uneven sizes, cut into groups as the budget guard sees them.
  const sizes = Array.from({ length: 23 }, (_, i) => 30_000 + ((i * 7_919) % 5_003));
  const prefixBytes = 24_000; // a cacheable system prompt (over haiku's minimum)
  it.each([
    ['a schema, a cacheable prefix', { cached: true, answerSchema: schema }],
    ['free text, nothing cached', { cached: false, answerSchema: undefined }],
  ])('what --max-cost counts adds up over the groups of a job to the whole job (%s)', (_, how) => {
    const job = { model: 'claude-haiku-4-5', maxTokens: 1_024, table: DEFAULT_PRICES, mode: 'batch' as const, ...how };
    const whole = typicalEstimate({ requests: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0), prefixBytes }, job);
    for (const groupSize of [1, 4, 10]) {
      let sum = 0;
      for (let from = 0; from < sizes.length; from += groupSize) {
        const group = sizes.slice(from, from + groupSize);
        sum += typicalEstimate({ requests: group.length, bytes: group.reduce((a, b) => a + b, 0), prefixBytes }, job).capUsd as number;
      }
      expect(sum).toBeCloseTo(whole.capUsd as number, 12);
    }
    // The cap does not count on the cache (hits in batches are best-effort); the typical figure does.
    if (how.cached) expect(whole.lowUsd as number).toBeLessThan((whole.capUsd as number) * 0.5);
    else expect(whole.lowUsd).toBe(whole.capUsd);
  });

  it("leaves the request line's wrapper (custom_id and all) out of the input tokens", () => {
    const job = { model: 'claude-haiku-4-5', maxTokens: 1_024, table: DEFAULT_PRICES, mode: 'batch' as const, cached: false };
    expect(typicalEstimate({ requests: 2, bytes: 2 * (LINE_WRAPPER_BYTES + 400), prefixBytes: 100 }, job).avgInputTokens).toBe(100);
  });
});
