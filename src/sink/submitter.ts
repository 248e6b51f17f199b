/**
 * The submitter: turns a group of requests into a batch. The batch row is written (`creating`, with a
 * fresh nonce) before `create` is sent, so a crash at any point leaves something the next run can
 * resolve. A create refused (429/529) or never sent (no connection) is tried again; one of unknown
 * outcome is resolved by proof (`adoption.ts`) before anything is sent again, in the background: the
 * run's other groups are created meanwhile. It also cancels this run's batches (at the deadline, or
 * on a stop with `cancelOnAbort`), with a bound on the wait.
 */
import { APIError } from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { createBatch } from '../client/client.ts';
import { apiFailure, errorText, neverSent, withSignal } from '../client/errors.ts';
import { newNonce } from '../core/request.ts';
import { BatchEnrichError } from '../errors.ts';
import { findOurBatch, STILL_RUNNING } from './adoption.ts';
import { settleWithin } from './async.ts';
import { batchBody, ENVELOPE_BYTES, watchedBody } from './body.ts';
import type { SinkContext } from './context.ts';
import { adoptionContext, defer, release } from './follower.ts';
import { CANCEL_RETRIES, CREATE_ATTEMPTS, CREATE_REFUSALS, STOP_WAIT_MS } from './options.ts';
import { retrying } from './retrying.ts';

/** A group of requests to send: their keys, and the bytes they add to a body. */
export interface Group {
  keys: string[];
  bytes: number;
  /** What its input tokens are priced by: `bytes`, with its documents counted by pages and pixels (`PreparedRecord.estimateBytes`). */
  costBytes: number;
  /** Each request's body bytes, in the order of `keys` (for `costBytesOf`). */
  sizes?: readonly number[] | undefined;
  /** What each of its requests with documents adds to `costBytes` over its body bytes, by key (none: no documents). */
  documentCost?: ReadonlyMap<string, number> | undefined;
  /** Its cost estimate, when a budget applies. */
  estimateUsd?: number | undefined;
  /** Each request's `costBytes`, in the order of `keys` (what one of them alone is priced by). */
  costs?: readonly number[] | undefined;
  /** The `max_tokens` its answer is priced at, by key, for the requests that raised it (a cut-off answer's retry). */
  answerTokens?: ReadonlyMap<string, number> | undefined;
}

/** What the create loop ends with when the deadline passed as it waited to try again (its requests released). */
const GIVEN_UP = Symbol('create given up at the deadline');

/** A create the API answered with a 4xx that refuses it (not 408 or 409, which may have made it). */
function refusedOutright(error: unknown): boolean {
  return error instanceof APIError && error.status !== undefined && error.status >= 400 && error.status < 500 && ![408, 409, 429].includes(error.status);
}

export interface SubmitterDeps {
  /** Follow a batch once it has its remote id. */
  track(batchId: number): void;
  /** A batch of `requests` went out (or may have) with this cost estimate. */
  charge(batchId: number, usd: number | undefined, requests: number): void;
  /** …and its requests were released after all, unsent: it costs nothing. */
  uncharge(batchId: number): void;
}

export class Submitter {
  readonly #ctx: SinkContext;
  readonly #deps: SubmitterDeps;
  /** Batches this run is creating right now (recorded, `create` not yet answered). */
  readonly #creating = new Set<number>();
  /** Batches this run created or adopted (proven ours): the only ones it may cancel. */
  readonly #mine = new Map<number, string>();
  /** Cancels in flight. */
  readonly #cancels = new Set<Promise<void>>();
  /** Creates of unknown outcome being resolved, after `submit` returned (see `submit`). */
  readonly #searches = new Set<Promise<void>>();

  constructor(ctx: SinkContext, deps: SubmitterDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  isCreating(batchId: number): boolean {
    return this.#creating.has(batchId);
  }

  get creatingCount(): number {
    return this.#creating.size;
  }

  /**
   * Records a batch, creates it (or proves a lost create's batch ours), and starts following it.
   * Resolves once the batch is created, or once its create's outcome is lost: the search for its
   * batch (a minute at least, or until a candidate ends: hours on the API) goes on in the background
   * (`searches`); awaited here, it held back every other batch of the run (helper-66).
   */
  async submit(group: Group): Promise<void> {
    const { ledger, identity, run, opts } = this.#ctx;
    const nonce = newNonce();
    const opened = await ledger.openBatch(identity, run, opts.job, nonce, group.keys, opts.now());
    if (opened.keys.length < group.keys.length) this.#ctx.pulse.move(); // another run took some: their records wait on its batch
    if (opened.keys.length === 0) return; // another run took them all: no batch (the ledger kept no row)
    this.#creating.add(opened.id);
    let handedOver = false;
    let handOver = () => {};
    const lost = new Promise<void>((resolve) => (handOver = resolve));
    const created = this.#create(group, opened.id, nonce, opened.keys, () => {
      handedOver = true;
      handOver();
    }).finally(() => this.#creating.delete(opened.id));
    await Promise.race([created, lost]);
    if (!handedOver) return;
    const search: Promise<void> = created
      .catch((error: unknown) => this.#ctx.fail(error))
      .finally(() => {
        this.#searches.delete(search);
        this.#ctx.pulse.notify(); // a slot may be free, the run idle
      });
    this.#searches.add(search);
  }

  /** `submit`'s create, after the row is written: `lost` is called when an attempt's outcome is unknown, before the search. */
  async #create(group: Group, id: number, nonce: string, keys: readonly string[], lost: () => void): Promise<void> {
    const ctx = this.#ctx;
    const { ledger, opts, signal } = ctx;
    // The request count identifies the batch in the API's list if the create's answer is lost.
    const bodyBytes = bodyBytesOf(group, keys);
    await ledger.sizeBatch(id, keys.length, bodyBytes, costBytesOf(group, keys));
    let adopted = false;
    const requests = `${keys.length} request${keys.length === 1 ? '' : 's'}`;
    opts.emit({ type: 'creating', requests: keys.length });
    // Whether any try handed its whole body over: until one has, a stop leaves nothing made (`watchedBody`).
    let sentWhole = false;
    const created = await retrying<MessageBatch | typeof STILL_RUNNING | typeof GIVEN_UP>(ctx, {
      what: `create (${ctx.reach.host})`,
      attempts: CREATE_ATTEMPTS,
      // A --no-wait try does not wait out a busy API for long: it ends pending, and its scheduler tries again.
      waits: ctx.opts.noWait ? CREATE_ATTEMPTS : CREATE_REFUSALS,
      call: async () => {
        const graced = graceAtStop(signal, () => sentWhole);
        try {
          const batch = await createBatch(ctx.client, watchedBody(batchBody(ledger, id, nonce), () => (sentWhole = true)), graced.signal);
          ctx.reach.reached();
          return batch;
        } finally {
          graced.dispose();
        }
      },
      classify: async (error) => {
        // Known not made: refused (429/529), or never sent (no connection was ever made).
        if (neverSent(error)) {
          try {
            ctx.reach.reached(error);
          } catch (unreachable) {
            // Nothing answered for minutes: the run stops here. This create never connected, and a
            // try of unknown outcome before it was searched for and not found, so the batch was not
            // made: its requests are released now, as `failure` would (else the row stays `creating`,
            // its requests counted in flight, and the next run searches for it).
            await this.#releaseUnmade(id, errorText(error));
            throw unreachable;
          }
          return 'retry';
        }
        // Refused, asking to wait: not made. Tried again after the wait, up to CREATE_REFUSALS.
        if (error instanceof APIError && (error.status === 429 || error.status === 529)) return 'wait';
        // Refused for what it is (400, 401, 403, 404, 413, 422…): not made, and it would be refused again.
        if (refusedOutright(error)) return 'fail';
        // Anything else is an unknown outcome, whatever it says about retrying (a 5xx with
        // x-should-retry: false, a 200 whose body broke off, a timeout): the batch may exist.
        // Adopted only when proven ours; sent again only when it cannot be.
        // Counted in flight from now (it may have been made, and billed): the next groups go out meanwhile.
        this.#deps.charge(id, group.estimateUsd, keys.length);
        lost();
        const row = await ledger.batch(id);
        const proven = row ? await findOurBatch(adoptionContext(ctx), row, opts.now()) : undefined;
        if (proven === STILL_RUNNING) return { value: STILL_RUNNING };
        if (!proven) return 'retry';
        adopted = true;
        opts.emit({ type: 'adopted', batchId: proven.batch.id, requests: keys.length });
        return { value: proven.batch };
      },
      failure: async (error) => {
        // The run stops on this failure: its requests wait for the next run.
        await this.#releaseUnmade(id, errorText(error), true);
        return apiFailure(error, `Creating a batch of ${requests} failed`, undefined);
      },
      // The deadline passed while the create waited to be tried again (it was not made: refused, never
      // sent, or searched for and not found): its requests go back, to go out in real time.
      until: ctx.mode.deadlineSignal,
      cut: async (error) => {
        await this.#releaseUnmade(id, `the deadline passed while its create waited to be tried again (${errorText(error)})`);
        this.#deps.uncharge(id);
        return { value: GIVEN_UP };
      },
    });
    // Stopped mid-create: the outcome is unknown, so the row stays `creating` for the next run to resolve;
    // unless no try's body went out whole, and the API cannot have made the batch.
    if (created === undefined && !sentWhole) await this.#releaseUnmade(id, 'the run stopped before its create was sent whole: not made', true);
    if (created === undefined || created === GIVEN_UP) return;
    // Counted in flight from now: it is billed, or (`noWait`, what may be its batch still running) may be.
    this.#deps.charge(id, group.estimateUsd, keys.length);
    if (created === STILL_RUNNING) {
      // `noWait`: the row stays `creating`, and a later try finds the batch again once it has ended.
      defer(ctx, id, opts.now());
      opts.emit({ type: 'unproven', requests: keys.length });
      return;
    }
    await this.#claim(id, created.id);
    // Created after the deadline passed (its create was on its way): the deadline's cancels did not
    // see it, so it is canceled here, and what it does not answer goes out in real time (an adopted
    // batch has ended already).
    if (ctx.mode.deadlinePassed && !adopted) void this.cancel(created.id);
    if (!adopted) opts.emit({ type: 'submitted', batchId: created.id, requests: keys.length, bytes: bodyBytes });
    this.#creating.delete(id);
    // Answered in the stop's grace (`graceAtStop`): claimed, and left to the stop (canceled with --cancel-on-exit), not followed.
    if (!ctx.stopping()) this.#deps.track(id);
  }

  /**
   * Records the remote id of a batch this run created (or proved its own), and takes it for this
   * run's (to cancel). When the row was resolved by another run meanwhile (this run was taken for
   * dead, and its requests released), this batch, ours, stands for no row: canceled at once, to pay
   * as little of it as can be, and the run stops.
   */
  async #claim(id: number, remoteId: string): Promise<void> {
    const { ledger, opts } = this.#ctx;
    if (await ledger.setRemote(id, remoteId, opts.now())) {
      this.#mine.set(id, remoteId);
      return;
    }
    await this.cancel(remoteId);
    // Or another row of the ledger holds that very id: the API gave an id it had given before,
    // which the real API never does (an emulator started again, with the same seed, in front of a
    // ledger that outlived it).
    const claimant = await ledger.claimant(remoteId);
    if (claimant !== undefined && claimant !== id) {
      throw new BatchEnrichError(
        'BE_LEDGER',
        `Batch ${remoteId} has the id of an earlier batch of the ledger (row ${claimant}): the API gave an id twice, which the real API never does; an emulator started again with the same --seed in front of this ledger? It was canceled. Give each emulator its own seed, or none`,
        { batchId: remoteId },
      );
    }
    throw new BatchEnrichError(
      'BE_LEDGER',
      `Batch ${remoteId} was created after another run had taken over its requests (this run was taken for dead: its heartbeat stalled); it was canceled so as not to pay for them twice. Run the command again`,
      { batchId: remoteId },
    );
  }

  /** Creates whose outcome was lost, being resolved by proof (a stop waits for them, within `STOP_WAIT_MS`). */
  searches(): Promise<void>[] {
    return [...this.#searches];
  }

  /**
   * Cancels one of this run's batches if it still runs (for the budget); false when it is not one of
   * this run's. The ledger is read before the call: a batch that ended meanwhile is not canceled.
   */
  cancelById(batchId: number): boolean {
    const remoteId = this.#mine.get(batchId);
    if (remoteId === undefined) return false;
    void (async () => {
      if ((await this.#ctx.ledger.batch(batchId))?.state === 'in_progress') await this.cancel(remoteId);
    })().catch((error: unknown) => this.#ctx.fail(error));
    return true;
  }

  /** This run's batches still running (ledger id, remote id). */
  async running(): Promise<[number, string][]> {
    const running: [number, string][] = [];
    for (const [batchId, remoteId] of this.#mine) if ((await this.#ctx.ledger.batch(batchId))?.state === 'in_progress') running.push([batchId, remoteId]);
    return running;
  }

  /**
   * Asks the API to cancel one of this run's batches; says whether it was accepted (`canceled` event).
   * Tried again on a 408/409/429/5xx or a dropped connection (`CANCEL_RETRIES`, by the SDK: a cancel
   * asked twice is harmless; never asked again, one 529 left the batch running, billed, past the
   * deadline; helper-66), and ended by `signal` (default: the sink's, so a stop does not wait on it).
   */
  cancel(remoteId: string, signal: AbortSignal = this.#ctx.signal): Promise<void> {
    const { client, opts } = this.#ctx;
    const done = withSignal(signal, (s) => client.messages.batches.cancel(remoteId, {}, { signal: s, maxRetries: CANCEL_RETRIES })).then(
      () => opts.emit({ type: 'canceled', batchId: remoteId }),
      (error: unknown) => opts.emit({ type: 'canceled', batchId: remoteId, error: errorText(error) }),
    );
    this.#cancels.add(done);
    void done.finally(() => this.#cancels.delete(done));
    return done;
  }

  /** Cancels asked for and not answered yet (a stop waits for them, within `STOP_WAIT_MS`). */
  cancels(): Promise<void>[] {
    return [...this.#cancels];
  }

  /**
   * Releases the requests of this run's batch whose create is known not to have made it, only while
   * the row is still this run's and `creating`: taken for dead meanwhile (a stalled heartbeat), the
   * row may have been resolved by another run, which adopted the batch of an earlier try (helper-59);
   * released then, its requests would be sent and paid again.
   */
  async #releaseUnmade(id: number, reason: string, nextRun = false): Promise<void> {
    const row = await this.#ctx.ledger.batch(id);
    if (row?.state === 'creating' && row.run === this.#ctx.run) await release(this.#ctx, row, reason, nextRun);
  }

  /**
   * Cancels running batches (this run's, and those of its job it follows: see `batchesToCancel`), all
   * at once, waiting `ms` at most (a hung API must not hold a stop).
   */
  async cancelAll(batches: readonly [number, string][], ms: number): Promise<void> {
    const controller = new AbortController();
    const cancels = batches.map(([, remoteId]) => this.cancel(remoteId, controller.signal));
    await settleWithin(cancels, ms);
    controller.abort();
  }
}

/**
 * The signal of one create's call: `stop` at once while its body has not gone out whole (nothing can
 * have been made: `watchedBody`), else `CREATE_STOP_GRACE_MS` after it. A create sent whole when a run
 * stops is mostly a moment from its answer: answered, its batch is claimed (and canceled with
 * --cancel-on-exit); cut, it was left `creating`, the next run searched the list for it for a minute,
 * and it ran on, billed, though the stop asked to cancel (helper-89).
 */
function graceAtStop(stop: AbortSignal, sentWhole: () => boolean): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onStop = () => {
    if (!sentWhole()) return controller.abort(stop.reason);
    timer = setTimeout(() => controller.abort(stop.reason), CREATE_STOP_GRACE_MS);
    timer.unref();
  };
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      stop.removeEventListener('abort', onStop);
      clearTimeout(timer);
    },
  };
}

/** How long a stop lets a create sent whole be answered: within the stop's own wait (`STOP_WAIT_MS`), with room for the claim after. */
const CREATE_STOP_GRACE_MS = STOP_WAIT_MS - 1_000;

/**
 * Exactly the size of the body a batch sends of its group, `taken` being the requests it got (another
 * run may have taken the rest): the requests (each counted with a comma), the envelope, less one
 * comma. Without `sizes`, bodies in proportion.
 * @example
 * bodyBytesOf({ keys: ['a', 'b'], sizes: [101, 201], bytes: 302, costBytes: 302 }, ['b']); // 201 + ENVELOPE_BYTES - 1
 */
export function bodyBytesOf(group: Group, taken: readonly string[]): number {
  if (taken.length === group.keys.length) return group.bytes + ENVELOPE_BYTES - 1;
  const got = new Set(taken);
  const requests = group.sizes === undefined ? Math.round((group.bytes * taken.length) / group.keys.length) : group.keys.reduce((n, key, i) => n + (got.has(key) ? (group.sizes?.[i] ?? 0) : 0), 0);
  return requests + ENVELOPE_BYTES - 1;
}

/**
 * What the requests a batch got of its group are priced by (for `status`'s expected cost): the
 * group's; when another run took some of its keys, the bodies and documents of those it got (a
 * 100-page PDF taken by the other run is not priced here). Without `sizes`, bodies in proportion.
 * @example
 * costBytesOf({ keys: ['a', 'b'], sizes: [100, 100], bytes: 200, costBytes: 400_200, documentCost: new Map([['b', 400_000]]) }, ['a']); // 100
 */
export function costBytesOf(group: Group, taken: readonly string[]): number {
  if (taken.length === group.keys.length) return group.costBytes;
  const got = new Set(taken);
  let cost = group.sizes === undefined ? Math.round((group.bytes * taken.length) / group.keys.length) : 0;
  group.keys.forEach((key, i) => {
    if (!got.has(key)) return;
    cost += (group.sizes?.[i] ?? 0) + (group.documentCost?.get(key) ?? 0);
  });
  return cost;
}
