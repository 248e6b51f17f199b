import { describe, expect, it } from 'vitest';
import { findModel, isRetired, MODEL_REGISTRY, OUTPUT_300K_BETA, outputLimit } from '../../src/core/models.ts';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import { priceFor } from '../../src/core/pricing.ts';
import { modelOutputLimit } from '../../src/core/retry.ts';
import Anthropic from '@anthropic-ai/sdk';

describe('the model registry', () => {
  it('says when it was checked and against what', () => {
    expect(MODEL_REGISTRY.checkedAt).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(MODEL_REGISTRY.source).toMatch(/SDK/);
  });

  it('every model in the price table is in the registry, and every registry model has a price unless none is published', () => {
    const unpriced = new Set(['claude-fable-5-2', 'claude-mythos-5-2', 'claude-mythos-preview']);
    for (const id of Object.keys(DEFAULT_PRICES.models)) expect(findModel(id)?.id, id).toBe(id);
    for (const m of MODEL_REGISTRY.models) {
      if (unpriced.has(m.id)) expect(priceFor(m.id, DEFAULT_PRICES), m.id).toBeUndefined();
      else {
        expect(DEFAULT_PRICES.models[m.id], m.id).toEqual(m.price);
        for (const alias of m.aliases) expect(priceFor(alias, DEFAULT_PRICES), alias).toEqual(m.price);
      }
    }
  });

  it('knows every model id of the installed SDK (the Model union, via its deprecation list and the docs)', () => {
    // The SDK's Model union is a type only; these are its members (SDK 1.14 src/resources/messages/messages.ts).
    const sdkModels: Anthropic.Model[] = [
      'claude-fable-5-2', 'claude-mythos-5-2', 'claude-haiku-5-5', 'claude-sonnet-5-5', 'claude-fable-5-1', 'claude-opus-5-5',
      'claude-mythos-5-1', 'claude-sonnet-5', 'claude-fable-5', 'claude-mythos-5', 'claude-opus-5', 'claude-opus-4-8',
      'claude-opus-4-7', 'claude-mythos-preview', 'claude-opus-4-6', 'claude-sonnet-4-6', 'claude-haiku-4-5',
      'claude-haiku-4-5-20251001', 'claude-opus-4-5', 'claude-opus-4-5-20251101', 'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929',
    ];
    for (const id of sdkModels) expect(findModel(id), id).toBeDefined();
    expect(findModel('claude-haiku-45')).toBeUndefined();
  });

  it('Sonnet 5.5 cache reads cost $0.10 per million (the pricing page since October)', () => {
    expect(DEFAULT_PRICES.models['claude-sonnet-5-5']?.cacheRead).toBe(0.1);
  });

  const limits: Array<[string, number]> = [
    ['claude-haiku-5-5', 128_000],
    ['claude-haiku-4-5-20251001', 64_000],
    ['claude-opus-4-5', 64_000],
    ['claude-sonnet-4-5', 64_000],
    ['claude-opus-4-1', 32_000],
    ['claude-sonnet-4-6', 128_000],
    ['claude-opus-5-5', 128_000],
  ];
  for (const [id, limit] of limits) {
    it(`the retry cap for ${id} is its output limit ${limit}`, () => {
      expect(modelOutputLimit(id)).toBe(limit);
    });
  }

  it('the output-300k beta raises the limit only for the models the batch guide names', () => {
    expect(modelOutputLimit('claude-sonnet-4-6', [OUTPUT_300K_BETA])).toBe(300_000);
    expect(modelOutputLimit('claude-opus-5', [OUTPUT_300K_BETA])).toBe(300_000);
    expect(modelOutputLimit('claude-haiku-4-5', [OUTPUT_300K_BETA])).toBe(64_000);
    expect(outputLimit(findModel('claude-opus-4-6')!, ['other-beta'])).toBe(128_000);
  });

  it('a deprecated model is retired from its retirement date', () => {
    const sonnet45 = findModel('claude-sonnet-4-5-20250929')!;
    expect(isRetired(sonnet45, Date.parse('2026-11-29T23:59:59Z'))).toBe(false);
    expect(isRetired(sonnet45, Date.parse('2026-11-30T00:00:00Z'))).toBe(true);
    expect(isRetired(findModel('claude-haiku-4-5')!, Date.parse('2030-01-01T00:00:00Z'))).toBe(false);
    expect(isRetired(findModel('claude-mythos-preview')!, 0)).toBe(true);
  });
});
