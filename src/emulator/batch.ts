/**
 * The batch state machine and store, with no HTTP in it.
 *
 * State is a function of the injected clock, evaluated lazily on every access (no timers):
 *  - `in_progress` until `created_at + processingMs`, then `ended` (processingMs 0: the first
 *    access after create already sees `ended`; create's own response is rendered `in_progress`);
 *  - cancel at time c → `canceling` until `c + cancelingMs`, then `ended`; requests whose
 *    (deterministic, evenly spread) processing time falls after c are `canceled`;
 *  - at `expires_at` (created + 24 h) an unfinished batch ends; unprocessed requests are `expired`;
 *  - at created + 29 days `archived_at` is set and results are gone (404);
 *  - with an upstream, processing is real async work: the batch ends when every forwarded request
 *    has settled (or at expiry / after a cancel, once in-flight requests settle).
 * When a batch is first seen `ended`, it is finalized once: per-request outcomes are decided (faults,
 * per-request validation, responder calls) and stored compactly; default answers are stored as a
 * marker and regenerated deterministically while streaming, so a 100k download stays flat in memory.
 * Rejected alternative: timers flipping state, which would make tests wait and drift with a fake clock.
 */
import { ApiError } from './api-error.ts';
import type { ApiErrorBody, CacheUse, Message, Responder, ResponderResult } from './answer.ts';
import { buildMessage, checkedResponderResult, promptTokens } from './answer.ts';
import { hash53, IdGenerator, permutation, rngFor, unitHash } from './random.ts';
import { checkParams } from './params.ts';
import type { BatchRequest } from './validate.ts';
import { checkDocuments } from './documents.ts';
import type { FileStore } from './files.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const EXPIRY_MS = DAY_MS;
export const ARCHIVE_MS = 29 * DAY_MS;

export type ProcessingStatus = 'in_progress' | 'canceling' | 'ended';

export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

/** The API's `MessageBatch` object. */
export interface MessageBatchView {
  id: string;
  type: 'message_batch';
  processing_status: ProcessingStatus;
  request_counts: RequestCounts;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

/** What a forwarded request came back as. */
export type ForwardOutcome = { ok: true; message: Message } | { ok: false; error: ApiErrorBody };

/** Forwards one request's params upstream (upstream.ts); `auth` carries the caller's headers. */
export type Forwarder = (params: Record<string, unknown>, auth: ForwardAuth) => Promise<ForwardOutcome>;

export interface ForwardAuth {
  apiKey: string | undefined;
  version: string;
  /** The `anthropic-beta` values of the call (they raise limits such as `max_tokens`). */
  betas?: readonly string[];
  /** Whether the call was made on the `?beta=true` surface (its params are `BetaCreateMessageParams`). */
  beta?: boolean;
}

type Outcome =
  | { t: 'gen'; cache: CacheUse }
  | { t: 'resp'; r: ResponderResult; cache: CacheUse }
  | { t: 'msg'; message: Message }
  | { t: 'err'; error: ApiErrorBody }
  | { t: 'canceled' }
  | { t: 'expired' };

const GEN_READ: Outcome = { t: 'gen', cache: 'read' };
const GEN_CREATE: Outcome = { t: 'gen', cache: 'creation' };
const CANCELED: Outcome = { t: 'canceled' };
const EXPIRED: Outcome = { t: 'expired' };

interface UpstreamRun {
  outcomes: Array<Outcome | undefined>;
  next: number;
  inFlight: number;
  stopped: boolean;
  doneAt: number | null;
}

interface Finalized {
  outcomes: Outcome[];
  counts: RequestCounts;
}

export interface BatchRecord {
  readonly id: string;
  readonly seq: number;
  /** Who may see the batch (a digest of the creating key); undefined: anyone. */
  readonly owner: string | undefined;
  readonly createdAt: number;
  readonly processingMs: number;
  readonly version: string;
  /** The create call's `anthropic-beta` values: they apply to every request of the batch. */
  readonly betas: readonly string[];
  /** Whether the batch was created on the `?beta=true` surface: its requests are checked as beta params. */
  readonly beta: boolean;
  readonly requests: BatchRequest[];
  cancelInitiatedAt: number | null;
  deleted: boolean;
  retrieves: number;
  /** Results downloads asked for after its end (`transient404` fails the first). */
  resultsFetches: number;
  upstream: UpstreamRun | undefined;
  final: Finalized | undefined;
  finalizing: Promise<Finalized> | undefined;
}

export interface StoreConfig {
  seed: number;
  /** See `EmulatorOptions.idSalt`. */
  idSalt?: string | undefined;
  now: () => number;
  processingMs: number;
  cancelingMs: number;
  erroredRate: number;
  erroredType: string;
  expiredRate: number;
  responder: Responder | undefined;
  /** The Files API store, for `file` sources of document and image blocks. */
  files?: FileStore | undefined;
  forward: Forwarder | undefined;
  upstreamConcurrency: number;
}

export interface ListQuery {
  limit: number;
  before_id?: string | undefined;
  after_id?: string | undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Pure pagination over newest-first items, as the SDK's `Page` expects (see core/pagination.js). `what` names the
 * items in the error for a cursor naming none (the batches list's, and the models list's).
 */
export function paginate<T extends { id: string; seq: number }>(
  newestFirst: readonly T[],
  query: ListQuery,
  seqOf: (id: string) => number | undefined,
  what = 'Message Batch',
): { data: T[]; has_more: boolean; first_id: string | null; last_id: string | null } {
  let data: T[];
  let hasMore: boolean;
  // A cursor naming no item: 400 (UNCONFIRMED; README, emulator section).
  if (query.after_id !== undefined) {
    const cursor = seqOf(query.after_id);
    if (cursor === undefined) throw new ApiError(400, 'invalid_request_error', `after_id: no ${what} with id '${query.after_id}'`);
    const older = newestFirst.filter((b) => b.seq < cursor);
    data = older.slice(0, query.limit);
    hasMore = older.length > query.limit;
  } else if (query.before_id !== undefined) {
    const cursor = seqOf(query.before_id);
    if (cursor === undefined) throw new ApiError(400, 'invalid_request_error', `before_id: no ${what} with id '${query.before_id}'`);
    const newer = newestFirst.filter((b) => b.seq > cursor);
    data = newer.slice(Math.max(0, newer.length - query.limit));
    hasMore = newer.length > query.limit;
  } else {
    data = newestFirst.slice(0, query.limit);
    hasMore = newestFirst.length > query.limit;
  }
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
}

export class BatchStore {
  readonly #cfg: StoreConfig;
  readonly #ids: IdGenerator;
  readonly #batches = new Map<string, BatchRecord>();
  #seq = 0;

  constructor(cfg: StoreConfig) {
    this.#cfg = cfg;
    this.#ids = new IdGenerator(cfg.seed, cfg.idSalt);
  }

  /** Every batch id ever created (including deleted ones), oldest first. */
  ids(): string[] {
    return [...this.#batches.keys()];
  }

  /** Creates a batch from validated requests; `processingMs` overrides the default per batch. */
  create(requests: BatchRequest[], version: string, auth: ForwardAuth, owner?: string, processingMs?: number): BatchRecord {
    const rec: BatchRecord = {
      id: this.#ids.next('msgbatch'),
      seq: ++this.#seq,
      owner,
      createdAt: this.#cfg.now(),
      processingMs: processingMs ?? this.#cfg.processingMs,
      version,
      betas: auth.betas ?? [],
      beta: auth.beta ?? false,
      requests,
      cancelInitiatedAt: null,
      deleted: false,
      retrieves: 0,
      resultsFetches: 0,
      upstream: undefined,
      final: undefined,
      finalizing: undefined,
    };
    this.#batches.set(rec.id, rec);
    if (this.#cfg.forward) this.#startUpstream(rec, this.#cfg.forward, auth);
    return rec;
  }

  /** A live (not deleted) batch of `owner`, or a 404 `not_found_error` (another owner's batch is not found). */
  get(id: string, owner?: string): BatchRecord {
    const rec = this.#batches.get(id);
    if (!rec || rec.deleted || (owner !== undefined && rec.owner !== owner)) throw new ApiError(404, 'not_found_error', `Message Batch ${id} not found`);
    return rec;
  }

  /** `owner`'s live batches, newest first. */
  list(owner: string | undefined, query: ListQuery): { data: BatchRecord[]; has_more: boolean; first_id: string | null; last_id: string | null } {
    const visible = (b: BatchRecord) => owner === undefined || b.owner === owner;
    const live = [...this.#batches.values()].filter((b) => !b.deleted && visible(b)).reverse();
    return paginate(live, query, (id) => {
      const b = this.#batches.get(id);
      return b && visible(b) ? b.seq : undefined;
    });
  }

  /** When the batch ends (ms), or null while that is not yet known (upstream still working). */
  endedAt(rec: BatchRecord): number | null {
    const expiresAt = rec.createdAt + EXPIRY_MS;
    let end: number | null;
    if (rec.upstream) {
      end = rec.upstream.doneAt;
    } else {
      end = rec.createdAt + rec.processingMs;
      if (rec.cancelInitiatedAt !== null) end = Math.min(end, rec.cancelInitiatedAt + this.#cfg.cancelingMs);
    }
    if (end === null || end > expiresAt) end = expiresAt;
    return end;
  }

  status(rec: BatchRecord, now = this.#cfg.now()): ProcessingStatus {
    const end = this.endedAt(rec);
    if (end !== null && now >= end) return 'ended';
    return rec.cancelInitiatedAt !== null ? 'canceling' : 'in_progress';
  }

  /** Ensures an ended batch is finalized (responder called, outcomes fixed). Idempotent. */
  async settle(rec: BatchRecord): Promise<void> {
    if (rec.final || this.status(rec) !== 'ended') return;
    rec.finalizing ??= this.#finalize(rec);
    rec.final = await rec.finalizing;
  }

  /** The `MessageBatch` object for a record at the current time (call `settle` first). */
  view(rec: BatchRecord, baseUrl: string, forceStatus?: ProcessingStatus): MessageBatchView {
    const now = this.#cfg.now();
    const status = forceStatus ?? this.status(rec, now);
    const n = rec.requests.length;
    const ended = status === 'ended';
    const end = this.endedAt(rec);
    const archived = now >= rec.createdAt + ARCHIVE_MS;
    const counts: RequestCounts =
      ended && rec.final
        ? { ...rec.final.counts }
        : { processing: n, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    return {
      id: rec.id,
      type: 'message_batch',
      processing_status: status,
      request_counts: counts,
      created_at: iso(rec.createdAt),
      expires_at: iso(rec.createdAt + EXPIRY_MS),
      ended_at: ended && end !== null ? iso(end) : null,
      cancel_initiated_at: rec.cancelInitiatedAt !== null ? iso(rec.cancelInitiatedAt) : null,
      archived_at: archived ? iso(rec.createdAt + ARCHIVE_MS) : null,
      results_url: ended ? `${baseUrl}/v1/messages/batches/${rec.id}/results` : null,
    };
  }

  /**
   * Cancels a batch: `canceling` with `cancel_initiated_at`. On a batch that already ended (or is
   * already canceling) it is a no-op that returns the batch as it is (the API's behaviour there is
   * UNCONFIRMED; a no-op keeps cancel-on-abort races harmless for clients).
   */
  cancel(rec: BatchRecord): ProcessingStatus {
    const now = this.#cfg.now();
    const status = this.status(rec, now);
    if (status !== 'in_progress') return status;
    rec.cancelInitiatedAt = now;
    if (rec.upstream) {
      rec.upstream.stopped = true;
      if (rec.upstream.inFlight === 0) rec.upstream.doneAt = now;
    }
    return this.status(rec, now) === 'ended' && this.#cfg.cancelingMs > 0 ? 'ended' : 'canceling';
  }

  /** Deletes an ended batch [DOC §2.2: "Message Batches can only be deleted once they've finished processing"; §9: "Delete: only when `ended`"]; 400 `invalid_request_error` otherwise (UNCONFIRMED: how the API refuses it; README, emulator section). */
  delete(rec: BatchRecord): void {
    const status = this.status(rec);
    if (status !== 'ended')
      throw new ApiError(
        400,
        'invalid_request_error',
        `Message Batch ${rec.id} cannot be deleted while its processing_status is ${status}; cancel it and wait for it to end first`,
      );
    rec.deleted = true;
  }

  /**
   * Checks that results can be downloaded. Before `ended`: 400 `invalid_request_error` (chosen over
   * 404 because the batch exists; the SDK never gets here since `results_url` is null until then).
   * After archiving (29 days): 404 `not_found_error`.
   */
  assertResultsAvailable(rec: BatchRecord): void {
    const now = this.#cfg.now();
    const status = this.status(rec, now);
    if (status !== 'ended')
      throw new ApiError(400, 'invalid_request_error', `Message Batch ${rec.id} has not finished processing (processing_status: ${status}); results are available once it has ended`);
    if (now >= rec.createdAt + ARCHIVE_MS)
      throw new ApiError(404, 'not_found_error', `Results for Message Batch ${rec.id} are no longer available: the batch was archived 29 days after creation`);
  }

  /** The results lines' order: deterministically shuffled per batch. */
  resultOrder(rec: BatchRecord): Uint32Array {
    return permutation(rec.requests.length, rngFor(this.#cfg.seed, 'order', rec.id));
  }

  /** One results line (JSON, no newline) for request `index` of a finalized batch. */
  resultLine(rec: BatchRecord, index: number): string {
    const fin = rec.final;
    if (!fin) throw new Error(`batch ${rec.id} is not finalized`);
    const req = rec.requests[index] as BatchRequest;
    const outcome = fin.outcomes[index] as Outcome;
    return JSON.stringify({ custom_id: req.custom_id, result: this.#renderOutcome(rec, req, outcome) });
  }

  #renderOutcome(rec: BatchRecord, req: BatchRequest, o: Outcome): unknown {
    switch (o.t) {
      case 'canceled':
        return { type: 'canceled' };
      case 'expired':
        return { type: 'expired' };
      case 'err':
        return errored(o.error);
      case 'msg':
        return { type: 'succeeded', message: o.message };
      case 'gen':
      case 'resp': {
        const built = buildMessage({
          params: req.params,
          seed: this.#cfg.seed,
          key: `${rec.id}\u0000${req.custom_id}`,
          serviceTier: 'batch',
          cacheUse: o.cache,
          responderResult: o.t === 'resp' ? o.r : undefined,
        });
        return built.ok ? { type: 'succeeded', message: built.message } : errored(built.error);
      }
    }
  }

  /** Decides what happens to request i before any answer is produced (timing, faults, validation). */
  #preOutcome(rec: BatchRecord, i: number, processedByTime: boolean, unprocessed: Outcome): Outcome | undefined {
    const req = rec.requests[i] as BatchRequest;
    if (!processedByTime) return unprocessed;
    const cfg = this.#cfg;
    if (cfg.expiredRate > 0 && unitHash(cfg.seed, 'expired', rec.id, req.custom_id) < cfg.expiredRate) return EXPIRED;
    if (cfg.erroredRate > 0 && unitHash(cfg.seed, 'errored', rec.id, req.custom_id) < cfg.erroredRate)
      return { t: 'err', error: { type: cfg.erroredType, message: faultMessage(cfg.erroredType) } };
    // Validated when the request is processed (as the API does), at the batch's creation time, so that a
    // model retired while the batch ran still answers the way it would have at submission.
    const problem = checkParams(req.params, { context: 'batch', version: rec.version, betas: rec.betas, beta: rec.beta, now: rec.createdAt, upstreamModels: cfg.forward !== undefined, files: cfg.files });
    if (problem !== undefined) return { t: 'err', error: problem };
    // Document and image blocks: their sources (files of this key, base64 that decodes, media types) and limits.
    const documentProblem = checkDocuments(req.params, cfg.files).problem;
    if (documentProblem !== undefined) return { t: 'err', error: { type: 'invalid_request_error', message: documentProblem } };
    return undefined;
  }

  async #finalize(rec: BatchRecord): Promise<Finalized> {
    const n = rec.requests.length;
    const outcomes: Outcome[] = new Array<Outcome>(n);
    const end = this.endedAt(rec) as number;
    if (rec.upstream) {
      // Settled forwarded requests keep their outcome; the rest were never sent (or are discarded).
      const unprocessed = rec.cancelInitiatedAt !== null && rec.cancelInitiatedAt < rec.createdAt + EXPIRY_MS ? CANCELED : EXPIRED;
      for (let i = 0; i < n; i++) outcomes[i] = rec.upstream.outcomes[i] ?? unprocessed;
      rec.upstream.stopped = true;
    } else {
      // Request i "finishes" at an evenly spread, shuffled point of the processing window.
      const rank = rec.processingMs > 0 ? permutation(n, rngFor(this.#cfg.seed, 'rank', rec.id)) : undefined;
      const cutoff = end;
      const byCancel = rec.cancelInitiatedAt !== null && end < rec.createdAt + rec.processingMs && end < rec.createdAt + EXPIRY_MS;
      const cancelCut = rec.cancelInitiatedAt ?? end;
      const unprocessed = byCancel ? CANCELED : EXPIRED;
      const prefixFirst = new Set<number>();
      for (let i = 0; i < n; i++) {
        const finishAt = rank ? rec.createdAt + (rec.processingMs * ((rank[i] as number) + 1)) / n : rec.createdAt;
        const processed = byCancel ? finishAt <= cancelCut : finishAt <= cutoff;
        const pre = this.#preOutcome(rec, i, processed, unprocessed);
        if (pre) {
          outcomes[i] = pre;
          continue;
        }
        const req = rec.requests[i] as BatchRequest;
        const { prefixKey } = promptTokens(req.params);
        let cache: CacheUse = 'read';
        if (prefixKey !== undefined) {
          const h = hash53(prefixKey);
          if (!prefixFirst.has(h)) {
            prefixFirst.add(h);
            cache = 'creation';
          }
        }
        let r: ResponderResult | undefined;
        try {
          if (this.#cfg.responder) r = checkedResponderResult(await this.#cfg.responder({ custom_id: req.custom_id, params: req.params, documents: checkDocuments(req.params, this.#cfg.files).documents }));
        } catch (error) {
          // A bug in a user's responder (helper-88: every retrieve a 500, and the run waited forever
          // without a word): its request is errored, carrying what it threw.
          r = { error: { type: 'api_error', message: `the emulator's responder threw: ${error instanceof Error ? error.message : String(error)}` } };
        }
        if (r === undefined) outcomes[i] = cache === 'creation' ? GEN_CREATE : GEN_READ;
        else if (typeof r === 'object' && 'error' in r) outcomes[i] = { t: 'err', error: { ...r.error } };
        else outcomes[i] = { t: 'resp', r, cache };
      }
    }
    const counts: RequestCounts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    for (const o of outcomes) {
      if (o.t === 'canceled') counts.canceled++;
      else if (o.t === 'expired') counts.expired++;
      else if (o.t === 'err') counts.errored++;
      else counts.succeeded++;
    }
    return { outcomes, counts };
  }

  #startUpstream(rec: BatchRecord, forward: Forwarder, auth: ForwardAuth): void {
    const n = rec.requests.length;
    const run: UpstreamRun = { outcomes: new Array<Outcome | undefined>(n), next: 0, inFlight: 0, stopped: false, doneAt: null };
    rec.upstream = run;
    const finishOne = () => {
      run.inFlight--;
      if ((run.next >= n || run.stopped) && run.inFlight === 0 && run.doneAt === null) run.doneAt = this.#cfg.now();
      pump();
    };
    const pump = () => {
      while (!run.stopped && run.next < n && run.inFlight < this.#cfg.upstreamConcurrency) {
        if (this.#cfg.now() >= rec.createdAt + EXPIRY_MS) {
          run.stopped = true;
          break;
        }
        const i = run.next++;
        const pre = this.#preOutcome(rec, i, true, EXPIRED);
        if (pre) {
          run.outcomes[i] = pre;
          continue;
        }
        const req = rec.requests[i] as BatchRequest;
        run.inFlight++;
        forward(req.params, auth).then(
          (res) => {
            if (res.ok) run.outcomes[i] = { t: 'msg', message: { ...res.message, usage: { ...res.message.usage, service_tier: 'batch' } } };
            else run.outcomes[i] = { t: 'err', error: res.error };
            finishOne();
          },
          (error: unknown) => {
            run.outcomes[i] = { t: 'err', error: { type: 'api_error', message: `upstream request failed: ${error instanceof Error ? error.message : String(error)}` } };
            finishOne();
          },
        );
      }
      if ((run.next >= n || run.stopped) && run.inFlight === 0 && run.doneAt === null) run.doneAt = this.#cfg.now();
    };
    pump();
  }
}

function errored(error: ApiErrorBody): unknown {
  return { type: 'errored', error: { type: 'error', error: { type: error.type, message: error.message }, request_id: null } };
}

function faultMessage(type: string): string {
  switch (type) {
    case 'overloaded_error':
      return 'Overloaded';
    case 'api_error':
      return 'Internal server error';
    case 'rate_limit_error':
      return 'Rate limited';
    default:
      return `Injected fault: ${type}`;
  }
}
