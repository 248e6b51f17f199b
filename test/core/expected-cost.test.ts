import { describe, expect, it } from 'vitest';
import { expectedBatchUsd, typicalEstimate } from '../../src/core/expected-cost.ts';
import { LINE_WRAPPER_BYTES } from '../../src/core/request.ts';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import { charsPerToken, costOf, estimateCost } from '../../src/core/pricing.ts';

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

  // helper-76: one request with a 9-byte note attached sized every free-text answer of a job of 40
  // translations as one about documents (300 tokens, not ~4,000): --max-cost let through 1.6× its cap.
  it('sizes the free-text answers of the requests with documents apart from the others', () => {
    const job = { model: 'claude-haiku-4-5', maxTokens: 8_000, table: DEFAULT_PRICES, mode: 'batch' as const, cached: false };
    const translations = { requests: 40, bytes: 40 * 16_000, prefixBytes: 100 };
    const none = typicalEstimate(translations, job);
    const one = typicalEstimate({ ...translations, documents: 1 }, job);
    const all = typicalEstimate({ ...translations, documents: 40 }, job);
    expect(none.expectedOutputTokens).toBeGreaterThan(3_000);
    expect(all.expectedOutputTokens).toBe(300);
    expect(one.expectedOutputTokens).toBeCloseTo((39 * none.expectedOutputTokens + 300) / 40, 6);
    expect(one.capUsd as number).toBeGreaterThan((none.capUsd as number) * 0.95);
  });

  // helper-68: the tier was picked by the average prompt: two of 150,000 tokens among nine of 1,000
  // were priced short (5× less), and a run spent 3× its --max-cost.
  it("prices each request at its own tier of the model's long-prompt price (Haiku 5.5 over 100,000 tokens)", () => {
    const job = { model: 'claude-haiku-5-5', maxTokens: 100, table: DEFAULT_PRICES, mode: 'batch' as const, cached: false };
    const perToken = charsPerToken(job.model);
    const bytesOf = (tokens: number) => LINE_WRAPPER_BYTES + tokens * perToken;
    const each = [...Array.from({ length: 9 }, () => bytesOf(1_000)), bytesOf(150_000)];
    const w = { requests: each.length, bytes: each.reduce((a, b) => a + b, 0), prefixBytes: 0 };
    const at = (tokens: number, output: number) => costOf({ input_tokens: tokens, output_tokens: output }, job.model, { mode: 'batch', table: DEFAULT_PRICES }).usd as number;
    // "At most": every answer using all of max_tokens.
    const most = 9 * at(1_000, 100) + at(150_000, 100);
    expect(typicalEstimate({ ...w, each }, job).highUsd).toBeCloseTo(most, 12);
    expect(typicalEstimate(w, job).highUsd as number).toBeLessThan(most / 2); // by the average: the long one priced short
    // The groups of a job add up to the whole, each group priced request by request.
    const whole = typicalEstimate({ ...w, each }, job).capUsd as number;
    const groups = [each.slice(0, 4), each.slice(4, 8), each.slice(8)];
    const sum = groups.reduce((total, g) => total + (typicalEstimate({ requests: g.length, bytes: g.reduce((a, b) => a + b, 0), prefixBytes: 0, each: g }, job).capUsd as number), 0);
    expect(sum).toBeCloseTo(whole, 12);
    // A model without such a tier is priced as before.
    const haiku45 = { ...job, model: 'claude-haiku-4-5' };
    expect(typicalEstimate({ ...w, each }, haiku45)).toEqual(typicalEstimate(w, haiku45));
  });

  it("prices a cut-off answer's retry at the max_tokens it asks for (`answers`): longer than a typical answer, and than the job's max_tokens", () => {
    const job = { model: 'claude-haiku-4-5', maxTokens: 4, table: DEFAULT_PRICES, mode: 'batch' as const, cached: false };
    const w = { requests: 10, bytes: 10 * 400, prefixBytes: 0 };
    const plain = typicalEstimate(w, job);
    const out = (tokens: number) => costOf({ input_tokens: 0, output_tokens: tokens }, job.model, { mode: 'batch', table: DEFAULT_PRICES }).usd as number;
    const retried = typicalEstimate({ ...w, answers: [64, 64] }, job);
    // Two answers of up to 64 tokens, not a typical one of the job's 4 at most.
    expect(retried.capUsd as number).toBeCloseTo((plain.capUsd as number) + 2 * out(64 - plain.expectedOutputTokens), 12);
    expect(retried.lowUsd as number).toBeCloseTo((plain.lowUsd as number) + 2 * out(64 - plain.expectedOutputTokens), 12);
    expect(retried.highUsd as number).toBeCloseTo((plain.highUsd as number) + 2 * out(64 - 4), 12);
    // A max_tokens no larger than a typical answer adds nothing.
    expect(typicalEstimate({ ...w, answers: [1] }, job)).toEqual(plain);
  });

  it("leaves the request line's wrapper (custom_id and all) out of the input tokens", () => {
    const job = { model: 'claude-haiku-4-5', maxTokens: 1_024, table: DEFAULT_PRICES, mode: 'batch' as const, cached: false };
    expect(typicalEstimate({ requests: 2, bytes: 2 * (LINE_WRAPPER_BYTES + 400), prefixBytes: 100 }, job).avgInputTokens).toBe(100);
  });
});
