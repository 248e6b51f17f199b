/**
 * The default price table: data only, USD per million tokens at **standard** (real-time) prices.
 * Batch prices are derived in `pricing.ts` by taking `batchDiscount` (default 50%) off every
 * category, since the batch guide says "All usage is charged at 50% of the standard API prices" and
 * that the caching and batch discounts stack.
 *
 * Source: copies of https://platform.claude.com/docs/en/about-claude/pricing taken Sep–Oct 2026, as
 * summarised in docs/anthropic-batches-api.md §4.2. Prices change: users override this table with a
 * price file (`loadPriceFile`), so nothing here is hard-coded into the cost arithmetic.
 *
 * Cache writes are 1.25× input (5 min TTL) and 2× input (1 h TTL); cache reads are 0.1× input,
 * except Fable/Mythos 5.1 (0.025×) and Opus 5.5 (0.05×), per the pricing page's footnotes.
 *
 * Models the SDK knows but that have no price here (cost reported as unknown): `claude-fable-5-2`,
 * `claude-mythos-5-2` (no published price found), `claude-mythos-preview` (deprecated).
 */
import type { PriceTable } from './pricing.ts';

export const DEFAULT_PRICES: PriceTable = {
  source: 'built-in: platform.claude.com pricing page, copies Sep–Oct 2026 (docs/anthropic-batches-api.md §4.2)',
  asOf: '2026-10',
  models: {
    // Fable/Mythos 5.1: cache hits are 0.025× input.
    'claude-fable-5-1': { input: 10, output: 50, cacheWrite5m: 12.5, cacheWrite1h: 20, cacheRead: 0.25 },
    'claude-mythos-5-1': { input: 10, output: 50, cacheWrite5m: 12.5, cacheWrite1h: 20, cacheRead: 0.25 },
    'claude-fable-5': { input: 10, output: 50, cacheWrite5m: 12.5, cacheWrite1h: 20, cacheRead: 1 },
    'claude-mythos-5': { input: 10, output: 50, cacheWrite5m: 12.5, cacheWrite1h: 20, cacheRead: 1 },

    // Opus 5.5: cache hits are 0.05× input.
    'claude-opus-5-5': { input: 4, output: 20, cacheWrite5m: 5, cacheWrite1h: 8, cacheRead: 0.2 },
    'claude-opus-5': { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 },
    'claude-opus-4-8': { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 },
    'claude-opus-4-7': { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 },
    'claude-opus-4-6': { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 },
    // Deprecated, end of life 2027-01-22.
    'claude-opus-4-5': { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 },
    // Opus 4.1 / 4: retired except on the cloud platforms.
    'claude-opus-4-1': { input: 15, output: 75, cacheWrite5m: 18.75, cacheWrite1h: 30, cacheRead: 1.5 },
    'claude-opus-4': { input: 15, output: 75, cacheWrite5m: 18.75, cacheWrite1h: 30, cacheRead: 1.5 },

    // UNCONFIRMED cache read: most copies say 0.20 (0.1×), one copy says 0.10. We keep the higher one.
    'claude-sonnet-5-5': { input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4, cacheRead: 0.2 },
    // $2/$10 began as introductory pricing and "is now the standard price".
    'claude-sonnet-5': { input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4, cacheRead: 0.2 },
    'claude-sonnet-4-6': { input: 3, output: 15, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3 },
    // Deprecated for 2026-11-30.
    'claude-sonnet-4-5': { input: 3, output: 15, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3 },

    // Haiku 5.5 has two tiers by prompt size: these are the ≤100k-token prices; `longPrompt` holds the
    // >100k-token prices. UNCONFIRMED: its batch prices (no copy of the batch guide lists Haiku 5.5; we
    // assume the usual 50%), and whether the 100k threshold counts cached tokens (we count all input:
    // input_tokens + cache_creation_input_tokens + cache_read_input_tokens).
    'claude-haiku-5-5': {
      input: 0.1,
      output: 0.5,
      cacheWrite5m: 0.125,
      cacheWrite1h: 0.2,
      cacheRead: 0.01,
      longPrompt: { aboveInputTokens: 100_000, input: 0.5, output: 2.5, cacheWrite5m: 0.625, cacheWrite1h: 1, cacheRead: 0.05 },
    },
    // Also served as the dated id `claude-haiku-4-5-20251001` (see `priceFor`).
    'claude-haiku-4-5': { input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 },
  },
};
