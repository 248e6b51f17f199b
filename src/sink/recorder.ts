/**
 * The result recorder: what a result means for its request (final, or worth another attempt), and
 * storing it so. Every batch download and every real-time answer goes through here.
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { retryVerdict, type Verdict } from '../core/retry.ts';
import type { BatchRow, Waiting } from '../ledger/ledger.ts';
import { maxTokensOf, payloadBytes } from './body.ts';
import { hasDocuments } from '../core/expected-cost.ts';
import type { SinkContext } from './context.ts';
import { billed, REALTIME_PREFIX, type BilledResult } from './options.ts';

/** A result, decided and waiting to be stored. */
export interface Decided {
  key: string;
  request: Waiting;
  /** The result as JSON, as stored. */
  text: string;
  /** What the result bills, for `onResult` once stored (not the whole result: a chunk waits to be stored). */
  billed: BilledResult;
  verdict: Verdict;
}

/**
 * Requests sent back for another attempt, by key: their bytes in a body, and the `max_tokens` a
 * truncated answer's retry asks for (its answer is priced at it: it was longer than the last).
 */
export type Requeued = Map<string, { bytes: number; maxTokens?: number | undefined; documents?: boolean | undefined }>;

/** What this run's stores took of a batch: its billed answers, its answers lost on the way, what the answers cost, and its results of any kind (`stored`: free ones and those sent back for another attempt too). */
export interface Taken {
  paid: number;
  lost: number;
  usd: number;
  stored: number;
}

export class ResultRecorder {
  readonly #ctx: SinkContext;
  /** Why each requeued request is tried again (for the `requeued` event). */
  readonly #reasons = new Map<string, string>();
  /** Each spec's `max_tokens` (for doubling a truncated answer's). */
  readonly #specMaxTokens = new Map<string, number>();
  /** Billed results (answers) this run's stores took, answers lost on the way, and what the answers cost, by ledger batch id (see `took`). */
  readonly #taken = new Map<number, Taken>();
  /** Stores under way, until each has counted what it took (`counted`). */
  readonly #counting = new Set<Promise<boolean[]>>();

  /** Whether the budget guard canceled the batch (its canceled requests wait for a larger budget). */
  readonly #canceledForBudget: (batchId: number) => boolean;

  constructor(ctx: SinkContext, canceledForBudget: (batchId: number) => boolean = () => false) {
    this.#ctx = ctx;
    this.#canceledForBudget = canceledForBudget;
  }

  /**
   * Decides what a result means for its request: final, or worth another attempt. Once per request
   * (it leaves `waiting`); undefined when the request does not wait on this batch (already stored
   * by an earlier download, or not ours).
   */
  async decide(row: BatchRow, key: string, result: MessageBatchResult, waiting: Map<string, Waiting>, text = JSON.stringify(result)): Promise<Decided | undefined> {
    const ctx = this.#ctx;
    const request = waiting.get(key);
    if (!request) return undefined;
    waiting.delete(key);
    const maxTokens = request.max_tokens ?? (await this.#maxTokensOfSpec(key, request.spec));
    // Canceled requests go on: after our deadline (in real time), or when an earlier run's batch was
    // canceled (a stop with --cancel-on-exit, `batch-enrich cancel`): rerunning means finishing the job.
    // Canceled by our budget guard: pending again, sent by a rerun with a larger budget (this run has none left).
    const deadline = ctx.mode.deadlinePassed;
    const verdict: Verdict =
      result.type === 'canceled' && this.#canceledForBudget(row.id)
        ? { retry: true, reason: 'budget' }
        : result.type === 'canceled' && (deadline || row.run !== ctx.run)
          ? { retry: true, reason: deadline ? 'deadline' : 'canceled earlier' }
          : retryVerdict(result, request.attempts, maxTokens, ctx.opts.policy);
    return { key, request, text, billed: billed(result), verdict };
  }

  /**
   * Stores decided results of a batch in one ledger step: each final, or its request sent back for
   * another attempt (pending again; batched again by this run unless it is stopping, then by the next
   * one). Each result stored goes to `onResult`.
   */
  async store(row: BatchRow, decided: readonly Decided[], t: number, requeued: Requeued): Promise<void> {
    if (decided.length === 0) return;
    const { ledger, scope, signal } = this.#ctx;
    const counting = this.#settle(row, decided, t);
    this.#counting.add(counting);
    let taken: boolean[];
    try {
      taken = await counting;
    } finally {
      this.#counting.delete(counting);
    }
    const again = new Map<string, Verdict>();
    for (const [i, { key, verdict }] of decided.entries()) if (verdict.retry && taken[i]) again.set(key, verdict);
    if (again.size === 0 || signal.aborted) return;
    // Their sizes in one step: a deadline that cancels a batch sends all of it back.
    const payloads = await ledger.payloads(scope, [...again.keys()]);
    if (signal.aborted) return;
    for (const [key, verdict] of again) {
      // A doubled max_tokens may add a digit to the params.
      const payload = payloads.get(key);
      // Whether it carries documents: a run that did not read its record (its batch followed, then
      // expired) prices its answer as one about them too (helper-78).
      requeued.set(key, { bytes: payloadBytes(payload) + 8, maxTokens: verdict.retry ? verdict.maxTokens : undefined, documents: payload ? hasDocuments(payload.messages) : undefined });
      if (verdict.retry) this.#reasons.set(key, verdict.reason);
    }
  }

  /**
   * Resolves once every store begun so far has counted what it took (`onResult`); undefined when none
   * is under way. A store's answers can be read from the ledger before its caller hears back (on
   * PostgreSQL, a round trip after the commit): the emitter waits for this before it lets a record out,
   * so a record's cost (`_meta`) is counted by then.
   */
  counted(): Promise<unknown> | undefined {
    return this.#counting.size === 0 ? undefined : Promise.allSettled(this.#counting);
  }

  /** Stores the results, and gives each one taken (not stored first by another worker) to `onResult`. */
  async #settle(row: BatchRow, decided: readonly Decided[], t: number): Promise<boolean[]> {
    const settlements = decided.map(({ request, text, verdict }) => ({ waiting: request, result: text, retry: verdict.retry, maxTokens: verdict.retry ? (verdict.maxTokens ?? null) : null }));
    const taken = await this.#ctx.ledger.settle(row.id, settlements, t);
    // Counted (the run's cost) by the run whose store took it, once: another worker following the same
    // batch, or a download fetched again, stores nothing and counts nothing.
    const mode = row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch';
    let paid = 0;
    let lost = 0;
    let stored = 0;
    // What they cost: what the budget's count of the run's spending grew by as `onResult` took them.
    const spentBefore = this.#ctx.opts.budget?.spentUsd() ?? 0;
    for (const [i, { key, billed: bill }] of decided.entries()) {
      if (!taken[i]) continue;
      stored++;
      this.#ctx.opts.onResult?.(bill, mode, key);
      if (bill.type === 'succeeded') paid++; // errored, expired and canceled requests are free
      if (bill.lost) lost++; // but an answer lost on the way may have been billed
    }
    const usd = (this.#ctx.opts.budget?.spentUsd() ?? 0) - spentBefore;
    const sums = this.#taken.get(row.id) ?? { paid: 0, lost: 0, usd: 0, stored: 0 };
    this.#taken.set(row.id, { paid: sums.paid + paid, lost: sums.lost + lost, usd: sums.usd + usd, stored: sums.stored + stored });
    return taken;
  }

  /**
   * How many billed results (answers) of the batch this run's stores took (`paid`: what it paid for
   * here, `onResult` counted them), and how many answers lost on the way (`lost`: maybe billed).
   */
  took(batchId: number): Taken {
    return this.#taken.get(batchId) ?? { paid: 0, lost: 0, usd: 0, stored: 0 };
  }

  /** How many of the requeued requests are tried again for each reason. */
  reasons(requeued: Requeued): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const key of requeued.keys()) {
      const reason = this.#reasons.get(key) ?? 'retry';
      counts[reason] = (counts[reason] ?? 0) + 1;
    }
    return counts;
  }

  async #maxTokensOfSpec(key: string, spec: string): Promise<number> {
    let tokens = this.#specMaxTokens.get(spec);
    if (tokens === undefined) {
      tokens = maxTokensOf((await this.#ctx.ledger.payload(this.#ctx.scope, key))?.head ?? '');
      this.#specMaxTokens.set(spec, tokens);
    }
    return tokens;
  }
}
