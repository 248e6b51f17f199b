/**
 * The tracker: one follow task per batch (at most one, whoever asks), how many are in flight, and
 * what happens when one settles (its estimate leaves the budget, its retries are batched again).
 */
import type { SinkContext } from './context.ts';
import type { Requeued } from './recorder.ts';

export interface TrackerDeps {
  /** A batch this run is creating right now is not followed (its creator tracks it once created). */
  isCreating(batchId: number): boolean;
  /** The default work for a batch: follow it to its results. */
  follow(batchId: number): Promise<Requeued | undefined>;
  /** A batch settled (downloaded, released, or stopped). */
  settled(batchId: number): void;
  /** Requests to batch again, now that the batch no longer holds an in-flight slot. */
  requeue(requeued: Requeued): Promise<void>;
}

export class Tracker {
  readonly #ctx: SinkContext;
  readonly #deps: TrackerDeps;
  readonly #tasks = new Map<number, Promise<void>>();
  /** Every batch this run has followed, its follow ended or not. */
  readonly #followed = new Set<number>();

  constructor(ctx: SinkContext, deps: TrackerDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  /** Starts following a batch (once), or runs `work` for it in place of following. */
  track(batchId: number, work: () => Promise<Requeued | undefined> = () => this.#deps.follow(batchId)): void {
    const ctx = this.#ctx;
    // Already followed, being created, or (`noWait`) polled once and left to run: nothing to start.
    if (this.#tasks.has(batchId) || this.#deps.isCreating(batchId) || ctx.deferred.has(batchId)) return;
    if (!ctx.needApi()) return;
    this.#followed.add(batchId);
    const task = work().then(
      (requeued) => {
        this.#tasks.delete(batchId);
        this.#deps.settled(batchId);
        if (requeued && requeued.size > 0) void this.#deps.requeue(requeued).catch((error: unknown) => ctx.fail(error));
        ctx.pulse.move();
      },
      (error: unknown) => {
        this.#tasks.delete(batchId);
        ctx.fail(error);
      },
    );
    this.#tasks.set(batchId, task);
  }

  /**
   * The ledger ids of the batches this run has followed (polled, downloaded, or sent in real time),
   * those whose follow ended too: a stop ends the follows before `cancelOnAbort` cancels.
   */
  followed(): number[] {
    return [...this.#followed];
  }

  /** Batches being followed (polled, downloaded, or sent in real time). */
  get size(): number {
    return this.#tasks.size;
  }

  /** The follow tasks in flight (to wait for a slot, or for the stop). */
  tasks(): Promise<void>[] {
    return [...this.#tasks.values()];
  }
}
