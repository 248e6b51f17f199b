/**
 * The cost model (issue #6): the default price table against the API notes §4.2, actual cost from
 * `usage`, the run accumulator, price files, and the estimates made before submitting.
 *
 * Every figure is computed by hand in the comment next to it, in µ$ (tokens × USD per million
 * tokens = micro-dollars), then in USD. Batch is ½ of the real-time figure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import {
  addUsage,
  costOf,
  estimateCost,
  estimateRequest,
  estimateTokens,
  loadPriceFile,
  mergePrices,
  newCostTotals,
  parsePriceFile,
  priceFor,
  usesNewTokenizer,
  type PriceTable,
  type PricingMode,
  type UsageLike,
  type Workload,
} from '../../src/core/pricing.ts';
import { prepareSpec, type RequestParams } from '../../src/core/request.ts';
import { compileTemplate } from '../../src/core/template.ts';
import { expectErrorSync } from '../helpers/expect-error.ts';

const table = DEFAULT_PRICES;

describe('DEFAULT_PRICES', () => {
  it('has exactly the models of the API notes price table, under their API ids', () => {
    expect(Object.keys(table.models).sort()).toEqual(
      [
        'claude-fable-5-1',
        'claude-mythos-5-1',
        'claude-fable-5',
        'claude-mythos-5',
        'claude-opus-5-5',
        'claude-opus-5',
        'claude-opus-4-8',
        'claude-opus-4-7',
        'claude-opus-4-6',
        'claude-opus-4-5',
        'claude-opus-4-1',
        'claude-opus-4',
        'claude-sonnet-5-5',
        'claude-sonnet-5',
        'claude-sonnet-4-6',
        'claude-sonnet-4-5',
        'claude-haiku-5-5',
        'claude-haiku-4-5',
      ].sort(),
    );
    expect(table.asOf).toBe('2026-10');
    expect(table.source).toMatch(/pricing/);
  });

  // The table's "Batch in / out" column: 1M input tokens, then 1M output tokens, in batch mode.
  const batchColumn: { description: string; model: string; batchIn: number; batchOut: number }[] = [
    { description: 'Fable 5.1: 10/50 standard → 5/25 batch', model: 'claude-fable-5-1', batchIn: 5, batchOut: 25 },
    { description: 'Mythos 5.1 is priced as Fable 5.1', model: 'claude-mythos-5-1', batchIn: 5, batchOut: 25 },
    { description: 'Fable 5: 10/50 → 5/25', model: 'claude-fable-5', batchIn: 5, batchOut: 25 },
    { description: 'Mythos 5 is priced as Fable 5', model: 'claude-mythos-5', batchIn: 5, batchOut: 25 },
    { description: 'Opus 5.5: 4/20 → 2/10', model: 'claude-opus-5-5', batchIn: 2, batchOut: 10 },
    { description: 'Opus 5: 5/25 → 2.50/12.50', model: 'claude-opus-5', batchIn: 2.5, batchOut: 12.5 },
    { description: 'Opus 4.8 as Opus 5', model: 'claude-opus-4-8', batchIn: 2.5, batchOut: 12.5 },
    { description: 'Opus 4.7 as Opus 5', model: 'claude-opus-4-7', batchIn: 2.5, batchOut: 12.5 },
    { description: 'Opus 4.6 as Opus 5', model: 'claude-opus-4-6', batchIn: 2.5, batchOut: 12.5 },
    { description: 'Opus 4.5 as Opus 5', model: 'claude-opus-4-5', batchIn: 2.5, batchOut: 12.5 },
    { description: 'Opus 4.1: 15/75 → 7.50/37.50', model: 'claude-opus-4-1', batchIn: 7.5, batchOut: 37.5 },
    { description: 'Opus 4 as Opus 4.1', model: 'claude-opus-4', batchIn: 7.5, batchOut: 37.5 },
    { description: 'Sonnet 5.5: 2/10 → 1/5', model: 'claude-sonnet-5-5', batchIn: 1, batchOut: 5 },
    { description: 'Sonnet 5: 2/10 → 1/5', model: 'claude-sonnet-5', batchIn: 1, batchOut: 5 },
    { description: 'Sonnet 4.6: 3/15 → 1.50/7.50', model: 'claude-sonnet-4-6', batchIn: 1.5, batchOut: 7.5 },
    { description: 'Sonnet 4.5 as Sonnet 4.6', model: 'claude-sonnet-4-5', batchIn: 1.5, batchOut: 7.5 },
    { description: 'Haiku 5.5 (≤100k prompt): 0.10/0.50 → *0.05/0.25', model: 'claude-haiku-5-5', batchIn: 0.05, batchOut: 0.25 },
    { description: 'Haiku 4.5: 1/5 → 0.50/2.50', model: 'claude-haiku-4-5', batchIn: 0.5, batchOut: 2.5 },
  ];
  for (const t of batchColumn) {
    it(`matches the batch column: ${t.description}`, () => {
      // 100,000 input tokens (at most 100k, Haiku 5.5's low tier) × rate / 1e6 × 0.5 = batchIn / 10;
      // 1,000,000 output tokens × rate / 1e6 × 0.5 = batchOut
      expect(costOf({ input_tokens: 100_000 }, t.model, { mode: 'batch', table }).usd).toBeCloseTo(t.batchIn / 10, 10);
      expect(costOf({ output_tokens: 1_000_000 }, t.model, { mode: 'batch', table }).usd).toBeCloseTo(t.batchOut, 10);
    });
  }

  it('matches the batch column for Haiku 5.5 prompts above 100k tokens: *0.25 in / 1.25 out', () => {
    // 1,000,000 input tokens × 0.50 × 0.5 = 0.25; 1,000,001 input + 1,000,000 output: 1,000,001×0.50×0.5 + 1,000,000×2.50×0.5
    expect(costOf({ input_tokens: 1_000_000 }, 'claude-haiku-5-5', { mode: 'batch', table }).usd).toBeCloseTo(0.25, 10);
    expect(costOf({ input_tokens: 1_000_001, output_tokens: 1_000_000 }, 'claude-haiku-5-5', { mode: 'batch', table }).usd).toBeCloseTo(0.25000025 + 1.25, 10);
  });

  it('cache writes are 1.25× (5 min) and 2× (1 h) input for every model, as the caching docs say', () => {
    for (const [id, p] of Object.entries(table.models)) {
      expect(p.cacheWrite5m, id).toBeCloseTo(p.input * 1.25, 10);
      expect(p.cacheWrite1h, id).toBeCloseTo(p.input * 2, 10);
    }
  });

  it('cache reads are 0.1× input except the footnoted models (Fable/Mythos 5.1 0.025×, Opus 5.5 and Sonnet 5.5 0.05×)', () => {
    const exceptions: Record<string, number> = { 'claude-fable-5-1': 0.025, 'claude-mythos-5-1': 0.025, 'claude-opus-5-5': 0.05, 'claude-sonnet-5-5': 0.05 };
    for (const [id, p] of Object.entries(table.models)) {
      expect(p.cacheRead, id).toBeCloseTo(p.input * (exceptions[id] ?? 0.1), 10);
    }
  });

  it('Haiku 5.5 carries its >100k-token tier (0.50/2.50, writes 0.625/1, read 0.05)', () => {
    expect(table.models['claude-haiku-5-5']?.longPrompt).toEqual({
      aboveInputTokens: 100_000,
      input: 0.5,
      output: 2.5,
      cacheWrite5m: 0.625,
      cacheWrite1h: 1,
      cacheRead: 0.05,
    });
  });

  it('no default entry changes the 50% batch discount (the doc: it applies to every category)', () => {
    for (const p of Object.values(table.models)) expect(p.batchDiscount).toBeUndefined();
  });
});

describe('priceFor', () => {
  const haiku = table.models['claude-haiku-4-5'];
  const cases: { description: string; model: string; want: unknown }[] = [
    { description: 'an exact id', model: 'claude-haiku-4-5', want: haiku },
    { description: 'a dated id falls back to its undated alias', model: 'claude-haiku-4-5-20251001', want: haiku },
    { description: 'Vertex writes the date after @', model: 'claude-haiku-4-5@20251001', want: haiku },
    { description: 'dated Sonnet 4.5', model: 'claude-sonnet-4-5-20250929', want: table.models['claude-sonnet-4-5'] },
    { description: 'dated Opus 4.5', model: 'claude-opus-4-5-20251101', want: table.models['claude-opus-4-5'] },
    { description: 'dated Opus 4.1 is Opus 4.1, not Opus 4', model: 'claude-opus-4-1-20250805', want: table.models['claude-opus-4-1'] },
    { description: 'dated Opus 4 is Opus 4', model: 'claude-opus-4-20250514', want: table.models['claude-opus-4'] },
    { description: 'Fable 5.2 has no published price: not guessed from Fable 5', model: 'claude-fable-5-2', want: undefined },
    { description: 'Mythos 5.2 has no published price: not guessed from Mythos 5', model: 'claude-mythos-5-2', want: undefined },
    { description: 'a preview model is unknown', model: 'claude-mythos-preview', want: undefined },
    { description: 'a suffix that is not an 8-digit date is another model', model: 'claude-haiku-4-5-2025', want: undefined },
    { description: 'another vendor is unknown', model: 'gpt-5', want: undefined },
    { description: 'the empty id is unknown', model: '', want: undefined },
    { description: 'Object.prototype keys are not prices', model: 'constructor', want: undefined },
    { description: '__proto__ is not a price', model: '__proto__', want: undefined },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(priceFor(t.model, table)).toBe(t.want);
    });
  }
});

describe('costOf', () => {
  const cases: {
    description: string;
    model: string;
    mode: PricingMode;
    usage: UsageLike;
    usd: number;
    parts?: { inputUsd: number; outputUsd: number; cacheWriteUsd: number; cacheReadUsd: number };
  }[] = [
    {
      description: 'Haiku 4.5 batch, no cache: half of standard',
      model: 'claude-haiku-4-5',
      mode: 'batch',
      usage: { input_tokens: 1000, output_tokens: 200 },
      // (1000×1 + 200×5) × 0.5 = 2,000 × 0.5 = 1,000 µ$
      usd: 0.001,
      parts: { inputUsd: 0.0005, outputUsd: 0.0005, cacheWriteUsd: 0, cacheReadUsd: 0 },
    },
    {
      description: 'Haiku 4.5 real time, the same usage: standard prices',
      model: 'claude-haiku-4-5',
      mode: 'realtime',
      usage: { input_tokens: 1000, output_tokens: 200 },
      // 1000×1 + 200×5 = 2,000 µ$
      usd: 0.002,
    },
    {
      description: 'a dated Haiku id costs the same as its alias',
      model: 'claude-haiku-4-5-20251001',
      mode: 'batch',
      usage: { input_tokens: 1000, output_tokens: 200 },
      // (1000×1 + 200×5) × 0.5 = 1,000 µ$
      usd: 0.001,
    },
    {
      description: 'Sonnet 4.6 batch, cache_creation split 5 m / 1 h: each part at its own rate',
      model: 'claude-sonnet-4-6',
      mode: 'batch',
      usage: {
        input_tokens: 50,
        cache_creation_input_tokens: 3000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
        cache_read_input_tokens: 0,
        output_tokens: 300,
      },
      // (50×3 + 1000×3.75 + 2000×6 + 300×15) × 0.5 = (150 + 3,750 + 12,000 + 4,500) × 0.5 = 20,400 × 0.5 = 10,200 µ$
      usd: 0.0102,
      // input 75, writes 15,750/2 = 7,875, output 2,250 µ$
      parts: { inputUsd: 0.000075, outputUsd: 0.00225, cacheWriteUsd: 0.007875, cacheReadUsd: 0 },
    },
    {
      description: 'Sonnet 4.6 real time, cache_creation null: all of cache_creation_input_tokens at the 5 m rate',
      model: 'claude-sonnet-4-6',
      mode: 'realtime',
      usage: { input_tokens: 100, cache_creation_input_tokens: 2000, cache_creation: null, cache_read_input_tokens: 4000, output_tokens: 100 },
      // 100×3 + 2000×3.75 + 4000×0.30 + 100×15 = 300 + 7,500 + 1,200 + 1,500 = 10,500 µ$
      usd: 0.0105,
      parts: { inputUsd: 0.0003, outputUsd: 0.0015, cacheWriteUsd: 0.0075, cacheReadUsd: 0.0012 },
    },
    {
      description: 'Sonnet 4.6, cache_creation absent (older SDK lines): also all at the 5 m rate',
      model: 'claude-sonnet-4-6',
      mode: 'realtime',
      usage: { input_tokens: 0, cache_creation_input_tokens: 1000 },
      // 1000×3.75 = 3,750 µ$
      usd: 0.00375,
    },
    {
      description: 'Opus 5.5 batch with cache reads at its 0.05× rate',
      model: 'claude-opus-5-5',
      mode: 'batch',
      usage: { input_tokens: 200, cache_read_input_tokens: 10_000, output_tokens: 500 },
      // (200×4 + 10,000×0.20 + 500×20) × 0.5 = (800 + 2,000 + 10,000) × 0.5 = 6,400 µ$
      usd: 0.0064,
      parts: { inputUsd: 0.0004, outputUsd: 0.005, cacheWriteUsd: 0, cacheReadUsd: 0.001 },
    },
    {
      description: 'Opus 5.5 real time, a 1 h cache write',
      model: 'claude-opus-5-5',
      mode: 'realtime',
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 4000,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 4000 },
        output_tokens: 100,
      },
      // 10×4 + 4000×8 + 100×20 = 40 + 32,000 + 2,000 = 34,040 µ$
      usd: 0.03404,
    },
    {
      description: 'Fable 5.1 batch with a 1 h write and reads at its 0.025× rate',
      model: 'claude-fable-5-1',
      mode: 'batch',
      usage: {
        input_tokens: 1000,
        cache_creation_input_tokens: 2000,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 2000 },
        cache_read_input_tokens: 8000,
        output_tokens: 400,
      },
      // (1000×10 + 2000×20 + 8000×0.25 + 400×50) × 0.5 = (10,000 + 40,000 + 2,000 + 20,000) × 0.5 = 36,000 µ$
      usd: 0.036,
      parts: { inputUsd: 0.005, outputUsd: 0.01, cacheWriteUsd: 0.02, cacheReadUsd: 0.001 },
    },
    {
      description: 'Fable 5.1 real time, no cache',
      model: 'claude-fable-5-1',
      mode: 'realtime',
      usage: { input_tokens: 100, output_tokens: 100 },
      // 100×10 + 100×50 = 1,000 + 5,000 = 6,000 µ$
      usd: 0.006,
    },
    {
      description: 'Fable 5 (not 5.1) reads the cache at the usual 0.1×',
      model: 'claude-fable-5',
      mode: 'realtime',
      usage: { cache_read_input_tokens: 1000 },
      // 1000×1 = 1,000 µ$
      usd: 0.001,
    },
    {
      description: 'null token fields count as 0',
      model: 'claude-haiku-4-5',
      mode: 'realtime',
      usage: { input_tokens: 1000, output_tokens: null, cache_creation_input_tokens: null, cache_read_input_tokens: null, cache_creation: null },
      // 1000×1 = 1,000 µ$
      usd: 0.001,
    },
    {
      description: 'nulls inside cache_creation count as 0',
      model: 'claude-haiku-4-5',
      mode: 'realtime',
      usage: { cache_creation: { ephemeral_5m_input_tokens: null, ephemeral_1h_input_tokens: 1000 } },
      // 1000×2 = 2,000 µ$
      usd: 0.002,
    },
    {
      description: 'an empty usage costs 0, not unknown',
      model: 'claude-haiku-4-5',
      mode: 'batch',
      usage: {},
      usd: 0,
      parts: { inputUsd: 0, outputUsd: 0, cacheWriteUsd: 0, cacheReadUsd: 0 },
    },
    {
      description: 'Haiku 5.5 batch, a prompt under 100k tokens: the low tier',
      model: 'claude-haiku-5-5',
      mode: 'batch',
      usage: { input_tokens: 10_000, output_tokens: 1000 },
      // (10,000×0.10 + 1000×0.50) × 0.5 = 1,500 × 0.5 = 750 µ$
      usd: 0.00075,
    },
    {
      description: 'Haiku 5.5, a prompt of exactly 100k tokens is still the low tier (≤100k)',
      model: 'claude-haiku-5-5',
      mode: 'realtime',
      usage: { input_tokens: 100_000 },
      // 100,000×0.10 = 10,000 µ$
      usd: 0.01,
    },
    {
      description: 'Haiku 5.5, cached tokens count toward the 100k threshold: 1,000 + 100,000 read → the high tier for every category',
      model: 'claude-haiku-5-5',
      mode: 'realtime',
      usage: { input_tokens: 1000, cache_read_input_tokens: 100_000, output_tokens: 1000 },
      // 1000×0.50 + 100,000×0.05 + 1000×2.50 = 500 + 5,000 + 2,500 = 8,000 µ$
      usd: 0.008,
    },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const cost = costOf(t.usage, t.model, { mode: t.mode, table });
      expect(cost.usd).toBeCloseTo(t.usd, 12);
      if (t.parts) {
        expect(cost.inputUsd).toBeCloseTo(t.parts.inputUsd, 12);
        expect(cost.outputUsd).toBeCloseTo(t.parts.outputUsd, 12);
        expect(cost.cacheWriteUsd).toBeCloseTo(t.parts.cacheWriteUsd, 12);
        expect(cost.cacheReadUsd).toBeCloseTo(t.parts.cacheReadUsd, 12);
      }
      if (cost.usd !== undefined) {
        expect(cost.inputUsd + cost.outputUsd + cost.cacheWriteUsd + cost.cacheReadUsd).toBeCloseTo(cost.usd, 12);
      }
    });
  }

  for (const model of ['claude-fable-5-2', 'gpt-5', 'toString']) {
    it(`an unknown model (${model}) has an unknown cost in every field, never 0`, () => {
      expect(costOf({ input_tokens: 1000, output_tokens: 10 }, model, { mode: 'batch', table })).toEqual({
        usd: undefined,
        inputUsd: undefined,
        outputUsd: undefined,
        cacheWriteUsd: undefined,
        cacheReadUsd: undefined,
      });
    });
  }

  it('accepts the SDK Usage type as it is (type-level: cache_creation and server_tool_use objects, service_tier…)', () => {
    const usage: Anthropic.Usage = {
      input_tokens: 1000,
      output_tokens: 200,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      server_tool_use: null,
      service_tier: 'batch',
      inference_geo: null,
      output_tokens_details: null,
      speed: null,
    };
    // (1000×1 + 200×5) × 0.5 = 1,000 µ$
    expect(costOf(usage, 'claude-haiku-4-5', { mode: 'batch', table }).usd).toBeCloseTo(0.001, 12);
  });

  it('a per-model batchDiscount replaces the 50%', () => {
    const custom: PriceTable = { source: 'test', models: { m: { input: 1, output: 1, cacheWrite5m: 1, cacheWrite1h: 1, cacheRead: 1, batchDiscount: 0.25 } } };
    // 1,000,000×1 × (1 − 0.25) = 0.75 USD
    expect(costOf({ input_tokens: 1_000_000 }, 'm', { mode: 'batch', table: custom }).usd).toBeCloseTo(0.75, 12);
  });
});

describe('addUsage / newCostTotals', () => {
  it('sums tokens and cost of priced usages, what they would cost in real time, and counts unpriced ones', () => {
    const totals = newCostTotals();
    // Haiku 4.5 batch: (1000×1 + 200×5) × 0.5 = 1,000 µ$; real time 2,000 µ$
    const same = addUsage(totals, { input_tokens: 1000, output_tokens: 200 }, 'claude-haiku-4-5-20251001', 'batch', table);
    expect(same).toBe(totals);
    // Sonnet 4.6 batch: (50×3 + 1000×3.75 + 2000×6 + 300×15) × 0.5 = 10,200 µ$; real time 20,400 µ$
    addUsage(
      totals,
      {
        input_tokens: 50,
        cache_creation_input_tokens: 3000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
        output_tokens: 300,
      },
      'claude-sonnet-4-6',
      'batch',
      table,
    );
    // No price: tokens counted, cost not
    addUsage(totals, { input_tokens: 500, output_tokens: 50, cache_read_input_tokens: 700 }, 'claude-fable-5-2', 'batch', table);
    addUsage(totals, { input_tokens: 5, output_tokens: 5 }, 'claude-fable-5-2', 'batch', table);
    // Fable 5.1 real time: 100×10 + 100×50 = 6,000 µ$, the same in both sums
    addUsage(totals, { input_tokens: 100, output_tokens: 100 }, 'claude-fable-5-1', 'realtime', table);

    expect(totals).toMatchObject({
      usages: 5,
      inputTokens: 1000 + 50 + 500 + 5 + 100, // 1,655
      outputTokens: 200 + 300 + 50 + 5 + 100, // 655
      cacheCreationInputTokens: 3000,
      cacheReadInputTokens: 700,
      unpriced: 2,
      unpricedModels: ['claude-fable-5-2'],
    });
    // 1,000 + 10,200 + 6,000 = 17,200 µ$
    expect(totals.usd).toBeCloseTo(0.0172, 12);
    // 2,000 + 20,400 + 6,000 = 28,400 µ$
    expect(totals.realtimeUsd).toBeCloseTo(0.0284, 12);
  });

  it('counts cache writes from the 5 m / 1 h split when cache_creation_input_tokens is missing', () => {
    const totals = addUsage(
      newCostTotals(),
      { cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 } },
      'claude-haiku-4-5',
      'realtime',
      table,
    );
    expect(totals.cacheCreationInputTokens).toBe(300);
    // 100×1.25 + 200×2 = 125 + 400 = 525 µ$
    expect(totals.usd).toBeCloseTo(0.000525, 12);
  });

  it('each call starts from fresh totals (no shared state between runs)', () => {
    addUsage(newCostTotals(), { input_tokens: 1 }, 'x', 'batch', table);
    expect(newCostTotals()).toEqual({
      usages: 0,
      inputTokens: 0,
      outputTokens: 0,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
      usd: 0,
      realtimeUsd: 0,
      unpriced: 0,
      unpricedModels: [],
    });
  });
});

describe('price files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'be-prices-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const write = (content: unknown) => {
    const path = join(dir, `prices-${n++}.json`);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('merges over the defaults: overridden models change, new models gain a price, the rest stay', () => {
    const path = write({
      asOf: '2027-01',
      models: {
        'claude-haiku-4-5': { input: 2, output: 10 },
        'claude-fable-5-2': { input: 12, output: 60, cacheRead: 0.3 },
      },
    });
    const merged = loadPriceFile(path);
    // Cache rates left out default to 1.25× / 2× / 0.1× of input: 2 → 2.5, 4, 0.2
    expect(merged.models['claude-haiku-4-5']).toEqual({ input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4, cacheRead: 0.2 });
    // 12 → 15, 24; the given cache read is kept
    expect(merged.models['claude-fable-5-2']).toEqual({ input: 12, output: 60, cacheWrite5m: 15, cacheWrite1h: 24, cacheRead: 0.3 });
    expect(merged.models['claude-sonnet-4-6']).toBe(DEFAULT_PRICES.models['claude-sonnet-4-6']);
    expect(merged.asOf).toBe('2027-01');
    expect(merged.source).toBe(`price file ${path}, over ${DEFAULT_PRICES.source}`);
    // The dated id follows the override: (1000×2 + 200×10) × 0.5 = 2,000 µ$
    expect(costOf({ input_tokens: 1000, output_tokens: 200 }, 'claude-haiku-4-5-20251001', { mode: 'batch', table: merged }).usd).toBeCloseTo(0.002, 12);
    // Newly priced: (1000×12 + 100×60) × 0.5 = 18,000 × 0.5 = 9,000 µ$
    expect(costOf({ input_tokens: 1000, output_tokens: 100 }, 'claude-fable-5-2', { mode: 'batch', table: merged }).usd).toBeCloseTo(0.009, 12);
    // The built-in table is untouched
    expect(DEFAULT_PRICES.models['claude-haiku-4-5']?.input).toBe(1);
    expect(DEFAULT_PRICES.models['claude-fable-5-2']).toBeUndefined();
  });

  it('an override replaces the whole entry: a Haiku 5.5 entry without longPrompt has no long tier', () => {
    const merged = loadPriceFile(write({ models: { 'claude-haiku-5-5': { input: 0.1, output: 0.5 } } }));
    // 101,000×0.10 = 10,100 µ$ (the built-in table would charge 101,000×0.50)
    expect(costOf({ input_tokens: 101_000 }, 'claude-haiku-5-5', { mode: 'realtime', table: merged }).usd).toBeCloseTo(0.0101, 12);
  });

  it('a file can give a long-prompt tier and a batch discount', () => {
    const merged = loadPriceFile(
      write({ source: 'our contract', models: { m: { input: 1, output: 2, batchDiscount: 0, longPrompt: { aboveInputTokens: 10, input: 3, output: 4 } } } }),
    );
    expect(merged.source).toBe(`our contract, over ${DEFAULT_PRICES.source}`);
    expect(merged.models['m']?.longPrompt).toEqual({ aboveInputTokens: 10, input: 3, output: 4, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3 });
    // batchDiscount 0: batch = real time. 10 tokens (not above 10): 10×1 + 1×2 = 12 µ$
    expect(costOf({ input_tokens: 10, output_tokens: 1 }, 'm', { mode: 'batch', table: merged }).usd).toBeCloseTo(0.000012, 12);
    // 11 tokens: the long tier, 11×3 + 1×4 = 37 µ$
    expect(costOf({ input_tokens: 11, output_tokens: 1 }, 'm', { mode: 'batch', table: merged }).usd).toBeCloseTo(0.000037, 12);
  });

  it('mergePrices keeps the base asOf when the override has none', () => {
    const merged = mergePrices(DEFAULT_PRICES, parsePriceFile({ models: {} }, 'x.json'));
    expect(merged.asOf).toBe('2026-10');
    expect(merged.models).toEqual(DEFAULT_PRICES.models);
  });

  it('an empty models object is valid and changes nothing', () => {
    expect(loadPriceFile(write({ models: {} })).models).toEqual(DEFAULT_PRICES.models);
  });

  const invalid: { description: string; content: unknown; message: string }[] = [
    { description: 'a negative price', content: { models: { 'claude-x': { input: -1, output: 1 } } }, message: 'models.claude-x.input: expected a number ≥ 0, got -1' },
    { description: 'a price given as a string', content: { models: { 'claude-x': { input: '1', output: 1 } } }, message: 'models.claude-x.input: expected a number ≥ 0, got "1"' },
    { description: 'a missing output price', content: { models: { 'claude-x': { input: 1 } } }, message: 'models.claude-x.output: missing, expected a number ≥ 0' },
    { description: 'an overflowing number (1e999 parses to Infinity)', content: '{"models":{"claude-x":{"input":1e999,"output":1}}}', message: 'models.claude-x.input: expected a number ≥ 0, got Infinity' },
    { description: 'a null cache price', content: { models: { 'claude-x': { input: 1, output: 1, cacheRead: null } } }, message: 'models.claude-x.cacheRead: expected a number ≥ 0, got null' },
    {
      description: 'a misspelt field (strict: a typo must not silently fall back to a default)',
      content: { models: { 'claude-x': { input: 1, output: 1, cacheWrite1H: 2 } } },
      message: 'models.claude-x.cacheWrite1H: unknown field, expected one of input, output, cacheWrite5m, cacheWrite1h, cacheRead, batchDiscount, longPrompt',
    },
    { description: 'a batch discount above 1', content: { models: { 'claude-x': { input: 1, output: 1, batchDiscount: 50 } } }, message: 'models.claude-x.batchDiscount: expected a number 0–1, got 50' },
    {
      description: 'a fractional token threshold',
      content: { models: { 'claude-x': { input: 1, output: 1, longPrompt: { aboveInputTokens: 1.5, input: 1, output: 1 } } } },
      message: 'models.claude-x.longPrompt.aboveInputTokens: expected a whole number of tokens ≥ 0, got 1.5',
    },
    {
      description: 'an unknown field in longPrompt',
      content: { models: { 'claude-x': { input: 1, output: 1, longPrompt: { aboveInputTokens: 1, input: 1, output: 1, above: 2 } } } },
      message: 'models.claude-x.longPrompt.above: unknown field, expected one of aboveInputTokens, input, output',
    },
    { description: 'an empty model id', content: { models: { '': { input: 1, output: 1 } } }, message: 'models."": expected a non-empty model id' },
    { description: 'no models key', content: { prices: {} }, message: 'models: missing, expected an object of model ids to prices' },
    { description: 'models as an array', content: { models: [] }, message: 'models: expected an object of model ids to prices, got []' },
    { description: 'an unknown top-level field', content: { models: {}, currency: 'EUR' }, message: 'currency: unknown field, expected one of source, asOf, models' },
    { description: 'a top-level array', content: [], message: 'expected a JSON object { "models": { "<model id>": { "input": …, "output": … } } }, got []' },
    { description: 'not JSON at all', content: '{ models: }', message: 'not valid JSON' },
  ];
  for (const t of invalid) {
    it(`rejects ${t.description}, naming the file and the path`, () => {
      const path = write(t.content);
      expectErrorSync(() => loadPriceFile(path), { code: 'BE_USAGE', message: `Price file ${path}: ${t.message}`, file: path });
    });
  }

  it('a missing file is a usage error naming the file and the errno code', () => {
    const path = join(dir, 'nope.json');
    expectErrorSync(() => loadPriceFile(path), { code: 'BE_USAGE', message: `Price file ${path}: cannot be read (ENOENT)`, file: path });
  });
});

describe('usesNewTokenizer / estimateTokens', () => {
  const text400 = 'a'.repeat(400);
  const cases: { description: string; model: string; newTokenizer: boolean }[] = [
    { description: 'Haiku 4.5 predates the new tokenizer', model: 'claude-haiku-4-5', newTokenizer: false },
    { description: 'so does its dated id', model: 'claude-haiku-4-5-20251001', newTokenizer: false },
    { description: 'Sonnet 4.6 predates Opus 4.7', model: 'claude-sonnet-4-6', newTokenizer: false },
    { description: 'Sonnet 4.5', model: 'claude-sonnet-4-5-20250929', newTokenizer: false },
    { description: 'Opus 4.6 is before 4.7', model: 'claude-opus-4-6', newTokenizer: false },
    { description: 'Opus 4.1', model: 'claude-opus-4-1', newTokenizer: false },
    { description: 'dated Opus 4 (the date is not a minor version)', model: 'claude-opus-4-20250514', newTokenizer: false },
    { description: 'Claude 3.x naming', model: 'claude-3-5-sonnet-20241022', newTokenizer: false },
    { description: 'Opus 4.7 is the first with the new tokenizer', model: 'claude-opus-4-7', newTokenizer: true },
    { description: 'Opus 4.8', model: 'claude-opus-4-8', newTokenizer: true },
    { description: 'Opus 5', model: 'claude-opus-5', newTokenizer: true },
    { description: 'Opus 5.5', model: 'claude-opus-5-5', newTokenizer: true },
    { description: 'Sonnet 5', model: 'claude-sonnet-5', newTokenizer: true },
    { description: 'Sonnet 5.5', model: 'claude-sonnet-5-5', newTokenizer: true },
    { description: 'Haiku 5.5', model: 'claude-haiku-5-5', newTokenizer: true },
    { description: 'Fable 5.1', model: 'claude-fable-5-1', newTokenizer: true },
    { description: 'Mythos 5', model: 'claude-mythos-5', newTokenizer: true },
    { description: 'an unrecognised Claude id is assumed new (the larger, safer estimate)', model: 'claude-mythos-preview', newTokenizer: true },
    { description: 'a non-Claude id too', model: 'some-local-model', newTokenizer: true },
  ];
  for (const t of cases) {
    it(`${t.description}: ${t.model} → ${t.newTokenizer ? '400 chars / 4 × 1.3 = 130' : '400 chars / 4 = 100'} tokens`, () => {
      expect(usesNewTokenizer(t.model)).toBe(t.newTokenizer);
      expect(estimateTokens(text400, t.model)).toBe(t.newTokenizer ? 130 : 100);
    });
  }

  const rounding: { description: string; text: string; model: string; want: number }[] = [
    { description: 'empty text is 0 tokens', text: '', model: 'claude-opus-5-5', want: 0 },
    { description: 'partial tokens round up: 5 / 4 = 1.25 → 2', text: 'abcde', model: 'claude-haiku-4-5', want: 2 },
    { description: 'a single character is a token', text: 'a', model: 'claude-haiku-4-5', want: 1 },
    { description: '12 / 4 × 1.3 = 3.9 → 4 (float noise 3.9000000000000004 is still 4)', text: 'a'.repeat(12), model: 'claude-opus-5-5', want: 4 },
    { description: '40 / 4 × 1.3 = 13 exactly: float noise must not round it up to 14', text: 'a'.repeat(40), model: 'claude-opus-5-5', want: 13 },
    { description: 'a non-ASCII letter counts as a whole token: 4 / 4 + 1 = 2', text: 'héllo', model: 'claude-haiku-4-5', want: 2 },
    { description: 'CJK: one token per character, 3', text: '日本語', model: 'claude-haiku-4-5', want: 3 },
    { description: 'CJK with the new tokenizer: 3 × 1.3 = 3.9 → 4', text: '日本語', model: 'claude-opus-5-5', want: 4 },
    { description: 'an emoji is one code point (not two UTF-16 units): 1', text: '👍', model: 'claude-haiku-4-5', want: 1 },
  ];
  for (const t of rounding) {
    it(t.description, () => {
      expect(estimateTokens(t.text, t.model)).toBe(t.want);
    });
  }
});

describe('estimateRequest', () => {
  it('a request built by prepareSpec: the 1 h system block is the cached prefix; prompt and schema are input', () => {
    const schema = { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] };
    const params: RequestParams = prepareSpec({
      model: 'claude-haiku-4-5',
      maxTokens: 512,
      prompt: compileTemplate('{{text}}'),
      system: 's'.repeat(4000),
      answerSchema: schema,
    })({ text: 'm'.repeat(400) });
    const sentSchema = JSON.stringify(params.output_config?.format.schema);
    const estimate = estimateRequest(params, 'claude-haiku-4-5');
    // system 4000/4 = 1,000; prompt 400/4 = 100; schema ⌈len/4⌉
    expect(estimate).toEqual({ inputTokens: 1000 + 100 + Math.ceil(sentSchema.length / 4), cachedPrefixTokens: 1000, maxOutputTokens: 512 });
  });

  const cases: { description: string; model: string; params: Parameters<typeof estimateRequest>[0]; want: ReturnType<typeof estimateRequest> }[] = [
    {
      description: 'a string system prompt cannot carry cache_control: no cached prefix',
      model: 'claude-haiku-4-5',
      params: { max_tokens: 100, system: 's'.repeat(400), messages: [{ role: 'user', content: 'm'.repeat(40) }] },
      // 400/4 + 40/4 = 100 + 10
      want: { inputTokens: 110, cachedPrefixTokens: 0, maxOutputTokens: 100 },
    },
    {
      description: 'the new tokenizer scales every part by 1.3',
      model: 'claude-opus-5-5',
      params: {
        max_tokens: 100,
        system: [{ type: 'text', text: 's'.repeat(4000), cache_control: { type: 'ephemeral', ttl: '1h' } }],
        messages: [{ role: 'user', content: 'm'.repeat(400) }],
      },
      // 4000/4×1.3 = 1,300 (cached) + 400/4×1.3 = 130
      want: { inputTokens: 1430, cachedPrefixTokens: 1300, maxOutputTokens: 100 },
    },
    {
      description: 'the prefix ends at the last marked block: an unmarked block after it is not cached',
      model: 'claude-haiku-4-5',
      params: {
        max_tokens: 10,
        system: [
          { type: 'text', text: 'a'.repeat(800), cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'b'.repeat(400) },
        ],
        messages: [],
      },
      // 800/4 = 200 cached + 400/4 = 100 not
      want: { inputTokens: 300, cachedPrefixTokens: 200, maxOutputTokens: 10 },
    },
    {
      description: 'a mark on a later block caches the unmarked blocks before it too (caching is by prefix)',
      model: 'claude-haiku-4-5',
      params: {
        max_tokens: 10,
        system: [
          { type: 'text', text: 'a'.repeat(800) },
          { type: 'text', text: 'b'.repeat(400), cache_control: { type: 'ephemeral', ttl: '5m' } },
        ],
        messages: [],
      },
      // 200 + 100, all cached
      want: { inputTokens: 300, cachedPrefixTokens: 300, maxOutputTokens: 10 },
    },
    {
      description: 'cache_control: null is not a mark',
      model: 'claude-haiku-4-5',
      params: { max_tokens: 10, system: [{ type: 'text', text: 'a'.repeat(800), cache_control: null }], messages: [] },
      want: { inputTokens: 200, cachedPrefixTokens: 0, maxOutputTokens: 10 },
    },
    {
      description: 'block content and several turns all count; a non-text block counts by its JSON',
      model: 'claude-haiku-4-5',
      params: {
        max_tokens: 10,
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'a'.repeat(40) }, { type: 'text', text: 'b'.repeat(40) }] },
          { role: 'assistant', content: 'c'.repeat(40) },
          // JSON {"type":"x","data":"12345678"} is 29 characters → ⌈29/4⌉ = 8
          { role: 'user', content: [{ type: 'x', data: '12345678' } as { type: string }] },
        ],
      },
      // 10 + 10 + 10 + 8
      want: { inputTokens: 38, cachedPrefixTokens: 0, maxOutputTokens: 10 },
    },
    {
      description: 'the output_config schema counts as input (its JSON text)',
      model: 'claude-haiku-4-5',
      // {"type":"string"} is 17 characters → ⌈17/4⌉ = 5
      params: { max_tokens: 10, messages: [{ role: 'user', content: 'abcd' }], output_config: { format: { type: 'json_schema', schema: { type: 'string' } } } },
      // 1 + 5
      want: { inputTokens: 6, cachedPrefixTokens: 0, maxOutputTokens: 10 },
    },
    {
      description: 'output_config without a format adds nothing',
      model: 'claude-haiku-4-5',
      params: { max_tokens: 10, messages: [{ role: 'user', content: 'abcd' }], output_config: { format: null } },
      want: { inputTokens: 1, cachedPrefixTokens: 0, maxOutputTokens: 10 },
    },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(estimateRequest(t.params, t.model)).toEqual(t.want);
    });
  }

  it('accepts the SDK MessageCreateParams type as it is (type-level)', () => {
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      system: [{ type: 'text', text: 'x'.repeat(8), cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'y'.repeat(8) }],
    };
    // 8/4 = 2 cached + 8/4 = 2
    expect(estimateRequest(params, params.model)).toEqual({ inputTokens: 4, cachedPrefixTokens: 2, maxOutputTokens: 64 });
  });
});

describe('estimateCost', () => {
  const cases: {
    description: string;
    model: string;
    mode: PricingMode;
    workload: Workload;
    cacheHitRate?: number;
    low: number;
    high: number;
  }[] = [
    {
      description: 'Haiku 4.5 batch, no cache: high at max_tokens, low at a quarter of it (the default)',
      model: 'claude-haiku-4-5',
      mode: 'batch',
      workload: { requests: 1000, avgInputTokens: 600, avgCachedPrefixTokens: 0, maxTokens: 1024 },
      // high (1000×600×1 + 1000×1024×5) × 0.5 = (600,000 + 5,120,000) × 0.5 = 2,860,000 µ$
      // low  (600,000 + 1000×256×5) × 0.5 = (600,000 + 1,280,000) × 0.5 = 940,000 µ$
      high: 2.86,
      low: 0.94,
    },
    {
      description: 'Sonnet 4.6 batch with a cached prefix and a 50% hit rate: high writes the prefix every time',
      model: 'claude-sonnet-4-6',
      mode: 'batch',
      workload: { requests: 100, avgInputTokens: 2500, avgCachedPrefixTokens: 2000, maxTokens: 500, expectedOutputTokens: 100 },
      cacheHitRate: 0.5,
      // high (100×500×3 + 100×2000×6 + 100×500×15) × 0.5 = (150,000 + 1,200,000 + 750,000) × 0.5 = 1,050,000 µ$
      // low  (150,000 + 2000×6 + 99×2000×(0.5×0.30 + 0.5×6) + 100×100×15) × 0.5
      //    = (150,000 + 12,000 + 623,700 + 150,000) × 0.5 = 935,700 × 0.5 = 467,850 µ$
      high: 1.05,
      low: 0.46785,
    },
    {
      description: 'the same without a hit rate: the default 0 writes the prefix for every request in the low estimate too',
      model: 'claude-sonnet-4-6',
      mode: 'batch',
      workload: { requests: 100, avgInputTokens: 2500, avgCachedPrefixTokens: 2000, maxTokens: 500, expectedOutputTokens: 100 },
      // low (150,000 + 100×2000×6 + 100×100×15) × 0.5 = (150,000 + 1,200,000 + 150,000) × 0.5 = 750,000 µ$
      high: 1.05,
      low: 0.75,
    },
    {
      description: 'Opus 5.5 real time, every later request hits: one 1 h write, then reads at 0.20',
      model: 'claude-opus-5-5',
      mode: 'realtime',
      workload: { requests: 10, avgInputTokens: 5000, avgCachedPrefixTokens: 4000, maxTokens: 1000, expectedOutputTokens: 200 },
      cacheHitRate: 1,
      // high 10×1000×4 + 10×4000×8 + 10×1000×20 = 40,000 + 320,000 + 200,000 = 560,000 µ$
      // low  40,000 + 4000×8 + 9×4000×0.20 + 10×200×20 = 40,000 + 32,000 + 7,200 + 40,000 = 119,200 µ$
      high: 0.56,
      low: 0.1192,
    },
    {
      description: 'Fable 5.1 batch, one request',
      model: 'claude-fable-5-1',
      mode: 'batch',
      workload: { requests: 1, avgInputTokens: 1000, avgCachedPrefixTokens: 0, maxTokens: 2000 },
      // high (1000×10 + 2000×50) × 0.5 = 110,000 × 0.5 = 55,000 µ$; low (10,000 + 500×50) × 0.5 = 17,500 µ$
      high: 0.055,
      low: 0.0175,
    },
    {
      description: 'Haiku 5.5 real time, prompts above 100k tokens: the high tier',
      model: 'claude-haiku-5-5',
      mode: 'realtime',
      workload: { requests: 1, avgInputTokens: 200_000, avgCachedPrefixTokens: 0, maxTokens: 1000 },
      // high 200,000×0.50 + 1000×2.50 = 102,500 µ$; low 100,000 + 250×2.50 = 100,625 µ$
      high: 0.1025,
      low: 0.100625,
    },
    {
      description: 'an expected output above max_tokens is capped at max_tokens',
      model: 'claude-haiku-4-5',
      mode: 'realtime',
      workload: { requests: 1, avgInputTokens: 0, avgCachedPrefixTokens: 0, maxTokens: 100, expectedOutputTokens: 500 },
      // 100×5 = 500 µ$ both
      high: 0.0005,
      low: 0.0005,
    },
    {
      description: 'a cached prefix larger than the input is capped at the input',
      model: 'claude-haiku-4-5',
      mode: 'realtime',
      workload: { requests: 2, avgInputTokens: 500, avgCachedPrefixTokens: 1000, maxTokens: 0 },
      cacheHitRate: 1,
      // high 2×500×2 = 2,000 µ$; low 500×2 + 1×500×0.10 = 1,050 µ$
      high: 0.002,
      low: 0.00105,
    },
    {
      description: 'no requests cost nothing',
      model: 'claude-haiku-4-5',
      mode: 'batch',
      workload: { requests: 0, avgInputTokens: 500, avgCachedPrefixTokens: 100, maxTokens: 100 },
      high: 0,
      low: 0,
    },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const estimate = estimateCost(t.workload, t.model, { mode: t.mode, table, ...(t.cacheHitRate !== undefined ? { cacheHitRate: t.cacheHitRate } : {}) });
      expect(estimate.highUsd).toBeCloseTo(t.high, 12);
      expect(estimate.lowUsd).toBeCloseTo(t.low, 12);
      expect(estimate.lowUsd).toBeLessThanOrEqual(estimate.highUsd ?? Number.NaN);
    });
  }

  it('an unknown model gives an unknown range, not 0', () => {
    expect(estimateCost({ requests: 10, avgInputTokens: 10, avgCachedPrefixTokens: 0, maxTokens: 10 }, 'claude-fable-5-2', { mode: 'batch', table })).toEqual({
      lowUsd: undefined,
      highUsd: undefined,
    });
  });

  it('the high estimate is an upper bound of costOf for any outcome within max_tokens (hit or miss)', () => {
    const workload = { requests: 1, avgInputTokens: 3000, avgCachedPrefixTokens: 2000, maxTokens: 400 };
    const high = estimateCost(workload, 'claude-sonnet-4-6', { mode: 'batch', table }).highUsd ?? Number.NaN;
    const outcomes: UsageLike[] = [
      { input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 2000 }, output_tokens: 400 },
      { input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 400 },
      { input_tokens: 3000, output_tokens: 400 },
    ];
    // The miss with a 1 h write is the worst case and equals high: (1000×3 + 2000×6 + 400×15) × 0.5 = 10,500 µ$ (± float noise)
    expect(high).toBeCloseTo(0.0105, 12);
    for (const usage of outcomes) expect(costOf(usage, 'claude-sonnet-4-6', { mode: 'batch', table }).usd).toBeLessThanOrEqual(high + 1e-12);
  });

  const bad: { description: string; workload: Workload; cacheHitRate?: number; message: string }[] = [
    { description: 'a hit rate above 1', workload: { requests: 1, avgInputTokens: 1, avgCachedPrefixTokens: 0, maxTokens: 1 }, cacheHitRate: 1.5, message: '`cacheHitRate` must be a number 0–1, got 1.5' },
    { description: 'negative requests', workload: { requests: -1, avgInputTokens: 1, avgCachedPrefixTokens: 0, maxTokens: 1 }, message: '`requests` must be a number ≥ 0, got -1' },
    { description: 'NaN input tokens', workload: { requests: 1, avgInputTokens: Number.NaN, avgCachedPrefixTokens: 0, maxTokens: 1 }, message: '`avgInputTokens` must be a number ≥ 0, got NaN' },
  ];
  for (const t of bad) {
    it(`rejects ${t.description} rather than returning a meaningless figure`, () => {
      expectErrorSync(
        () => estimateCost(t.workload, 'claude-haiku-4-5', { mode: 'batch', table, ...(t.cacheHitRate !== undefined ? { cacheHitRate: t.cacheHitRate } : {}) }),
        { code: 'BE_INVALID_OPTION', message: t.message },
      );
    });
  }
});
