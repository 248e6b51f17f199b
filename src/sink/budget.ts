/**
 * The budget guard: before a group of requests is sent, what was spent, plus the estimates of the
 * groups in flight (not billed yet), plus this group's estimate, at the price of the mode it goes out
 * in, must stay within the cap. Past it nothing more is sent. And as batches settle, what they cost
 * against their estimates calibrates the estimates of the batches still in flight: when spent plus that projection
 * would cross the cap, the newest of them are canceled (this run's own, proven batches only) until it
 * does not, and what they had not answered comes out `budget_exceeded` (a rerun with a larger cap
 * sends it). So a run overshoots the cap by at most what canceled batches had already answered.
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { interpretResult, type RecordError } from '../core/result.ts';
import type { SendMode } from '../types.ts';
import type { SinkContext } from './context.ts';
import { REALTIME_PREFIX, type Budget } from './options.ts';

/**
 * The error of a record whose request is not sent because the budget ran out: never sent, or (given
 * `lastAttempt`, the error its last attempt ended in) sent before and not sent again. The second must
 * not say "not submitted": the request was sent (a cut-off answer was even billed), and its last
 * attempt's error is the only word the API gave on it.
 */
export function budgetExceeded(maxUsd: number, lastAttempt?: RecordError): RecordError {
  const crossed = `the budget of $${maxUsd} (--max-cost; the library's maxCostUsd) would be crossed`;
  if (!lastAttempt) return { type: 'budget_exceeded', message: `not submitted: ${crossed}` };
  return { type: 'budget_exceeded', message: `not submitted again: ${crossed}; its last attempt ended in ${lastAttempt.type}: ${lastAttempt.message}` };
}

/** The share of a group's requests that `n` of them are (all of it when its size is not known and `n` > 0). */
function shareOf(group: { requests?: number | undefined }, n: number): number {
  return group.requests ? Math.min(1, n / group.requests) : n > 0 ? 1 : 0;
}

export class BudgetGuard {
  readonly #ctx: SinkContext;
  readonly #budget: Budget | undefined;
  /** The groups sent (or followed) and not yet settled, by ledger batch id: their estimates, and requests when known. */
  readonly #inFlight = new Map<number, { usd: number; requests?: number | undefined }>();
  #exhausted = false;
  /** The estimates of the groups settled so far (what `spentUsd` was spent on), for how far off the estimates are. */
  #settledUsd = 0;
  /** Cancels one of this run's batches in flight (the submitter's); false when it cannot be (a real-time group). */
  readonly #cancel: (batchId: number) => boolean;
  /** Batches this guard canceled: their unanswered requests are budget_exceeded, not retried. */
  readonly #canceled = new Set<number>();
  /** Followed batches being counted (`follows`): a group waits for them. */
  #counting = 0;
  /**
   * What the answers lost on the way cost, at their share of their group's estimate: a real-time call
   * sent and not answered may have been answered, and billed (`answer_lost`), at a cost nobody knows.
   */
  #lostUsd = 0;
  /** The estimates of the answers lost on the way whose requests are known (`lost`), by ledger batch id, until it settles. */
  readonly #lostByBatch = new Map<number, number>();

  /** The billed answers of a batch this run has stored so far, and what they cost (the recorder's `took`): in `spentUsd` already. */
  readonly #answered: (batchId: number) => { paid: number; usd: number; stored?: number | undefined };

  constructor(ctx: SinkContext, budget: Budget | undefined, cancel: (batchId: number) => boolean = () => false, answered: (batchId: number) => { paid: number; usd: number; stored?: number | undefined } = () => ({ paid: 0, usd: 0 })) {
    this.#ctx = ctx;
    this.#budget = budget;
    this.#cancel = cancel;
    this.#answered = answered;
  }

  /** Whether this guard canceled the batch (its canceled requests wait for a larger budget). */
  canceled(batchId: number): boolean {
    return this.#canceled.has(batchId);
  }

  /** Whether the budget ran out: nothing more is sent, and records waiting on unsent requests come out. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  /** Once the budget ran out, the error of a record whose request will not be sent. */
  get refusal(): RecordError | undefined {
    return this.#exhausted && this.#budget ? budgetExceeded(this.#budget.maxUsd) : undefined;
  }

  /**
   * `refusal`, for a record whose request has `stored` as its result (`RecordRow.result`): a request
   * sent back for another attempt (a transient error, an expiry, a cut-off or invalid answer, a batch
   * canceled for the budget) keeps its last attempt's result, and its error says what that ended in.
   */
  refusalOf(stored: string | null): RecordError | undefined {
    const budget = this.#budget;
    if (!this.#exhausted || !budget || stored === null) return this.refusal;
    const last = interpretResult(JSON.parse(stored) as MessageBatchResult, { validator: this.#ctx.opts.policy.validator });
    // A result that reads as an answer is final (`retryVerdict`), never sent back: not seen here.
    return budgetExceeded(budget.maxUsd, last.ok ? undefined : last.error);
  }

  /**
   * Whether a group may be sent in `mode`: its estimate (to `charge` once sent), `'wait'`, or false.
   * A group that would cross the cap while groups of this run are in flight waits for them to settle
   * (`'wait'`: ask again once one has): they are projected at their estimates, and what they cost
   * may leave room (a run on stdin, with no check before paying, refused everything after its first
   * projected overrun, with most of its budget unspent). Not for the batches `noWait` leaves running
   * (they settle in a later run), nor when spent and its own estimate cross the cap already. The
   * first refusal says so (`budget` event) and lets the records waiting on unsent requests come out.
   */
  admit(group: { requests: number; bytes: number; each?: readonly number[] | undefined; answers?: readonly number[] | undefined; documents?: number | undefined }, mode: SendMode): number | undefined | false | 'wait' {
    const budget = this.#budget;
    if (!budget) return undefined;
    if (this.#counting > 0 && !this.#exhausted) return 'wait';
    if (!this.#exhausted) {
      const estimate = budget.estimateUsd({ ...group, mode });
      // Projected as the groups in flight are: scaled up by how far over their estimates the settled
      // ones came (helper-68: at its bare estimate, each new group of retried, longer answers went out
      // though the answers so far had cost half as much again as theirs). Charged unscaled: the
      // projection of the groups in flight scales it.
      const own = estimate * this.#overrun();
      const spent = this.#spent(budget);
      const inFlight = this.#projectedInFlight();
      const projected = spent + inFlight + own;
      if (projected <= budget.maxUsd) return estimate;
      // What is spent only grows: a group over the cap with it alone never fits, whatever settles.
      if (this.#settlesHere() && spent + own <= budget.maxUsd) return 'wait';
      this.#exhausted = true;
      this.#ctx.opts.emit({ type: 'budget', maxUsd: budget.maxUsd, projectedUsd: projected, requests: group.requests, spentUsd: spent, inFlightUsd: inFlight });
    }
    this.#ctx.pulse.move();
    return false;
  }

  /** Whether a group in flight will settle in this run (not one `noWait` left running). */
  #settlesHere(): boolean {
    for (const batchId of this.#inFlight.keys()) if (!this.#ctx.deferred.has(batchId)) return true;
    return false;
  }

  /** A group of `requests` went out with this estimate. */
  charge(batchId: number, usd: number | undefined, requests?: number): void {
    if (usd !== undefined) this.#inFlight.set(batchId, { usd, requests });
  }

  /**
   * Counts in flight from the start the batches of the job that earlier tries left unfinished (a
   * `--no-wait` loop's, a stopped try's), by having them followed now (`track`, which counts each
   * through `follows`) rather than once the reader meets their records: a try whose new rows came
   * first in its input sent them out past the cap (helper-68: $0.0456 against $0.04). Not a live run's
   * (another worker's: its own cap counts them), nor another identity's.
   */
  async countEarlierTries(track: (batchId: number) => void): Promise<void> {
    const ctx = this.#ctx;
    if (!this.#budget || ctx.opts.offline !== undefined) return;
    for (const row of await ctx.ledger.batches(ctx.opts.job)) {
      if (row.run === ctx.run || row.scope !== ctx.scope || row.state === 'failed' || row.state === 'downloaded') continue;
      if (!(await ctx.ledger.runAlive(row.run, ctx.opts.now()))) track(row.id);
    }
  }

  /**
   * A batch this run follows that another run sent (an earlier `--no-wait` try's, a stopped run's,
   * another worker's) is counted in flight at its estimate, as this run's own are, until it settles
   * here (what it cost is then in `spentUsd`, as this run stores its answers). Uncounted, each try of
   * a `--no-wait` loop spent up to the cap again (helper-54: $1.27 against $1.00). Groups wait while
   * it is read.
   */
  async follows(batchId: number): Promise<void> {
    const budget = this.#budget;
    if (!budget || this.#inFlight.has(batchId)) return;
    this.#counting++;
    try {
      const row = await this.#ctx.ledger.batch(batchId);
      if (!row || row.run === this.#ctx.run || row.state === 'failed' || row.state === 'downloaded') return;
      const mode = row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch';
      // Its cut-off answers' retries at the max_tokens they ask for, as this run's own are (`requeue`).
      const answers: number[] = [];
      for (const waiting of (await this.#ctx.ledger.submittedOf(batchId)).values()) if (waiting.max_tokens !== null) answers.push(waiting.max_tokens);
      this.#inFlight.set(batchId, { usd: budget.estimateUsd({ requests: row.request_count, bytes: row.cost_bytes ?? row.bytes, answers, mode }), requests: row.request_count });
    } finally {
      this.#counting--;
      this.#ctx.pulse.move();
    }
  }

  /**
   * A group settled: what it cost is in `spentUsd` now; the groups still in flight are projected
   * again. A batch left running (`noWait`: `ctx.deferred`) has not: it stays projected at its
   * estimate (taken for settled at no cost, it let every later group go out past the cap).
   */
  settled(batchId: number, paid?: number, lost = 0): void {
    const group = this.#inFlight.get(batchId);
    if (!group || this.#ctx.deferred.has(batchId)) return;
    this.#inFlight.delete(batchId);
    const lostUsd = this.#lostByBatch.get(batchId);
    this.#lostByBatch.delete(batchId);
    // The share of its requests whose answers this run paid for (`paid`: what `spentUsd` grew by) tells
    // how far off its estimate was; a group released, or answered by another worker, tells nothing.
    // Its answers lost on the way are counted spent at their own estimates when known (`lost`), else at
    // their share of its estimate; either way the ratio of cost to estimate, which they cannot tell, is
    // left alone.
    if (lost > 0) this.#lostUsd += lostUsd ?? group.usd * shareOf(group, lost);
    if (!this.#canceled.has(batchId)) this.#settledUsd += group.usd * (paid === undefined ? 1 : shareOf(group, paid + lost));
    this.#review();
  }

  /**
   * An answer of a group in flight was lost on the way (a real-time call sent and not answered): it is
   * counted, once the group settles, at its request's own estimate (a 120,000-token prompt among short
   * ones is not priced at their average).
   */
  lost(batchId: number, request: { bytes: number; answer?: number | undefined; documents?: boolean | undefined }): void {
    const budget = this.#budget;
    if (!budget || !this.#inFlight.has(batchId)) return;
    const usd = budget.estimateUsd({ requests: 1, bytes: request.bytes, each: [request.bytes], answers: request.answer === undefined ? undefined : [request.answer], documents: request.documents ? 1 : 0, mode: 'realtime' });
    this.#lostByBatch.set(batchId, (this.#lostByBatch.get(batchId) ?? 0) + usd);
  }

  /** What this run spent: what its answers cost (`spentUsd`), and its answers lost on the way at their estimates. */
  #spent(budget: Budget): number {
    return budget.spentUsd() + this.#lostUsd;
  }

  /**
   * How much more the groups settled so far cost than they were estimated at (1 when they cost no
   * more): the estimates of the groups in flight are scaled by it. Not the cost per request: requests
   * differ (a 40-page contract and an e-mail), and a group of small ones priced at the average of big
   * ones was refused though the check before the run had taken it.
   */
  #overrun(): number {
    const budget = this.#budget;
    // What was spent on: the groups settled, and the answers of those in flight stored so far (in
    // `spentUsd` already: left out here, they made every estimate look too low, helper-85).
    let estimated = this.#settledUsd;
    for (const [batchId, group] of this.#inFlight) estimated += group.usd * shareOf(group, this.#answered(batchId).paid);
    return budget && estimated > 0 ? Math.max(1, this.#spent(budget) / estimated) : 1;
  }

  /** The in-flight groups' cost still to come (`#toCome`), at how far over their estimates the answers so far came (`#overrun`). */
  #projectedInFlight(): number {
    const overrun = this.#overrun();
    let usd = 0;
    for (const [batchId, group] of this.#inFlight) usd += this.#toCome(batchId, group, overrun);
    return usd;
  }

  /**
   * What a group in flight is still to cost: the answers it has stored are in `spentUsd` already
   * (counted at its whole estimate too, a batch whose download had stored its answers and not yet
   * ended was counted twice: helper-85). At least the share of its estimate its unanswered requests
   * are, and at least what its estimate leaves once its answers so far are paid: its cheap requests
   * answered first do not make an expensive one still out look cheap (helper-87: a 50,000-token prompt
   * projected at a thirty-second of its group went over the cap by a third). Nothing once every result
   * is stored, free ones too: what its estimate left was projected as if still out (helper-89).
   */
  #toCome(batchId: number, group: { usd: number; requests?: number | undefined }, overrun: number): number {
    const answered = this.#answered(batchId);
    const out = 1 - shareOf(group, Math.max(answered.paid, answered.stored ?? 0));
    // Its answers lost on the way (maybe billed) reach what was spent only when it settles: until then, here.
    if (out === 0 && group.requests) return this.#lostByBatch.get(batchId) ?? 0;
    const scaled = group.usd * overrun;
    return Math.max(scaled * out, scaled - answered.usd);
  }

  /** Cancels the newest batches in flight while spent plus the projection of those in flight crosses the cap. */
  #review(): void {
    const budget = this.#budget;
    if (!budget || this.#settledUsd === 0) return;
    const before = this.#spent(budget) + this.#projectedInFlight();
    if (before <= budget.maxUsd) return;
    const overrun = this.#overrun();
    let projected = before;
    let canceling = 0;
    for (const batchId of [...this.#inFlight.keys()].reverse()) {
      if (projected <= budget.maxUsd) break;
      const group = this.#inFlight.get(batchId);
      if (!group || !this.#cancel(batchId)) continue;
      projected -= this.#toCome(batchId, group, overrun);
      this.#inFlight.delete(batchId);
      this.#canceled.add(batchId);
      canceling++;
    }
    if (!this.#exhausted) {
      this.#exhausted = true;
      this.#ctx.opts.emit({ type: 'budget', maxUsd: budget.maxUsd, projectedUsd: before, requests: 0, canceling });
    }
    this.#ctx.pulse.move();
  }
}
