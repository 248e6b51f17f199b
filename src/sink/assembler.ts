/**
 * The assembler: the group being filled, and when it goes out. A batch is cut at `batchSize`
 * requests, before it would cross `maxBatchBytes`, or `flushAfterMs` after its first request (in
 * real time: groups of a few, at once). Flushes are serialized, and a flush waits for a free slot
 * (`maxInFlight` batches, or more real-time groups) and for the budget's word.
 */
import { ENVELOPE_BYTES } from './body.ts';
import type { SinkContext } from './context.ts';
import { REALTIME_FLUSH_MS, REALTIME_GROUP, REALTIME_GROUPS_IN_FLIGHT } from './options.ts';
import type { BudgetGuard } from './budget.ts';
import type { Requeued } from './recorder.ts';
import type { Group } from './submitter.ts';

interface Filling extends Group {
  sizes: number[];
  /** Each request's `costBytes`, in the order of `keys` (its tier of a long-prompt price is its own). */
  costs: number[];
  /** The `max_tokens` of the requests whose answer is priced at it (a truncated answer's retry), in no order. */
  answers: number[];
  keySet: Set<string>;
  /** What the group's input tokens are priced by (see `add`). */
  costBytes: number;
  timer: NodeJS.Timeout | undefined;
}

const emptyFilling = (): Filling => ({ keys: [], sizes: [], costs: [], answers: [], keySet: new Set(), bytes: 0, costBytes: 0, timer: undefined });

export interface AssemblerDeps {
  budget: BudgetGuard;
  /** Writes buffered records and requests to the ledger: a batch opened next must find its requests there. */
  beforeOpen(): Promise<void>;
  /** Batches in flight (followed or being created), and a promise that settles when one may be done. */
  inFlight(): number;
  slotFreed(): Promise<unknown>;
  submit(group: Group): Promise<void>;
  sendRealtime(group: Group): Promise<void>;
}

export class BatchAssembler {
  /** What the documents of this run's requests add to their price over their body bytes (`add`), by key: document requests only. */
  readonly #documentCost = new Map<string, number>();
  /** The whole price, in bytes of text, of those requests as this run read them (see `priceAs`). */
  readonly #priceBytes = new Map<string, number>();
  /** The `max_tokens` a truncated answer's retry asks for, by key: its answer is priced at it (see `requeue`). */
  readonly #answerTokens = new Map<string, number>();
  readonly #ctx: SinkContext;
  readonly #deps: AssemblerDeps;
  #filling = emptyFilling();
  /** The keys of the group being sent (until the ledger has them in their batch). */
  #sending = new Set<string>();
  /** The keys of a group waiting for the budget (`BudgetGuard.admit`'s `'wait'`). */
  #held = new Set<string>();
  /** New requests the intake placed, whose `add` has not put them in a group yet (`reserve`). */
  readonly #joining = new Set<string>();
  /** Groups whose sending ended (sent or not): what a row read as pending before may no longer be. */
  #sendsEnded = 0;
  #flushing: Promise<void> = Promise.resolve();
  /** Flushes asked for and not yet done. */
  #flushes = 0;

  constructor(ctx: SinkContext, deps: AssemblerDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  /**
   * Whether a request is in the group being filled, in one waiting for the budget, or in one being
   * sent that the ledger may not show as submitted yet (a request seen pending then must not be added
   * again).
   */
  has(key: string): boolean {
    return this.#joining.has(key) || this.#placed(key);
  }

  /** Whether a request is in a group: being filled, held for the budget, or being sent. */
  #placed(key: string): boolean {
    return this.#filling.keySet.has(key) || this.#held.has(key) || this.#sending.has(key);
  }

  /**
   * Marks a new request as on its way to a group before its `add` (`has` is true from now): the
   * intake buffers its record in between, and a flush that `add` starts writes the record; seen
   * pending and in no group, it would be added again by the emitter, to another group.
   */
  reserve(key: string): void {
    this.#joining.add(key);
  }

  /** Whether a request is in the group being sent (admitted by the budget: it goes out, and is paid for). */
  sending(key: string): boolean {
    return this.#sending.has(key);
  }

  /** How many groups ended being sent: a change since a row was read says its pending state may be stale. */
  get sendsEnded(): number {
    return this.#sendsEnded;
  }

  /** Whether nothing is being filled or sent. */
  get idle(): boolean {
    return this.#filling.keys.length === 0 && this.#flushes === 0;
  }

  /** The flush in progress (for the stop to wait on). */
  get flushing(): Promise<void> {
    return this.#flushing;
  }

  /**
   * Notes what a request's documents add to its price (`costBytes` over its body's `size`), should it
   * be added later without them: sent back by a batch this run follows but did not make (helper-78: it
   * was priced by the `file_id`s of its body, not its pages).
   */
  priceAs(key: string, size: number, costBytes: number, documents?: boolean): void {
    // Every request with documents has an entry (0 when they add nothing to its price): a group's
    // `documentCost` says how many of its requests carry documents (their answers are sized as such).
    if (documents || costBytes !== size) {
      this.#documentCost.set(key, costBytes - size);
      this.#priceBytes.set(key, costBytes);
    }
  }

  /**
   * Adds a request (once), flushing first when it would not fit: `size` is its bytes in the body,
   * `costBytes` the bytes of text its input tokens are priced by (its documents by pages and pixels).
   * A request added again without it (sent back for another attempt) is priced as it was the first
   * time: by its documents, not by the `file_id`s of its body.
   */
  async add(key: string, size: number, costBytes?: number, maxTokens?: number, documents?: boolean): Promise<void> {
    if (costBytes !== undefined) this.priceAs(key, size, costBytes, documents);
    else {
      // Sent back again: priced as first read, whatever the size of the body stored (helper-82: one
      // uploaded by a run, read inline by the next, came to -2,557,956 bytes), or by its body when it
      // was not read.
      const price = this.#priceBytes.get(key);
      if (price !== undefined) this.#documentCost.set(key, price - size);
      else if (documents && !this.#documentCost.has(key)) this.#documentCost.set(key, 0);
    }
    if (maxTokens !== undefined) this.#answerTokens.set(key, maxTokens);
    const cost = costBytes ?? size + (this.#documentCost.get(key) ?? 0);
    const ctx = this.#ctx;
    const realtime = ctx.mode.current === 'realtime';
    const groupSize = realtime ? Math.min(ctx.opts.batchSize, REALTIME_GROUP) : ctx.opts.batchSize;
    // Re-checked after each flush: another adder may have refilled the group while this one waited. An
    // empty group takes any request (the intake refused those over the limit; a retry's size is an
    // estimate), so this never spins on flushes of nothing.
    try {
      while (!this.#placed(key) && this.#filling.keys.length > 0 && (this.#filling.keys.length >= groupSize || this.#filling.bytes + size + ENVELOPE_BYTES > ctx.opts.maxBatchBytes)) {
        await this.flush(this.#filling);
        if (ctx.stopping()) return;
      }
      if (this.#placed(key)) return;
      this.#fill(key, size, cost);
    } finally {
      this.#joining.delete(key);
    }
  }

  /** Puts a request in the group being filled (starting its timer when it is the first). */
  #fill(key: string, size: number, cost: number): void {
    const ctx = this.#ctx;
    const filling = this.#filling;
    if (filling.keys.length === 0) {
      const delay = ctx.mode.current === 'realtime' ? REALTIME_FLUSH_MS : ctx.opts.flushAfterMs;
      filling.timer = setTimeout(() => void this.flush(filling).catch((error: unknown) => ctx.fail(error)), delay);
    }
    filling.keys.push(key);
    filling.sizes.push(size);
    filling.costs.push(cost);
    const answer = this.#answerTokens.get(key);
    if (answer !== undefined) filling.answers.push(answer);
    filling.keySet.add(key);
    filling.bytes += size;
    filling.costBytes += cost;
  }

  /** The raised `max_tokens` of these requests, by key (undefined when none has one). */
  #answerTokensOf(keys: readonly string[]): Map<string, number> | undefined {
    return entriesOf(this.#answerTokens, keys);
  }

  /** What the documents of these requests add to their price, by key (undefined when none has documents). */
  #documentCostOf(keys: readonly string[]): Map<string, number> | undefined {
    return entriesOf(this.#documentCost, keys);
  }

  /**
   * Sends the group being filled (after waiting for a free slot). Serialized. With `only`, the group it
   * was called for (full, or its timer due): nothing when that one went out meanwhile, by a flush
   * queued before (helper-91: two adders that found one group full queued a flush each, and the
   * second sent the few requests added since as a batch of their own, holding a slot as a full one does).
   */
  flush(only?: Filling): Promise<void> {
    const ctx = this.#ctx;
    const deps = this.#deps;
    this.#flushes++;
    this.#flushing = this.#flushing.then(async () => {
      if (ctx.stopping() || (only !== undefined && this.#filling !== only)) return;
      await deps.beforeOpen();
      const slots = () => (ctx.mode.current === 'realtime' ? REALTIME_GROUPS_IN_FLIGHT : ctx.opts.maxInFlight);
      while (deps.inFlight() >= slots() && !ctx.signal.aborted) await deps.slotFreed();
      if (ctx.signal.aborted) return;
      // Requests added while waiting for a slot must be in the ledger before the batch is opened.
      await deps.beforeOpen();
      const group = this.#filling;
      clearTimeout(group.timer);
      this.#filling = emptyFilling();
      if (group.keys.length === 0 || !ctx.needApi()) return;
      // Held while the budget waits for groups in flight to settle: its requests are neither in the
      // group being filled nor sent, and must not be added again.
      this.#held = group.keySet;
      let mode = ctx.mode.current;
      let estimate: number | undefined | false;
      try {
        for (;;) {
          const admitted = deps.budget.admit({ requests: group.keys.length, bytes: group.costBytes, each: group.costs, answers: group.answers, documents: this.#documentCostOf(group.keys)?.size ?? 0 }, mode);
          // Admitted after a wait, the slots are looked at again: batches followed meanwhile (an
          // earlier run's, found by the reader) may have taken them.
          if (admitted === false || (admitted !== 'wait' && deps.inFlight() < slots())) {
            estimate = admitted;
            break;
          }
          await deps.slotFreed();
          if (ctx.signal.aborted) return;
          // The deadline may have switched the mode meanwhile: the group goes out, and is priced, in the new one.
          mode = ctx.mode.current;
        }
      } finally {
        this.#held = new Set();
      }
      if (estimate === false) return;
      const out: Group = {
        keys: group.keys,
        sizes: group.sizes,
        bytes: group.bytes,
        costBytes: group.costBytes,
        documentCost: this.#documentCostOf(group.keys),
        estimateUsd: estimate,
        costs: group.costs,
        answerTokens: this.#answerTokensOf(group.keys),
      };
      this.#sending = group.keySet;
      try {
        if (mode === 'realtime') await deps.sendRealtime(out);
        else await deps.submit(out);
      } finally {
        this.#sending = new Set();
        this.#sendsEnded++;
      }
    });
    const done = () => void this.#flushes--;
    this.#flushing.then(done, done);
    return this.#flushing;
  }

  /** Batches again the requests a settled batch sent back; at once when the input has ended. */
  async requeue(requeued: Requeued, inputDone: () => boolean): Promise<void> {
    for (const [key, { bytes, maxTokens, documents }] of requeued) await this.add(key, bytes, undefined, maxTokens, documents);
    if (inputDone()) await this.flush();
  }

  dispose(): void {
    clearTimeout(this.#filling.timer);
  }
}

/** The entries of `map` for `keys` (undefined when the map is empty: nothing to look up). */
function entriesOf(map: ReadonlyMap<string, number>, keys: readonly string[]): Map<string, number> | undefined {
  if (map.size === 0) return undefined;
  const found = new Map<string, number>();
  for (const key of keys) {
    const value = map.get(key);
    if (value !== undefined) found.set(key, value);
  }
  return found;
}
