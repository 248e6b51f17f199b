/**
 * The follower: takes one batch from wherever the ledger left it to its results. A batch another live
 * run is still creating is waited for; one whose creator died is resolved by proof (adopted, or its
 * requests released); a running one is polled until it ends (a 404 is a question, not an answer), then
 * downloaded.
 */
import { APIError } from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { apiFailure, errorText, isCutDownload, isTransient, withSignal } from '../client/errors.ts';
import type { BatchRow } from '../ledger/ledger.ts';
import { ledgerBusy } from '../ledger/store.ts';
import { findOurBatch, listBatches, ORPHAN_OTHER_CLOCK_MS, ORPHAN_SEARCH_MAX_MS, ORPHAN_SEARCH_POLLS, STILL_RUNNING, type AdoptionContext } from './adoption.ts';
import type { SinkContext } from './context.ts';
import { download, NOT_FOUND } from './download.ts';
import { BATCH_EXPIRY_MS, GONE_404S, GONE_AFTER_MS, NO_WAIT_UNREACHABLE_MS, notFoundNote, notFoundText, REALTIME_PREFIX } from './options.ts';
import type { Requeued, ResultRecorder } from './recorder.ts';
import { retryWait } from './retrying.ts';
import { plural } from '../core/text.ts';

/**
 * Puts a batch's unanswered requests back to pending and marks it failed; the emitter will batch them
 * again. Only from the state `row` was seen in: if another run moved the batch on meanwhile (adopted
 * it), nothing is released (and `released` is not called).
 */
export async function release(ctx: SinkContext, row: BatchRow, reason: string, nextRun = false, released?: () => void): Promise<undefined> {
  const count = await ctx.ledger.failBatch(row.id, ctx.opts.now(), reason, row.state);
  if (count !== undefined && count > 0) ctx.opts.emit({ type: 'released', batchId: row.remote_id, requests: count, reason, ...(nextRun ? { nextRun: true as const } : {}) });
  if (count !== undefined) released?.();
  ctx.pulse.move();
  return undefined;
}

/** `noWait`: a batch (row `batchId`, made at `madeAt`) left for a later try, and when it expires at the latest. */
export function defer(ctx: SinkContext, batchId: number, madeAt: number): void {
  ctx.deferred.set(batchId, new Date(madeAt + BATCH_EXPIRY_MS).toISOString());
}

/** The foreign batches a search of this run said were not ours (two searches at once met the same one, and it was said twice: helper-72). */
const saidNotOurs = new WeakMap<SinkContext, Set<string>>();

/** What the search for a batch whose create outcome was lost works with (see `adoption.ts`). */
export function adoptionContext(ctx: SinkContext): AdoptionContext {
  const said = saidNotOurs.get(ctx) ?? new Set<string>();
  saidNotOurs.set(ctx, said);
  return {
    client: ctx.client,
    ledger: ctx.ledger,
    signal: ctx.signal,
    now: ctx.opts.now,
    sleep: ctx.opts.sleep,
    delay: ctx.opts.retryDelay,
    minSearchMs: Math.min(ORPHAN_SEARCH_POLLS * ctx.opts.pollMinMs, ORPHAN_SEARCH_MAX_MS),
    run: ctx.run,
    rejected: (batchId) => {
      if (said.has(batchId)) return;
      said.add(batchId);
      ctx.opts.emit({ type: 'not-ours', batchId });
    },
    noWait: ctx.opts.noWait,
  };
}

/** Follows a batch to its end; resolves with the requests to batch again, or undefined (stopped, released, or followed elsewhere). */
export async function follow(ctx: SinkContext, recorder: ResultRecorder, batchId: number): Promise<Requeued | undefined> {
  const { ledger, signal, opts } = ctx;
  let row = await ledger.batch(batchId);
  // A batch another live run is creating: wait for it to get its remote id (or fail), and say whose it
  // is. So is a real-time group another live run is sending: only its run can answer it (released
  // here, its requests were sent again, each paid twice, and two runs released each other's groups
  // without end).
  for (let attempt = 0; row !== undefined && othersToAnswer(row) && row.run !== ctx.run && (await ledger.runAlive(row.run, opts.now())); attempt++) {
    // Whose it is, said once (with noWait too: helper-62 saw tries say only that records wait "from
    // 1 batch" for half a minute, for a batch whose run, killed on another host, was not dead yet).
    if (attempt === 0) {
      const other = await ledger.run(row.run);
      const t = opts.now();
      if (other) {
        const waits = { type: 'waiting', requests: row.request_count, run: other.id, host: other.host, pid: other.pid, ageMs: t - other.started_at, lastSeenMs: other.heartbeat_at === null ? null : t - other.heartbeat_at } as const;
        const sending = row.remote_id?.startsWith(REALTIME_PREFIX) ? ({ realtime: true } as const) : {};
        opts.emit({ ...waits, ...sending, ...(opts.noWait ? { deferred: true as const } : {}) });
      }
    }
    if (opts.noWait) {
      // Not ours to wait for: collected on a later run.
      defer(ctx, batchId, row.created_at);
      return undefined;
    }
    await opts.sleep(opts.retryDelay(attempt), signal);
    if (signal.aborted) return undefined;
    row = await ledger.batch(batchId);
  }
  if (!row) {
    // Gone from the ledger (a gc of an older release, a hand): it can answer nothing for the requests
    // still pointing at it. Sent back, they are batched again; left, the run would wait on them for ever.
    if ((await ledger.releaseLost(batchId)) > 0) ctx.pulse.move();
    return undefined;
  }
  // This run's own batch still being created is its submitter's: resolved by it (created, or
  // released), never here, where it would look like a lost create.
  if (row.state === 'creating' && row.run === ctx.run) return undefined;
  let resultsUrl: string | null = null;
  if (row.state === 'creating') {
    // Its creator died before learning the outcome: find the batch, proven ours, or submit its requests
    // again. Its last attempt ended by its last heartbeat at the latest.
    const creator = await ledger.run(row.run);
    const proven = await findOurBatch(adoptionContext(ctx), row, creator?.heartbeat_at ?? row.created_at);
    if (signal.aborted) return undefined;
    if (proven === STILL_RUNNING) {
      // `noWait`: what may be its batch still runs: a later try looks again.
      defer(ctx, batchId, row.created_at);
      return undefined;
    }
    if (!proven) return release(ctx, row, 'its create never reached the API');
    if (!(await ledger.setRemote(row.id, proven.batch.id, opts.now()))) return undefined; // another run resolved it first, and follows it
    await ledger.setBatchState(row.id, 'ended', opts.now());
    opts.emit({ type: 'adopted', batchId: proven.batch.id, requests: row.request_count });
    resultsUrl = proven.resultsUrl;
    row = (await ledger.batch(batchId)) ?? row;
  }
  if (row.state === 'failed' || !row.remote_id) return release(ctx, row, row.error ?? row.state);
  if (row.remote_id.startsWith(REALTIME_PREFIX)) {
    // Answered by its run: nothing to download.
    if (row.state === 'downloaded') return undefined;
    // Real-time requests that were in flight when their run stopped: their answers were never stored.
    return release(ctx, row, 'real-time requests in flight when the run stopped');
  }
  if (row.run !== ctx.run && resultsUrl === null) {
    const live = await ledger.runAlive(row.run, opts.now());
    opts.emit({ type: 'following', batchId: row.remote_id, requests: row.request_count, ...(live ? { live } : {}) });
  }
  // Polled while running, and again when the download finds the batch answering 404 (`NOT_FOUND`).
  const remoteId = row.remote_id;
  for (let running = row.state === 'in_progress'; ; running = true) {
    if (running) {
      const ended = await poll(ctx, row, remoteId, row.state !== 'in_progress');
      if (ended === undefined) return undefined;
      resultsUrl = ended;
    }
    const done = await download(ctx, recorder, row, remoteId, resultsUrl);
    if (done !== NOT_FOUND) return done;
    // Downloaded or released by another run meanwhile: nothing more to do here. Gone from the ledger:
    // its requests are sent back, as at the top.
    const fresh = await ledger.batch(batchId);
    if (!fresh) {
      if ((await ledger.releaseLost(batchId)) > 0) ctx.pulse.move();
      return undefined;
    }
    if (fresh.state === 'downloaded' || fresh.state === 'failed') return undefined;
    row = fresh;
  }
}

/** A batch only its creator's run can take further: being created, or a real-time group being sent. */
const othersToAnswer = (row: BatchRow) => row.state === 'creating' || (row.state === 'in_progress' && row.remote_id?.startsWith(REALTIME_PREFIX) === true);

/**
 * Polls a running batch until it ends; resolves with its `results_url`, or undefined when stopped or
 * released (gone). Polls back off up to `pollMaxMs`; a failed poll is tried again within a minute.
 * `again`: an ended batch whose download found it answering 404, polled after a wait even with `noWait`.
 */
async function poll(ctx: SinkContext, row: BatchRow, remoteId: string, again: boolean): Promise<string | null | undefined> {
  const { client, ledger, signal, opts, mode } = ctx;
  // The deadline cuts a wait of up to 15 minutes short (the batches it cancels end soon), and the
  // polls after it start again from the shortest interval.
  const deadline = mode.deadlineSignal;
  let deadlineSeen = deadline === undefined || deadline.aborted;
  const deadlineNews = () => !deadlineSeen && (deadlineSeen = deadline?.aborted === true);
  /** Polls that answered, failures in a row, and the wait after the last failure (said in its `retry` event). */
  let polls = 0;
  let failures = 0;
  let failedWait = 0;
  /** This run's first 404 for the batch in the current series, and how many since. */
  let first404: number | undefined;
  let count404 = 0;
  /** When the polls began to fail (`noWait` gives up on a batch after `NO_WAIT_UNREACHABLE_MS` of failures). */
  let failingSince: number | undefined;
  for (;;) {
    if (deadlineNews()) polls = 0; // it passed during the last retrieve
    // `noWait` polls at once, but not a batch polled `again` (its download found it answering 404).
    const wait = failures > 0 ? failedWait : opts.noWait && polls === 0 && !again ? 0 : opts.pollDelay(polls);
    await opts.sleep(wait, deadlineSeen || !deadline ? signal : AbortSignal.any([signal, deadline]));
    if (signal.aborted) return undefined;
    if (deadlineNews()) polls = -1; // the wait was cut short: poll now, then from the shortest interval
    // The retrieve alone is classified as the API's: a ledger failure after it is the ledger's, said as such.
    let seen: MessageBatch;
    try {
      seen = await withSignal(signal, (s) => client.messages.batches.retrieve(remoteId, {}, { signal: s }));
    } catch (error) {
      if (signal.aborted) return undefined;
      ctx.reach.reached(error);
      failures++;
      failedWait = retryWait(ctx, error, opts.retryDelay(failures));
      if (error instanceof APIError && error.status === 404 && opts.noWait) {
        // A scheduler's try polls once (helper-75: six minutes of 404s outlived a task's timeout): the
        // 404s are counted across tries, in the ledger, and the batch is left to a later try until they
        // have lasted as long as a waiting run's would.
        const current = await ledger.batch(row.id);
        const noted = notFoundNote(current?.error ?? null);
        const since = noted?.since ?? opts.now();
        const times = (noted?.times ?? 0) + 1;
        if (!(times >= GONE_404S && opts.now() - since >= GONE_AFTER_MS)) {
          // In its own state (`ended` too: one whose download found it answering 404): only the note changes.
          await ledger.setBatchState(row.id, current?.state ?? row.state, opts.now(), notFoundText(since, times));
          opts.emit({ type: 'retry', what: `poll ${remoteId} (${ctx.reach.host})`, message: `not found (404), ${plural(times, 'time')} since ${new Date(since).toISOString()}: the API may not show it yet, or it is gone (said once 404s have lasted ${GONE_AFTER_MS / 60_000} minutes and the list does not show it)`, delayMs: 0, later: true });
          ctx.deferred.set(row.id, new Date(row.created_at + BATCH_EXPIRY_MS).toISOString());
          return undefined;
        }
        first404 = since;
        count404 = times;
      }
      if (error instanceof APIError && error.status === 404) {
        first404 ??= opts.now();
        count404++;
        if (count404 >= GONE_404S && opts.now() - first404 >= GONE_AFTER_MS) {
          const listed = await stillListed(ctx, remoteId, row.created_at);
          if (signal.aborted) return undefined;
          if (listed === false) {
            return release(ctx, row, `batch ${remoteId} is no longer known to the API (404 for ${Math.round((opts.now() - first404) / 60_000)} minutes, and not in the list)`);
          }
          if (opts.noWait) {
            // Listed (or the list unreadable): a later try asks again, its 404s counted afresh.
            await ledger.setBatchState(row.id, (await ledger.batch(row.id))?.state ?? row.state, opts.now(), '');
            ctx.deferred.set(row.id, new Date(row.created_at + BATCH_EXPIRY_MS).toISOString());
            return undefined;
          }
          first404 = undefined;
          count404 = 0;
        }
      } else if (!(isTransient(error) || (isCutDownload(error) && !ledgerBusy(error))) || (opts.noWait && opts.now() - (failingSince ??= opts.now()) >= NO_WAIT_UNREACHABLE_MS)) {
        // An answer broken off half way (helper-66: one ended an hours-long run) is tried again, as a 5xx
        // is; not the ledger's "Connection terminated" (its own failure, said as the ledger's; helper-67).
        // Refused for what it is, or (a scheduler's try) refused for a minute: its next try polls again.
        throw apiFailure(error, `Polling batch ${remoteId} failed`, remoteId);
      }
      opts.emit({ type: 'retry', what: `poll ${remoteId} (${ctx.reach.host})`, message: errorText(error), delayMs: failedWait });
      continue;
    }
    ctx.reach.reached();
    polls++;
    failures = 0;
    failingSince = undefined;
    first404 = undefined;
    count404 = 0;
    // It answers again: the 404s an earlier --no-wait try counted in the ledger are over.
    const current = notFoundNote(row.error) || opts.noWait ? await ledger.batch(row.id) : undefined;
    if (current && notFoundNote(current.error)) await ledger.setBatchState(row.id, current.state, opts.now(), '');
    if (seen.processing_status === 'ended') {
      await ledger.setBatchState(row.id, 'ended', opts.now());
      opts.emit({ type: 'ended', batchId: remoteId, counts: seen.request_counts });
      return seen.results_url;
    }
    if (opts.noWait) {
      // Polled once and still running: collected by a later run (`noWait`).
      ctx.deferred.set(row.id, seen.expires_at);
      return undefined;
    }
  }
}

/** Whether the API's list shows a batch: true, false, or undefined when the list could not be read. */
async function stillListed(ctx: SinkContext, remoteId: string, createdAt: number): Promise<boolean | undefined> {
  try {
    return await withSignal(ctx.signal, async (s) => {
      // `createdAt` is on our clock, the list's on the API's.
      const { batches, ahead } = await listBatches(ctx.client, ctx.opts.now, s);
      for await (const batch of batches) {
        if (batch.id === remoteId) return true;
        if (Date.parse(batch.created_at) < createdAt + Math.min(0, ahead) - ORPHAN_OTHER_CLOCK_MS) break; // newest first; widened, as in `adoption.ts`
      }
      return false;
    });
  } catch {
    return undefined;
  }
}
