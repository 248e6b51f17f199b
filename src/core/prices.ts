/**
 * The default price table: data only, USD per million tokens at **standard** (real-time) prices.
 * Batch prices are derived in `pricing.ts` by taking `batchDiscount` (default 50%) off every
 * category, since the batch guide says "All usage is charged at 50% of the standard API prices" and
 * that the caching and batch discounts stack.
 *
 * The prices themselves live in the model registry (`models.ts`, with their sources), so that a
 * model and its price are added together. Prices change: users override this table with a price
 * file (`loadPriceFile`), so nothing here is hard-coded into the cost arithmetic.
 *
 * Cache writes are 1.25× input (5 min TTL) and 2× input (1 h TTL); cache reads are 0.1× input,
 * except Fable/Mythos 5.1 (0.025×), Opus 5.5 (0.05×) and Sonnet 5.5 ($0.10, 0.05×), per the pricing page.
 *
 * Models the SDK knows but that have no price here (cost reported as unknown): `claude-fable-5-2`,
 * `claude-mythos-5-2` (no published price found), `claude-mythos-preview` (retired).
 */
import { MODEL_REGISTRY } from './models.ts';
import type { ModelPrice, PriceTable } from './pricing.ts';

export const DEFAULT_PRICES: PriceTable = {
  source: `built-in: the model registry (src/core/models.ts, checked ${MODEL_REGISTRY.checkedAt}): platform.claude.com pricing page, copies Sep–Oct 2026`,
  // When the prices were copied (the registry's other facts were checked later).
  asOf: '2026-10',
  models: Object.fromEntries(
    MODEL_REGISTRY.models.flatMap((m) => (m.price === undefined ? [] : [[m.id, { ...m.price } as ModelPrice]])),
  ),
};
