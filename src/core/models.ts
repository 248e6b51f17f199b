/**
 * The model registry: what we know about each Claude model, as data, in one place. The emulator
 * (which models exist, output limits, context windows, cache minimums), the preflight checks of the
 * CLI and the library, the retry cap (`modelOutputLimit`) and the built-in price table (`prices.ts`)
 * all read it, so a new model or a new limit is one edit here.
 *
 * Online, `GET /v1/models/{id}` (the SDK's `models.retrieve`: `max_input_tokens`, `max_tokens`,
 * `capabilities`, `lifecycle`, `retires_at`) is the truth; this table is the fallback used offline and
 * before any network call, so the CLI can refuse a job before paying for it.
 *
 * Sources (checked 2026-12-02):
 *  - [SDK] @anthropic-ai/sdk 1.14 `Model` union (which ids exist) and `internal/data/deprecated-models.ts`
 *    (retirement dates: "November 30th, 2026" for Sonnet 4.5, "January 22nd, 2027" for Opus 4.5,
 *    "June 30th, 2026" for Mythos preview);
 *  - [DOC] docs/anthropic-batches-api.md §3.4 (output limits, the `output-300k-2026-03-24` beta and the
 *    models it covers), §4.2 (prices), §4.3 (minimum cacheable prompt length), §5 (structured outputs);
 *  - [ISSUE] issue 13 (Haiku 5.5 128K output; Opus 4.5 and Sonnet 4.5 64K; Opus 4.1 32K; Sonnet 5.5
 *    cache read $0.10 "since October");
 *  - [3P] copies of the models overview page (May 2026): context windows 1M for Opus 4.6/4.7 and
 *    Sonnet 4.6, 200K for Haiku 4.5.
 * Where the sources say nothing, a value is marked UNCONFIRMED with the choice made (the README's
 * emulator section lists them): we take the value of the nearest documented model of the same line.
 */

/** USD per million tokens, at standard (real-time) prices. */
export interface ModelRates {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

/** A model's price; Haiku 5.5 has a second tier for long prompts. */
export interface ModelPriceData extends ModelRates {
  longPrompt?: ModelRates & { aboveInputTokens: number };
}

/** What a model can take in and do (the names of `GET /v1/models` `capabilities`). */
export interface ModelCapabilities {
  batch: boolean;
  structuredOutputs: boolean;
  pdfInput: boolean;
  imageInput: boolean;
  citations: boolean;
}

export type ModelCapability = keyof ModelCapabilities;

/** One model, as the registry knows it. */
export interface ModelEntry {
  /** The API id (`claude-haiku-4-5`). */
  id: string;
  /** Other ids the API accepts for the same model (dated snapshots such as `claude-haiku-4-5-20251001`). */
  aliases: readonly string[];
  /** Most input tokens per request (`max_input_tokens`). */
  contextWindow: number;
  /** Most `max_tokens` (`max_tokens` of `GET /v1/models`). */
  maxOutput: number;
  /** Betas that raise `maxOutput`, and to what (batch requests only, per the batch guide). */
  outputBetas: Readonly<Record<string, number>>;
  /** Below this many prompt tokens, `cache_control` is silently not applied ("no error is returned"). */
  minCacheableTokens: number;
  capabilities: ModelCapabilities;
  /** `active`, or `deprecated` (still callable) / `retired` (requests fail with `not_found_error`). */
  lifecycle: 'active' | 'deprecated' | 'retired';
  /** ISO date from which requests fail (a deprecated model past it is retired). */
  retiresAt: string | null;
  /** Standard prices; absent when no published price was found (cost then reported as unknown). */
  price?: ModelPriceData;
  /** How large an image it reads before scaling one down, and what an image then counts at most (`imageTokens`). */
  images: ImageLimits;
}

/** The size an image is scaled down to (its long edge, in pixels) and the visual tokens it then counts at most. */
export interface ImageLimits {
  longEdge: number;
  maxTokens: number;
}

/**
 * The vision guide's limits ("Evaluate image size": "if your image's long edge is more than 1568
 * pixels, or your image is more than ~1,600 tokens, it will first be scaled down"), which the models
 * before Claude Opus 4.7 keep: count_tokens gave 1,242-1,561 for images of 1,568 and 2,576 px alike
 * on Opus 4.6 [3P: claudecodecamp.com, "images cost 3x more tokens in Claude Opus 4.7"].
 */
export const STANDARD_IMAGES: ImageLimits = { longEdge: 1568, maxTokens: 1600 };
/**
 * Opus 4.7 and later, Sonnet 5 and later, Haiku 5.5, Fable and Mythos read images up to 2,576 px on
 * the long edge: at most 4,784 visual tokens of ⌈w/28⌉ × ⌈h/28⌉ [3P: claudecodecamp.com, count_tokens
 * on Opus 4.7; the adk-vision crate's `ClaudeVisionTier::High`, count_tokens 2026-11-19]. The vision
 * guide gives each model's "maximal native image resolution" in a table we could not read: UNCONFIRMED
 * beyond those measurements. Also taken for a model the registry does not know (a newer one): an
 * image is then counted high, never low, against --max-cost.
 */
export const HIGH_RES_IMAGES: ImageLimits = { longEdge: 2576, maxTokens: 4784 };

/** The image limits of a model (`HIGH_RES_IMAGES` for one the registry does not know, or none given). */
export function imageLimitsOf(model: string | undefined): ImageLimits {
  return (model === undefined ? undefined : findModel(model)?.images) ?? HIGH_RES_IMAGES;
}

/** The `anthropic-beta` value that raises `max_tokens` to 300,000 in batches [DOC §3.4]. */
export const OUTPUT_300K_BETA = 'output-300k-2026-03-24';

const ALL: ModelCapabilities = { batch: true, structuredOutputs: true, pdfInput: true, imageInput: true, citations: true };
const K = 1000;
const M = 1_000_000;
const BETA_300K = { [OUTPUT_300K_BETA]: 300 * K } as const;

const FABLE_PRICE = { input: 10, output: 50, cacheWrite5m: 12.5, cacheWrite1h: 20 };
const OPUS_PRICE: ModelPriceData = { input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5 };
const OPUS_4_1_PRICE: ModelPriceData = { input: 15, output: 75, cacheWrite5m: 18.75, cacheWrite1h: 30, cacheRead: 1.5 };
// Opus 4.1 / 4: retired except on the cloud platforms [DOC §4.2]; 32K output [ISSUE]; structured
// outputs not in the GA list [DOC §5]. Kept so that their prices still cost old ledgers.
const RETIRED_OPUS_4 = {
  contextWindow: 200_000,
  maxOutput: 32_000,
  minCacheableTokens: 1024,
  capabilities: { ...ALL, structuredOutputs: false },
  lifecycle: 'retired',
  retiresAt: null,
  price: OPUS_4_1_PRICE,
} as const;
const SONNET_5_PRICE = { input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4 };
const SONNET_4_PRICE: ModelPriceData = { input: 3, output: 15, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3 };

function model(id: string, fields: Omit<ModelEntry, 'id' | 'aliases' | 'outputBetas' | 'capabilities' | 'lifecycle' | 'retiresAt' | 'images'> & Partial<ModelEntry>): ModelEntry {
  const highRes = /^claude-(opus-(4-[7-9]|[5-9])|sonnet-[5-9]|haiku-(5-[5-9]|[6-9])|fable|mythos)/.test(id);
  return { id, aliases: [], outputBetas: {}, capabilities: ALL, lifecycle: 'active', retiresAt: null, images: highRes ? HIGH_RES_IMAGES : STANDARD_IMAGES, ...fields };
}

/** The registry: when it was checked, against what, and the models. */
export const MODEL_REGISTRY = {
  checkedAt: '2026-12-02',
  source: 'SDK 1.14 Model union and deprecated-models.ts; docs/anthropic-batches-api.md §3.4, §4.2, §4.3, §5; issue 13',
  models: [
    // Fable/Mythos: 128K output [DOC §3.4]. Context window, cache minimum: UNCONFIRMED (1M, 1,024).
    // Cache hits on the 5.1 models are 0.025× input [DOC §4.2 footnote].
    model('claude-fable-5-2', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024 }), // no published price
    model('claude-mythos-5-2', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024 }), // no published price
    model('claude-fable-5-1', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024, price: { ...FABLE_PRICE, cacheRead: 0.25 } }),
    model('claude-mythos-5-1', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024, price: { ...FABLE_PRICE, cacheRead: 0.25 } }),
    model('claude-fable-5', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024, price: { ...FABLE_PRICE, cacheRead: 1 } }),
    model('claude-mythos-5', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024, price: { ...FABLE_PRICE, cacheRead: 1 } }),
    // Deprecated for June 30th, 2026 [SDK]: retired now.
    model('claude-mythos-preview', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 1024, lifecycle: 'retired', retiresAt: '2026-06-30' }),

    // Opus 5.5: cache hits 0.05× input [DOC §4.2]. Whether the 300K beta covers the 5.5 models is
    // UNCONFIRMED [DOC §3.4]: we say no (the guide lists only the models below). Cache minimum
    // UNCONFIRMED: Opus 5's 512.
    model('claude-opus-5-5', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 512, price: { input: 4, output: 20, cacheWrite5m: 5, cacheWrite1h: 8, cacheRead: 0.2 } }),
    model('claude-opus-5', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 512, price: OPUS_PRICE }),
    model('claude-opus-4-8', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 1024, price: OPUS_PRICE }),
    model('claude-opus-4-7', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 4096, price: OPUS_PRICE }),
    model('claude-opus-4-6', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 4096, price: OPUS_PRICE }),
    // Deprecated, end of life January 22nd, 2027 [SDK]; 64K output [ISSUE]; 200K context [3P].
    model('claude-opus-4-5', {
      aliases: ['claude-opus-4-5-20251101'],
      contextWindow: 200 * K,
      maxOutput: 64 * K,
      minCacheableTokens: 4096,
      lifecycle: 'deprecated',
      retiresAt: '2027-01-22',
      price: OPUS_PRICE,
    }),
    // Opus 4.1 / 4: retired except on the cloud platforms [DOC §4.2]; 32K output [ISSUE]; structured
    // outputs not in the GA list [DOC §5]. Kept so that their prices still cost old ledgers.
    model('claude-opus-4-1', { aliases: ['claude-opus-4-1-20250805'], ...RETIRED_OPUS_4 }),
    model('claude-opus-4', { aliases: ['claude-opus-4-20250514'], ...RETIRED_OPUS_4 }),

    // Sonnet 5.5 cache read: $0.10 per the pricing page since October [ISSUE] (one copy said 0.10,
    // most 0.20 [DOC §4.2]; the issue is the newer, first-hand reading, so it wins). Cache minimum
    // UNCONFIRMED for Sonnet 5/5.5: Sonnet 4.6's 2,048.
    model('claude-sonnet-5-5', { contextWindow: M, maxOutput: 128 * K, minCacheableTokens: 2048, price: { ...SONNET_5_PRICE, cacheRead: 0.1 } }),
    // $2/$10 began as introductory pricing and "is now the standard price" [DOC §4.2].
    model('claude-sonnet-5', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 2048, price: { ...SONNET_5_PRICE, cacheRead: 0.2 } }),
    model('claude-sonnet-4-6', { contextWindow: M, maxOutput: 128 * K, outputBetas: BETA_300K, minCacheableTokens: 2048, price: SONNET_4_PRICE }),
    // Deprecated for November 30th, 2026 [SDK]: retired now. 64K output [ISSUE].
    model('claude-sonnet-4-5', {
      aliases: ['claude-sonnet-4-5-20250929'],
      contextWindow: 200 * K,
      maxOutput: 64 * K,
      minCacheableTokens: 1024,
      lifecycle: 'deprecated',
      retiresAt: '2026-11-30',
      price: SONNET_4_PRICE,
    }),

    // Haiku 5.5: 128K output [ISSUE]; two price tiers by prompt size; its batch price (50% assumed)
    // and context window (200K, as Haiku 4.5) and cache minimum (4,096, as Haiku 4.5) are UNCONFIRMED.
    model('claude-haiku-5-5', {
      contextWindow: 200 * K,
      maxOutput: 128 * K,
      minCacheableTokens: 4096,
      price: {
        input: 0.1,
        output: 0.5,
        cacheWrite5m: 0.125,
        cacheWrite1h: 0.2,
        cacheRead: 0.01,
        longPrompt: { aboveInputTokens: 100 * K, input: 0.5, output: 2.5, cacheWrite5m: 0.625, cacheWrite1h: 1, cacheRead: 0.05 },
      },
    }),
    model('claude-haiku-4-5', {
      aliases: ['claude-haiku-4-5-20251001'],
      contextWindow: 200 * K,
      maxOutput: 64 * K,
      minCacheableTokens: 4096,
      price: { input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 },
    }),
  ] as readonly ModelEntry[],
};

const BY_ID: ReadonlyMap<string, ModelEntry> = new Map(
  MODEL_REGISTRY.models.flatMap((m) => [[m.id, m] as const, ...m.aliases.map((a) => [a, m] as const)]),
);

/** The registry entry for an id or alias, or undefined for a model the registry does not know. */
export function findModel(id: string): ModelEntry | undefined {
  return BY_ID.get(id);
}

/** Whether requests to the model fail at `now` (ms): retired, or deprecated and past its date. */
export function isRetired(entry: ModelEntry, now: number): boolean {
  if (entry.lifecycle === 'retired') return true;
  return entry.retiresAt !== null && now >= Date.parse(`${entry.retiresAt}T00:00:00Z`);
}

/** The model's `max_tokens` limit with the given `anthropic-beta` values (batch requests only). */
export function outputLimit(entry: ModelEntry, betas: readonly string[] = []): number {
  let limit = entry.maxOutput;
  for (const beta of betas) limit = Math.max(limit, entry.outputBetas[beta] ?? 0);
  return limit;
}

/** Human names of the capabilities, for messages ("PDF input"). */
export const CAPABILITY_NAMES: Readonly<Record<ModelCapability, string>> = {
  batch: 'the Message Batches API',
  structuredOutputs: 'structured outputs',
  pdfInput: 'PDF input',
  imageInput: 'image input',
  citations: 'citations',
};
