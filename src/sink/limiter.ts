/**
 * How many real-time calls may run at once: halved when the API says 429 or 529, grown by one after
 * as many successes in a row as the current limit (additive increase, multiplicative decrease).
 */
export class Limiter {
  limit: number;
  readonly #max: number;
  #active = 0;
  #successes = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #changed: (limit: number, reason: string) => void;

  constructor(max: number, changed: (limit: number, reason: string) => void) {
    this.limit = max;
    this.#max = max;
    this.#changed = changed;
  }
  async acquire(): Promise<void> {
    while (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
  }
  release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
  succeeded(): void {
    if (++this.#successes < this.limit || this.limit >= this.#max) return;
    this.#successes = 0;
    this.limit++;
    this.#changed(this.limit, 'calls succeed');
    this.#waiting.shift()?.();
  }
  backOff(reason: string): void {
    this.#successes = 0;
    const next = Math.max(1, Math.floor(this.limit / 2));
    if (next === this.limit) return;
    this.limit = next;
    this.#changed(next, reason);
  }
}
