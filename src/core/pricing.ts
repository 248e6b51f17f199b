/**
 * The cost model (issue #6), as pure functions over a price table that is data (`prices.ts`), so
 * that a user can override it with a JSON file when prices change (`loadPriceFile`, the only I/O
 * here). It answers three questions:
 *
 * - What did a result cost? `costOf(usage, model, …)` applies the formula of the API notes §4.3 to
 *   the `usage` of one result: `(input×in + cache_creation.5m×w5 + cache_creation.1h×w1h +
 *   cache_read×read + output×out) × (batch ? 0.5 : 1)`.
 * - What did a run cost, and what would it have cost in real time? `addUsage` into `CostTotals`.
 * - What will a run cost at most? `estimateRequest` + `estimateCost`, before anything is submitted,
 *   from a character heuristic (offline) or from `count_tokens` figures the caller supplies.
 *
 * A model that has no price gives an unknown cost (`undefined`), never a guess: `priceFor` matches an
 * exact id or the same id with a date suffix, but not a neighbouring version (the rejected
 * alternative, matching any prefix, would price `claude-fable-5-2`, which has no published price, as
 * `claude-fable-5`).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BatchEnrichError, shown } from '../errors.ts';
import { DEFAULT_PRICES } from './prices.ts';

/** USD per million tokens for each token category. */
export interface Rates {
  readonly input: number;
  readonly output: number;
  /** Writing the cache with a 5 minute TTL (usually 1.25× input). */
  readonly cacheWrite5m: number;
  /** Writing the cache with a 1 hour TTL (usually 2× input). */
  readonly cacheWrite1h: number;
  /** A cache hit or refresh (usually 0.1× input). */
  readonly cacheRead: number;
}

/** One model's prices, at standard (real-time) rates, USD per million tokens. */
export interface ModelPrice extends Rates {
  /** The share taken off every category in batch mode, 0–1. Default `BATCH_DISCOUNT` (50%). */
  readonly batchDiscount?: number;
  /**
   * Rates for prompts above `aboveInputTokens` input tokens (input + cache writes + cache reads of
   * one request), for models priced in tiers by prompt size (Haiku 5.5).
   */
  readonly longPrompt?: Rates & { readonly aboveInputTokens: number };
}

/** Prices by model id, with where they came from. */
export interface PriceTable {
  /** Where the prices come from, for reports ("built-in: …", or the price file). */
  readonly source: string;
  /** When the prices were copied (e.g. `2026-10`). */
  readonly asOf?: string;
  readonly models: Readonly<Record<string, ModelPrice>>;
}

export type PricingMode = 'batch' | 'realtime';

/** "All usage is charged at 50% of the standard API prices" in a batch (batch guide). */
export const BATCH_DISCOUNT = 0.5;
/** Defaults for cache rates a price file leaves out, as multiples of the input rate (prompt-caching docs). */
export const CACHE_WRITE_5M_MULTIPLIER = 1.25;
export const CACHE_WRITE_1H_MULTIPLIER = 2;
export const CACHE_READ_MULTIPLIER = 0.1;

const TOKENS_PER_UNIT = 1_000_000;

/** A dated or versioned suffix that still names the same model: `-20251001`, or Vertex's `@20251001`. */
const DATE_SUFFIX = /^(.+)[-@]\d{8}$/;

/**
 * The price of `model`: the exact id, else the id without a date suffix
 * (`claude-haiku-4-5-20251001` → `claude-haiku-4-5`), else `undefined`. Callers must report the cost
 * of an unknown model as unknown.
 *
 * @example priceFor('claude-haiku-4-5-20251001', DEFAULT_PRICES)?.input // 1
 */
export function priceFor(model: string, table: PriceTable): ModelPrice | undefined {
  if (Object.hasOwn(table.models, model)) return table.models[model];
  const undated = DATE_SUFFIX.exec(model)?.[1];
  if (undated !== undefined && Object.hasOwn(table.models, undated)) return table.models[undated];
  return undefined;
}

/** The rates that apply to one request of `promptTokens` input tokens (the long-prompt tier above its threshold). */
function ratesFor(price: ModelPrice, promptTokens: number): Rates {
  const long = price.longPrompt;
  return long !== undefined && promptTokens > long.aboveInputTokens ? long : price;
}

function multiplierFor(price: ModelPrice, mode: PricingMode): number {
  return mode === 'batch' ? 1 - (price.batchDiscount ?? BATCH_DISCOUNT) : 1;
}

// ---------------------------------------------------------------------------------------------------
// Actual cost, from a result's `usage`

/**
 * The `usage` of a `Message`, typed loosely: the SDK's `Usage` fits, and so does a line of results
 * JSON from any SDK version, where cache fields may be absent or null. Missing and null count as 0.
 */
export interface UsageLike {
  readonly input_tokens?: number | null | undefined;
  readonly output_tokens?: number | null | undefined;
  readonly cache_creation_input_tokens?: number | null | undefined;
  readonly cache_read_input_tokens?: number | null | undefined;
  readonly cache_creation?:
    | {
        readonly ephemeral_5m_input_tokens?: number | null | undefined;
        readonly ephemeral_1h_input_tokens?: number | null | undefined;
      }
    | null
    | undefined;
}

/** Token counts of one usage, with nulls as 0 and the cache writes split by TTL. */
interface UsageTokens {
  input: number;
  output: number;
  write5m: number;
  write1h: number;
  /** `cache_creation_input_tokens`, or the sum of the split when that field is missing. */
  cacheCreation: number;
  read: number;
}

const count = (n: number | null | undefined): number => (typeof n === 'number' ? n : 0);

function tokensOf(usage: UsageLike): UsageTokens {
  const split = usage.cache_creation;
  const reported = usage.cache_creation_input_tokens;
  // No split (older SDKs, or `cache_creation: null`): all writes at the 5 min rate, per the API notes §4.3.
  const write5m = split ? count(split.ephemeral_5m_input_tokens) : count(reported);
  const write1h = split ? count(split.ephemeral_1h_input_tokens) : 0;
  return {
    input: count(usage.input_tokens),
    output: count(usage.output_tokens),
    write5m,
    write1h,
    cacheCreation: typeof reported === 'number' ? reported : write5m + write1h,
    read: count(usage.cache_read_input_tokens),
  };
}

/** A cost in USD, split by category; every field is `undefined` when the model has no price. */
export type Cost =
  | { usd: number; inputUsd: number; outputUsd: number; cacheWriteUsd: number; cacheReadUsd: number }
  | { usd: undefined; inputUsd: undefined; outputUsd: undefined; cacheWriteUsd: undefined; cacheReadUsd: undefined };

const UNKNOWN_COST: Cost = { usd: undefined, inputUsd: undefined, outputUsd: undefined, cacheWriteUsd: undefined, cacheReadUsd: undefined };

export interface CostOptions {
  mode: PricingMode;
  table: PriceTable;
}

/**
 * What one result cost, from its `usage`: `(input×in + cache_creation.5m×w5 + cache_creation.1h×w1h
 * + cache_read×read + output×out) / 1e6 × (batch ? 0.5 : 1)`. When `cache_creation` is null, all of
 * `cache_creation_input_tokens` is charged at the 5 min rate. Not modelled: US-only inference (1.1×)
 * and server tools (web search), which enrichment requests do not use.
 *
 * @example costOf({ input_tokens: 1000, output_tokens: 200 }, 'claude-haiku-4-5', { mode: 'batch', table: DEFAULT_PRICES }).usd // 0.001
 */
export function costOf(usage: UsageLike, model: string, options: CostOptions): Cost {
  const price = priceFor(model, options.table);
  if (price === undefined) return { ...UNKNOWN_COST };
  const t = tokensOf(usage);
  const rates = ratesFor(price, t.input + t.cacheCreation + t.read);
  const k = multiplierFor(price, options.mode) / TOKENS_PER_UNIT;
  const inputUsd = t.input * rates.input * k;
  const outputUsd = t.output * rates.output * k;
  const cacheWriteUsd = (t.write5m * rates.cacheWrite5m + t.write1h * rates.cacheWrite1h) * k;
  const cacheReadUsd = t.read * rates.cacheRead * k;
  return { usd: inputUsd + outputUsd + cacheWriteUsd + cacheReadUsd, inputUsd, outputUsd, cacheWriteUsd, cacheReadUsd };
}

/** Running totals of a run's usage and cost (create with `newCostTotals`, fill with `addUsage`). */
export interface CostTotals {
  /** Usages added, priced or not. */
  usages: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  /** The cost of the priced usages in the mode they ran in. A lower bound when `unpriced > 0`. */
  usd: number;
  /** What the same priced usages would have cost at real-time (standard) prices. */
  realtimeUsd: number;
  /** Usages whose model had no price: their tokens are counted, their cost is unknown. */
  unpriced: number;
  /** The distinct model ids that had no price, in the order first seen. */
  unpricedModels: string[];
  /** Real-time calls whose answer was lost on the way (`answer_lost`): maybe billed, at a cost unknown. One a request, not a record. */
  lostAnswers?: number;
}

export function newCostTotals(): CostTotals {
  return {
    usages: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
    usd: 0,
    realtimeUsd: 0,
    unpriced: 0,
    unpricedModels: [],
  };
}

/**
 * Adds one result's usage to `totals` (in place, like the merge counters) and returns `totals`.
 *
 * @example const totals = newCostTotals(); addUsage(totals, message.usage, message.model, 'batch', table);
 */
export function addUsage(totals: CostTotals, usage: UsageLike, model: string, mode: PricingMode, table: PriceTable): CostTotals {
  const t = tokensOf(usage);
  totals.usages += 1;
  totals.inputTokens += t.input;
  totals.outputTokens += t.output;
  totals.cacheCreationInputTokens += t.cacheCreation;
  totals.cacheReadInputTokens += t.read;
  const cost = costOf(usage, model, { mode, table });
  if (cost.usd === undefined) {
    totals.unpriced += 1;
    if (!totals.unpricedModels.includes(model)) totals.unpricedModels.push(model);
    return totals;
  }
  totals.usd += cost.usd;
  totals.realtimeUsd += mode === 'realtime' ? cost.usd : (costOf(usage, model, { mode: 'realtime', table }).usd ?? 0);
  return totals;
}

// ---------------------------------------------------------------------------------------------------
// Estimates, before submitting

/** English text averages about 4 characters per token (the classic rule of thumb). */
export const CHARS_PER_TOKEN = 4;
/**
 * "Claude 4.7 and later models… use a newer tokenizer… approximately 30% more tokens for the same
 * text" (API notes §4.2).
 */
export const NEW_TOKENIZER_FACTOR = 1.3;

/** Characters of request JSON per token, by the heuristic (`CHARS_PER_TOKEN`, fewer for the newer tokenizer). */
export function charsPerToken(model: string): number {
  return CHARS_PER_TOKEN / (usesNewTokenizer(model) ? NEW_TOKENIZER_FACTOR : 1);
}
/** Without a figure for the answers' length, the low estimate assumes they use a quarter of `max_tokens`. */
export const DEFAULT_EXPECTED_OUTPUT_SHARE = 0.25;

const MODEL_VERSION = /^claude-(opus|sonnet|haiku|fable|mythos)-(\d+)(?:-(\d{1,2}))?(?:$|[-@])/;

/**
 * Whether `model` uses the newer tokenizer: Opus 4.7 and later, every 5.x model (Sonnet 5, Opus 5,
 * the 5.5 models), and Fable/Mythos. Sonnet 4.6, Haiku 4.5 and older use the previous one. An id this
 * does not recognise is assumed to use the newer one, which gives the larger (safer) estimate.
 */
export function usesNewTokenizer(model: string): boolean {
  const m = MODEL_VERSION.exec(model);
  if (m === null) return !/^claude-\d/.test(model); // claude-3-5-sonnet-… and older: previous tokenizer
  const [, family, major = '0', minor = '0'] = m;
  if (family === 'fable' || family === 'mythos') return true;
  const version = Number(major);
  return version >= 5 || (version === 4 && family === 'opus' && Number(minor) >= 7);
}

/**
 * A heuristic token count for `text`, for estimates when `count_tokens` is not used (offline, or a
 * dry run): printable ASCII at `CHARS_PER_TOKEN` (4) characters per token, and every other code point
 * (accented letters, CJK, emoji) as a whole token, which over-counts rather than under-counts text
 * that is not English; then × `NEW_TOKENIZER_FACTOR` (1.3) for models with the newer tokenizer,
 * rounded up. Real counts differ by tens of percent: use `count_tokens` on a sample for a figure.
 *
 * @example estimateTokens('a'.repeat(400), 'claude-haiku-4-5') // 100; with 'claude-opus-5-5': 130
 */
export function estimateTokens(text: string, model: string): number {
  let ascii = 0;
  let other = 0;
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) ascii += 1;
    else other += 1;
  }
  const tokens = (ascii / CHARS_PER_TOKEN + other) * (usesNewTokenizer(model) ? NEW_TOKENIZER_FACTOR : 1);
  // Less a hair, so that float noise (e.g. 3 × 1.3 = 3.9000000000000004, 10 × 1.3 ≈ 13 + ε) does not round up a whole number.
  return Math.max(0, Math.ceil(tokens - 1e-9));
}

/** A content or system block, typed loosely (the SDK's block params fit). */
export interface BlockLike {
  readonly type: string;
  readonly text?: string | undefined;
  readonly cache_control?: unknown;
}

/** The parts of a Messages request body an estimate reads (the SDK's `MessageCreateParams` and our `RequestParams` fit). */
export interface EstimableParams {
  readonly max_tokens: number;
  readonly system?: string | readonly BlockLike[] | undefined;
  readonly messages: readonly { readonly role: string; readonly content: string | readonly BlockLike[] }[];
  readonly output_config?: { readonly format?: { readonly type?: string; readonly schema?: unknown } | null | undefined } | null | undefined;
}

export interface RequestEstimate {
  /** All input tokens of the request, the cached prefix included. */
  inputTokens: number;
  /** The part of `inputTokens` in the cacheable prefix: the system blocks up to the last one marked `cache_control`. */
  cachedPrefixTokens: number;
  /** `max_tokens`: the most the answer can cost. */
  maxOutputTokens: number;
}

function blockTokens(block: BlockLike, model: string): number {
  // Text blocks by their text; any other block (tool results, documents…) by its JSON, which over-counts.
  return estimateTokens(block.type === 'text' && typeof block.text === 'string' ? block.text : JSON.stringify(block), model);
}

/**
 * Heuristic token counts of one Messages request: the system prompt (a string, or text blocks), the
 * messages (string or block content), and the JSON of `output_config.format.schema` (the API turns it
 * into extra input). The cached prefix is the system blocks up to and including the last one marked
 * `cache_control`; cache marks on message blocks and top-level `cache_control` are not followed.
 *
 * @example estimateRequest(prepareSpec(spec)(record), spec.model)
 */
export function estimateRequest(params: EstimableParams, model: string): RequestEstimate {
  let inputTokens = 0;
  let cachedPrefixTokens = 0;
  const system = params.system;
  if (typeof system === 'string') {
    inputTokens += estimateTokens(system, model);
  } else if (system !== undefined) {
    const lastMarked = system.findLastIndex((b) => b.cache_control !== undefined && b.cache_control !== null);
    system.forEach((block, i) => {
      const tokens = blockTokens(block, model);
      inputTokens += tokens;
      if (i <= lastMarked) cachedPrefixTokens += tokens;
    });
  }
  for (const message of params.messages) {
    const content = message.content;
    if (typeof content === 'string') inputTokens += estimateTokens(content, model);
    else for (const block of content) inputTokens += blockTokens(block, model);
  }
  const schema = params.output_config?.format?.schema;
  if (schema !== undefined) inputTokens += estimateTokens(JSON.stringify(schema), model);
  return { inputTokens, cachedPrefixTokens, maxOutputTokens: params.max_tokens };
}

/** A planned run, per request on average (from `estimateRequest`, or from `count_tokens` on a sample). */
export interface Workload {
  requests: number;
  /** Input tokens per request, the cached prefix included. */
  avgInputTokens: number;
  /** The part of `avgInputTokens` that is a cacheable prefix shared by all requests (0: no caching). */
  avgCachedPrefixTokens: number;
  /** `max_tokens` of each request. */
  maxTokens: number;
  /** The expected answer length. Default: `maxTokens × DEFAULT_EXPECTED_OUTPUT_SHARE` (a quarter). */
  expectedOutputTokens?: number;
}

export interface EstimateOptions extends CostOptions {
  /** The share of requests after the first that read the prefix from the cache, 0–1. Default 0 (safe). */
  cacheHitRate?: number;
}

/** A cost range in USD; both `undefined` when the model has no price. */
export type CostEstimate = { lowUsd: number; highUsd: number } | { lowUsd: undefined; highUsd: undefined };

function checkNumber(name: string, value: number, max = Infinity): void {
  if (!Number.isFinite(value) || value < 0 || value > max) {
    const range = max === Infinity ? '≥ 0' : `0–${String(max)}`;
    throw new BatchEnrichError('BE_INVALID_OPTION', `\`${name}\` must be a number ${range}, got ${String(value)}`);
  }
}

/**
 * The cost range of a run before it is submitted (the budget guard compares `highUsd` with `--max-cost`).
 * The cached prefix is assumed written at the 1 h rate (what `prepareSpec` asks for, and the dearer TTL).
 *
 * - `highUsd`: every answer uses all of `max_tokens`, and no request hits the cache, so every request
 *   writes its prefix.
 * - `lowUsd`: answers of `expectedOutputTokens` (default a quarter of `max_tokens`); the first request
 *   writes the prefix, and of the others `cacheHitRate` (default 0) read it and the rest write it again.
 *
 * @example estimateCost({ requests: 1000, avgInputTokens: 600, avgCachedPrefixTokens: 0, maxTokens: 1024 }, 'claude-haiku-4-5', { mode: 'batch', table: DEFAULT_PRICES })
 */
export function estimateCost(workload: Workload, model: string, options: EstimateOptions): CostEstimate {
  const { requests, avgInputTokens, maxTokens } = workload;
  const hitRate = options.cacheHitRate ?? 0;
  checkNumber('requests', requests);
  checkNumber('avgInputTokens', avgInputTokens);
  checkNumber('avgCachedPrefixTokens', workload.avgCachedPrefixTokens);
  checkNumber('maxTokens', maxTokens);
  if (workload.expectedOutputTokens !== undefined) checkNumber('expectedOutputTokens', workload.expectedOutputTokens);
  checkNumber('cacheHitRate', hitRate, 1);

  const price = priceFor(model, options.table);
  if (price === undefined) return { lowUsd: undefined, highUsd: undefined };
  const rates = ratesFor(price, avgInputTokens);
  const prefix = Math.min(workload.avgCachedPrefixTokens, avgInputTokens);
  const rest = avgInputTokens - prefix;
  const expectedOutput = Math.min(workload.expectedOutputTokens ?? maxTokens * DEFAULT_EXPECTED_OUTPUT_SHARE, maxTokens);
  const k = multiplierFor(price, options.mode) / TOKENS_PER_UNIT;

  const uncached = requests * rest * rates.input;
  const high = uncached + requests * prefix * rates.cacheWrite1h + requests * maxTokens * rates.output;
  const later = Math.max(requests - 1, 0);
  const prefixLow =
    requests > 0
      ? prefix * rates.cacheWrite1h + later * prefix * (hitRate * rates.cacheRead + (1 - hitRate) * rates.cacheWrite1h)
      : 0;
  const low = uncached + prefixLow + requests * expectedOutput * rates.output;
  return { lowUsd: low * k, highUsd: high * k };
}

// ---------------------------------------------------------------------------------------------------
// Price files

const NUMBER_MESSAGE = 'expected a number ≥ 0';
const perMillion = z.number({ error: NUMBER_MESSAGE }).min(0, { error: NUMBER_MESSAGE });
const ratesShape = {
  input: perMillion,
  output: perMillion,
  cacheWrite5m: perMillion.optional(),
  cacheWrite1h: perMillion.optional(),
  cacheRead: perMillion.optional(),
};
const INTEGER_MESSAGE = 'expected a whole number of tokens ≥ 0';
const SHARE_MESSAGE = 'expected a number 0–1';
const longPromptSchema = z.strictObject({
  aboveInputTokens: z.int({ error: INTEGER_MESSAGE }).min(0, { error: INTEGER_MESSAGE }),
  ...ratesShape,
});
const modelSchema = z.strictObject({
  ...ratesShape,
  batchDiscount: z.number({ error: SHARE_MESSAGE }).min(0, { error: SHARE_MESSAGE }).max(1, { error: SHARE_MESSAGE }).optional(),
  longPrompt: longPromptSchema.optional(),
});
const priceFileSchema = z.strictObject(
  {
    source: z.string({ error: 'expected a string' }).optional(),
    asOf: z.string({ error: 'expected a string' }).optional(),
    models: z.record(z.string().min(1, { error: 'expected a non-empty model id' }), modelSchema, {
      error: 'expected an object of model ids to prices',
    }),
  },
  { error: 'expected a JSON object { "models": { "<model id>": { "input": …, "output": … } } }' },
);

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** One zod issue as `models.claude-x.input: expected a number ≥ 0, got -1`. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  // `models.claude-x.input`; a key that would read ambiguously (empty, or with a dot) is quoted.
  const segment = (key: PropertyKey) => (typeof key === 'string' && (key === '' || key.includes('.')) ? JSON.stringify(key) : String(key));
  const where = (path: readonly PropertyKey[]) => (path.length > 0 ? `${path.map(segment).join('.')}: ` : '');
  if (issue.code === 'unrecognized_keys') {
    const depth = issue.path.length;
    const owner = depth === 0 ? priceFileSchema : depth === 2 ? modelSchema : depth === 3 ? longPromptSchema : undefined;
    const allowed = owner ? `, expected one of ${Object.keys(owner.shape).join(', ')}` : '';
    return `${where([...issue.path, issue.keys[0] ?? ''])}unknown field${allowed}`;
  }
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0]?.message ?? 'invalid model id';
    return `${where(issue.path)}${inner}`;
  }
  const got = valueAt(input, issue.path);
  if (got === undefined) return `${where(issue.path)}missing, ${issue.message}`;
  // JSON.parse turns 1e999 into Infinity, which JSON.stringify (and so `shown`) would print as null.
  return `${where(issue.path)}${issue.message}, got ${typeof got === 'number' ? String(got) : shown(got)}`;
}

/** A product such as 3 × 0.1 without its float noise (0.30000000000000004 → 0.3), so tables print cleanly. */
const tidy = (n: number): number => Number(n.toPrecision(12));

function withCacheDefaults(rates: z.infer<typeof modelSchema> | z.infer<typeof longPromptSchema>): Rates {
  return {
    input: rates.input,
    output: rates.output,
    cacheWrite5m: rates.cacheWrite5m ?? tidy(rates.input * CACHE_WRITE_5M_MULTIPLIER),
    cacheWrite1h: rates.cacheWrite1h ?? tidy(rates.input * CACHE_WRITE_1H_MULTIPLIER),
    cacheRead: rates.cacheRead ?? tidy(rates.input * CACHE_READ_MULTIPLIER),
  };
}

/**
 * Validates the parsed JSON of a price file and returns its own table (not merged). Cache rates left
 * out default to 1.25× / 2× / 0.1× of `input`. `file` names the file in error messages.
 *
 * @throws BatchEnrichError `BE_USAGE`, e.g. "Price file prices.json: models.claude-x.input: expected a number ≥ 0, got -1"
 */
export function parsePriceFile(json: unknown, file: string): PriceTable {
  const parsed = priceFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const detail = issue ? describeIssue(issue, json) : 'invalid';
    throw new BatchEnrichError('BE_USAGE', `Price file ${file}: ${detail}`, { file });
  }
  const models: Record<string, ModelPrice> = {};
  for (const [id, entry] of Object.entries(parsed.data.models)) {
    models[id] = {
      ...withCacheDefaults(entry),
      ...(entry.batchDiscount !== undefined ? { batchDiscount: entry.batchDiscount } : {}),
      ...(entry.longPrompt !== undefined
        ? { longPrompt: { aboveInputTokens: entry.longPrompt.aboveInputTokens, ...withCacheDefaults(entry.longPrompt) } }
        : {}),
    };
  }
  const { source, asOf } = parsed.data;
  return { source: source ?? `price file ${file}`, ...(asOf !== undefined ? { asOf } : {}), models };
}

/**
 * `override` over `base`: a model in `override` replaces that model's whole entry in `base` (its
 * long-prompt tier and batch discount included); the other models of `base` are kept.
 */
export function mergePrices(base: PriceTable, override: PriceTable): PriceTable {
  const asOf = override.asOf ?? base.asOf;
  return {
    source: `${override.source}, over ${base.source}`,
    ...(asOf !== undefined ? { asOf } : {}),
    models: { ...base.models, ...override.models },
  };
}

/**
 * Reads a JSON price file and merges it over `base` (default: the built-in `DEFAULT_PRICES`).
 * The format, USD per million tokens at standard prices (batch mode takes 50% off):
 *
 * ```json
 * { "asOf": "2027-01", "models": { "claude-haiku-4-5": { "input": 1, "output": 5, "cacheRead": 0.1 } } }
 * ```
 *
 * @throws BatchEnrichError `BE_USAGE` naming the file and the problem (unreadable, not JSON, or invalid).
 */
export function loadPriceFile(path: string, base: PriceTable = DEFAULT_PRICES): PriceTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new BatchEnrichError('BE_USAGE', `Price file ${path}: cannot be read${typeof code === 'string' ? ` (${code})` : ''}`, { file: path, cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new BatchEnrichError('BE_USAGE', `Price file ${path}: not valid JSON: ${(cause as Error).message}`, { file: path, cause });
  }
  return mergePrices(base, parsePriceFile(json, path));
}
