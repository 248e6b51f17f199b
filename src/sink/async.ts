/** Small coordination pieces the sink's parts share. */

/** A wake-up call: `wait()` resolves at the next `notify()`. */
export class Wakeup {
  #resolve: (() => void) | undefined;
  #promise: Promise<void> | undefined;
  wait(): Promise<void> {
    this.#promise ??= new Promise((resolve) => {
      this.#resolve = resolve;
    });
    return this.#promise;
  }
  notify(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}

/**
 * What the emitter re-reads the ledger for while the record at its head waits: `answered` moves when
 * results are stored, `moved` when requests change hands outside of the intake (released, requeued,
 * a followed batch ended, the budget ran out, the input ended). New input alone cannot answer a
 * waiting record, so it does not make the emitter read again.
 */
export class Pulse {
  answered = 0;
  moved = 0;
  readonly #wake = new Wakeup();
  /** Results were stored. */
  answer(): void {
    this.answered++;
    this.#wake.notify();
  }
  /** Requests changed hands. */
  move(): void {
    this.moved++;
    this.#wake.notify();
  }
  /** Something else the emitter or a waiting flush should look at (new records written, a stop). */
  notify(): void {
    this.#wake.notify();
  }
  wait(): Promise<void> {
    return this.#wake.wait();
  }
}

/** Waits for the promises to settle, or `ms` at most (the timer keeps the process alive meanwhile). */
export async function settleWithin(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
