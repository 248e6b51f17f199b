/**
 * What requests are expected to cost before they are sent (`typicalEstimate`: the check before a
 * run, and the budget guard as each batch goes), and what a batch in the ledger is expected to cost
 * from what the ledger keeps of it (`expectedBatchUsd`, for `batch-enrich status --json`, where a
 * scheduler decides on a job it did not watch run).
 */
import { typicalAnswerTokens } from './answer-size.ts';
import { minCacheableTokens } from './preflight.ts';
import { charsPerToken, costOf, estimateCost, priceFor, type PriceTable } from './pricing.ts';
import { LINE_WRAPPER_BYTES, type JSONSchema } from './request.ts';

/** The minimum prompt length for caching when the registry does not know the model (the smallest of them). */
const MIN_CACHEABLE_TOKENS = 1024;

/** What a typical-answer estimate needs of a job. */
export interface EstimatedJob {
  model: string;
  maxTokens: number;
  /** `max_tokens` of the requests with documents, when theirs is not `maxTokens` (`documentMaxTokens`). */
  documentMaxTokens?: number | undefined;
  table: PriceTable;
  mode: 'batch' | 'realtime';
  /** Whether its shared prefix (the spec: system prompt, schema) is sent for caching. */
  cached: boolean;
  answerSchema?: JSONSchema | undefined;
}

/**
 * Some of a job's requests: how many, the bytes they are priced by (`requestCostBytes`: a request's
 * line in the body, its documents by pages and pixels), and the bytes of the spec each shares.
 */
export interface EstimatedRequests {
  requests: number;
  bytes: number;
  prefixBytes: number;
  /**
   * The bytes each request is priced by, of every request that may be long enough for the model's
   * long-prompt tier (all of them, or those over `LONG_PROMPT_CANDIDATE_BYTES`): those over the
   * tier's threshold are priced at its rates, the rest at the model's. Without it every request is
   * priced at the tier of the average one (helper-68: two prompts of 120,000 tokens among 18 short
   * ones were priced as short, and the run spent 3× its `--max-cost`).
   */
  each?: Iterable<number> | undefined;
  /**
   * The `max_tokens` of the requests whose answers are priced at it: a cut-off answer's retry (its
   * `max_tokens` doubled) will be longer than the last one, so longer than a typical answer of the
   * job's (helper-68: retries of 4-token answers estimated at 4 tokens, and a run spent $0.029
   * against a cap of $0.02).
   */
  answers?: Iterable<number> | undefined;
  /**
   * How many of them carry a document or an image: their free-text answers are sized as answers about
   * them (`typicalAnswerTokens`), the others' by their own text (helper-76: one attached note priced a
   * whole job of translations at 300-token answers).
   */
  documents?: number | undefined;
}

/**
 * Requests under this many bytes are never in a long-prompt tier (the published one starts above
 * 100,000 tokens; a price file's would have to start below 1,000): a tally of a whole job need only
 * keep the sizes of the larger ones for `EstimatedRequests.each`.
 */
export const LONG_PROMPT_CANDIDATE_BYTES = 4096;

/**
 * The one estimate of what requests cost before they are sent, for the check before a run
 * (`--max-cost`, `--dry-run`) and for the budget guard as each batch goes:
 * - `lowUsd`: typical answers (see `answer-size.ts`), a cacheable prefix written once and read from
 *   the cache after;
 * - `capUsd`: typical answers, no cache hit: a cacheable prefix written by every request (a miss
 *   writes it, at the 1-hour write price). What `--max-cost` is checked against, before the run and
 *   batch by batch: cache hits in batches are best-effort ("30% to 98%", the batch docs), and each
 *   batch writes the prefix again, so a cap must not count on them;
 * - `highUsd`: every answer using all of `max_tokens`, nothing cached.
 * Tokens are not rounded per request: the `capUsd` of a job's parts add up to the whole job's, so a
 * cap the check before the run accepts is not refused batch by batch.
 */
export function typicalEstimate(w: EstimatedRequests, job: EstimatedJob) {
  const whole = oneTier(w, job);
  const long = longPromptPart(w, job);
  let tiers: Omit<typeof whole, 'lowUsd' | 'highUsd'> & { lowUsd: number | undefined; highUsd: number | undefined } = whole;
  if (long !== undefined && long.requests > 0 && long.requests < w.requests) {
    // Each part at its own tier: the short ones' average is under the threshold, the long ones' over it.
    // The requests with documents shared between the parts in proportion (which of them are long is not known).
    const documents = (part: number) => (w.documents === undefined ? undefined : (w.documents * part) / w.requests);
    const short = oneTier({ requests: w.requests - long.requests, bytes: w.bytes - long.bytes, prefixBytes: w.prefixBytes, documents: documents(w.requests - long.requests) }, job);
    const big = oneTier({ requests: long.requests, bytes: long.bytes, prefixBytes: w.prefixBytes, documents: documents(long.requests) }, job);
    tiers = { ...whole, lowUsd: sum(short.lowUsd, big.lowUsd), highUsd: sum(short.highUsd, big.highUsd), capUsd: sum(short.capUsd, big.capUsd) };
  }
  // The answers of cut-off answers' retries: up to their own max_tokens, over a typical answer (and,
  // at most, over the job's max_tokens).
  let overTypical = 0;
  let overMax = 0;
  for (const tokens of w.answers ?? []) {
    overTypical += Math.max(0, tokens - whole.expectedOutputTokens);
    overMax += Math.max(0, tokens - job.maxTokens);
  }
  if (overTypical === 0) return tiers;
  const output = (tokens: number) => (tokens === 0 ? 0 : costOf({ input_tokens: 0, output_tokens: tokens }, job.model, { mode: job.mode, table: job.table }).usd);
  return { ...tiers, lowUsd: sum(tiers.lowUsd, output(overTypical)), capUsd: sum(tiers.capUsd, output(overTypical)), highUsd: sum(tiers.highUsd, output(overMax)) };
}

/** Whether a request's messages (JSON) carry a document or an image block. */
export function hasDocuments(messages: string): boolean {
  return messages.includes('"type":"document"') || messages.includes('"type":"image"');
}

/** A sum of costs, unknown when either is. */
const sum = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a + b);

/** The requests of `w.each` over the model's long-prompt threshold (undefined: no such tier, or no sizes given). */
function longPromptPart(w: EstimatedRequests, job: EstimatedJob): { requests: number; bytes: number } | undefined {
  const above = priceFor(job.model, job.table)?.longPrompt?.aboveInputTokens;
  if (above === undefined || w.each === undefined) return undefined;
  // As `oneTier` counts a request's tokens, and `ratesFor` compares them (over, not at, the threshold).
  const threshold = above * charsPerToken(job.model) + LINE_WRAPPER_BYTES;
  const long = { requests: 0, bytes: 0 };
  for (const bytes of w.each) {
    if (bytes <= threshold) continue;
    long.requests++;
    long.bytes += bytes;
  }
  return long;
}

/** `typicalEstimate` with every request at the tier of the average one. */
function oneTier(w: EstimatedRequests, job: EstimatedJob) {
  const perToken = charsPerToken(job.model);
  const tokens = (bytes: number) => bytes / perToken;
  // The lines' wrappers (`custom_id` and all) are not tokens; the params are (their JSON over-counts them a little).
  const avgInputTokens = w.requests === 0 ? 0 : tokens(Math.max(0, w.bytes / w.requests - LINE_WRAPPER_BYTES));
  // Below the model's minimum cacheable prompt (the registry's) the API skips caching: the prefix is plain input.
  const prefixTokens = Math.min(tokens(w.prefixBytes), avgInputTokens);
  const avgCachedPrefixTokens = job.cached && prefixTokens >= (minCacheableTokens(job.model) ?? MIN_CACHEABLE_TOKENS) ? prefixTokens : 0;
  const messageTokens = Math.max(0, avgInputTokens - tokens(w.prefixBytes));
  const documentMax = job.documentMaxTokens ?? job.maxTokens;
  const typical = (documents: boolean) => typicalAnswerTokens({ schema: job.answerSchema, messageTokens, maxTokens: documents ? documentMax : job.maxTokens, charsPerToken: perToken, documents });
  // Each request's answer at its own kind's size: about documents, or as long as its text.
  const withDocuments = Math.min(w.documents ?? 0, w.requests);
  const share = (documents: number, rows: number) => (withDocuments === 0 ? rows : (withDocuments * documents + (w.requests - withDocuments) * rows) / w.requests);
  const expectedOutputTokens = withDocuments === 0 ? typical(false) : share(typical(true), typical(false));
  const workload = { requests: w.requests, avgInputTokens, maxTokens: share(documentMax, job.maxTokens), expectedOutputTokens };
  const options = { mode: job.mode, table: job.table };
  const range = estimateCost({ ...workload, avgCachedPrefixTokens }, job.model, { ...options, cacheHitRate: avgCachedPrefixTokens > 0 ? 1 : 0 });
  // No hit: every request writes the prefix (a 1-hour cache write, twice the input price), as each batch does at least once.
  const capUsd = avgCachedPrefixTokens > 0 ? estimateCost({ ...workload, avgCachedPrefixTokens }, job.model, { ...options, cacheHitRate: 0 }).lowUsd : range.lowUsd;
  return { ...range, capUsd, avgInputTokens, avgCachedPrefixTokens, expectedOutputTokens };
}

/** A spec as the ledger keeps it: `head + messages + tail` is a request's params JSON. */
export interface StoredSpec {
  head: string;
  tail: string;
}

/**
 * The expected cost of a batch in USD, or undefined when its spec cannot be read or its model has no
 * price in `table`. `bytes` is what its requests are priced by (`BatchRow.cost_bytes`: the body's size
 * with documents counted by pages and pixels), `mode` how it was sent (real time costs twice).
 */
export function expectedBatchUsd(spec: StoredSpec, requests: number, bytes: number, mode: 'batch' | 'realtime', table: PriceTable): number | undefined {
  if (requests <= 0) return 0;
  let params: { model?: unknown; max_tokens?: unknown; output_config?: unknown };
  try {
    params = JSON.parse(`${spec.head}[]${spec.tail}`) as typeof params;
  } catch {
    return undefined;
  }
  const { model, max_tokens: maxTokens } = params;
  if (typeof model !== 'string' || typeof maxTokens !== 'number') return undefined;
  const prefixBytes = Buffer.byteLength(spec.head) + Buffer.byteLength(spec.tail);
  // A prefix sent for caching (its system block marked) is priced as --max-cost prices it: written, never read.
  const cached = spec.head.includes('"cache_control"');
  return typicalEstimate({ requests, bytes, prefixBytes }, { model, maxTokens, table, mode, cached, answerSchema: answerSchemaOf(params) }).capUsd;
}

/** The JSON Schema a request's params ask the answer to follow (`output_config.format.schema`), if any. */
function answerSchemaOf(params: { output_config?: unknown }): JSONSchema | undefined {
  const format = (params.output_config as { format?: { type?: unknown; schema?: unknown } } | undefined)?.format;
  return format?.type === 'json_schema' && typeof format.schema === 'object' && format.schema !== null ? (format.schema as JSONSchema) : undefined;
}
