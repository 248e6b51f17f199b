/**
 * The real-time sender: a group of a few requests, each sent with `messages.create` under a limiter
 * that halves its concurrency on 429/529 (or when the rate-limit headers run low). The group has a
 * ledger row like a batch (remote id `realtime_<nonce>`), and its answers go through the same
 * recorder, so retries, order and resume work the same.
 */
import { AnthropicError, APIError } from '@anthropic-ai/sdk';
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import { errorText, neverSent, withSignal } from '../client/errors.ts';
import { ANSWER_LOST } from '../core/retry.ts';
import { newNonce } from '../core/request.ts';
import { plural } from '../core/text.ts';
import type { PayloadRow } from '../ledger/ledger.ts';
import { ENVELOPE_BYTES, paramsOf } from './body.ts';
import type { SinkContext } from './context.ts';
import { release } from './follower.ts';
import { Limiter } from './limiter.ts';
import { REALTIME_GROUP, REALTIME_PREFIX, REALTIME_RATE_LIMIT_WAITS } from './options.ts';
import type { Requeued, ResultRecorder } from './recorder.ts';
import { retrying } from './retrying.ts';
import { costBytesOf, type Group } from './submitter.ts';

/** The error of a real-time answer lost on the way (`answer_lost`), before what the call failed with. */
const LOST_MESSAGE = 'the real-time call was sent and its answer lost on the way: the API may have answered it, and billed it, at a cost not known here (not in cost_usd; --max-cost counts it at its estimate). It was not sent again, so as not to pay twice: run the same command again to send it again';

export interface RealtimeDeps {
  /** Runs the group's work as the batch's follow task (one slot, settled like a batch). */
  track(batchId: number, work: () => Promise<Requeued | undefined>): void;
  charge(batchId: number, usd: number | undefined, requests: number): void;
  /** A call of the group was sent and its answer lost on the way (`answer_lost`): what that request is priced by. */
  lost(batchId: number, request: { bytes: number; answer?: number | undefined; documents?: boolean | undefined }): void;
}

export class RealtimeSender {
  readonly #ctx: SinkContext;
  readonly #recorder: ResultRecorder;
  readonly #deps: RealtimeDeps;
  readonly limiter: Limiter;
  /** The calls sent and not yet answered and kept (see `finishing`). */
  readonly #sending = new Set<Promise<unknown>>();

  constructor(ctx: SinkContext, recorder: ResultRecorder, deps: RealtimeDeps) {
    this.#ctx = ctx;
    this.#recorder = recorder;
    this.#deps = deps;
    this.limiter = new Limiter(ctx.opts.concurrency, (limit, reason) => ctx.opts.emit({ type: 'concurrency', limit, reason }));
  }

  /**
   * Says, with a `finishing` event, that the run will wait for the calls still out (at the start of a
   * stop, so that the line comes at once).
   */
  announceFinishing(): void {
    if (this.#sending.size > 0) this.#ctx.opts.emit({ type: 'finishing', calls: this.#sending.size });
  }

  /**
   * Resolves once every call sent has been answered and its answer kept (or has failed): a stop waits
   * for them, however long they take, since each is paid once sent and an aborted one would be asked,
   * and paid, again by the next run.
   */
  async finishing(): Promise<void> {
    while (this.#sending.size > 0) await Promise.allSettled([...this.#sending]);
  }

  /** Sends a group: one `messages.create` per request, within the limiter's concurrency. */
  async send(group: Group): Promise<void> {
    const ctx = this.#ctx;
    const { ledger, identity, run, opts } = ctx;
    const nonce = newNonce();
    const opened = await ledger.openBatch(identity, run, opts.job, nonce, group.keys, opts.now());
    if (opened.keys.length < group.keys.length) ctx.pulse.move();
    if (opened.keys.length === 0) return; // another run took them all: no group (the ledger kept no row)
    await ledger.sizeBatch(opened.id, opened.keys.length, group.bytes + ENVELOPE_BYTES - 1, costBytesOf(group, opened.keys));
    await ledger.setRemote(opened.id, `${REALTIME_PREFIX}${nonce}`, opts.now());
    this.#deps.charge(opened.id, group.estimateUsd, opened.keys.length);
    opts.emit({ type: 'realtime', requests: opened.keys.length, concurrency: this.limiter.limit });
    const costs = new Map(group.costs?.map((cost, i) => [group.keys[i], cost]));
    this.#deps.track(opened.id, async () => {
      const row = await ledger.batch(opened.id);
      if (!row) return undefined;
      const waiting = await ledger.submittedOf(row.id);
      const requeued: Requeued = new Map();
      // A page at a time: a group filled in batch mode before a deadline can hold far more than a real-time group.
      for (let after = 0; !ctx.signal.aborted; ) {
        const payloads = await ledger.batchPage(row.id, after, REALTIME_GROUP);
        const calls = await Promise.allSettled(
          payloads.map(async (payload) => {
            // An answer that came is kept, even when the run is stopping: it was paid for.
            const keep = async (result: MessageBatchResult) => {
              if (ctx.finished) return;
              const decided = await this.#recorder.decide(row, payload.key, result, waiting);
              if (decided) await this.#recorder.store(row, [decided], opts.now(), requeued);
              ctx.pulse.answer();
            };
            const failed = await this.#ask(payload, keep);
            if (failed === undefined) return;
            const cost = costs.get(payload.key);
            if (isLost(failed) && cost !== undefined) this.#deps.lost(row.id, { bytes: cost, answer: group.answerTokens?.get(payload.key), documents: group.documentCost?.has(payload.key) });
            await keep(failed);
          }),
        );
        // Every call of the page has ended here, and its answer is kept. On a failure of the run (a
        // refused key, in this group or another) or a stop, the group's other requests go back to
        // pending now, for the next run to send (with another key, perhaps), instead of waiting on a
        // group nobody sends (and under a refused key's identity, which the next run would not touch).
        const failure = calls.find((call): call is PromiseRejectedResult => call.status === 'rejected');
        if (failure || ctx.signal.aborted) {
          const why = failure ? `real-time calls failed: ${errorText(failure.reason)}` : 'the run stopped';
          await release(ctx, row, why).catch(() => {});
          if (failure) throw failure.reason;
          return undefined;
        }
        if (payloads.length < REALTIME_GROUP) break;
        after = payloads.at(-1)?.id ?? after;
      }
      if (ctx.signal.aborted) return undefined; // stopped before a page: the next run releases the group
      await ledger.setBatchState(row.id, 'downloaded', opts.now());
      return requeued;
    });
  }

  /**
   * One real-time call, waiting out rate limits. An answer is handed to `keep` (stored) before its
   * slot is given back, so at most `concurrency` paid answers are ever not yet in the ledger (what a
   * kill can lose); a failure comes back as an errored result, as a batch would give it, for the
   * caller to keep (undefined: answered and kept, or stopped).
   */
  async #ask(payload: PayloadRow, keep: (result: MessageBatchResult) => Promise<void>): Promise<MessageBatchResult | undefined> {
    const ctx = this.#ctx;
    const limiter = this.limiter;
    const params = JSON.parse(paramsOf(payload)) as MessageCreateParamsNonStreaming;
    let keepFailure: { error: unknown } | undefined;
    // Whether the try under way was sent (so the API may have answered it).
    let sent = false;
    const outcome = await retrying<MessageBatchResult | 'kept'>(ctx, {
      what: `real-time call (${ctx.reach.host})`,
      attempts: REALTIME_RATE_LIMIT_WAITS + 1,
      call: async () => {
        await limiter.acquire();
        try {
          sent = false;
          if (ctx.signal.aborted) throw ctx.signal.reason;
          // The call and the keeping of its answer, which a stop waits for (`finishing`).
          const call = (async () => {
            sent = true;
            const { data: message, response } = await withSignal(ctx.callSignal, (s) => ctx.client.messages.create(params, { signal: s, maxRetries: 0, ...longCallTimeout(params.max_tokens) }).withResponse());
            // The rate-limit headers say how many requests are left in the window: slow down before a 429.
            const remaining = Number(response.headers.get('anthropic-ratelimit-requests-remaining') ?? Number.NaN);
            if (Number.isFinite(remaining) && remaining < limiter.limit) limiter.backOff(`the rate-limit headers leave ${plural(remaining, 'request')}`);
            else limiter.succeeded();
            // A failure to store is the run's, not this call's (it must not become an errored answer).
            await keep({ type: 'succeeded', message } as MessageBatchResult).catch((error: unknown) => (keepFailure = { error }));
          })();
          this.#sending.add(call);
          try {
            await call;
          } finally {
            this.#sending.delete(call);
          }
          return 'kept';
        } finally {
          limiter.release();
        }
      },
      classify: (error, attempt) => {
        const status = error instanceof APIError ? error.status : undefined;
        if ((status === 429 || status === 529) && attempt <= REALTIME_RATE_LIMIT_WAITS) {
          // Rate limited or overloaded: fewer calls at once, and wait as long as the API asks.
          limiter.backOff(status === 429 ? 'rate limited (429)' : 'overloaded (529)');
          return 'retry';
        }
        // A key the API refuses (401) or may not use (403) is the run's failure, as a batch create's
        // would be: kept as every request's answer, it would tie the requests to the wrong key's
        // identity (a rerun with the right key would be told they were sent under another one).
        if (status === 401 || status === 403) return 'fail';
        // Any other failure is this request's answer: an errored result, decided like a batch's. An
        // error the API answered with is not billed; a call sent and not answered (broken off, reset, a
        // timeout) may have been answered, and billed: not sent again in this run (`answer_lost`).
        // An AnthropicError that is no APIError is the SDK's own refusal, before anything was sent (a
        // non-streaming call whose max_tokens might take over 10 minutes): never sent, never billed.
        const refusedBySdk = error instanceof AnthropicError && !(error instanceof APIError);
        const lost = sent && status === undefined && !neverSent(error) && !refusedBySdk;
        const type = lost ? ANSWER_LOST : error instanceof APIError ? (error.type ?? 'api_error') : 'api_error';
        const message = lost ? `${LOST_MESSAGE} (${errorText(error)})` : errorText(error);
        const result = {
          type: 'errored',
          error: { type: 'error', error: { type, message }, request_id: error instanceof APIError ? (error.requestID ?? null) : null },
        } as unknown as MessageBatchResult;
        return { value: result };
      },
      failure: (error) => error,
      backoff: (attempt) => ctx.opts.retryDelay(attempt - 1),
    });
    if (keepFailure) throw keepFailure.error;
    return outcome === 'kept' ? undefined : outcome;
  }
}

/** Whether a call's result is an answer lost on the way (`answer_lost`). */
function isLost(result: MessageBatchResult): boolean {
  return result.type === 'errored' && (result.error.error as { type: string }).type === ANSWER_LOST;
}

/**
 * The timeout of a real-time call whose max_tokens might take it over the SDK's default 10 minutes
 * (over 21,333: a --max-tokens that batches take, or a cut-off answer's retry, doubled): the SDK's
 * own expectation, an hour for 128,000 tokens. Without one, the SDK refuses such a non-streaming
 * call before sending anything (helper-71). Shorter calls keep the client's timeout.
 */
function longCallTimeout(maxTokens: number): { timeout?: number } {
  const expected = Math.ceil((3_600_000 * maxTokens) / 128_000);
  return expected > 600_000 ? { timeout: expected } : {};
}
