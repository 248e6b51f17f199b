/**
 * The result recorder: what a result means for its request (final, or worth another attempt), and
 * storing it so. Every batch download and every real-time answer goes through here.
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { retryVerdict, type Verdict } from '../core/retry.ts';
import type { BatchRow, Waiting } from '../ledger/ledger.ts';
import { maxTokensOf, payloadBytes } from './body.ts';
import type { SinkContext } from './context.ts';
import { REALTIME_PREFIX } from './options.ts';

/** A result, decided and waiting to be stored. */
export interface Decided {
  key: string;
  request: Waiting;
  /** The result as JSON, as stored. */
  text: string;
  verdict: Verdict;
}

/** Requests to batch again after a batch settled: key → bytes it adds to a body. */
export type Requeued = Map<string, number>;

export class ResultRecorder {
  readonly #ctx: SinkContext;
  /** Why each requeued request is tried again (for the `requeued` event). */
  readonly #reasons = new Map<string, string>();
  /** Each spec's `max_tokens` (for doubling a truncated answer's). */
  readonly #specMaxTokens = new Map<string, number>();

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
  decide(row: BatchRow, key: string, result: MessageBatchResult, waiting: Map<string, Waiting>, text = JSON.stringify(result)): Decided | undefined {
    const ctx = this.#ctx;
    const request = waiting.get(key);
    if (!request) return undefined;
    waiting.delete(key);
    ctx.opts.onResult?.(result, row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch');
    const maxTokens = request.max_tokens ?? this.#maxTokensOfSpec(key, request.spec);
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
    return { key, request, text, verdict };
  }

  /** Stores a decided result as final, or sends its request back for another attempt (call inside a transaction). */
  store(row: BatchRow, { key, request, text, verdict }: Decided, t: number, requeued: Requeued): void {
    const { ledger, scope, signal } = this.#ctx;
    if (verdict.retry) {
      // Pending again in the ledger; batched again by this run unless it is stopping (then by the next one).
      if (ledger.retryRequest(row.id, request, text, verdict.maxTokens ?? null, t) && !signal.aborted) {
        // A doubled max_tokens may add a digit to the params.
        requeued.set(key, payloadBytes(ledger.payload(scope, key)) + 8);
        this.#reasons.set(key, verdict.reason);
      }
    } else {
      ledger.saveResult(row.id, request, text, t);
    }
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

  #maxTokensOfSpec(key: string, spec: string): number {
    let tokens = this.#specMaxTokens.get(spec);
    if (tokens === undefined) {
      tokens = maxTokensOf(this.#ctx.ledger.payload(this.#ctx.scope, key)?.head ?? '');
      this.#specMaxTokens.set(spec, tokens);
    }
    return tokens;
  }
}
