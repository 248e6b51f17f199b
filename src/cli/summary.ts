/**
 * What the CLI tells about a run: the summary at the end (stderr lines, and `--summary FILE` JSON),
 * and the cost estimate before submitting (`--dry-run`, `--max-cost`). Formatting only; the
 * arithmetic is in `core/pricing.ts`.
 */
import type { CostTotals, PriceTable } from '../core/pricing.ts';
import { count, plural } from './text.ts';
import type { MergeCounts } from '../stages/merge.ts';
import { LONG_PROMPT_CANDIDATE_BYTES, typicalEstimate } from '../core/expected-cost.ts';
import type { JSONSchema } from '../core/request.ts';
import { requestCostBytes } from '../sink/body.ts';
import type { PreparedRecord } from '../stages/batch.ts';
import { carriesDocuments } from '../stages/prepare.ts';

export interface RunSummary {
  /** How the requests were sent: `batch`, `realtime`, or `batch+realtime` (a deadline moved the rest). */
  mode: 'batch' | 'realtime' | 'batch+realtime';
  records_ok: number;
  records_failed: number;
  failed_by_type: Record<string, number>;
  /** Records that took what an earlier run had left in the ledger, an answer or a final error (not sent, not paid again). */
  records_from_ledger: number;
  batches: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Share of prompt tokens read from the cache. */
  cache_hit_rate: number;
  cost_usd: number;
  realtime_cost_usd: number;
  /** Results whose model had no price (their cost is not in `cost_usd`). */
  unpriced_results: number;
  /** Real-time calls whose answers were lost on the way (requests, not records): maybe billed, not in `cost_usd`. */
  answers_lost?: number;
  wall_seconds: number;
}

export function summarize(counts: MergeCounts, costs: CostTotals, batches: number, wallMs: number, mode: RunSummary['mode'] = 'batch', fromLedger = 0): RunSummary {
  const prompt = costs.inputTokens + costs.cacheCreationInputTokens + costs.cacheReadInputTokens;
  return {
    mode,
    records_ok: counts.ok,
    records_failed: counts.failed,
    failed_by_type: counts.byType,
    records_from_ledger: fromLedger,
    batches,
    input_tokens: costs.inputTokens,
    output_tokens: costs.outputTokens,
    cache_creation_input_tokens: costs.cacheCreationInputTokens,
    cache_read_input_tokens: costs.cacheReadInputTokens,
    cache_hit_rate: prompt === 0 ? 0 : round(costs.cacheReadInputTokens / prompt, 4),
    cost_usd: round(costs.usd, 6),
    realtime_cost_usd: round(costs.realtimeUsd, 6),
    unpriced_results: costs.unpriced,
    ...(costs.lostAnswers ? { answers_lost: costs.lostAnswers } : {}),
    wall_seconds: round(wallMs / 1000, 1),
  };
}

/** The summary as stderr lines (without the `batch-enrich: ` prefix). */
export function summaryLines(s: RunSummary): string[] {
  const total = s.records_ok + s.records_failed;
  const failures = Object.entries(s.failed_by_type)
    .map(([type, n]) => `${type}: ${n}`)
    .join(', ');
  const reused = s.records_from_ledger > 0 ? `; ${count(s.records_from_ledger)} taken from the ledger (answered by earlier runs: not sent, not paid again)` : '';
  const lines = [`${plural(total, 'record')}: ${count(s.records_ok)} enriched, ${count(s.records_failed)} with _error${failures ? ` (${failures})` : ''}${reused}`];
  // Real-time answers lost on the way may have been billed, at a cost nobody here knows: one a call (duplicates share one).
  const lost = s.answers_lost ?? 0;
  if (s.batches > 0 || s.input_tokens > 0 || lost > 0) {
    lines.push(
      `${s.mode === 'realtime' ? 'real time' : plural(s.batches, 'batch', 'batches')}; tokens: ${count(s.input_tokens)} input, ${count(s.output_tokens)} output, ` +
        `${count(s.cache_read_input_tokens)} cache read, ${count(s.cache_creation_input_tokens)} cache write (cache hit rate ${(s.cache_hit_rate * 100).toFixed(0)}%)`,
    );
    const saved = s.realtime_cost_usd - s.cost_usd;
    const how =
      s.mode === 'realtime'
        ? `cost ${usd(s.cost_usd)} at real-time prices (in batches it would have been about half)`
        : `cost ${usd(s.cost_usd)} ${s.mode === 'batch' ? 'at batch prices' : 'in batches and real time'} (${usd(s.realtime_cost_usd)} in real time, ${usd(saved)} saved)`;
    lines.push(
      how +
        `${s.unpriced_results > 0 ? `, plus ${s.unpriced_results} results of unpriced models` : ''}` +
        `${lost > 0 ? `, plus what ${plural(lost, 'answer')} lost on the way may have cost` : ''}; ${s.wall_seconds} s`,
    );
  }
  return lines;
}

/** Adds up the size of the requests of an input, for an estimate before anything is sent. */
export class InputTally {
  requests = 0;
  failed = 0;
  /** Records whose request an earlier record has (identical records share one request: it is sent and paid once). */
  repeats = 0;
  #bytes = 0;
  #prefixBytes = 0;
  /** The `costBytes` of the requests of at least `LONG_PROMPT_CANDIDATE_BYTES`. */
  readonly #large: number[] = [];
  /** The `max_tokens` of the requests whose answers are priced at it (cut-off answers' retries). */
  readonly #answers: number[] = [];
  /** The requests that carry a document or an image: their free-text answers are sized as ones about them. */
  #documents = 0;

  /** The requests that carry a document or an image. */
  get documents(): number {
    return this.#documents;
  }
  /**
   * The requests seen: the first 48 bits of each key (a sha256, base64url), to the next 30. A record
   * is a repeat only when all 78 match (a false repeat, which would leave a request out of the
   * estimate, has odds of about 10^-12 in a job of a million); one whose first 48 match another's but
   * not the rest is counted as a request of its own, and not kept (a repeat of it is then counted
   * again: an over-count, on the safe side of a cap). Past `MAX_SEEN` requests nothing more is kept
   * (a Map holds at most 2^24 entries): every further record is counted, as before duplicates were.
   */
  readonly #seen = new Map<number, number>();

  /**
   * Whether an earlier record had this record's request (counted in `repeats`, unless not `counted`: a
   * repeat of a request not counted either); else it is taken as seen.
   */
  isRepeat(record: PreparedRecord, counted = true): boolean {
    if (record.error || record.key === undefined) return false;
    const head = keyBits(record.key, 0, 8);
    const tail = keyBits(record.key, 8, 5);
    const seen = this.#seen.get(head);
    if (seen === tail) {
      if (counted) this.repeats++;
      return true;
    }
    if (seen === undefined && this.#seen.size < MAX_SEEN) this.#seen.set(head, tail);
    return false;
  }

  add(record: PreparedRecord, maxTokens?: number): void {
    if (record.error || !record.spec || record.messages === undefined || record.key === undefined) {
      this.failed++;
      return;
    }
    this.requests++;
    // As the budget guard prices each batch (documents by pages and pixels, not their base64).
    const { costBytes } = requestCostBytes(record.key, record.label, record.spec.bytes, record.messages, record.estimateBytes);
    this.#bytes += costBytes;
    // The ones that may be in a model's long-prompt tier, priced at it one by one (`EstimatedRequests.each`).
    if (costBytes >= LONG_PROMPT_CANDIDATE_BYTES) this.#large.push(costBytes);
    if (maxTokens !== undefined) this.#answers.push(maxTokens);
    this.#prefixBytes = record.spec.bytes;
    if (carriesDocuments(record)) this.#documents++;
  }

  /**
   * The estimate for `model` in `mode` (`typicalEstimate`); undefined figures when the model has no
   * price.
   */
  estimate(model: string, maxTokens: number, table: PriceTable, cached: boolean, mode: 'batch' | 'realtime' = 'batch', answerSchema?: JSONSchema, documentMaxTokens?: number) {
    return typicalEstimate(
      { requests: this.requests, bytes: this.#bytes, prefixBytes: this.#prefixBytes, each: this.#large, answers: this.#answers, documents: this.#documents },
      { model, maxTokens, documentMaxTokens, table, cached, mode, answerSchema },
    );
  }
}

/** The 6 × `chars` bits of a request key (base64url, as `requestKey` writes it) from character `from`. */
function keyBits(key: string, from: number, chars: number): number {
  let bits = 0;
  for (let i = from; i < from + chars; i++) bits = bits * 64 + BASE64URL.indexOf(key.charAt(i));
  return bits;
}
/** The most requests `InputTally` keeps to tell repeats by (a Map's limit is 2^24 entries). */
const MAX_SEEN = 16_000_000;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The estimate line of a tally, given the tally's estimate (`InputTally.estimate`: its callers also check its `capUsd`). */
export function estimateLine(tally: InputTally, e: ReturnType<InputTally['estimate']>, model: string, maxTokens: number, mode: 'batch' | 'realtime' = 'batch', documentMaxTokens?: number): string {
  const cost =
    e.highUsd === undefined
      ? `no price is known for ${model} (give --prices FILE)`
      : `about ${usd(e.lowUsd ?? 0)} at ${mode === 'batch' ? 'batch' : 'real-time'} prices (${model}; typical answers of about ${count(Math.ceil(e.expectedOutputTokens))} tokens${e.avgCachedPrefixTokens > 0 ? ', the prefix cached' : ''})` +
        // What --max-cost counts (`capUsd`): cache hits in batches are best-effort.
        `${e.avgCachedPrefixTokens > 0 ? `, ${usd(e.capUsd ?? 0)} if the cache is never hit (what --max-cost counts)` : ''}, at most ${usd(e.highUsd)} (every answer using all ${limitsWords(tally, maxTokens, documentMaxTokens)}, nothing cached)`;
  const repeats = tally.repeats > 0 ? ` (for ${count(tally.requests + tally.repeats)} records: ${count(tally.repeats)} repeat one)` : '';
  return `estimate: ${plural(tally.requests, 'request')}${repeats} of about ${count(Math.ceil(e.avgInputTokens))} input tokens${e.avgCachedPrefixTokens > 0 ? ` (${count(Math.ceil(e.avgCachedPrefixTokens))} of them a cacheable prefix)` : ''}: ${cost}`;
}

/**
 * The `max_tokens` the high end counts: the rows', and the one for requests with documents where it
 * is another (helper-93 #7: a contract's 8,192 was counted, and 800 named).
 */
function limitsWords(tally: InputTally, maxTokens: number, documentMaxTokens: number | undefined): string {
  const documents = tally.documents;
  if (documentMaxTokens === undefined || documentMaxTokens === maxTokens || documents === 0) return `${count(maxTokens)} max_tokens`;
  if (documents >= tally.requests) return `${count(documentMaxTokens)} max_tokens`;
  return `of its max_tokens: ${count(maxTokens)}, and ${count(documentMaxTokens)} for the ${plural(documents, 'request')} with documents`;
}

/** Dollars with the precision the amount needs: cents above $1, more for the fractions a row costs. */
export function usd(value: number): string {
  if (value >= 1) return `$${value.toFixed(2)}`;
  return value >= 0.01 || value === 0 ? `$${value.toFixed(4)}` : `$${value.toFixed(6)}`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
