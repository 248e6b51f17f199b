/**
 * The sink's options, its limits and knobs (with units), and every default applied in one place
 * (`resolveSinkOptions`).
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import { POLL_MAX_MS, POLL_MIN_MS, pollDelayMs, sleep as realSleep } from '../core/backoff.ts';
import { ANSWER_LOST, DEFAULT_MAX_ATTEMPTS, type RetryPolicy } from '../core/retry.ts';
import { inputName, plural } from '../core/text.ts';
import type { Identity } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/store.ts';
import { z } from 'zod';
import type { BatchEvent, SendMode } from '../types.ts';

/**
 * What a result bills: its type, and for an answer (`succeeded`) its model and usage; `lost`: a
 * real-time answer lost on the way (`answer_lost`), which may have been billed at a cost unknown.
 */
/** Why a batch whose results the API archived failed (`BatchRow.error`): it was billed, and its answers are gone. */
export const ARCHIVED = 'its results were archived by the API (29 days after its creation)';

export type BilledResult = { type: MessageBatchResult['type']; message?: Pick<Message, 'model' | 'usage'>; lost?: true };

/** A result as `BilledResult`: kept small, for a chunk of results waits to be stored before it is counted. */
export function billed(result: MessageBatchResult): BilledResult {
  if (result.type === 'succeeded') return { type: result.type, message: { model: result.message.model, usage: result.message.usage } };
  return result.type === 'errored' && result.error?.error?.type === ANSWER_LOST ? { type: result.type, lost: true } : { type: result.type };
}

/** The API's limits for one batch. */
export const MAX_BATCH_REQUESTS = 100_000;
/** 256 MB less a 5% margin for what we do not count exactly. */
export const MAX_BATCH_BYTES = Math.floor(256_000_000 * 0.95);
export const DEFAULT_FLUSH_AFTER_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT = 4;
export const DEFAULT_CONCURRENCY = 8;
/** The longest timer Node keeps (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Waits between tries of a failed call stop growing here, whatever the poll interval's cap. */
export const RETRY_MAX_MS = 60_000;
/**
 * A batch is gone (deleted, or past retention) only when it has answered 404 for this long since
 * this run's first 404 for it, at least `GONE_404S` times, and the list does not show it. Until then
 * it is followed as running: a 404 right after create, or after a resume, is the API's propagation delay.
 */
export const GONE_AFTER_MS = 5 * 60_000;
export const GONE_404S = 5;
/** How long nothing may answer (every call failing to connect, or timing out) before the run stops. */
export const UNREACHABLE_MS = 3 * 60_000;
/** …and before a `noWait` try stops (as pending: its scheduler tries again later). */
export const NO_WAIT_UNREACHABLE_MS = 60_000;
/** How long after its creation a batch expires, if it has not ended ("batches expire after 24 hours", DOC §2). */
export const BATCH_EXPIRY_MS = 24 * 60 * 60_000;
/** Creates never sent, or of unknown outcome (searched for, not found), are tried this many times before the run fails. */
export const CREATE_ATTEMPTS = 6;
/**
 * Creates the API refuses, asking to wait (429, 529), are tried this many times (each after the wait
 * it asks, at most `RETRY_AFTER_MAX_MS`): a batch job is patient with a busy API that answers. Counted
 * apart from `CREATE_ATTEMPTS`: six in a row, mixed with lost answers, failed a long run. A `noWait`
 * try gets `CREATE_ATTEMPTS` of them.
 */
export const CREATE_REFUSALS = 20;
/** A cancel is tried again this many times by the SDK (its backoff, 0.5 s doubling, or the API's retry-after). */
export const CANCEL_RETRIES = 4;
/** An interrupted results download is started again this many times (with backoff) before the run fails. */
export const DOWNLOAD_ATTEMPTS = 12;
/** Records are written to the ledger, and read back, in transactions (pages) of this many rows. */
export const WRITE_CHUNK = 4000;
/**
 * …and of at most about this much record text (a page is cut after the record that passes it), as
 * the emitter's pages and the window it looks ahead in are: with large records (a 250 KB text each),
 * pages counted in records alone held a gigabyte with a slow consumer (helper-52).
 */
export const PAGE_CHARS = 16 * 1024 * 1024;
/** Records are looked up in the ledger in pages of at most this many (one step for a page). */
export const LOOKUP_PAGE = 500;
/** Records waiting in memory are written at the latest this long after the first of them arrived. */
export const WRITE_DELAY_MS = 100;
/**
 * Results are stored in transactions of this many. A batch's results arrive in random order, and
 * each marks its request done: a commit rewrites every request page it touched, so fewer, larger
 * commits write fewer pages.
 */
export const RESULT_CHUNK = 16_000;
/** …or of this much result text (long answers), whichever comes first. */
export const RESULT_CHUNK_CHARS = 16 * 1024 * 1024;
/** Real-time mode: requests per group, how soon a group goes out, and groups in flight at once. */
export const REALTIME_GROUP = 32;
export const REALTIME_FLUSH_MS = 20;
export const REALTIME_GROUPS_IN_FLIGHT = 64;
/** A real-time call refused with 429/529 is waited out this many times before it counts as failed. */
export const REALTIME_RATE_LIMIT_WAITS = 20;
/** Ledger batch rows of real-time groups carry this in place of a remote batch id. */
export const REALTIME_PREFIX = 'realtime_';
/** After a stop, how long to wait for calls in flight (and cancels asked for) before letting go. */
export const STOP_WAIT_MS = 3_000;

/** A spending cap (see `BatchSinkOptions.budget`). */
export interface Budget {
  maxUsd: number;
  spentUsd: () => number;
  /**
   * The estimated cost of a group of requests sent in `mode` (real time costs twice a batch); `each`,
   * when known, the bytes each request is priced by (a model's long-prompt tier is per request);
   * `answers`, the `max_tokens` of those whose answer is priced at it (a truncated answer's retry).
   */
  estimateUsd: (group: { requests: number; bytes: number; each?: readonly number[] | undefined; answers?: readonly number[] | undefined; documents?: number | undefined; mode: SendMode }) => number;
}

const positiveInt = (max: number) => z.number().int().min(1).max(max);
const isFunction = (v: unknown) => typeof v === 'function';

/**
 * The sink's knobs, declared once: the sink takes them as they are, and the library's options
 * (`enrichStage`) extend this schema and hand them on (`sinkKnobsOf`), so a knob, its limits and its
 * meaning are written here only. Their defaults are applied in `resolveSinkOptions`.
 */
export const sinkKnobs = z.object({
  /** The job name recorded with each batch (for `batch-enrich status`). */
  job: z.string().min(1).optional(),
  /** Requests per batch, 1 to 100,000 (default 100,000). */
  batchSize: positiveInt(MAX_BATCH_REQUESTS).optional(),
  /** Bytes per batch body (default: 256 MB less a 5% margin). */
  maxBatchBytes: positiveInt(MAX_BATCH_BYTES).optional(),
  /** Submit a partial batch this long after its first request (default 30 s). */
  flushAfterMs: z.number().positive().max(MAX_TIMER_MS).optional(),
  /** Batches submitted and not yet downloaded, at most (default 4). */
  maxInFlight: positiveInt(100).optional(),
  /** First poll interval (default 1 s); it doubles up to `pollMaxMs` (default 15 minutes). */
  pollMinMs: z.number().positive().max(MAX_TIMER_MS).optional(),
  pollMaxMs: z.number().positive().max(MAX_TIMER_MS).optional(),
  /** Shown in per-record messages (`file:line`). */
  file: z.string().optional(),
  /** Submit requests another identity already submitted or answered (paying again) instead of stopping. */
  allowOtherIdentity: z.boolean().optional(),
  /**
   * `batch` (default) sends requests in Message Batches; `realtime` sends each with
   * `messages.create` (small or urgent jobs: answers now, at full price), in groups of a few that
   * flow through the same ledger, retries and ordering.
   */
  mode: z.enum(['batch', 'realtime']).optional(),
  /** Real-time calls at once, at most (default 8); halved on a 429 or 529, and grown back after successes. */
  concurrency: positiveInt(1000).optional(),
  /** When stopped by the signal, cancel this run's batches still running (they keep running otherwise). */
  cancelOnAbort: z.boolean().optional(),
  /**
   * Submit now, collect later: every batch is submitted (or followed) and polled once; if answers are
   * still pending, the sink stops with `BE_PENDING` before yielding anything (nothing is written),
   * saying how many and when the oldest batch expires. Once every answer is in, it yields them all.
   */
  noWait: z.boolean().optional(),
  onEvent: z.custom<(event: BatchEvent) => void>(isFunction).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal).optional(),
  /**
   * For a consumer that must still make what it wrote last (a file renamed into place, a commit):
   * once every record is out, the sink does not end its run as complete but hands the end to this,
   * and the consumer calls it with whether it kept every record. Until then (for good, if it dies
   * first), gc keeps everything the run's records point at: a rerun pays for nothing again.
   */
  onComplete: z.custom<(end: (kept: boolean) => Promise<void>) => void>(isFunction).optional(),
});

export type SinkKnobs = z.input<typeof sinkKnobs>;

/** The sink's knobs among a larger set of options (the library's), to hand on as they are. */
export function sinkKnobsOf(options: SinkKnobs & Record<string, unknown>): SinkKnobs {
  const knobs: Record<string, unknown> = {};
  for (const name of Object.keys(sinkKnobs.shape)) if (options[name] !== undefined) knobs[name] = options[name];
  return knobs as SinkKnobs;
}

export interface BatchSinkOptions extends SinkKnobs {
  client: Anthropic;
  ledger: LedgerStore;
  /** The API identity (see `identityOf`); answers are reused, and batches followed, only within it. */
  identity: Identity;
  /** Which failed results to try again (default: 3 attempts, no schema, 128K tokens cap). */
  retry?: Partial<RetryPolicy> | undefined;
  /**
   * Batch mode: at this time (ms since the epoch), cancel the run's batches still running, keep the
   * answers they already produced, and finish the rest in real time.
   */
  deadline?: number | undefined;
  /**
   * Called once for every result this run stores (retried ones too: what is billed), e.g. to add up
   * cost: its type, and for an answer its model and usage, and its request's key. A result another
   * worker stored first is that worker's.
   */
  onResult?: ((result: BilledResult, mode: SendMode, key: string) => void) | undefined;
  /**
   * A spending cap: before each batch is submitted, what was spent, plus the estimate of batches in
   * flight (not billed yet), plus this batch's estimate (at the price of the mode it is sent in) must
   * stay within `maxUsd`. Past it nothing more is submitted, and the records still waiting come out
   * with `_error` `budget_exceeded`.
   */
  budget?: Budget | undefined;
  signal?: AbortSignal | undefined;
  /**
   * The input is one shard of the job's (`shard`): an earlier try's batch that holds none of its
   * requests may be another shard's, and is not said to be unneeded (the `unneeded` event).
   */
  shard?: boolean | undefined;
  /**
   * No API key: what the ledger answered comes out, and the first request that needs the API (to
   * submit, follow or resume a batch) stops the run with `BE_NO_API_KEY` and this message.
   */
  offline?: string | undefined;
  /** The clock (ms since the epoch) and the wait between polls and retries: inject both to run the sink on a virtual clock. */
  now?: (() => number) | undefined;
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

/** The options with every default applied, and the waits they imply. */
export interface ResolvedSinkOptions {
  job: string;
  batchSize: number;
  maxBatchBytes: number;
  flushAfterMs: number;
  maxInFlight: number;
  pollMinMs: number;
  pollMaxMs: number;
  policy: RetryPolicy;
  /** `<stdin>` or the input file, for messages. */
  file: string;
  allowOtherIdentity: boolean;
  mode: SendMode;
  concurrency: number;
  deadline: number | undefined;
  cancelOnAbort: boolean;
  budget: Budget | undefined;
  offline: string | undefined;
  noWait: boolean;
  shard: boolean;
  now: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  emit: (event: BatchEvent) => void;
  onResult: ((result: BilledResult, mode: SendMode, key: string) => void) | undefined;
  /** The wait before poll number `attempt`. */
  pollDelay(attempt: number): number;
  /** The wait before try number `attempt` of a failed call: grows like polls, but stops at `RETRY_MAX_MS`. */
  retryDelay(attempt: number): number;
}

export function resolveSinkOptions(options: BatchSinkOptions): ResolvedSinkOptions {
  const pollMinMs = Math.min(options.pollMinMs ?? POLL_MIN_MS, MAX_TIMER_MS);
  const pollMaxMs = Math.min(options.pollMaxMs ?? POLL_MAX_MS, MAX_TIMER_MS);
  return {
    job: options.job ?? 'default',
    batchSize: options.batchSize ?? MAX_BATCH_REQUESTS,
    maxBatchBytes: options.maxBatchBytes ?? MAX_BATCH_BYTES,
    flushAfterMs: Math.min(options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS, MAX_TIMER_MS),
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    pollMinMs,
    pollMaxMs,
    policy: { maxAttempts: DEFAULT_MAX_ATTEMPTS, maxTokensCap: 128_000, ...options.retry },
    file: inputName(options.file),
    allowOtherIdentity: options.allowOtherIdentity ?? false,
    mode: options.mode ?? 'batch',
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    deadline: options.deadline,
    cancelOnAbort: options.cancelOnAbort ?? false,
    budget: options.budget,
    offline: options.offline,
    noWait: options.noWait ?? false,
    shard: options.shard ?? false,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? realSleep,
    emit: options.onEvent ?? (() => {}),
    onResult: options.onResult,
    pollDelay: (attempt) => pollDelayMs(attempt, pollMinMs, pollMaxMs),
    retryDelay: (attempt) => pollDelayMs(attempt, pollMinMs, Math.min(pollMaxMs, RETRY_MAX_MS)),
  };
}

/** A batch row's note of the 404s --no-wait tries have counted (its `error`): `not found (404) N times since ISO`. */
export function notFoundText(since: number, times: number): string {
  return `not found (404) ${plural(times, 'time')} since ${new Date(since).toISOString()}`;
}

/** The 404s a batch row's note counts (`notFoundText`), or undefined when it has none (`status` shows the note as it is). */
export function notFoundNote(error: string | null): { since: number; times: number } | undefined {
  const match = /^not found \(404\) (\d+) times? since (\S+)$/.exec(error ?? '');
  return match ? { times: Number(match[1]), since: Date.parse(match[2] as string) } : undefined;
}
