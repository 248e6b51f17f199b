/**
 * The batching sink: prepared records in, joined records (record + its batch result) out, in input
 * order. It is one stage because the two halves share the ledger and must run at the same time:
 *
 *   source ─► [fill] ──create──► batch 1 ─poll─► results ─┐
 *               │    ──create──► batch 2 ─poll─► results ─┤  (ledger: records, requests, batches)
 *               └── records ─────────────────────────────►┴─► [emit in input order] ─► out
 *
 * - Fill: every record goes to the ledger (so memory stays flat); its request joins the batch being
 *   filled unless the ledger already has it (answered: served from the ledger; in a batch still
 *   running: that batch is polled again). A batch is submitted when it holds `batchSize` requests,
 *   when the next request would cross `maxBatchBytes`, or `flushAfterMs` after its first request. At
 *   most `maxInFlight` batches run at once; reading input waits for a free slot.
 * - Poll: one `retrieve` per batch per interval, with capped exponential backoff and jitter.
 * - Download: results are streamed (the SDK's JSONL decoder) into the ledger, joined by `custom_id`.
 * - Emit: records leave in input order as soon as their answer is in, so batch 1's results never
 *   wait for batch 2 to be submitted.
 *
 * Rejected alternative: `readable.map(submit, { concurrency })`. It keeps order but holds every
 * record of every batch in flight in memory, and it has no notion of a timer-driven partial flush.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIError, APIConnectionError } from '@anthropic-ai/sdk';
import type { MessageBatch, MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { BatchEnrichError } from '../errors.ts';
import { createBatch } from '../client/client.ts';
import { pollDelayMs, POLL_MAX_MS, POLL_MIN_MS, sleep } from '../core/backoff.ts';
import type { RecordError } from '../core/result.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { SourceRecord } from './read.ts';

/** The API's limits for one batch. */
export const MAX_BATCH_REQUESTS = 100_000;
/** 256 MB less a 5% margin for what we do not count exactly (headers, multi-byte rounding). */
export const MAX_BATCH_BYTES = Math.floor(256_000_000 * 0.95);
export const DEFAULT_FLUSH_AFTER_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT = 4;
/** A `404` on a batch we created less than this long ago is the API's propagation delay, not a loss. */
const FRESH_BATCH_404_MS = 120_000;
/** How many times a create refused with 429/529 is tried again before the run fails. */
const CREATE_ATTEMPTS = 6;
/** How many times an interrupted results download is started again. */
const DOWNLOAD_ATTEMPTS = 5;
/** Records and results are written to the ledger in transactions of this many rows. */
const WRITE_CHUNK = 1000;

/** A record ready for the sink: its request (`custom_id` and serialized body) or why it has none. */
export interface PreparedRecord extends SourceRecord {
  customId?: string | undefined;
  /** The serialized batch request `{"custom_id":…,"params":…}`. */
  body?: string | undefined;
}

/** A record joined with its result (absent when the record carries `error` instead). */
export interface JoinedRecord {
  seq: number;
  line: number;
  data: Record<string, unknown>;
  customId: string | undefined;
  error: RecordError | undefined;
  result: MessageBatchResult | undefined;
}

export type BatchEvent =
  | { type: 'submitted'; batchId: string; requests: number; bytes: number }
  | { type: 'reattached'; batchId: string }
  | { type: 'ended'; batchId: string; counts: MessageBatch['request_counts'] }
  | { type: 'retry'; what: string; message: string; delayMs: number };

export interface BatchSinkOptions {
  client: Anthropic;
  ledger: Ledger;
  /** The API identity (see `apiScope`); answers are reused only within it. */
  scope: string;
  /** The base URL, recorded with each batch. */
  baseUrl: string;
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
  onEvent?: ((event: BatchEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
  now?: (() => number) | undefined;
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
  ids: string[];
  idSet: Set<string>;
  bytes: number;
  timer: NodeJS.Timeout | undefined;
}

/** The sink as a `pipeline` stage: `(source) => AsyncGenerator<JoinedRecord>`. */
export function batchSink(options: BatchSinkOptions): (source: AsyncIterable<PreparedRecord>) => AsyncGenerator<JoinedRecord> {
  return (source) => runBatches(source, options);
}

async function* runBatches(source: AsyncIterable<PreparedRecord>, options: BatchSinkOptions): AsyncGenerator<JoinedRecord> {
  const { client, ledger, scope, baseUrl } = options;
  const batchSize = options.batchSize ?? MAX_BATCH_REQUESTS;
  const maxBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  const flushAfterMs = options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const pollMinMs = options.pollMinMs ?? POLL_MIN_MS;
  const pollMaxMs = options.pollMaxMs ?? POLL_MAX_MS;
  const now = options.now ?? Date.now;
  const emit = options.onEvent ?? (() => {});

  // Our own controller: aborted by the caller's signal, and by us when the consumer stops early.
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const signal = controller.signal;

  const run = ledger.startRun(now());
  const wake = new Wakeup();
  const tracked = new Map<number, Promise<void>>();
  let failure: unknown;
  let inputDone = false;
  let finished = false;
  let recordsRead = 0;
  let filling: Filling = { ids: [], idSet: new Set(), bytes: 0, timer: undefined };
  let flushing: Promise<void> = Promise.resolve();
  const pendingRecords: PreparedRecord[] = [];
  const pendingRequests: { customId: string; body: string }[] = [];

  const fail = (error: unknown) => {
    failure ??= error;
    controller.abort(error);
    wake.notify();
  };

  /** Writes buffered records and new requests in one transaction. */
  const writeBuffered = () => {
    if (finished || (pendingRecords.length === 0 && pendingRequests.length === 0)) return;
    const t = now();
    ledger.transaction(() => {
      for (const { customId, body } of pendingRequests) ledger.insertRequest(scope, customId, body, t);
      for (const r of pendingRecords) {
        ledger.insertRecord(run, r.seq, r.line, JSON.stringify(r.data), r.error ? null : (r.customId ?? null), r.error ? JSON.stringify(r.error) : null);
      }
    });
    pendingRecords.length = 0;
    pendingRequests.length = 0;
    wake.notify();
  };

  /** Starts polling a batch (once), downloading its results when it ends. */
  const track = (batchId: number) => {
    if (tracked.has(batchId)) return;
    const task = follow(batchId).then(
      () => {
        tracked.delete(batchId);
        wake.notify();
      },
      (error: unknown) => {
        tracked.delete(batchId);
        fail(error);
      },
    );
    tracked.set(batchId, task);
  };

  const follow = async (batchId: number) => {
    const row = ledger.batch(batchId);
    if (!row?.remote_id) throw new BatchEnrichError('BE_LEDGER', `Batch ${batchId} has no remote id in the ledger`);
    const remoteId = row.remote_id;
    let batch: MessageBatch | undefined;
    for (let attempt = 0; !batch; attempt++) {
      await sleep(pollDelayMs(attempt, pollMinMs, pollMaxMs), signal);
      if (signal.aborted) return;
      try {
        const seen = await client.messages.batches.retrieve(remoteId, {}, { signal });
        if (seen.processing_status === 'ended') batch = seen;
      } catch (error) {
        if (signal.aborted) return;
        const fresh404 = error instanceof APIError && error.status === 404 && now() - row.created_at < FRESH_BATCH_404_MS;
        if (!fresh404 && !isTransient(error)) throw apiFailure(error, `Polling batch ${remoteId} failed`, remoteId);
        emit({ type: 'retry', what: `poll ${remoteId}`, message: errorText(error), delayMs: pollDelayMs(attempt + 1, pollMinMs, pollMaxMs) });
      }
    }
    ledger.setBatch(batchId, remoteId, 'ended', now());
    emit({ type: 'ended', batchId: remoteId, counts: batch.request_counts });
    await download(batchId, remoteId);
    if (signal.aborted) return;
    // A request the results file did not mention: say so on the record instead of waiting forever.
    const missing = ledger.unanswered(batchId);
    if (missing.length > 0) {
      const result = JSON.stringify({
        type: 'errored',
        error: { type: 'error', error: { type: 'missing_result', message: `batch ${remoteId} returned no result for this request` }, request_id: null },
      });
      const t = now();
      ledger.transaction(() => {
        for (const customId of missing) ledger.saveResult(scope, batchId, customId, result, t);
      });
    }
    ledger.setBatch(batchId, remoteId, 'downloaded', now());
  };

  const download = async (batchId: number, remoteId: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const lines = await client.messages.batches.results(remoteId, {}, { signal });
        let chunk: { customId: string; result: string }[] = [];
        const save = () => {
          const t = now();
          ledger.transaction(() => {
            for (const { customId, result } of chunk) ledger.saveResult(scope, batchId, customId, result, t);
          });
          chunk = [];
          wake.notify();
        };
        for await (const line of lines) {
          chunk.push({ customId: line.custom_id, result: JSON.stringify(line.result) });
          if (chunk.length >= WRITE_CHUNK) save();
        }
        save();
        return;
      } catch (error) {
        if (signal.aborted) return;
        // A download cut off half way is fetched again; results already stored are not stored twice.
        if (attempt >= DOWNLOAD_ATTEMPTS || !(isTransient(error) || isCutDownload(error))) {
          throw apiFailure(error, `Downloading the results of batch ${remoteId} failed`, remoteId);
        }
        const delayMs = pollDelayMs(attempt, pollMinMs, pollMaxMs);
        emit({ type: 'retry', what: `results ${remoteId}`, message: errorText(error), delayMs });
        await sleep(delayMs, signal);
      }
    }
  };

  /** Submits the batch being filled (after waiting for a free slot). Serialized through `flushing`. */
  const flush = (): Promise<void> => {
    flushing = flushing.then(async () => {
      if (failure) return;
      writeBuffered();
      while (tracked.size >= maxInFlight && !signal.aborted) await Promise.race(tracked.values());
      if (signal.aborted) return;
      // Requests added while waiting for a slot must be in the ledger before the batch is opened.
      writeBuffered();
      const batch = filling;
      clearTimeout(batch.timer);
      filling = { ids: [], idSet: new Set(), bytes: 0, timer: undefined };
      if (batch.ids.length === 0) return;
      await submit(batch);
    });
    return flushing;
  };

  const submit = async (batch: Filling) => {
    const id = ledger.openBatch(scope, baseUrl, batch.ids, batch.bytes, now());
    const body = batchBody(ledger, id, batch.bytes);
    let created: MessageBatch | undefined;
    for (let attempt = 1; !created; attempt++) {
      try {
        created = await createBatch(client, body, signal);
      } catch (error) {
        if (signal.aborted) return;
        // 429 and 529 mean the API refused the call, so trying again cannot duplicate the batch.
        const refused = error instanceof APIError && (error.status === 429 || error.status === 529);
        if (!refused || attempt >= CREATE_ATTEMPTS) {
          ledger.setBatch(id, null, 'failed', now(), errorText(error));
          ledger.releaseBatch(id);
          throw apiFailure(error, `Creating a batch of ${batch.ids.length} requests failed`, undefined);
        }
        const delayMs = retryAfterMs(error) ?? pollDelayMs(attempt, pollMinMs, pollMaxMs);
        emit({ type: 'retry', what: 'create', message: errorText(error), delayMs });
        await sleep(delayMs, signal);
      }
    }
    ledger.setBatch(id, created.id, 'in_progress', now());
    emit({ type: 'submitted', batchId: created.id, requests: batch.ids.length, bytes: batch.bytes });
    track(id);
  };

  const addRequest = async (record: PreparedRecord & { customId: string; body: string }, size: number) => {
    if (filling.ids.length >= batchSize || filling.bytes + size + ENVELOPE_BYTES > maxBytes) await flush();
    if (filling.ids.length === 0) {
      filling.timer = setTimeout(() => void flush().catch(fail), flushAfterMs);
    }
    filling.ids.push(record.customId);
    filling.idSet.add(record.customId);
    filling.bytes += size;
  };

  /** Decides what a record's request needs: nothing (answered), a batch already running, or a place in the batch being filled. */
  const place = async (record: PreparedRecord & { customId: string; body: string }) => {
    if (filling.idSet.has(record.customId)) return;
    const size = Buffer.byteLength(record.body) + 1;
    if (size + ENVELOPE_BYTES > maxBytes) {
      record.error = { type: 'request_too_large', message: `line ${record.line}: the request is ${size} bytes, over the batch limit of ${maxBytes}` };
      return;
    }
    let known = ledger.requestState(scope, record.customId);
    if (known?.state === 'submitted' && known.batch_id !== null && !tracked.has(known.batch_id)) {
      const batchRow = ledger.batch(known.batch_id);
      if (batchRow?.remote_id && batchRow.state !== 'failed') {
        emit({ type: 'reattached', batchId: batchRow.remote_id });
        track(known.batch_id);
      } else {
        // Recorded before a create whose outcome was never learned (a crash mid-create). Until
        // orphan discovery lands, its requests go back to pending and are submitted again.
        if (batchRow) ledger.setBatch(batchRow.id, null, 'failed', now(), 'create outcome unknown');
        ledger.releaseBatch(known.batch_id);
        known = ledger.requestState(scope, record.customId);
      }
    }
    if (!known) {
      pendingRequests.push({ customId: record.customId, body: record.body });
      await addRequest(record, size);
    } else if (known.state === 'pending') {
      await addRequest(record, size);
    }
  };

  const fill = async () => {
    for await (const record of source) {
      if (signal.aborted) break;
      recordsRead++;
      if (!record.error && record.customId !== undefined && record.body !== undefined) {
        await place(record as PreparedRecord & { customId: string; body: string });
      }
      pendingRecords.push(record);
      if (pendingRecords.length >= WRITE_CHUNK) writeBuffered();
    }
    await flush();
    writeBuffered();
  };

  const filled = fill().then(
    () => {
      inputDone = true;
      wake.notify();
    },
    fail,
  );

  try {
    let cursor = 0;
    for (;;) {
      if (failure) throw failure;
      const waiting = wake.wait();
      const rows = ledger.records(scope, run, cursor, WRITE_CHUNK);
      let blocked = false;
      for (const row of rows) {
        if (!row.error && row.state !== 'done') {
          blocked = true;
          break;
        }
        cursor = row.seq + 1;
        yield {
          seq: row.seq,
          line: row.line,
          data: JSON.parse(row.data) as Record<string, unknown>,
          customId: row.custom_id ?? undefined,
          error: row.error ? (JSON.parse(row.error) as RecordError) : undefined,
          result: row.result ? (JSON.parse(row.result) as MessageBatchResult) : undefined,
        };
      }
      if (!blocked && rows.length === WRITE_CHUNK) continue;
      if (inputDone && cursor >= recordsRead) break;
      if (inputDone && tracked.size === 0 && blocked) {
        throw new BatchEnrichError('BE_BATCH_FAILED', `Record ${cursor + 1} is waiting on a request that no batch will answer`);
      }
      if (signal.aborted && !failure) {
        throw new BatchEnrichError('BE_ABORTED', 'Stopped before every record was answered', { cause: signal.reason });
      }
      await waiting;
    }
  } finally {
    clearTimeout(filling.timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (!controller.signal.aborted) controller.abort();
    // When the consumer stops early, the reader may be parked on a source that never ends (stdin);
    // it is not awaited then (its failure is already handled), and it writes nothing more.
    if (inputDone) await filled;
    await Promise.allSettled(tracked.values());
    finished = true;
    ledger.endRun(run);
  }
}

/** `{"requests":[` + `]}`: the bytes around the comma-joined request bodies. */
const ENVELOPE_BYTES = Buffer.byteLength('{"requests":[]}');

/** The batch body, built once into a buffer of exactly the counted size. */
function batchBody(ledger: Ledger, batchId: number, bytes: number): Buffer {
  const body = Buffer.allocUnsafe(bytes - 1 + ENVELOPE_BYTES);
  let offset = body.write('{"requests":[');
  let first = true;
  for (const { body: request } of ledger.batchBodies(batchId)) {
    if (!first) offset += body.write(',', offset);
    first = false;
    offset += body.write(request, offset);
  }
  offset += body.write(']}', offset);
  if (offset !== body.length) {
    throw new BatchEnrichError('BE_LEDGER', `Batch ${batchId} body is ${offset} bytes in the ledger, ${body.length} were counted`);
  }
  return body;
}

/** Errors worth another try later: connection problems, timeouts, 408/409/429/5xx. */
function isTransient(error: unknown): boolean {
  if (error instanceof APIConnectionError) return true;
  if (error instanceof APIError) return error.status === undefined || [408, 409, 429].includes(error.status) || error.status >= 500;
  return false;
}

/** A results stream that broke off (socket closed, truncated JSON line). */
function isCutDownload(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const code = (error as { code?: unknown; cause?: { code?: unknown } })?.code ?? (error as { cause?: { code?: unknown } })?.cause?.code;
  return typeof code === 'string' && /ECONNRESET|UND_ERR|ERR_STREAM_PREMATURE_CLOSE|EPIPE|terminated/i.test(code) || /terminated|aborted|socket/i.test(errorText(error));
}

function retryAfterMs(error: APIError): number | undefined {
  const value = error.headers?.get('retry-after');
  const seconds = value === null || value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function apiFailure(error: unknown, what: string, batchId: string | undefined): BatchEnrichError {
  if (error instanceof BatchEnrichError) return error;
  const status = error instanceof APIError ? error.status : undefined;
  const requestID = error instanceof APIError ? error.requestID : undefined;
  return new BatchEnrichError('BE_API', `${what}: ${errorText(error)}${requestID ? ` (request-id ${requestID})` : ''}`, {
    cause: error,
    ...(batchId ? { batchId } : {}),
    ...(status ? { status } : {}),
    ...(requestID ? { requestID } : {}),
  });
}
