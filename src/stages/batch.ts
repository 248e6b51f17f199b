/**
 * The batching sink: prepared records in, joined records (record + its final result) out, in input
 * order. It is one stage because its halves share the ledger and run at the same time:
 *
 *   source ─► [fill] ──create──► batch 1 ─poll─► results ─┐
 *               │    ──create──► batch 2 ─poll─► results ─┤  (ledger: records, requests, batches)
 *               └── records ─────────────────────────────►┴─► [emit in input order] ─► out
 *
 * - Fill: every record goes to the ledger (memory stays flat). Its request joins the batch being
 *   filled unless the ledger already has it: answered (served from the ledger), or in a batch that is
 *   still running (that batch is followed). A batch is submitted when it holds `batchSize` requests,
 *   when the next request would cross `maxBatchBytes`, or `flushAfterMs` after its first request. At
 *   most `maxInFlight` batches run at once; reading input waits for a free slot.
 * - Create: the batch is recorded (`creating`, with a fresh nonce in front of every `custom_id`)
 *   before `create` is called. A create refused with 429/529, or that never reached the API (the host
 *   did not resolve, the connection was refused), is tried again. A create whose outcome is unknown
 *   (5xx, timeout, connection lost) is never simply repeated: the batch is searched for and adopted
 *   only when proven ours (`src/sink/adoption.ts`). A `creating` batch left by a dead run is resolved
 *   the same way on the next run; a run is dead when its heartbeat stops (see `Ledger.runAlive`).
 * - Poll: one `retrieve` per batch per interval, exponential backoff with jitter capped at 15 min; a
 *   failed poll is tried again within a minute. A 404 is a question, not an answer (the API's
 *   propagation delay): a batch is gone only after 404s over `GONE_AFTER_MS` from this run's first one
 *   and a list that does not show it; then its requests are submitted again.
 * - Download: results are streamed from the `results_url` the last poll returned (`resultLines`)
 *   into the ledger, joined by key. A result
 *   worth another attempt (`retryVerdict`) sends its request back to be batched again; an interrupted
 *   download is fetched again, and results already stored are not stored twice.
 * - Emit: records leave in input order as soon as their answer is final. When the head record waits,
 *   the emitter makes sure something will answer it (follows its batch, or batches its request), so
 *   no record can wait forever.
 * - Real time (`mode: 'realtime'`, or after a `deadline`): the same flow, but a group of a few
 *   requests is sent with `messages.create` under a limiter that halves its concurrency on 429/529
 *   (or when the rate-limit headers run low); its ledger row is named `realtime_<nonce>`. At a
 *   deadline the run's batches are canceled and what they did not answer goes on in real time.
 * - Budget: before each batch, spent + the estimate of batches in flight + this batch must stay under
 *   `budget.maxUsd`; past it nothing more is sent, and waiting records get `budget_exceeded`.
 *
 * Rejected alternative: `readable.map(submit, { concurrency })`. It keeps order but holds every
 * record of every batch in flight in memory, and it has no notion of a timer-driven partial flush.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import type { MessageBatch, MessageBatchIndividualResponse, MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import { createBatch, resultLines } from '../client/client.ts';
import { apiFailure, errorText, isCutDownload, isTransient, neverSent, retryAfterMs, withSignal } from '../client/errors.ts';
import { POLL_MAX_MS, POLL_MIN_MS, pollDelayMs, sleep as realSleep } from '../core/backoff.ts';
import { customIdOf, keyOf, newNonce, requestLine, type SpecParts } from '../core/request.ts';
import type { RecordError } from '../core/result.ts';
import { DEFAULT_MAX_ATTEMPTS, isTransientFailure, retryVerdict, type RetryPolicy, type Verdict } from '../core/retry.ts';
import { BatchEnrichError } from '../errors.ts';
import { HEARTBEAT_MS, type BatchRow, type Identity, type Ledger, type PayloadRow, type RecordRow, type Waiting } from '../ledger/ledger.ts';
import { findOurBatch, ORPHAN_SKEW_MS } from '../sink/adoption.ts';
import type { SourceRecord } from './read.ts';

/** The API's limits for one batch. */
export const MAX_BATCH_REQUESTS = 100_000;
/** 256 MB less a 5% margin for what we do not count exactly. */
export const MAX_BATCH_BYTES = Math.floor(256_000_000 * 0.95);
export const DEFAULT_FLUSH_AFTER_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT = 4;
/** The longest timer Node keeps (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Waits between tries of a failed call stop growing here, whatever the poll interval's cap. */
const RETRY_MAX_MS = 60_000;
/**
 * A batch is gone (deleted, or past retention) only when it has answered 404 for this long since
 * this run's first 404 for it, at least `GONE_404S` times, and the list does not show it. Until then
 * it is followed as running: a 404 right after create, or after a resume, is the API's propagation delay.
 */
const GONE_AFTER_MS = 5 * 60_000;
const GONE_404S = 5;
/** How long nothing may answer (every call failing to connect, or timing out) before the run stops. */
const UNREACHABLE_MS = 3 * 60_000;
/** Creates refused (429/529) or of unknown outcome are tried this many times before the run fails. */
const CREATE_ATTEMPTS = 6;
/** An interrupted results download is started again this many times (with backoff) before the run fails. */
const DOWNLOAD_ATTEMPTS = 12;
/** Records are written to the ledger, and read back, in transactions (pages) of this many rows. */
const WRITE_CHUNK = 4000;
/**
 * Results are stored in transactions of this many. A batch's results arrive in random order, and
 * each marks its request done: a commit rewrites every request page it touched, so fewer, larger
 * commits write fewer pages.
 */
const RESULT_CHUNK = 16_000;
/** …or of this much result text (long answers), whichever comes first. */
const RESULT_CHUNK_CHARS = 16 * 1024 * 1024;
/** Records waiting in memory are written at the latest this long after the first of them arrived. */
const WRITE_DELAY_MS = 100;
/** Real-time mode: requests per group, how soon a group goes out, and groups in flight at once. */
const REALTIME_GROUP = 32;
const REALTIME_FLUSH_MS = 20;
const REALTIME_GROUPS_IN_FLIGHT = 64;
export const DEFAULT_CONCURRENCY = 8;
/** A real-time call refused with 429/529 is waited out this many times before it counts as failed. */
const REALTIME_RATE_LIMIT_WAITS = 20;
/** Ledger batch rows of real-time groups carry this in place of a remote batch id. */
const REALTIME_PREFIX = 'realtime_';

/**
 * How many real-time calls may run at once: halved when the API says 429 or 529, grown by one after
 * as many successes in a row as the current limit (additive increase, multiplicative decrease).
 */
class Limiter {
  limit: number;
  readonly #max: number;
  #active = 0;
  #successes = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #changed: (limit: number, reason: string) => void;

  constructor(max: number, changed: (limit: number, reason: string) => void) {
    this.limit = max;
    this.#max = max;
    this.#changed = changed;
  }
  async acquire(): Promise<void> {
    while (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
  }
  release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
  succeeded(): void {
    if (++this.#successes < this.limit || this.limit >= this.#max) return;
    this.#successes = 0;
    this.limit++;
    this.#changed(this.limit, 'calls succeed');
    this.#waiting.shift()?.();
  }
  backOff(reason: string): void {
    this.#successes = 0;
    const next = Math.max(1, Math.floor(this.limit / 2));
    if (next === this.limit) return;
    this.limit = next;
    this.#changed(next, reason);
  }
}

/** After a stop, how long to wait for calls in flight to notice the abort before letting go. */
const STOP_WAIT_MS = 3_000;
/** `{"custom_id":"","params":}` and the comma between requests, around the nonce, key and params. */
const REQUEST_OVERHEAD_BYTES = Buffer.byteLength('{"custom_id":"_","params":},') + 6;
/** `{"requests":[` + `]}`. */
const ENVELOPE_BYTES = Buffer.byteLength('{"requests":[]}');

/** A record ready for the sink: its request (key, shared params, messages) or why it has none. */
export interface PreparedRecord extends SourceRecord {
  /** The request key (see `requestKey`); the `custom_id` sent is `<nonce>_[<label>-]<key>`. */
  key?: string | undefined;
  /** The readable label in front of the key in the `custom_id` (`--id-field`); not part of the key. */
  label?: string | undefined;
  /** The params every request of the job shares: `spec.head + messages + spec.tail` is this request's. */
  spec?: SpecParts | undefined;
  /** This request's `messages`, serialized once. */
  messages?: string | undefined;
}

type Ready = PreparedRecord & { key: string; spec: SpecParts; messages: string };

/** A record joined with its final result (absent when the record carries `error` instead). */
export interface JoinedRecord {
  seq: number;
  line: number;
  data: Record<string, unknown>;
  key: string | undefined;
  error: RecordError | undefined;
  result: MessageBatchResult | undefined;
  /** How many times the request was submitted. */
  attempts: number;
  /** The batch that answered it and the `custom_id` it had there. */
  batchId: string | undefined;
  customId: string | undefined;
}

export type BatchEvent =
  | { type: 'submitted'; batchId: string; requests: number; bytes: number }
  | { type: 'adopted'; batchId: string; requests: number }
  /** A batch of our size, made while our create's outcome was unknown, proved to be someone else's: left untouched. */
  | { type: 'not-ours'; batchId: string }
  /** Another live run is creating a batch that holds some of our requests: we wait for it. */
  | { type: 'waiting'; requests: number; run: number; host: string | null; pid: number; ageMs: number; lastSeenMs: number | null }
  | { type: 'following'; batchId: string; requests: number }
  | { type: 'ended'; batchId: string; counts: MessageBatch['request_counts'] }
  | { type: 'requeued'; batchId: string; requests: number; reasons: Record<string, number> }
  | { type: 'released'; batchId: string | null; requests: number; reason: string }
  | { type: 'retry'; what: string; message: string; delayMs: number }
  | { type: 'budget'; maxUsd: number; projectedUsd: number; requests: number }
  | { type: 'realtime'; requests: number; concurrency: number }
  | { type: 'concurrency'; limit: number; reason: string }
  | { type: 'deadline'; canceling: number };

export interface BatchSinkOptions {
  client: Anthropic;
  ledger: Ledger;
  /** The API identity (see `identityOf`); answers are reused, and batches followed, only within it. */
  identity: Identity;
  /** The job name recorded with each batch (for `batch-enrich status`). */
  job?: string | undefined;
  /** Requests per batch, 1 to 100,000 (default 100,000). */
  batchSize?: number | undefined;
  /** Bytes per batch body (default: 256 MB less a 5% margin). */
  maxBatchBytes?: number | undefined;
  /** Submit a partial batch this long after its first request (default 30 s). */
  flushAfterMs?: number | undefined;
  /** Batches submitted and not yet downloaded, at most (default 4). */
  maxInFlight?: number | undefined;
  /** First poll interval (default 1 s); it doubles up to `pollMaxMs` (default 60 s). */
  pollMinMs?: number | undefined;
  pollMaxMs?: number | undefined;
  /** Which failed results to try again (default: 3 attempts, no schema, 128K tokens cap). */
  retry?: Partial<RetryPolicy> | undefined;
  /** Shown in per-record messages (`file:line`). */
  file?: string | undefined;
  /** Submit requests another identity already submitted or answered (paying again) instead of stopping. */
  allowOtherIdentity?: boolean | undefined;
  /**
   * `batch` (default) sends requests in Message Batches; `realtime` sends each with
   * `messages.create` (small or urgent jobs: answers now, at full price), in groups of a few that
   * flow through the same ledger, retries and ordering.
   */
  mode?: 'batch' | 'realtime' | undefined;
  /** Real-time calls at once, at most (default 8); halved on a 429 or 529, and grown back after successes. */
  concurrency?: number | undefined;
  /**
   * Batch mode: at this time (ms since the epoch), cancel the run's batches still running, keep the
   * answers they already produced, and finish the rest in real time.
   */
  deadline?: number | undefined;
  /** When stopped by the signal, cancel this run's batches still running (they keep running otherwise). */
  cancelOnAbort?: boolean | undefined;
  onEvent?: ((event: BatchEvent) => void) | undefined;
  /** Called with every result this run downloads (retried ones too: what is billed), e.g. to add up cost. */
  onResult?: ((result: MessageBatchResult, mode: 'batch' | 'realtime') => void) | undefined;
  /**
   * A spending cap: before each batch is submitted, what was spent, plus the estimate of batches in
   * flight (not billed yet), plus this batch's estimate must stay within `maxUsd`. Past it nothing
   * more is submitted, and the records still waiting come out with `_error` `budget_exceeded`.
   */
  budget?: { maxUsd: number; spentUsd: () => number; estimateUsd: (batch: { requests: number; bytes: number }) => number } | undefined;
  signal?: AbortSignal | undefined;
  /** The clock (ms since the epoch) and the wait between polls and retries: inject both to run the sink on a virtual clock. */
  now?: (() => number) | undefined;
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

class Wakeup {
  #resolve: (() => void) | undefined;
  #promise: Promise<void> | undefined;
  wait(): Promise<void> {
    this.#promise ??= new Promise((resolve) => {
      this.#resolve = resolve;
    });
    return this.#promise;
  }
  notify(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}

interface Filling {
  keys: string[];
  keySet: Set<string>;
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  /** The batch's cost estimate, when a budget applies. */
  estimateUsd?: number;
}

const emptyFilling = (): Filling => ({ keys: [], keySet: new Set(), bytes: 0, timer: undefined });

/** The sink as a `pipeline` stage: `(source, { signal }) => AsyncGenerator<JoinedRecord>`. */
export function batchSink(
  options: BatchSinkOptions,
): (source: AsyncIterable<PreparedRecord>, stage?: { signal?: AbortSignal }) => AsyncGenerator<JoinedRecord> {
  return (source, stage) => {
    const signals = [options.signal, stage?.signal].filter((s): s is AbortSignal => s !== undefined);
    return runBatches(source, { ...options, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] });
  };
}

async function* runBatches(source: AsyncIterable<PreparedRecord>, options: BatchSinkOptions): AsyncGenerator<JoinedRecord> {
  const { client, ledger, identity } = options;
  const { scope } = identity;
  const job = options.job ?? 'default';
  const batchSize = options.batchSize ?? MAX_BATCH_REQUESTS;
  const maxBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  const flushAfterMs = Math.min(options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS, MAX_TIMER_MS);
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const pollMinMs = Math.min(options.pollMinMs ?? POLL_MIN_MS, MAX_TIMER_MS);
  const pollMaxMs = Math.min(options.pollMaxMs ?? POLL_MAX_MS, MAX_TIMER_MS);
  const policy: RetryPolicy = { maxAttempts: DEFAULT_MAX_ATTEMPTS, maxTokensCap: 128_000, ...options.retry };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const emit = options.onEvent ?? (() => {});
  /** The wait before poll number `attempt`, and before try number `attempt` of a failed call (which stops growing sooner). */
  const delay = (attempt: number) => pollDelayMs(attempt, pollMinMs, pollMaxMs);
  const retryDelay = (attempt: number) => pollDelayMs(attempt, pollMinMs, Math.min(pollMaxMs, RETRY_MAX_MS));

  // Our own controller: aborted by the caller's signal, by a failure, and when the consumer stops early.
  const controller = new AbortController();
  const signal = controller.signal;
  const wake = new Wakeup();
  const onAbort = () => {
    controller.abort(options.signal?.reason);
    wake.notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const run = ledger.startRun(job, now());
  /** Batches this run is creating right now (recorded, `create` not yet answered). */
  const creating = new Set<number>();
  /** Batches being followed (polled, then downloaded), by ledger id. */
  const tracked = new Map<number, Promise<void>>();
  /** Batches this run created, for `cancelOnAbort`. */
  const mine = new Map<number, string>();
  let failure: unknown;
  let inputDone = false;
  let finished = false;
  let recordsRead = 0;
  let filling = emptyFilling();
  let flushing: Promise<void> = Promise.resolve();
  const pendingRecords: { seq: number; record: PreparedRecord }[] = [];
  const pendingRequests: Ready[] = [];
  let writeTimer: NodeJS.Timeout | undefined;
  /** Specs already in the ledger, and each spec's `max_tokens` (for doubling a truncated answer's). */
  const specsWritten = new Set<string>();
  const specMaxTokens = new Map<string, number>();
  const runStartedAt = now();
  let realtime = options.mode === 'realtime';
  const limiter = new Limiter(options.concurrency ?? DEFAULT_CONCURRENCY, (limit, reason) => emit({ type: 'concurrency', limit, reason }));
  /** The group size and flush delay: batches fill up; real-time groups go out at once, a few at a time. */
  const groupSize = () => (realtime ? Math.min(batchSize, REALTIME_GROUP) : batchSize);
  const flushDelay = () => (realtime ? REALTIME_FLUSH_MS : flushAfterMs);
  /** Estimated cost of the batches submitted and not yet downloaded (not billed yet), by ledger id. */
  const inFlightUsd = new Map<number, number>();
  let budgetExhausted = false;
  // With a single identity in the ledger no request can be another's: the per-request check is skipped.
  const otherScopes = options.allowOtherIdentity ? [] : ledger.otherScopes(scope);

  /**
   * What the emitter re-reads the ledger for while the record at its head waits: `answered` moves
   * when results are stored, `moved` when requests change hands outside of `place` (released,
   * requeued, a followed batch ended, the budget ran out, the input ended). New input alone cannot
   * answer a waiting record, so it does not make the emitter read again.
   */
  let answered = 0;
  let moved = 0;

  const fail = (error: unknown) => {
    failure ??= error;
    controller.abort(error);
    wake.notify();
  };

  /** The API's host, named in every retry line (which call, where, why, the next wait). */
  const host = new URL(client.baseURL).host;
  /** Since when no call has reached the API (connection errors and timeouts only; any answer resets it). */
  let unreachableSince: number | undefined;
  /** Notes a call's outcome; a failure throws once nothing has reached the API for `UNREACHABLE_MS`. */
  const reached = (error?: unknown) => {
    if (!(error instanceof APIConnectionError)) return void (unreachableSince = undefined);
    unreachableSince ??= now();
    const minutes = Math.round((now() - unreachableSince) / 60_000);
    if (now() - unreachableSince >= UNREACHABLE_MS) throw apiFailure(error, `Cannot reach the API at ${host} (no answer for ${minutes} minutes)`, undefined);
  };

  // The heartbeat that tells other runs this one is alive. It does not keep the process alive; a run
  // whose row is gone was taken for dead by another run, which may now be resolving its batches.
  const heartbeat = setInterval(() => {
    if (!ledger.heartbeat(run, now())) fail(new BatchEnrichError('BE_LEDGER', `This run (${run}) was taken for dead by another run on the ledger ${ledger.path} (its heartbeat stalled); run the command again`));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  /** Writes buffered records and new requests in one transaction. */
  const writeBuffered = () => {
    clearTimeout(writeTimer);
    writeTimer = undefined;
    if (finished || (pendingRecords.length === 0 && pendingRequests.length === 0)) return;
    const t = now();
    ledger.transaction(() => {
      for (const { key, label, spec, messages } of pendingRequests) {
        if (!specsWritten.has(spec.id)) {
          ledger.ensureSpec(spec.id, spec.head, spec.tail);
          specsWritten.add(spec.id);
        }
        ledger.insertRequest(scope, key, label ?? null, spec.id, messages, t);
      }
      for (const { seq, record } of pendingRecords) {
        const error = record.error ? JSON.stringify(record.error) : null;
        ledger.insertRecord(run, seq, record.line, JSON.stringify(record.data), error ? null : (record.key ?? null), error);
      }
    });
    pendingRecords.length = 0;
    pendingRequests.length = 0;
    wake.notify();
  };

  /** Starts following a batch (once): resolve its create if needed, poll it, download its results. */
  const track = (batchId: number, work: () => Promise<Map<string, number> | undefined> = () => follow(batchId)) => {
    if (tracked.has(batchId) || creating.has(batchId)) return;
    const task = work().then(
      (requeued) => {
        tracked.delete(batchId);
        inFlightUsd.delete(batchId);
        // Batched again only now that this batch no longer holds an in-flight slot.
        if (requeued && requeued.size > 0) void requeue(requeued).catch(fail);
        moved++;
        wake.notify();
      },
      (error: unknown) => {
        tracked.delete(batchId);
        fail(error);
      },
    );
    tracked.set(batchId, task);
  };

  /** Puts a batch's unanswered requests back to pending; the emitter will batch them again. */
  const release = (row: BatchRow, reason: string): undefined => {
    const count = ledger.unanswered(row.id).length;
    ledger.transaction(() => {
      ledger.releaseBatch(row.id);
      ledger.setBatchState(row.id, 'failed', now(), reason);
    });
    if (count > 0) emit({ type: 'released', batchId: row.remote_id, requests: count, reason });
    moved++;
    return undefined;
  };

  const requeue = async (requeued: Map<string, number>) => {
    for (const [key, size] of requeued) await addRequest(key, size);
    if (inputDone) await flush();
  };

  /** Follows a batch to its end; resolves with the requests to batch again (key → bytes). */
  const follow = async (batchId: number): Promise<Map<string, number> | undefined> => {
    let row = ledger.batch(batchId);
    // A batch another live run is creating: wait for it to get its remote id (or fail), and say whose it is.
    for (let attempt = 0; row?.state === 'creating' && row.run !== run && ledger.runAlive(row.run, now()); attempt++) {
      if (attempt === 0) {
        const other = ledger.run(row.run);
        const t = now();
        if (other) {
          emit({ type: 'waiting', requests: row.request_count, run: other.id, host: other.host, pid: other.pid, ageMs: t - other.started_at, lastSeenMs: other.heartbeat_at === null ? null : t - other.heartbeat_at });
        }
      }
      await sleep(retryDelay(attempt), signal);
      if (signal.aborted) return;
      row = ledger.batch(batchId);
    }
    if (!row) return;
    let resultsUrl: string | null = null;
    if (row.state === 'creating') {
      // Its creator died before learning the outcome: find the batch, proven ours, or submit its requests again.
      const proven = await findOurBatch(adoption, row);
      if (signal.aborted) return;
      if (!proven) return release(row, 'its create never reached the API');
      if (!ledger.setRemote(row.id, proven.batch.id, now())) return; // another run resolved it first, and follows it
      ledger.setBatchState(row.id, 'ended', now());
      emit({ type: 'adopted', batchId: proven.batch.id, requests: row.request_count });
      resultsUrl = proven.resultsUrl;
      row = ledger.batch(batchId) ?? row;
    }
    if (row.state === 'failed' || row.state === 'canceled' || !row.remote_id) return release(row, row.error ?? row.state);
    // Real-time requests that were in flight when their run stopped: their answers were never stored.
    if (row.remote_id.startsWith(REALTIME_PREFIX)) return release(row, 'real-time requests in flight when the run stopped');
    if (row.run !== run && resultsUrl === null) emit({ type: 'following', batchId: row.remote_id, requests: row.request_count });
    const remoteId = row.remote_id;

    if (row.state === 'in_progress') {
      // The deadline cuts a wait of up to 15 minutes short (the batches it cancels end soon), and the
      // polls after it start again from the shortest interval.
      let deadlineSeen = deadlineReached === undefined || deadlineReached.signal.aborted;
      const deadlineNews = () => !deadlineSeen && (deadlineSeen = deadlineReached?.signal.aborted === true);
      /** Polls that answered, and failures in a row: a failed poll is tried again within a minute. */
      let polls = 0;
      let failures = 0;
      /** This run's first 404 for the batch in the current series, and how many since. */
      let first404: number | undefined;
      let count404 = 0;
      for (;;) {
        if (deadlineNews()) polls = 0; // it passed during the last retrieve
        await sleep(failures > 0 ? retryDelay(failures) : delay(polls), deadlineSeen || !deadlineReached ? signal : AbortSignal.any([signal, deadlineReached.signal]));
        if (signal.aborted) return;
        if (deadlineNews()) polls = -1; // the wait was cut short: poll now, then from the shortest interval
        try {
          const seen = await withSignal(signal, (s) => client.messages.batches.retrieve(remoteId, {}, { signal: s }));
          reached();
          polls++;
          failures = 0;
          first404 = undefined;
          count404 = 0;
          if (seen.processing_status === 'ended') {
            resultsUrl = seen.results_url;
            ledger.setBatchState(batchId, 'ended', now());
            emit({ type: 'ended', batchId: remoteId, counts: seen.request_counts });
            break;
          }
        } catch (error) {
          if (signal.aborted) return;
          reached(error);
          failures++;
          if (error instanceof APIError && error.status === 404) {
            first404 ??= now();
            count404++;
            if (count404 >= GONE_404S && now() - first404 >= GONE_AFTER_MS) {
              const listed = await stillListed(remoteId, row.created_at);
              if (signal.aborted) return;
              if (listed === false) return release(row, `batch ${remoteId} is no longer known to the API (404 for ${Math.round((now() - first404) / 60_000)} minutes, and not in the list)`);
              first404 = undefined;
              count404 = 0;
            }
          } else if (!isTransient(error)) {
            throw apiFailure(error, `Polling batch ${remoteId} failed`, remoteId);
          }
          emit({ type: 'retry', what: `poll ${remoteId} (${host})`, message: errorText(error), delayMs: retryDelay(failures) });
        }
      }
    }
    return download(row, remoteId, resultsUrl);
  };

  /** Whether the API's list shows a batch: true, false, or undefined when the list could not be read. */
  const stillListed = async (remoteId: string, createdAt: number): Promise<boolean | undefined> => {
    try {
      return await withSignal(signal, async (s) => {
        for await (const batch of client.messages.batches.list({ limit: 100 }, { signal: s })) {
          if (batch.id === remoteId) return true;
          if (Date.parse(batch.created_at) < createdAt - ORPHAN_SKEW_MS) break; // newest first
        }
        return false;
      });
    } catch {
      return undefined;
    }
  };

  /** What the search for a batch whose create outcome was lost works with (see `src/sink/adoption.ts`). */
  const adoption = {
    client,
    ledger,
    signal,
    now,
    sleep,
    delay: retryDelay,
    rejected: (batchId: string) => emit({ type: 'not-ours', batchId }),
  };

  /** Downloads a batch's results from `resultsUrl` (retrieved first when not known: a batch that ended before this run). */
  const download = async (row: BatchRow, remoteId: string, resultsUrl: string | null): Promise<Map<string, number> | undefined> => {
    let url = resultsUrl;
    const requeued = new Map<string, number>();
    // What deciding each result needs, read once for the batch (at most 100,000 small rows).
    const waiting = ledger.submittedOf(row.id);
    for (let attempt = 1; ; attempt++) {
      try {
        await withSignal(signal, async (s) => {
          if (url === null) {
            const seen = await client.messages.batches.retrieve(remoteId, {}, { signal: s });
            if (!seen.results_url) throw new BatchEnrichError('BE_API', `Batch ${remoteId} has no results_url (processing_status ${seen.processing_status})`, { batchId: remoteId });
            url = seen.results_url;
          }
          // Decided as they arrive (only their text is kept), stored a chunk at a time.
          let chunk: Decided[] = [];
          let chunkChars = 0;
          const save = () => {
            if (finished) return;
            const t = now();
            ledger.transaction(() => {
              for (const decided of chunk) store(row, decided, t, requeued);
            });
            chunk = [];
            chunkChars = 0;
            answered++;
            wake.notify();
          };
          try {
            for await (const text of resultLines(client, url, s)) {
              const line = JSON.parse(text) as MessageBatchIndividualResponse;
              const key = keyOf(row.nonce, line.custom_id);
              if (key === undefined) continue; // not one of ours (an adopted batch that was someone else's)
              const decided = decide(row, key, line.result, waiting, resultText(text, line));
              if (decided) {
                chunk.push(decided);
                chunkChars += decided.text.length;
              }
              if (chunk.length >= RESULT_CHUNK || chunkChars >= RESULT_CHUNK_CHARS) save();
            }
          } finally {
            // Also when the download breaks off: what was decided left `waiting`, so it is stored
            // now (a download again skips it), and counted once.
            save();
          }
        });
        reached();
        break;
      } catch (error) {
        if (signal.aborted) return undefined;
        reached(error);
        if (attempt >= DOWNLOAD_ATTEMPTS || !(isTransient(error) || isCutDownload(error))) {
          throw apiFailure(error, `Downloading the results of batch ${remoteId} failed`, remoteId);
        }
        const wait = retryDelay(attempt);
        emit({ type: 'retry', what: `results ${remoteId} (${new URL(url ?? client.baseURL).host})`, message: errorText(error), delayMs: wait });
        await sleep(wait, signal);
        if (signal.aborted) return undefined;
      }
    }
    // Requests the results file did not mention: tried again, or answered with `missing_result`.
    const missing = ledger.unanswered(row.id);
    if (missing.length > 0) {
      const result = {
        type: 'errored',
        error: { type: 'error', error: { type: 'missing_result', message: `batch ${remoteId} returned no result for this request` }, request_id: null },
      } as unknown as MessageBatchResult;
      const t = now();
      const decided = missing.flatMap((key) => decide(row, key, result, waiting) ?? []);
      ledger.transaction(() => {
        for (const one of decided) store(row, one, t, requeued);
      });
    }
    ledger.setBatchState(row.id, 'downloaded', now());
    if (requeued.size > 0) {
      const reasons: Record<string, number> = {};
      for (const key of requeued.keys()) {
        const reason = lastReasons.get(key) ?? 'retry';
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      }
      emit({ type: 'requeued', batchId: remoteId, requests: requeued.size, reasons });
    }
    return requeued;
  };

  const lastReasons = new Map<string, string>();
  /**
   * Decides what a result means for its request: final, or worth another attempt. Once per request
   * (it leaves `waiting`); undefined when the request does not wait on this batch (already stored
   * by an earlier download, or not ours).
   */
  const decide = (row: BatchRow, key: string, result: MessageBatchResult, waiting: Map<string, Waiting>, text = JSON.stringify(result)): Decided | undefined => {
    const request = waiting.get(key);
    if (!request) return undefined;
    waiting.delete(key);
    options.onResult?.(result, row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch');
    const maxTokens = request.max_tokens ?? maxTokensOfSpec(key, request.spec);
    // Canceled requests go on: after our deadline (in real time), or when an earlier run's batch was
    // canceled (a stop with --cancel-on-exit, `batch-enrich cancel`): rerunning means finishing the job.
    const verdict: Verdict =
      result.type === 'canceled' && (deadlinePassed || row.run !== run)
        ? { retry: true, reason: deadlinePassed ? 'deadline' : 'canceled earlier' }
        : retryVerdict(result, request.attempts, maxTokens, policy);
    return { key, request, text, verdict };
  };
  /** Stores a decided result as final, or sends its request back for another attempt (inside a transaction). */
  const store = (row: BatchRow, { key, request, text, verdict }: Decided, t: number, requeued: Map<string, number>) => {
    if (verdict.retry) {
      // Pending again in the ledger; batched again by this run unless it is stopping (then by the next one).
      if (ledger.retryRequest(row.id, request, text, verdict.maxTokens ?? null, t) && !signal.aborted) {
        // A doubled max_tokens may add a digit to the params.
        requeued.set(key, payloadBytes(ledger.payload(scope, key)) + 8);
        lastReasons.set(key, verdict.reason);
      }
    } else {
      ledger.saveResult(row.id, request, text, t);
    }
  };
  const maxTokensOfSpec = (key: string, spec: string): number => {
    let tokens = specMaxTokens.get(spec);
    if (tokens === undefined) {
      tokens = maxTokensOf(ledger.payload(scope, key)?.head ?? '');
      specMaxTokens.set(spec, tokens);
    }
    return tokens;
  };

  /** Submits the batch being filled (after waiting for a free slot). Serialized through `flushing`. */
  const flush = (): Promise<void> => {
    flushing = flushing.then(async () => {
      if (failure || signal.aborted) return;
      writeBuffered();
      while (tracked.size + creating.size >= (realtime ? REALTIME_GROUPS_IN_FLIGHT : maxInFlight) && !signal.aborted) {
        await Promise.race([...tracked.values(), wake.wait()]);
      }
      if (signal.aborted) return;
      // Requests added while waiting for a slot must be in the ledger before the batch is opened.
      writeBuffered();
      const batch = filling;
      clearTimeout(batch.timer);
      filling = emptyFilling();
      if (batch.keys.length > 0 && withinBudget(batch)) await (realtime ? sendRealtime(batch) : submit(batch));
    });
    return flushing;
  };

  /** Whether submitting this batch keeps spent + in flight + this batch within the budget. */
  const withinBudget = (batch: Filling): boolean => {
    const budget = options.budget;
    if (!budget) return true;
    if (!budgetExhausted) {
      batch.estimateUsd = budget.estimateUsd({ requests: batch.keys.length, bytes: batch.bytes });
      const projected = budget.spentUsd() + [...inFlightUsd.values()].reduce((a, b) => a + b, 0) + batch.estimateUsd;
      if (projected <= budget.maxUsd) return true;
      budgetExhausted = true;
      emit({ type: 'budget', maxUsd: budget.maxUsd, projectedUsd: projected, requests: batch.keys.length });
    }
    // The records waiting on requests that will not be sent can now come out.
    moved++;
    wake.notify();
    return false;
  };

  /** Sends a group in real time: one `messages.create` per request, within the limiter's concurrency. */
  const sendRealtime = async (batch: Filling): Promise<void> => {
    const nonce = newNonce();
    const opened = ledger.openBatch(identity, run, job, nonce, batch.keys, now());
    if (opened.keys.length < batch.keys.length) tookElsewhere();
    if (opened.keys.length === 0) return ledger.setBatchState(opened.id, 'failed', now(), 'no pending requests (another run took them)');
    ledger.sizeBatch(opened.id, opened.keys.length, batch.bytes + ENVELOPE_BYTES - 1);
    ledger.setRemote(opened.id, `${REALTIME_PREFIX}${nonce}`, now());
    emit({ type: 'realtime', requests: opened.keys.length, concurrency: limiter.limit });
    track(opened.id, async () => {
      const row = ledger.batch(opened.id);
      if (!row) return undefined;
      const waiting = ledger.submittedOf(row.id);
      const requeued = new Map<string, number>();
      const payloads = ledger.batchPage(row.id, 0, REALTIME_GROUP);
      await Promise.all(
        payloads.map(async (payload) => {
          const result = await askRealtime(payload);
          if (result === undefined || signal.aborted) return;
          const decided = decide(row, payload.key, result, waiting);
          if (decided) ledger.transaction(() => store(row, decided, now(), requeued));
          answered++;
          wake.notify();
        }),
      );
      if (signal.aborted) return undefined;
      ledger.setBatchState(row.id, 'downloaded', now());
      return requeued;
    });
  };

  /** One real-time call, waiting out rate limits; resolves with the result as a batch would give it. */
  const askRealtime = async (payload: PayloadRow): Promise<MessageBatchResult | undefined> => {
    const head = payload.max_tokens === null ? payload.head : withMaxTokens(payload.head, payload.max_tokens);
    const params = JSON.parse(`${head}${payload.messages}${payload.tail}`) as MessageCreateParamsNonStreaming;
    for (let attempt = 0; ; attempt++) {
      await limiter.acquire();
      if (signal.aborted) {
        limiter.release();
        return undefined;
      }
      try {
        const { data: message, response } = await withSignal(signal, (s) => client.messages.create(params, { signal: s, maxRetries: 0 }).withResponse());
        // The rate-limit headers say how many requests are left in the window: slow down before a 429.
        const remaining = Number(response.headers.get('anthropic-ratelimit-requests-remaining') ?? Number.NaN);
        if (Number.isFinite(remaining) && remaining < limiter.limit) limiter.backOff(`the rate-limit headers leave ${remaining} requests`);
        else limiter.succeeded();
        return { type: 'succeeded', message } as MessageBatchResult;
      } catch (error) {
        if (signal.aborted) return undefined;
        const status = error instanceof APIError ? error.status : undefined;
        if ((status === 429 || status === 529) && attempt < REALTIME_RATE_LIMIT_WAITS) {
          // Rate limited or overloaded: fewer calls at once, and wait as long as the API asks.
          limiter.backOff(status === 429 ? 'rate limited (429)' : 'overloaded (529)');
          await sleep((error instanceof APIError ? retryAfterMs(error) : undefined) ?? retryDelay(attempt), signal);
          continue;
        }
        const type = error instanceof APIError ? (error.type ?? 'api_error') : 'api_error';
        return {
          type: 'errored',
          error: { type: 'error', error: { type, message: errorText(error) }, request_id: error instanceof APIError ? (error.requestID ?? null) : null },
        } as unknown as MessageBatchResult;
      } finally {
        limiter.release();
      }
    }
  };

  /** The deadline: cancel this run's batches still running; what they did not answer goes on in real time. */
  let deadlinePassed = false;
  const deadlineReached = options.deadline !== undefined && !realtime ? new AbortController() : undefined;
  const deadlineTimer =
    options.deadline !== undefined && !realtime
      ? setTimeout(
          () => {
            deadlinePassed = true;
            realtime = true;
            deadlineReached?.abort();
            const running = [...mine].filter(([batchId]) => ledger.batch(batchId)?.state === 'in_progress');
            emit({ type: 'deadline', canceling: running.length });
            for (const [, remoteId] of running) {
              void client.messages.batches.cancel(remoteId).catch((error: unknown) => emit({ type: 'retry', what: `cancel ${remoteId}`, message: errorText(error), delayMs: 0 }));
            }
            // A batch being filled goes out in real time now instead of waiting for its timer.
            void flush().catch(fail);
          },
          Math.max(0, Math.min(options.deadline - now(), MAX_TIMER_MS)),
        )
      : undefined;

  const submit = async (batch: Filling): Promise<void> => {
    const nonce = newNonce();
    const opened = ledger.openBatch(identity, run, job, nonce, batch.keys, now());
    const id = opened.id;
    if (opened.keys.length < batch.keys.length) tookElsewhere();
    if (opened.keys.length === 0) {
      ledger.setBatchState(id, 'failed', now(), 'no pending requests (another run took them)');
      return;
    }
    creating.add(id);
    try {
      // The request count identifies the batch in the API's list if the create's answer is lost.
      // Exactly the body's size: the requests (each counted with a comma), the envelope, less one comma.
      const bodyBytes = batch.bytes + ENVELOPE_BYTES - 1;
      ledger.sizeBatch(id, opened.keys.length, bodyBytes);
      let created: MessageBatch | undefined;
      let adopted = false;
      for (let attempt = 1; !created; attempt++) {
        try {
          created = await createBatch(client, batchBody(ledger, id, nonce), signal);
          reached();
        } catch (error) {
          // Stopped mid-create: the outcome is unknown, so the row stays `creating` for the next run to resolve.
          if (signal.aborted) return;
          if (neverSent(error)) reached(error); // a create that may have been made is resolved first, below
          // Known not made: refused (429/529), or never sent (no connection was ever made).
          const refused = (error instanceof APIError && (error.status === 429 || error.status === 529)) || neverSent(error);
          const unknown = !refused && isTransient(error);
          if (unknown) {
            const row = ledger.batch(id);
            const proven = row ? await findOurBatch(adoption, row) : undefined;
            if (signal.aborted) return;
            if (proven) {
              created = proven.batch;
              adopted = true;
              emit({ type: 'adopted', batchId: proven.batch.id, requests: opened.keys.length });
              break;
            }
          }
          if ((!refused && !unknown) || attempt >= CREATE_ATTEMPTS) {
            const row = ledger.batch(id);
            if (row) release(row, errorText(error));
            throw apiFailure(error, `Creating a batch of ${opened.keys.length} request${opened.keys.length === 1 ? '' : 's'} failed`, undefined);
          }
          const wait = (error instanceof APIError ? retryAfterMs(error) : undefined) ?? retryDelay(attempt);
          emit({ type: 'retry', what: `create (${host})`, message: errorText(error), delayMs: wait });
          await sleep(wait, signal);
          if (signal.aborted) return;
        }
      }
      ledger.setRemote(id, created.id, now());
      mine.set(id, created.id);
      if (batch.estimateUsd !== undefined) inFlightUsd.set(id, batch.estimateUsd);
      if (!adopted) emit({ type: 'submitted', batchId: created.id, requests: opened.keys.length, bytes: bodyBytes });
    } finally {
      creating.delete(id);
    }
    track(id);
  };

  const addRequest = async (key: string, size: number) => {
    // Re-checked after each flush: another adder may have refilled the batch while this one waited.
    while (!filling.keySet.has(key) && (filling.keys.length >= groupSize() || filling.bytes + size + ENVELOPE_BYTES > maxBytes)) {
      await flush();
      if (failure || signal.aborted) return;
    }
    if (filling.keySet.has(key)) return;
    if (filling.keys.length === 0) {
      filling.timer = setTimeout(() => void flush().catch(fail), flushDelay());
    }
    filling.keys.push(key);
    filling.keySet.add(key);
    filling.bytes += size;
  };

  /** What a new record's request needs: nothing (answered), its batch followed, or a place in a batch. */
  const place = async (record: Ready) => {
    const { key } = record;
    if (filling.keySet.has(key)) return;
    const size = requestBytes(key, record.label, record.spec.bytes, record.messages);
    if (size + ENVELOPE_BYTES > maxBytes) {
      record.error = { type: 'request_too_large', message: `line ${record.line}: the request is ${size} bytes, over the batch limit of ${maxBytes}` };
      return;
    }
    const known = ledger.request(scope, key);
    if (!known) {
      if (otherScopes.some((other) => ledger.requestSent(other, key))) {
        throw new BatchEnrichError(
          'BE_IDENTITY',
          `${!options.file || options.file === '-' ? '<stdin>' : options.file}:${record.line}: this request was already submitted under another API identity (another ANTHROPIC_BASE_URL or ANTHROPIC_API_KEY); its batches and answers can only be seen with that identity. Run again with it (see 'batch-enrich status'), or pass --new-identity (the library's allowOtherIdentity) to submit under this one and pay again`,
        );
      }
      pendingRequests.push(record);
      await addRequest(key, size);
    } else if (known.state === 'pending') {
      await addRequest(key, size);
    } else if (known.state === 'submitted' && known.batch_id !== null) {
      track(known.batch_id);
    } else if (known.state === 'done' && known.updated_at < runStartedAt) {
      // A transient failure that was final for an earlier run: this run tries again, with a fresh budget.
      const stored = ledger.storedResult(scope, key);
      if (stored && isTransientFailure(stored) && ledger.reopenRequest(scope, key, now())) await addRequest(key, size);
    }
  };

  /** Another run took some of a batch's requests: their records wait on its batch, which `unblock` follows. */
  const tookElsewhere = () => {
    moved++;
    wake.notify();
  };

  /** Whether a record can come out now: it has its final answer or its error. */
  const answerable = (row: RecordRow | undefined) => row !== undefined && (row.error !== null || row.state === 'done');

  /**
   * Makes sure the records the emitter waits on will be answered: their batches are followed, and
   * their requests that wait for a batch (sent back by a release) are batched, all at once.
   */
  const unblock = async (rows: readonly RecordRow[]) => {
    let pending = false;
    for (const row of rows) {
      if (row.error || row.state === 'done' || row.key === null) continue;
      const request = ledger.request(scope, row.key);
      if (request?.state === 'submitted' && request.batch_id !== null) {
        track(request.batch_id);
      } else if (request?.state === 'pending' && !budgetExhausted) {
        pending = true;
        if (!filling.keySet.has(row.key)) await addRequest(row.key, payloadBytes(ledger.payload(scope, row.key)));
      }
    }
    if (pending && inputDone) await flush();
  };

  const fill = async () => {
    let seq = 0;
    for await (const record of source) {
      if (signal.aborted) break;
      recordsRead++;
      if (!record.error && record.key !== undefined && record.spec !== undefined && record.messages !== undefined) {
        await place(record as Ready);
      }
      pendingRecords.push({ seq: seq++, record });
      if (pendingRecords.length >= WRITE_CHUNK) writeBuffered();
      else writeTimer ??= setTimeout(writeBuffered, WRITE_DELAY_MS);
    }
    if (signal.aborted) return;
    writeBuffered();
    await flush();
  };

  const filled = fill().then(
    () => {
      inputDone = true;
      moved++;
      wake.notify();
    },
    fail,
  );

  try {
    let cursor = 0;
    let headWaits = false;
    let seenAnswered = -1;
    let seenMoved = -1;
    /** The record `unblock` last ran for, when it was at the head. */
    let unblockedAt = -1;
    for (;;) {
      if (failure) throw failure;
      if (signal.aborted) throw new BatchEnrichError('BE_ABORTED', 'Stopped before every record was answered', { cause: signal.reason });
      const waiting = wake.wait();
      // Results stored, but not the head's: nothing can come out yet (one row read, not a page).
      const headStill = headWaits && moved === seenMoved && (answered === seenAnswered || !answerable(ledger.records(scope, run, cursor, 1)[0]));
      if (headStill) {
        seenAnswered = answered;
        await waiting;
        continue;
      }
      const requestsMoved = moved !== seenMoved;
      seenAnswered = answered;
      seenMoved = moved;
      const rows = ledger.records(scope, run, cursor, WRITE_CHUNK);
      let blocked: number | undefined;
      for (const [index, row] of rows.entries()) {
        if (!answerable(row)) {
          if (budgetExhausted && row.state === 'pending' && (inputDone || !filling.keySet.has(row.key ?? ''))) {
            // Never submitted: the budget ran out. It comes out now, in its place, with that error.
            cursor = row.seq + 1;
            yield joinedOf(row, { type: 'budget_exceeded', message: `not submitted: the --max-cost budget of $${options.budget?.maxUsd} would be crossed` });
            continue;
          }
          blocked = index;
          break;
        }
        cursor = row.seq + 1;
        yield joinedOf(row, row.error ? (JSON.parse(row.error) as RecordError) : undefined);
      }
      headWaits = blocked !== undefined;
      if (!headWaits && rows.length === WRITE_CHUNK) continue;
      if (inputDone && cursor >= recordsRead) break;
      // Once for each record that comes to wait at the head, and again whenever requests moved.
      if (headWaits && (requestsMoved || cursor !== unblockedAt)) {
        unblockedAt = cursor;
        await unblock(rows.slice(blocked));
      }
      await waiting;
    }
  } finally {
    clearTimeout(filling.timer);
    clearTimeout(writeTimer);
    clearTimeout(deadlineTimer);
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onAbort);
    const stopped = options.signal?.aborted === true;
    if (!controller.signal.aborted) controller.abort();
    // When the consumer stops early the reader may be parked on a source that never ends (stdin);
    // it is not awaited then (its failure is already handled), and it writes nothing more.
    if (inputDone) await filled;
    // Every call in flight got the abort; still, a stop must not wait on one that ignores it.
    await settleWithin([...tracked.values(), flushing], STOP_WAIT_MS);
    if (stopped && options.cancelOnAbort) await cancelMine();
    finished = true;
    ledger.endRun(run);
  }

  async function cancelMine() {
    for (const [batchId, remoteId] of mine) {
      if (ledger.batch(batchId)?.state !== 'in_progress') continue;
      try {
        await client.messages.batches.cancel(remoteId);
        emit({ type: 'released', batchId: remoteId, requests: 0, reason: 'canceled on exit' });
      } catch (error) {
        emit({ type: 'retry', what: `cancel ${remoteId}`, message: errorText(error), delayMs: 0 });
      }
    }
  }
}

/** Waits for the promises to settle, or `ms` at most (the timer keeps the process alive meanwhile). */
async function settleWithin(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

/** A result, decided (see `decide`) and waiting to be stored. */
interface Decided {
  key: string;
  request: Waiting;
  /** The result as JSON, as stored. */
  text: string;
  verdict: Verdict;
}

/**
 * The `result` of a results-file line as JSON text: sliced out of the line when the line is exactly
 * `{"custom_id":…,"result":…}` (as the API writes it), so it is not serialized again; else
 * serialized from the parsed line.
 */
export function resultText(line: string, parsed: MessageBatchIndividualResponse): string {
  const prefix = `{"custom_id":${JSON.stringify(parsed.custom_id)},"result":`;
  const end = line.trimEnd();
  if (end.startsWith(prefix) && end.endsWith('}') && Object.keys(parsed).length === 2) return end.slice(prefix.length, -1);
  return JSON.stringify(parsed.result);
}

/** A ledger record row as the sink hands it on: the record, and its result or its error. */
function joinedOf(row: RecordRow, error: RecordError | undefined): JoinedRecord {
  return {
    seq: row.seq,
    line: row.line,
    data: JSON.parse(row.data) as Record<string, unknown>,
    key: row.key ?? undefined,
    error,
    result: row.result ? (JSON.parse(row.result) as MessageBatchResult) : undefined,
    attempts: row.attempts ?? 0,
    batchId: row.remote_id ?? undefined,
    customId: row.nonce && row.key ? customIdOf(row.nonce, row.key, row.label) : undefined,
  };
}

/** Bytes a request adds to a batch body (its `custom_id`, params, wrapper and comma). */
function requestBytes(key: string, label: string | null | undefined, specBytes: number, messages: string): number {
  return REQUEST_OVERHEAD_BYTES + Buffer.byteLength(key) + (label ? label.length + 1 : 0) + specBytes + Buffer.byteLength(messages);
}

function payloadBytes(payload: PayloadRow | undefined): number {
  if (!payload) return REQUEST_OVERHEAD_BYTES;
  return requestBytes(payload.key, payload.label, Buffer.byteLength(payload.head) + Buffer.byteLength(payload.tail), payload.messages);
}

function maxTokensOf(params: string): number {
  const match = /"max_tokens":(\d+)/.exec(params);
  return match ? Number(match[1]) : 0;
}

/** Requests read from the ledger at a time while a batch body is sent. */
const BODY_PAGE = 500;

/**
 * The batch body as a stream, read from the ledger a page at a time while it is sent: a batch of
 * up to 256 MB is never held in memory, not even once. (A prebuilt buffer would also be copied by
 * fetch.) Each create attempt gets a fresh stream.
 */
function batchBody(ledger: Ledger, batchId: number, nonce: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after = 0;
  let started = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const page = ledger.batchPage(batchId, after, BODY_PAGE);
        let text = started ? '' : '{"requests":[';
        for (const request of page) {
          const head = request.max_tokens === null ? request.head : withMaxTokens(request.head, request.max_tokens);
          text += `${started ? ',' : ''}${requestLine(customIdOf(nonce, request.key, request.label), `${head}${request.messages}${request.tail}`)}`;
          started = true;
          after = request.id;
        }
        if (page.length < BODY_PAGE) {
          controller.enqueue(encoder.encode(`${text}]}`));
          controller.close();
        } else {
          controller.enqueue(encoder.encode(text));
        }
      },
    },
    { highWaterMark: 1 },
  );
}

/** The shared params' head with another `max_tokens` (the head is `{"model":…,"max_tokens":N,…`). */
function withMaxTokens(head: string, maxTokens: number): string {
  return head.replace(/"max_tokens":\d+/, `"max_tokens":${maxTokens}`);
}
