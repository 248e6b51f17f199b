/**
 * The download: a batch's results streamed from its `results_url` into the ledger, decided as they
 * arrive and stored a chunk at a time. A download that breaks off is fetched again; what was stored
 * is not stored twice. Requests the results file does not mention are tried again or answered with
 * `missing_result`.
 */
import { APIError } from '@anthropic-ai/sdk';
import type { MessageBatchIndividualResponse, MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { resultLines } from '../client/client.ts';
import { apiFailure, isCutDownload, isTransient, withSignal } from '../client/errors.ts';
import { keyOf } from '../core/request.ts';
import { BatchEnrichError } from '../errors.ts';
import type { BatchRow } from '../ledger/ledger.ts';
import { resultText } from './body.ts';
import type { SinkContext } from './context.ts';
import { ARCHIVED, DOWNLOAD_ATTEMPTS, RESULT_CHUNK, RESULT_CHUNK_CHARS } from './options.ts';
import type { Decided, Requeued, ResultRecorder } from './recorder.ts';
import { retrying } from './retrying.ts';
import { release } from './follower.ts';

/** Thrown by a download whose results are gone for good (see `goneFor`), with the reason. */
class Gone {
  constructor(readonly reason: string) {}
}

/**
 * What `download` resolves with when the batch itself answered 404: a question, not an answer (a
 * batch deleted after it ended, one made by an emulator that is gone, or the API catching up). The
 * follower polls it again, where 404s go through the same minutes and list as a running batch's.
 */
export const NOT_FOUND = Symbol('batch not found');
class NotFound {}
/**
 * A results file that answers 404 while its batch is there, ended and not archived: the API catching
 * up just after the end ("results can 404 just after `ended`; retrying fixes it", DOC §2.2), tried
 * again after a wait (helper-61's emulator fault: the run failed on it).
 */
class ResultsNotYet extends Error {}
/**
 * A results file that ended, cleanly, before it held a result for each of the batch's requests (the
 * API gives one for every request, DOC §2.2): cut off on the way (a proxy, a load balancer), tried
 * again. Taken for missing answers, the rest of the batch was sent, and paid, again (helper-66).
 */
class EndedEarly extends Error {}

/**
 * Downloads a batch's results from `resultsUrl` (retrieved first when not known: a batch that ended
 * before this run). Resolves with the requests to batch again, undefined when stopped, or `NOT_FOUND`.
 */
export async function download(ctx: SinkContext, recorder: ResultRecorder, row: BatchRow, remoteId: string, resultsUrl: string | null): Promise<Requeued | undefined | typeof NOT_FOUND> {
  const { client, ledger, signal, opts } = ctx;
  let url = resultsUrl;
  const requeued: Requeued = new Map();
  // What deciding each result needs, read once for the batch (at most 100,000 small rows).
  const waiting = await ledger.submittedOf(row.id);
  // A 404 for the batch itself ends the download (see `NOT_FOUND`).
  const retrieve = (s: AbortSignal) =>
    client.messages.batches.retrieve(remoteId, {}, { signal: s }).catch((error: unknown) => {
      throw error instanceof APIError && error.status === 404 ? new NotFound() : error;
    });
  const done = await retrying<true | Gone | NotFound>(ctx, {
    what: `results ${remoteId} (${ctx.reach.host})`,
    attempts: DOWNLOAD_ATTEMPTS,
    call: () =>
      withSignal(signal, async (s) => {
        if (url === null) {
          const seen = await retrieve(s);
          if (!seen.results_url) throw new BatchEnrichError('BE_API', `Batch ${remoteId} has no results_url (processing_status ${seen.processing_status})`, { batchId: remoteId });
          url = seen.results_url;
        }
        // Decided as they arrive (only their text is kept), stored a chunk at a time.
        const seen = new Set<string>();
        let chunk: Decided[] = [];
        let chunkChars = 0;
        const save = async () => {
          const ready = chunk;
          chunk = [];
          chunkChars = 0;
          if (ctx.finished) return;
          await recorder.store(row, ready, opts.now(), requeued);
          ctx.pulse.answer();
        };
        try {
          for await (const text of resultLines(client, url, s)) {
            const line = JSON.parse(text) as MessageBatchIndividualResponse;
            const key = keyOf(row.nonce, line.custom_id);
            if (key === undefined) continue; // not one of ours (cannot happen: a batch is adopted only when its results carry our nonce)
            seen.add(key);
            const decided = await recorder.decide(row, key, line.result, waiting, resultText(text, line));
            if (decided) {
              chunk.push(decided);
              chunkChars += decided.text.length;
            }
            if (chunk.length >= RESULT_CHUNK || chunkChars >= RESULT_CHUNK_CHARS) await save();
          }
        } catch (error) {
          // A 404 for a batch whose results the API has archived: gone for good (a 404 just after a
          // batch ended is only the API catching up, and is tried again).
          if (error instanceof APIError && error.status === 404) {
            const gone = await goneFor(() => retrieve(s));
            throw gone ?? new ResultsNotYet(error.message, { cause: error });
          }
          throw error;
        } finally {
          // Also when the download breaks off: what was decided left `waiting`, so it is stored
          // now (a download again skips it), and counted once.
          await save();
        }
        ctx.reach.reached();
        // `request_count` is what the batch was created with (0 for a row from before it was kept).
        if (row.request_count > 0 && seen.size < row.request_count) throw new EndedEarly(`the results file ended after ${seen.size} of the batch's ${row.request_count} results`);
        return true as const;
      }),
    classify: (error) => {
      if (error instanceof Gone || error instanceof NotFound) return { value: error };
      if (error instanceof ResultsNotYet || error instanceof EndedEarly) return 'retry';
      ctx.reach.reached(error);
      return isTransient(error) || isCutDownload(error) ? 'retry' : 'fail';
    },
    failure: (error) => apiFailure(error instanceof ResultsNotYet ? error.cause : error, `Downloading the results of batch ${remoteId} failed`, remoteId),
  });
  if (!done) return undefined;
  if (done instanceof NotFound) return NOT_FOUND;
  if (done instanceof Gone) {
    // Nothing more can come of it: its requests are sent again. It ran, so it was billed, and its
    // answers are gone: each counts as an answer lost, whose cost nobody here knows (helper-96: the try
    // said "cost $0.0000" for 500 answers paid and lost).
    const fresh = (await ledger.batch(row.id)) ?? row;
    const lost = await ledger.unanswered(row.id);
    return release(ctx, fresh, done.reason, false, () => {
      for (const key of lost) opts.onResult?.({ type: 'errored', lost: true }, 'batch', key);
    });
  }
  // Requests the results file did not mention: tried again, or answered with `missing_result`.
  const missing = await ledger.unanswered(row.id);
  if (missing.length > 0) {
    const result = {
      type: 'errored',
      error: { type: 'error', error: { type: 'missing_result', message: `batch ${remoteId} returned no result for this request` }, request_id: null },
    } as unknown as MessageBatchResult;
    const decided: Decided[] = [];
    for (const key of missing) {
      const one = await recorder.decide(row, key, result, waiting);
      if (one) decided.push(one);
    }
    await recorder.store(row, decided, opts.now(), requeued);
  }
  await ledger.setBatchState(row.id, 'downloaded', opts.now());
  if (requeued.size > 0) opts.emit({ type: 'requeued', batchId: remoteId, requests: requeued.size, reasons: recorder.reasons(requeued) });
  return requeued;
}

/**
 * Why a batch whose results answered 404 will never answer, or undefined when it may: its results
 * archived (`archived_at` set, 29 days after its creation). A 404 just after a batch ended is only the
 * API catching up, and a 404 for the batch itself is a question, not an answer (see the follower's
 * `GONE_404S`): both are thrown as they are, and tried again.
 */
async function goneFor(retrieve: () => Promise<{ archived_at: string | null }>): Promise<Gone | undefined> {
  // Only a time says archived: a batch without the field (a proxy, another emulator) is not taken for gone, and paid again.
  return (await retrieve()).archived_at ? new Gone(ARCHIVED) : undefined;
}
