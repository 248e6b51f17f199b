/**
 * The budget guard: before a group of requests is sent, what was spent, plus the estimates of the
 * groups in flight (not billed yet), plus this group's estimate, at the price of the mode it goes out
 * in, must stay within the cap. Past it nothing more is sent.
 */
import type { SendMode } from '../types.ts';
import type { SinkContext } from './context.ts';
import type { Budget } from './options.ts';

export class BudgetGuard {
  readonly #ctx: SinkContext;
  readonly #budget: Budget | undefined;
  /** Estimated cost of the groups sent and not yet settled, by ledger batch id. */
  readonly #inFlight = new Map<number, number>();
  #exhausted = false;

  constructor(ctx: SinkContext, budget: Budget | undefined) {
    this.#ctx = ctx;
    this.#budget = budget;
  }

  /** Whether the budget ran out: nothing more is sent, and records waiting on unsent requests come out. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  get maxUsd(): number | undefined {
    return this.#budget?.maxUsd;
  }

  /**
   * Whether a group may be sent in `mode`: its estimate (to `charge` once sent), or false. The first
   * refusal says so (`budget` event) and lets the records waiting on unsent requests come out.
   */
  admit(group: { requests: number; bytes: number }, mode: SendMode): number | undefined | false {
    const budget = this.#budget;
    if (!budget) return undefined;
    if (!this.#exhausted) {
      const estimate = budget.estimateUsd({ ...group, mode });
      const projected = budget.spentUsd() + [...this.#inFlight.values()].reduce((a, b) => a + b, 0) + estimate;
      if (projected <= budget.maxUsd) return estimate;
      this.#exhausted = true;
      this.#ctx.opts.emit({ type: 'budget', maxUsd: budget.maxUsd, projectedUsd: projected, requests: group.requests });
    }
    this.#ctx.pulse.move();
    return false;
  }

  /** A group went out with this estimate. */
  charge(batchId: number, usd: number | undefined): void {
    if (usd !== undefined) this.#inFlight.set(batchId, usd);
  }

  /** A group settled: what it cost is in `spentUsd` now. */
  settled(batchId: number): void {
    this.#inFlight.delete(batchId);
  }
}
